"""Followers in other processes, and a Redis server that dies in the middle of a run."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog

from sentient_graph.db import AsyncConnection
from sentient_graph.events import Event, EventBus, EventType, RunEmitter, Subscription
from sentient_graph.events import outbox as outbox_module
from sentient_graph.events.redis import client as redis_client
from tests.integration.events.events_testkit import (
    RedisServer,
    collect_until,
    is_end,
    linear_graph,
    new_thread_id,
    run_graph,
)

FOLLOWER = Path(__file__).with_name("follower_process.py")


async def _start_follower(
    redis_url: str, prefix: str, thread: str, runs: int = 1
) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        str(FOLLOWER),
        redis_url,
        prefix,
        thread,
        str(runs),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = await proc.stdout.readline()
    if line.strip() != b"READY":
        _, err = await proc.communicate()
        raise AssertionError(f"follower did not start: {line!r} {err.decode()[-2000:]}")
    return proc


async def _follower_events(proc: asyncio.subprocess.Process) -> list[Event]:
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    return [Event.from_json(line) for line in out.decode().splitlines() if line.strip()]


async def test_subscriber_in_another_process_sees_every_event(
    conn: AsyncConnection, redis_url: str, prefix: str
) -> None:
    thread = new_thread_id()
    proc = await _start_follower(redis_url, prefix, thread, runs=2)
    try:
        async with await EventBus.open(conn, redis_url=redis_url, prefix=prefix) as bus:
            first = await run_graph(
                bus, linear_graph(["a", "b", "c", "d"], parallel=("p", "q")), thread
            )
            second = await run_graph(bus, linear_graph(["x", "y"], fail="y"), thread)
        got = await _follower_events(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    by_run = {run: [e.seq for e in got if e.run_id == run] for run in (first.run_id, second.run_id)}
    assert by_run == {
        first.run_id: list(range(1, first.seq + 1)),
        second.run_id: list(range(1, second.seq + 1)),
    }
    assert [e.event_id for e in got] == [e.event_id for e in await bus.log.replay(thread)]  # type: ignore[union-attr]


async def test_redis_killed_and_restarted_mid_run(
    conn: AsyncConnection, private_redis: RedisServer, prefix: str
) -> None:
    thread = new_thread_id()
    gates = {"mid": asyncio.Event(), "late": asyncio.Event()}
    graph = linear_graph(["early", "mid", "during1", "during2", "late", "final"], gates=gates)
    publisher = await EventBus.open(conn, redis_url=private_redis.url, prefix=prefix)
    follower = await EventBus.open(None, redis_url=private_redis.url, prefix=prefix)
    # A second process follows too, to show the same across processes.
    other = await _start_follower(private_redis.url, prefix, thread)
    try:
        late_logged = asyncio.Event()

        def watch(event: Event) -> None:
            # The publisher's own handlers run in-process: they work while Redis is down.
            if event.type is EventType.NODE_STARTED and event.source == "late":
                late_logged.set()

        watcher = await publisher.add_handler(watch, thread)
        async with follower.subscribe(thread) as sub:
            run = asyncio.create_task(run_graph(publisher, graph, thread))
            # Wait until the follower has seen "mid" start (the node blocks on its gate).
            before = await collect_until(
                sub, lambda e: e.type is EventType.NODE_STARTED and e.source == "mid"
            )
            private_redis.stop()
            gates["mid"].set()  # these events are emitted while Redis is down
            # "late" blocks on its gate: its start is logged while Redis is still down.
            async with asyncio.timeout(15):
                await late_logged.wait()
            private_redis.start()
            gates["late"].set()
            emitter = await asyncio.wait_for(run, 30)
            after = await collect_until(sub, is_end, within=30)
        await watcher.aclose()
        from_other = await _follower_events(other)
    finally:
        for gate in gates.values():
            gate.set()
        if other.returncode is None:
            other.kill()
            await other.wait()
        await follower.aclose()
        await publisher.aclose()

    seen = before + after
    expected = list(range(1, emitter.seq + 1))
    assert seen[-1].type is EventType.RUN_COMPLETED
    assert [e.seq for e in seen] == expected, "the in-process follower lost or repeated events"
    assert [e.seq for e in from_other] == expected, "the other process lost or repeated events"
    logged = await publisher.log.replay(thread)  # type: ignore[union-attr]
    assert [e.seq for e in logged] == expected
    assert {e.source for e in logged if e.type is EventType.NODE_COMPLETED} == {
        "early",
        "mid",
        "during1",
        "during2",
        "late",
        "final",
    }


async def test_late_follower_replays_from_redis_after_restart(
    conn: AsyncConnection, private_redis: RedisServer, prefix: str
) -> None:
    """A Redis restart empties the stream; the publisher refills it from its log."""
    thread = new_thread_id()
    publisher = await EventBus.open(conn, redis_url=private_redis.url, prefix=prefix)
    try:
        emitter = await run_graph(publisher, linear_graph(["a", "b"]), thread)
        await publisher.flush()
        private_redis.stop()
        private_redis.start()
        more = await run_graph(publisher, linear_graph(["c"]), thread)
        async with asyncio.timeout(15):
            await publisher.flush()
        async with await EventBus.open(None, redis_url=private_redis.url, prefix=prefix) as late:
            history = await late.replay(thread)
            async with late.subscribe(thread, after_seq=0) as sub:
                replayed = await collect_until(sub, lambda e: e.run_id == more.run_id and is_end(e))
    finally:
        await publisher.aclose()
    runs = {emitter.run_id: emitter.seq, more.run_id: more.seq}
    for events in (history, replayed):
        assert {run: [e.seq for e in events if e.run_id == run] for run in runs} == {
            run: list(range(1, n + 1)) for run, n in runs.items()
        }


@pytest.mark.usefixtures("default_structlog")
async def test_a_frozen_redis_costs_the_run_nothing_and_misses_no_event(
    conn: AsyncConnection,
    private_redis: RedisServer,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis alive but not answering (SIGSTOP): publishes return once durable,
    the outbox's call gives up after its timeout and retries; once Redis answers
    again the follower has every event exactly once."""
    monkeypatch.setattr(redis_client, "REDIS_TIMEOUT", 0.3)
    thread = new_thread_id()
    gave_up = asyncio.Event()

    def watch(_: Any, __: str, entry: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if entry.get("event") == "events.redis_publish_failed":
            gave_up.set()
        return entry

    publisher = await EventBus.open(conn, redis_url=private_redis.url, prefix=prefix)
    follower = await EventBus.open(None, redis_url=private_redis.url, prefix=prefix)
    try:
        with structlog.testing.capture_logs(processors=[watch]) as logs:
            async with follower.subscribe(thread) as sub:
                emitter = RunEmitter(publisher, thread_id=thread, run_id="run-1")
                await emitter.emit(EventType.RUN_STARTED)
                before = await collect_until(sub, lambda e: e.type is EventType.RUN_STARTED)
                private_redis.freeze()
                try:
                    async with asyncio.timeout(5):  # durable in the log: Redis is not waited for
                        for step in range(5):
                            await emitter.emit(EventType.NODE_PROGRESS, payload={"step": step})
                        await emitter.emit(EventType.RUN_COMPLETED)
                        await gave_up.wait()
                finally:
                    private_redis.thaw()
                after = await collect_until(sub, is_end)
    finally:
        private_redis.thaw()
        await follower.aclose()
        await publisher.aclose()
    failed = [e for e in logs if e["event"] == "events.redis_publish_failed"]
    assert failed and "TimeoutError" in failed[0]["error"]
    assert [e.seq for e in before + after] == list(range(1, emitter.seq + 1))
    assert [e.payload.get("step") for e in after[:-1]] == [0, 1, 2, 3, 4]


@contextlib.asynccontextmanager
async def _run_on_redis(
    conn: AsyncConnection, redis_url: str, prefix: str
) -> AsyncIterator[tuple[EventBus, RunEmitter, Subscription, redis.Redis]]:
    """A run whose ``run_started`` is on Redis, a follower of its thread, and a
    plain client of that Redis, for a test to disturb the publishing side."""
    thread = new_thread_id()
    publisher = await EventBus.open(conn, redis_url=redis_url, prefix=prefix)
    follower = await EventBus.open(None, redis_url=redis_url, prefix=prefix)
    client = redis.Redis.from_url(redis_url)
    try:
        async with follower.subscribe(thread) as sub:
            emitter = RunEmitter(publisher, thread_id=thread, run_id="run-1")
            await emitter.emit(EventType.RUN_STARTED)
            await publisher.flush()
            yield publisher, emitter, sub, client
    finally:
        client.close()
        await follower.aclose()
        await publisher.aclose()


async def test_a_redis_that_forgot_the_publish_script_gets_it_again(
    conn: AsyncConnection, private_redis: RedisServer, prefix: str
) -> None:
    """``SCRIPT FLUSH`` (as a restart does): the next call meets NOSCRIPT, the
    outbox loads the script again and the event goes out, once."""
    async with _run_on_redis(conn, private_redis.url, prefix) as (bus, emitter, sub, client):
        assert client.script_flush()
        await emitter.emit(EventType.RUN_COMPLETED)
        async with asyncio.timeout(10):
            await bus.flush()
        events = await collect_until(sub, is_end)
        entries = client.xrange(outbox_module.stream_name(prefix, emitter.thread_id))
    assert [e.seq for e in events] == [1, 2]
    assert [int(fields[b"s"]) for _, fields in entries or [] if fields] == [1, 2]


async def test_a_dropped_publishing_connection_loses_and_doubles_nothing(
    conn: AsyncConnection, private_redis: RedisServer, prefix: str
) -> None:
    """Redis closes the outbox's idle connection (``CLIENT KILL``): the writer's next
    call goes out on a dead socket, the outbox notices, reconnects and sends again;
    the follower gets every event once."""
    async with _run_on_redis(conn, private_redis.url, prefix) as (bus, emitter, sub, client):
        assert client.client_kill_filter(_type="normal") >= 1
        for step in range(3):
            await emitter.emit(EventType.NODE_PROGRESS, payload={"step": step})
        await emitter.emit(EventType.RUN_COMPLETED)
        async with asyncio.timeout(10):
            await bus.flush()
        events = await collect_until(sub, is_end)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.payload.get("step") for e in events[1:4]] == [0, 1, 2]
