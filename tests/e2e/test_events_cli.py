"""``sentient-graph events THREAD``: history and live tail, from the same and another process.

History comes from the store whenever it is free, with or without Redis; from
the Redis stream only while a live process holds the embedded store.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from sentient_graph.cli.app import app
from sentient_graph.db import connect
from sentient_graph.events import Event, EventBus, EventType
from tests.integration.events.events_testkit import (
    SHARED_REDIS,
    linear_graph,
    need_redis,
    run_graph,
)

CLI = str(Path(sys.executable).with_name("sentient-graph"))


def events(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """``sentient-graph events ARGS`` in this process."""
    return CliRunner().invoke(app, ["events", *args], env=env)


def _publish_runs(
    url: str, thread: str, *, redis_url: str | None = None, prefix: str = "x"
) -> list[str]:
    async def go() -> list[str]:
        conn = await connect(url)
        try:
            async with await EventBus.open(conn, redis_url=redis_url, prefix=prefix) as bus:
                first = await run_graph(bus, linear_graph(["a", "b"]), thread)
                second = await run_graph(bus, linear_graph(["c"], fail="c"), thread)
                return [first.run_id, second.run_id]
        finally:
            await conn.aclose()

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # The command configures structlog for a terminal; other tests expect the defaults.
    yield
    structlog.reset_defaults()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"surrealkv://{tmp_path}/store"
    monkeypatch.setenv("SURREALDB_URL", url)
    monkeypatch.setenv("SURREALDB_NAMESPACE", "cli")
    monkeypatch.setenv("SURREALDB_DATABASE", "events")
    monkeypatch.delenv("REDIS_URL", raising=False)
    return url


def test_history_from_the_embedded_store_without_redis(store: str) -> None:
    thread = "t-cli"
    runs = _publish_runs(store, thread)

    result = events(thread)
    assert result.exit_code == 0, result.output
    assert f"run {runs[0]}" in result.output and f"run {runs[1]}" in result.output
    assert "node_failed" in result.output and "error_type=ValueError" in result.output

    result = events(thread, "--json", "--type", "node_completed", "--type", "run_failed")
    assert result.exit_code == 0, result.output
    got = [Event.from_json(line) for line in result.stdout.splitlines()]
    assert [(e.type, e.source) for e in got] == [
        (EventType.NODE_COMPLETED, "a"),
        (EventType.NODE_COMPLETED, "b"),
        (EventType.RUN_FAILED, None),
    ]

    result = events(thread, "--json", "--after", "3", "--run", runs[1])
    tail = [Event.from_json(line) for line in result.stdout.splitlines()]
    assert [e.seq for e in tail] == list(range(4, len(tail) + 4))
    assert {e.run_id for e in tail} == {runs[1]}

    result = events(thread, "--type", "nonsense")
    assert result.exit_code == 2 and "unknown event type 'nonsense'" in result.output

    # Nothing matches: exit 0; no such thread: exit 2, as `history` does.
    result = events(thread, "--type", "node_retried")
    assert result.exit_code == 0 and "no events for thread 't-cli' that match" in result.output
    result = events("t-cl")
    assert result.exit_code == 2 and "no run or checkpoint for thread 't-cl'" in result.output

    result = events(thread, "--follow")
    assert result.exit_code == 2
    assert "set REDIS_URL" in result.output


def test_follow_from_another_process_while_the_run_holds_the_store(
    store: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_redis()
    thread = "t-follow"
    env = {**os.environ, "REDIS_URL": SHARED_REDIS, "SENTIENT_EVENTS_PREFIX": prefix}

    async def go() -> tuple[list[Event], int]:
        conn = await connect(store)  # the run's process holds the embedded store
        proc = await asyncio.create_subprocess_exec(
            CLI,
            "events",
            thread,
            "--follow",
            "--json",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with await EventBus.open(conn, redis_url=SHARED_REDIS, prefix=prefix) as bus:
                emitter = await run_graph(bus, linear_graph(["a", "b", "c"]), thread)
            seen: list[Event] = []
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                while not seen or seen[-1].type is not EventType.RUN_COMPLETED:
                    line = await proc.stdout.readline()
                    assert line, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
                    seen.append(Event.from_json(line))
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(15):
                code = await proc.wait()
            assert code == 130  # Ctrl-C, as for every command
            return seen, emitter.seq
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await conn.aclose()

    seen, last = asyncio.run(go())
    assert [e.seq for e in seen] == list(range(1, last + 1))
    # The follower never opened the store: a one-shot read works again now.
    result = events(thread, "--json", env={"REDIS_URL": ""})
    assert len(result.stdout.splitlines()) == last


def test_history_from_redis_when_the_store_is_busy(store: str, prefix: str) -> None:
    need_redis()
    thread = "t-busy"
    _publish_runs(store, thread, redis_url=SHARED_REDIS, prefix=prefix)
    # Another process holds the store, as a running graph would.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-c",
            "import asyncio, sys\n"
            "from sentient_graph.db import connect\n"
            "async def main():\n"
            f"    c = await connect({store!r})\n"
            "    print('HELD', flush=True)\n"
            "    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)\n"
            "    await c.aclose()\n"
            "asyncio.run(main())\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=os.environ,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"HELD"
        env = {"REDIS_URL": SHARED_REDIS, "SENTIENT_EVENTS_PREFIX": prefix}
        result = events(thread, "--json", "--type", "run_completed", env=env)
        assert result.exit_code == 0, result.output
        assert [Event.from_json(line).type for line in result.stdout.splitlines()] == [
            EventType.RUN_COMPLETED
        ]
        assert "a live run holds the store" in result.stderr
        # Redis knows nothing of this thread and the store is held: exit 3, one line.
        result = events("unknown-thread", env=env)
        assert result.exit_code == 3
        assert "Redis holds no events for thread 'unknown-thread'" in result.output
        assert "Traceback" not in result.output
        # Without Redis: exit 3, saying how to watch a live run.
        result = events(thread, env={"REDIS_URL": ""})
        assert result.exit_code == 3
        assert "set REDIS_URL for both the run and this command" in result.output
    finally:
        assert holder.stdin is not None
        holder.stdin.write(b"\n")
        holder.stdin.close()
        holder.wait(timeout=15)


def test_history_from_the_store_when_redis_is_set_and_the_store_is_free(
    store: str, prefix: str
) -> None:
    """A thread whose first run went without Redis: both runs, though Redis knows one."""
    need_redis()
    thread = "t-mixed"

    async def go() -> list[str]:
        conn = await connect(store)
        try:
            async with await EventBus.open(conn) as bus:
                first = await run_graph(bus, linear_graph(["a"]), thread)
            async with await EventBus.open(conn, redis_url=SHARED_REDIS, prefix=prefix) as bus:
                second = await run_graph(bus, linear_graph(["b"]), thread)
            return [first.run_id, second.run_id]
        finally:
            await conn.aclose()

    runs = asyncio.run(go())
    env = {"REDIS_URL": SHARED_REDIS, "SENTIENT_EVENTS_PREFIX": prefix}
    result = events(thread, "--json", env=env)
    assert result.exit_code == 0, result.output
    got = [Event.from_json(line) for line in result.stdout.splitlines()]
    assert [run for run in dict.fromkeys(e.run_id for e in got)] == runs
