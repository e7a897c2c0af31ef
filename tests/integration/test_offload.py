"""An embedded store whose queries run on the engine's own threads (``connect(..., offload=True)``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from surrealdb import Duration

from sentient_graph import Engine
from sentient_graph.db import QueryFailed, connect, connect_sync
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


async def test_the_engine_runs_queries_inline_unless_asked_to_offload(tmp_path: Path) -> None:
    async with Engine.open(f"surrealkv://{tmp_path / 'a'}", redis=False) as engine:
        assert not engine.conn.offloaded
    async with Engine.open(f"surrealkv://{tmp_path / 'b'}", redis=False, offload=True) as engine:
        assert engine.conn.offloaded


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


def test_a_process_that_offloads_and_leaves_with_os_exit_exits_cleanly(tmp_path: Path) -> None:
    # The documented way out for a process that offloads (the SDK's async engine can
    # abort during interpreter shutdown): close, then os._exit, as the CLI does.
    url = f"surrealkv://{tmp_path / 'store'}"
    script = (
        "import asyncio, os\n"
        "from sentient_graph.db import connect\n"
        "async def main():\n"
        f"    conn = await connect({url!r}, namespace='t', database='t', offload=True)\n"
        "    await conn.query('CREATE note:a SET n = 1')\n"
        "    await conn.aclose()\n"
        "asyncio.run(main())\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with connect_sync(url, namespace="t", database="t") as conn:
        assert conn.query("SELECT VALUE n FROM note:a") == [[1]]
