"""Suggested commands (shell-quoted) and tables (cut to fit): pure, no database."""

from __future__ import annotations

import io
import shlex

import pytest
from rich.console import Console

from sentient_graph.cli.commands.events import _DEFAULT_PREFIX
from sentient_graph.cli.exits import exit_code_for
from sentient_graph.cli.render import ellipsize, print_threads
from sentient_graph.cli.runtime import check_redis_url, check_surreal_url
from sentient_graph.errors import (
    ConfigError,
    InvalidInput,
    RedisUnavailable,
    RunCancelled,
    StoreLocked,
    ThreadNotFound,
)
from sentient_graph.events.bus import DEFAULT_PREFIX
from sentient_graph.runner import RunRecord
from sentient_graph.shell import command


@pytest.mark.parametrize(
    "thread", ["a1", 'it\'s "q" x', "-x", "--value", "a b", "$(rm -rf ~)", "ü"]
)
def test_a_suggested_command_splits_back_into_its_words(thread: str) -> None:
    line = command("resume", thread, options=("--value", "JSON"))
    words = shlex.split(line)
    assert words[:2] == ["sentient-graph", "resume"]
    if thread.startswith("-"):
        assert words[2:] == ["--value", "JSON", "--", thread]
    else:
        assert words[2:] == [thread, "--value", "JSON"]


def test_a_plain_id_reads_plainly() -> None:
    assert command("resume", "a1") == "sentient-graph resume a1"
    assert command("fork", "a1", "ck-1") == "sentient-graph fork a1 ck-1"


def test_ellipsize() -> None:
    assert ellipsize("abc", 3) == "abc"
    assert ellipsize("abcd", 3) == "ab…"
    assert ellipsize("a\nb", 5) == "a b"
    assert ellipsize("abc", 0) == ""


def _record(thread: str, **kw: object) -> RunRecord:
    return RunRecord(
        thread_id=thread,
        run_id="0123456789abcdef",
        graph="/x/graphs/a.py:graph",
        status="failed",
        updated_at=1.0,
        **kw,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_the_threads_table_keeps_every_column_at_any_width(width: int) -> None:
    out = io.StringIO()
    console = Console(file=out, width=width, highlight=False, soft_wrap=True, color_system=None)
    records = [_record("t" * 300, error="E" * 500), _record("short", error="boom")]
    print_threads(records, console, as_json=False)
    rows = out.getvalue().splitlines()
    assert len(rows) == 3
    for row in rows:
        assert len(row.rstrip()) <= width, row
    for row in rows[1:]:
        # Status, time and run stay whole; thread, graph and error give way.
        assert " failed " in row and "1970-01-01" in row and " 01234567 " in row, row
        assert "a." in row, row
        assert ("a.py:graph" in row) == (width >= 120), row
    assert rows[1].startswith("t") and "…" in rows[1] and "E" in rows[1]


def test_stale_runs_show_as_stale() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, color_system=None)
    stale = RunRecord(thread_id="s", run_id="r" * 16, status="running", stale=True)
    print_threads([stale], console, as_json=False)
    assert "stale" in out.getvalue().splitlines()[1]


def test_json_lines_keep_values_whole() -> None:
    out = io.StringIO()
    console = Console(file=out, width=40)
    print_threads([_record("t" * 300)], console, as_json=True)
    assert '"' + "t" * 300 + '"' in out.getvalue()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RunCancelled("x", thread_id="t", run_id="r"), 1),
        (RuntimeError("bug"), 1),
        (InvalidInput("x"), 2),
        (ConfigError("x"), 2),
        (ValueError("x"), 2),
        (ThreadNotFound("x"), 2),
        (StoreLocked("x"), 3),
        (RedisUnavailable("x"), 3),
        (KeyboardInterrupt(), 130),
        (BrokenPipeError(), 141),
    ],
)
def test_exit_codes(error: BaseException, code: int) -> None:
    assert exit_code_for(error) == code


@pytest.mark.parametrize(
    "url",
    ["nope", "surreal://x", "surrealkv://", "surrealkv://s?sync=sometimes", "surrealkv://s?sync="],
)
def test_a_malformed_surreal_url_names_its_variable(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^SURREALDB_URL"):
        check_surreal_url(url, "SURREALDB_URL")


@pytest.mark.parametrize(
    "url",
    [
        "mem://",
        "surrealkv://s",
        "surrealkv://s?sync=every",
        "surrealkv://s?sync=1s",
        "surrealkv://s?sync=100ms",
        "ws://h:8000",
    ],
)
def test_good_surreal_urls_pass(url: str) -> None:
    check_surreal_url(url)


@pytest.mark.parametrize(
    "url", ["localhost:6379", "http://h:6379", "redis://h:port/0", "redis://h:6379/zero"]
)
def test_a_malformed_redis_url_names_its_variable(url: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        check_redis_url(url)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://h", "unix:///tmp/r.sock", "redis://:pw@h:1/2"]
)
def test_good_redis_urls_pass(url: str) -> None:
    check_redis_url(url)


def test_the_events_prefix_default_is_the_bus_default() -> None:
    assert _DEFAULT_PREFIX == DEFAULT_PREFIX
