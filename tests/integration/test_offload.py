"""An embedded store whose queries run on the engine's own threads (``connect(..., offload=True)``)."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from surrealdb import Duration

from sentient_graph import Engine
from sentient_graph.db import QueryFailed, connect, connect_sync
from sentient_graph.engine import collector
from sentient_graph.surreal import connection
from tests.integration.test_db import ROUND_TRIP_SQL, SAMPLE_VARS

BRIDGE = "sentient-graph-bridge"


def _bridges() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == BRIDGE]


async def test_offloaded_queries_answer_as_inline_ones_do() -> None:
    with connect_sync("mem://", namespace="wire", database="wire") as inline:
        expected = inline.query(ROUND_TRIP_SQL, SAMPLE_VARS)
    conn = await connect("mem://", namespace="wire", database="wire", offload=True)
    try:
        assert conn.offloaded
        assert await conn.query(ROUND_TRIP_SQL, SAMPLE_VARS) == expected
        # A value only the SDK encodes goes through the SDK, on the same connection.
        assert await conn.query("RETURN $d + 1s", {"d": Duration.parse("1s")}) == [
            Duration.parse("2s")
        ]
        with pytest.raises(QueryFailed, match="boom"):
            await conn.query("THROW 'boom'")
    finally:
        await conn.aclose()


async def test_queries_run_inline_by_default() -> None:
    conn = await connect("mem://", namespace="t", database="t")
    try:
        assert not conn.offloaded
    finally:
        await conn.aclose()


async def test_sync_callers_share_an_offloaded_store_through_a_bridge(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    conn = await connect(url, namespace="t", database="t", offload=True)
    sync = connect_sync(url, namespace="t", database="t")
    assert sync.sdk is conn.sdk  # one connection per store in a process
    # Called on the event loop's own thread (a sync saver inside async code): the
    # bridge runs the query on its loop, not on this one.
    sync.query("CREATE note:a SET text = $text", {"text": "from sync"})
    assert await conn.query("SELECT VALUE text FROM note:a") == [["from sync"]]
    assert len(_bridges()) == 1
    await conn.aclose()
    # The sync holder is the last: its close closes the store and ends the bridge.
    assert sync.query("SELECT VALUE text FROM note:a") == [["from sync"]]
    sync.close()
    assert _bridges() == []
    again = await connect(url, namespace="t", database="t")  # the lock was released
    try:
        assert await again.query("SELECT VALUE text FROM note:a") == [["from sync"]]
    finally:
        await again.aclose()


async def test_the_engine_offloads_unless_asked_not_to(tmp_path: Path) -> None:
    async with Engine.open(f"surrealkv://{tmp_path / 'a'}", redis=False) as engine:
        assert engine.conn.offloaded
    async with Engine.open(f"surrealkv://{tmp_path / 'b'}", redis=False, offload=False) as engine:
        assert not engine.conn.offloaded


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14's collector is left alone")
async def test_the_engine_tunes_the_collector_while_open_unless_asked_not_to(
    tmp_path: Path,
) -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # the interpreter's default (pytest may have changed it)
    try:
        async with Engine.open("mem://", redis=False) as engine:
            assert gc.get_threshold() == collector.TUNED
            async with Engine.open(f"surrealkv://{tmp_path / 'b'}", redis=False):
                assert gc.get_threshold() == collector.TUNED
            assert gc.get_threshold() == collector.TUNED  # the first is still open
            await engine.aclose()
            assert gc.get_threshold() == (700, 10, 10)
        async with Engine.open("mem://", redis=False, tune_gc=False):
            assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


async def test_the_exit_hook_closes_an_offloaded_store_left_open(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    conn = await connect(url, namespace="t", database="t", offload=True)
    await conn.query("CREATE note:a SET n = 1")
    await asyncio.to_thread(connection._close_leftovers)  # what atexit runs, off this loop
    assert conn.sdk is None  # closed and let go
    again = connect_sync(url, namespace="t", database="t")  # the store was released
    try:
        assert again.query("SELECT VALUE n FROM note:a") == [[1]]
    finally:
        again.close()


async def test_a_query_whose_caller_was_cancelled_runs_on_and_close_waits_for_it(
    tmp_path: Path,
) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    conn = await connect(url, namespace="t", database="t", offload=True)
    shared = conn._shared
    caller = asyncio.ensure_future(conn.query("SLEEP 300ms; CREATE note:a SET n = 1"))
    await asyncio.sleep(0)  # the caller now awaits the engine
    assert shared.calls.running == 1
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await conn.aclose()
    assert shared.calls.running == 0
    with connect_sync(url, namespace="t", database="t") as again:
        assert again.query("SELECT VALUE n FROM note:a") == [[1]]


EXIT_SCRIPT = """
import asyncio, sys
import langgraph.graph  # a larger interpreter to tear down: a longer shutdown
from sentient_graph.db import connect

async def main(url, close):
    conn = await connect(url, namespace="t", database="t", offload=True)
    for n in range(30):
        await conn.query("CREATE note SET n = $n", {"n": n})
    if close:
        await conn.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2] == "close"))
"""


def test_processes_that_offload_exit_cleanly_closed_or_not(tmp_path: Path) -> None:
    # The SDK's engine hands its last answers over while the interpreter may be
    # shutting down; a close (or the exit hook) waits until it is done
    # (surreal/settle.py). Before, 7 of 30 such exits aborted on a busy machine.
    runs = [
        (f"surrealkv://{tmp_path / f'{how}-{n}'}", how)
        for n in range(3)
        for how in ("close", "leave")
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", EXIT_SCRIPT, url, how],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url, how in runs
    ]
    for proc, (url, how) in zip(procs, runs, strict=True):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{how}: exit {proc.returncode}: {err[-500:]}"
        with connect_sync(url, namespace="t", database="t") as conn:
            assert conn.query("SELECT VALUE n FROM note ORDER BY n") == [list(range(30))]
