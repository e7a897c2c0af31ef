"""What the CLI shows while a run goes on.

Owns: turning run events into a live view (a rich ``Live`` table of nodes on a
terminal, one plain line per transition otherwise, flushed at once so a
reader of a pipe sees each line as it happens). The tables of ``threads`` and
``history`` live in :mod:`sentient_graph.cli.render` (re-exported here for
older imports).

Must not: open the store, run anything or decide exit codes (``cli`` does).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sentient_graph.cli.render import (
    STATUS_STYLE,
    ellipsize,
    print_history,
    print_json,
    print_threads,
    to_json,
)

if TYPE_CHECKING:
    from sentient_graph.events import Event

__all__ = ["RunView", "print_history", "print_json", "print_threads", "to_json"]

#: Event types the view leaves out: they carry no node transition.
_QUIET_TYPES = frozenset({"checkpoint_saved"})

#: Widest a node name or thread id gets in the live table (the detail takes the rest).
_NODE_WIDTH = 32
_THREAD_WIDTH = 24


def _type(event: Event) -> str:
    return str(getattr(event.type, "value", event.type))


def _detail(event: Event) -> str:
    payload = event.payload or {}
    kind = _type(event)
    if kind == "node_progress":
        message = payload.get("message")
        extras = {
            k: v
            for k, v in payload.items()
            if k not in ("message", "agent", "node", "task_id", "namespace")
        }
        text = str(message) if message else ""
        if extras:
            text += (" " if text else "") + " ".join(f"{k}={v}" for k, v in extras.items())
        return text
    if kind in ("node_failed", "run_failed"):
        return str(payload.get("error") or "")
    if kind == "node_completed":
        duration = payload.get("duration_ms")
        return f"{duration / 1000:.2f}s" if isinstance(duration, int | float) else ""
    if kind == "interrupted":
        interrupts = payload.get("interrupts") or []
        if interrupts:
            return json.dumps(to_json(interrupts[0].get("value")), ensure_ascii=False)[:120]
    if kind == "run_started" and payload.get("resumed"):
        return "resumed from the last checkpoint"
    return ""


@dataclass
class _Row:
    node: str
    status: str
    started: float
    ended: float | None = None
    detail: str = ""


class RunView:
    """Shows the node transitions of one or more runs as they happen.

    Args:
        console: Where to draw (the CLI uses stderr, keeping stdout for the result).
        live: Draw a live-updating table (a terminal); else print a line per event.
        show_thread: Prefix lines with the thread id (several runs at once).
    """

    def __init__(self, console: Console, *, live: bool, show_thread: bool = False) -> None:
        self.console = console
        self.live = live
        self.show_thread = show_thread
        self._rows: dict[tuple[str, str], _Row] = {}
        self._live: Live | None = None

    def __enter__(self) -> RunView:
        if self.live:
            self._live = Live(self._table(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, event: Event) -> None:
        """Take one event into the view."""
        kind = _type(event)
        if kind in _QUIET_TYPES:
            return
        if self._live is None:
            self._line(event, kind)
            return
        self._track(event, kind)
        self._live.update(self._table())

    def _line(self, event: Event, kind: str) -> None:
        prefix = f"[{ellipsize(event.thread_id, _THREAD_WIDTH)}] " if self.show_thread else ""
        source = ellipsize(str(event.source or (event.payload or {}).get("agent") or "-"), 60)
        detail = _detail(event)
        text = f"{prefix}{event.seq:>3} {kind:<15} {source}" + (f"  {detail}" if detail else "")
        # soft_wrap + no highlighting: one physical line per event, as written.
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()

    def _track(self, event: Event, kind: str) -> None:
        payload = event.payload or {}
        source = event.source or payload.get("agent")
        if not source:
            return
        key = (event.thread_id, str(payload.get("task_id") or source))
        if kind == "node_progress":
            # Progress may not name the task: attach it to the newest running row of the node.
            candidates = [
                k for k, r in self._rows.items() if r.node == source and r.status == "running"
            ]
            key = candidates[-1] if candidates else key
        row = self._rows.get(key)
        now = time.monotonic()
        if row is None:
            row = self._rows[key] = _Row(node=source, status="running", started=now)
        if kind == "node_started":
            row.status, row.started, row.ended, row.detail = "running", now, None, ""
        elif kind == "node_completed":
            row.status, row.ended = "done", now
        elif kind == "node_failed":
            row.status, row.ended, row.detail = "failed", now, _detail(event)
        elif kind == "node_retried":
            row.status = "retrying"
        elif kind == "interrupted":
            row.status, row.ended, row.detail = "interrupted", now, _detail(event)
        elif kind == "node_progress":
            row.detail = _detail(event)

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, header_style="bold")
        # Every column keeps its place: names are cut at a cap, the free-text
        # detail to what is left of the terminal (rich would otherwise squeeze
        # columns away).
        node_w = min(_NODE_WIDTH, max((len(r.node) for r in self._rows.values()), default=4))
        thread_w = (
            min(_THREAD_WIDTH, max((len(t) for t, _ in self._rows), default=6))
            if self.show_thread
            else 0
        )
        fixed = node_w + 11 + 7 + 2 * 4 + (thread_w + 2 if self.show_thread else 0)
        if self.show_thread:
            table.add_column("thread", no_wrap=True, width=thread_w)
        table.add_column("node", no_wrap=True, width=node_w)
        table.add_column("status", no_wrap=True, width=11)
        table.add_column("time", justify="right", no_wrap=True, width=7)
        table.add_column(
            "detail", overflow="ellipsis", no_wrap=True, width=max(8, self.console.width - fixed)
        )
        now = time.monotonic()
        for (thread_id, _), row in self._rows.items():
            elapsed = (row.ended or now) - row.started
            style = STATUS_STYLE.get(row.status, "")
            cells = [
                Text(ellipsize(row.node, node_w)),
                Text(row.status, style=style),
                Text(f"{elapsed:.1f}s"),
                Text(ellipsize(row.detail, 500)),
            ]
            if self.show_thread:
                cells.insert(0, Text(ellipsize(thread_id, thread_w)))
            table.add_row(*cells)
        return table
