"""How results look: tables that fit a terminal, JSON that keeps every value.

Owns: the stdout and stderr consoles, cutting long values with an ellipsis
(:func:`ellipsize`) so that a table keeps every column on a terminal of any
width, the ``threads`` and ``history`` tables, JSON and JSON lines
(``--json``: values whole, never cut), and the one-line form of an event.

Must not: open the store, run anything or decide exit codes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from sentient_graph.engine import CheckpointInfo, RunRecord
    from sentient_graph.events import Event

__all__ = [
    "ELLIPSIS",
    "STATUS_STYLE",
    "ellipsize",
    "event_line",
    "print_history",
    "print_json",
    "print_json_lines",
    "print_threads",
    "run_status",
    "stderr_console",
    "stdout_console",
    "to_json",
]

ELLIPSIS = "…"

STATUS_STYLE = {
    "running": "yellow",
    "completed": "green",
    "done": "green",
    "failed": "red",
    "interrupted": "magenta",
    "cancelled": "red",
    "pending": "cyan",
    "retrying": "yellow",
    "stale": "red",
}

#: Widest a thread id or graph name gets in a table before it is cut (``--json`` has it whole).
THREAD_WIDTH = 40
GRAPH_WIDTH = 28
#: A pipe has no width: tables there are laid out for this many columns' worth of
#: free text (error, next nodes) and are never wrapped.
PIPE_WIDTH = 10_000


class _ResultConsole(Console):
    """A console whose closed pipe is the command's to handle (exit 141), not rich's (exit 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def stdout_console() -> Console:
    """Results on stdout; in a pipe no width limit, so free text is never folded."""
    console = _ResultConsole(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = _ResultConsole(highlight=False, soft_wrap=True, width=PIPE_WIDTH)
    return console


def stderr_console() -> Console:
    """Progress and hints on stderr."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def ellipsize(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut.

    Control characters become spaces first, so that a value never breaks a row.
    """
    text = "".join(" " if ch < " " or ch == "\x7f" else ch for ch in text)
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: width - 1] + ELLIPSIS


def to_json(value: Any) -> Any:
    """Plain JSON data for printing (what JSON cannot hold becomes its ``repr``)."""
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=repr)


def print_json(value: Any, out: TextIO, *, indent: int | None = 2) -> None:
    """Write ``value`` as JSON to ``out`` and flush."""
    out.write(json.dumps(to_json(value), indent=indent, ensure_ascii=False) + "\n")
    out.flush()


def print_json_lines(rows: Sequence[Any], out: IO[str]) -> None:
    """One JSON object per row (a dataclass or a mapping), values whole."""
    for row in rows:
        data = asdict(row) if is_dataclass(row) and not isinstance(row, type) else row
        out.write(json.dumps(to_json(data), ensure_ascii=False) + "\n")
    out.flush()


def run_status(record: RunRecord) -> str:
    """The status to show: ``stale`` for a run whose owner died (``recover`` takes it)."""
    return "stale" if getattr(record, "stale", False) else record.status


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def _short_graph(ref: str | None) -> str:
    if not ref:
        return "-"
    target, _, attr = ref.rpartition(":")
    name = target.rsplit("/", 1)[-1]
    return f"{name}:{attr}" if target else ref


def _fit(widths: list[int], minimum: list[int], shrink_order: list[int], total: int) -> list[int]:
    """Column widths that fit ``total`` (two spaces between columns).

    Columns in ``shrink_order`` give way first to last, each down to its
    minimum; the others keep their width. When even the minimums do not fit,
    the rows are wider than ``total`` (the terminal wraps them) but no column
    is lost.
    """
    widths = list(widths)
    over = sum(widths) + 2 * (len(widths) - 1) - total
    for i in shrink_order:
        if over <= 0:
            break
        give = min(over, max(0, widths[i] - minimum[i]))
        widths[i] -= give
        over -= give
    return widths


def _table(
    console: Console, headers: list[str], rows: list[list[str]], styles: list[list[str]]
) -> None:
    """Rows whose cells are already cut to their column width: nothing is dropped."""
    widths = _widths(headers, rows)
    table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
    for header, width in zip(headers, widths, strict=True):
        table.add_column(header, no_wrap=True, overflow="ellipsis", min_width=width)
    for row, style in zip(rows, styles, strict=True):
        table.add_row(*(Text(cell, style=s) for cell, s in zip(row, style, strict=True)))
    # Never let rich squeeze a column away: render at least as wide as the rows.
    console.print(table, width=max(console.width, sum(widths) + 2 * (len(widths) - 1)))


def _widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    return [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]


def print_threads(records: list[RunRecord], console: Console, *, as_json: bool) -> None:
    """Print run records: JSON lines (whole), or a table that fits the terminal."""
    if as_json:
        print_json_lines(records, console.file)
        return
    headers = ["thread", "status", "graph", "updated", "run", "error"]
    rows = [
        [
            ellipsize(r.thread_id, THREAD_WIDTH),
            run_status(r),
            ellipsize(_short_graph(r.graph), GRAPH_WIDTH),
            _when(r.updated_at),
            r.run_id[:8],
            (r.error or "").replace("\n", " "),
        ]
        for r in records
    ]
    # error, graph, thread give way (in that order); status, time and run stay whole.
    widths = _fit(_widths(headers, rows), [5, 6, 5, 19, 3, 5], [5, 2, 0], console.width)
    rows = [[ellipsize(cell, w) for cell, w in zip(row, widths, strict=True)] for row in rows]
    styles = [["", STATUS_STYLE.get(row[1], ""), "", "", "", ""] for row in rows]
    _table(console, headers, rows, styles)


def print_history(items: list[CheckpointInfo], console: Console, *, as_json: bool) -> None:
    """Print checkpoints, newest first: JSON lines (with values), or a table."""
    if as_json:
        print_json_lines(items, console.file)
        return
    headers = ["checkpoint", "step", "source", "created", "next"]
    rows = [
        [
            item.checkpoint_id,
            str(item.step),
            ellipsize(item.source or "-", 12),
            (item.created_at or "-")[:19].replace("T", " "),
            ", ".join(item.next) or "-",
        ]
        for item in items
    ]
    widths = _fit(_widths(headers, rows), [36, 4, 6, 19, 4], [4], console.width)
    rows = [[ellipsize(cell, w) for cell, w in zip(row, widths, strict=True)] for row in rows]
    _table(console, headers, rows, [[""] * len(headers) for _ in rows])


def _summary(payload: dict[str, object]) -> str:
    parts = [
        f"{key}={value}"
        for key, value in payload.items()
        if key not in {"task_id", "node", "namespace"}
    ]
    return ellipsize(" ".join(parts), 120)


def event_line(event: Event) -> str:
    """One line for an event: seq, time, type, source, a summary of its payload."""
    stamp = event.timestamp.strftime("%H:%M:%S.%f")[:-3]
    source = ellipsize(event.source or "-", 40)
    return f"{event.seq:>5} {stamp} {event.type.value:<16} {source:<20} {_summary(event.payload)}".rstrip()
