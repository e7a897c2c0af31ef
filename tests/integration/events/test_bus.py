"""Behaviour of the bus and the emitter with a real LangGraph graph, in-process and over Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph

from sentient_graph.db import AsyncConnection
from sentient_graph.errors import ConfigError, RedisUnavailable, StoreUnavailable
from sentient_graph.events import (
    Event,
    EventBus,
    EventLog,
    EventType,
    Priority,
    RunEmitter,
)
from sentient_graph.events.linger import CpuIdleSignal, IdleWatch
from sentient_graph.events.log import ROWS_PER_INSERT
from sentient_graph.events.model import events_from_json
from sentient_graph.events.redis import follower as follower_module
from tests.integration.events.events_testkit import (
    MODES,
    SHARED_REDIS,
    Buses,
    HandClock,
    IdleSwitch,
    State,
    collect_until,
    free_port,
    is_end,
    linear_graph,
    need_redis,
    new_thread_id,
    open_buses,
    run_graph,
    stream_seqs_while_the_loop_is_held,
)


async def test_graph_events_arrive_in_order_with_contiguous_seq(buses: Buses) -> None:
    thread = new_thread_id()
    graph = linear_graph(["plan", "build", "review"], parallel=("front", "back"))
    async with buses.follower.subscribe(thread) as sub:
        emitter = await run_graph(buses.publisher, graph, thread)
        seen = await collect_until(sub, is_end)

    assert [e.seq for e in seen] == list(range(1, emitter.seq + 1))
    assert {e.run_id for e in seen} == {emitter.run_id}
    assert seen[0].type is EventType.RUN_STARTED and seen[-1].type is EventType.RUN_COMPLETED
    started = [e.source for e in seen if e.type is EventType.NODE_STARTED]
    completed = [e for e in seen if e.type is EventType.NODE_COMPLETED]
    assert started[0] == "plan" and set(started[1:3]) == {"front", "back"}
    assert started[3:] == ["build", "review"]
    assert {e.source for e in completed} == {"plan", "front", "back", "build", "review"}
    for done in completed:
        start = next(
            e
            for e in seen
            if e.type is EventType.NODE_STARTED and e.payload["task_id"] == done.payload["task_id"]
        )
        assert start.seq < done.seq
        assert done.payload["duration_ms"] >= 0 and done.payload["keys"] == ["trail"]
    progress = [e for e in seen if e.type is EventType.NODE_PROGRESS]
    # Sequential nodes are named; the two parallel ones may not be knowable.
    assert {"plan", "build", "review"} <= {e.source for e in progress}
    assert all(e.payload["pct"] == 50 and e.priority is Priority.LOW for e in progress)
    checkpoints = [e for e in seen if e.type is EventType.CHECKPOINT_SAVED]
    assert checkpoints and all(e.checkpoint_id for e in checkpoints)
    # The log holds the same events, in the same order.
    log = buses.publisher.log
    assert log is not None
    assert [e.event_id for e in await log.replay(thread)] == [e.event_id for e in seen]


async def test_failures_and_interrupts_carry_their_details(buses: Buses) -> None:
    thread = new_thread_id()
    async with buses.follower.subscribe(thread, min_priority="high") as sub:
        await run_graph(buses.publisher, linear_graph(["a", "b"], fail="b"), thread)
        seen = await collect_until(sub, is_end)
    assert [e.type for e in seen] == [EventType.NODE_FAILED, EventType.RUN_FAILED]
    failed = seen[0]
    assert failed.source == "b" and failed.priority is Priority.HIGH
    assert failed.payload["error_type"] == "ValueError"
    assert "failed on purpose" in failed.payload["error"]
    assert failed.payload["duration_ms"] >= 0

    from langgraph.types import interrupt

    emitter = RunEmitter(buses.publisher, thread_id=thread, run_id="r-interrupt")
    chunk = {"id": "task-1", "name": "approve", "input": {}, "triggers": ("branch:to:approve",)}
    await emitter.from_chunk("tasks", chunk)
    (event,) = await emitter.from_chunk(
        "tasks",
        {
            "id": "task-1",
            "name": "approve",
            "error": None,
            "result": {},
            "interrupts": [{"value": {"question": "ship?"}, "id": "i1"}],
        },
    )
    assert event.type is EventType.INTERRUPTED
    assert event.payload["interrupts"] == [{"id": "i1", "value": {"question": "ship?"}}]
    assert interrupt is not None


async def test_filters(buses: Buses) -> None:
    thread, other = new_thread_id(), new_thread_id()
    graph = linear_graph(["a", "b", "c"])
    follower = buses.follower
    async with (
        follower.subscribe(
            thread, types=[EventType.NODE_COMPLETED, EventType.RUN_COMPLETED]
        ) as by_type,
        follower.subscribe(thread, source="b") as by_source,
        follower.subscribe(None, types="run_completed") as everywhere,
        follower.subscribe(thread, min_priority=Priority.NORMAL) as by_priority,
    ):
        first = await run_graph(buses.publisher, graph, thread)
        second = await run_graph(buses.publisher, linear_graph(["x"]), other)
        typed = await collect_until(by_type, is_end)
        sourced = await collect_until(by_source, lambda e: e.type is EventType.NODE_COMPLETED)
        ends = await collect_until(everywhere, lambda e: e.thread_id == other)
        urgent = await collect_until(by_priority, is_end)
    assert [e.source for e in typed] == ["a", "b", "c", None]
    assert [e.type for e in sourced] == [
        EventType.NODE_STARTED,
        EventType.NODE_PROGRESS,
        EventType.NODE_COMPLETED,
    ]
    assert {(e.thread_id, e.run_id) for e in ends} == {
        (thread, first.run_id),
        (other, second.run_id),
    }
    assert urgent and all(e.priority >= Priority.NORMAL for e in urgent)
    assert not any(e.type in (EventType.NODE_PROGRESS, EventType.CHECKPOINT_SAVED) for e in urgent)

    # One run only: the thread's earlier runs are not replayed, its first event is this run's.
    async with follower.subscribe(thread, run_id="not-this-run", after_seq=0) as one_run:
        await RunEmitter(buses.publisher, thread_id=thread, run_id="not-this-run").emit(
            EventType.RUN_STARTED
        )
        async with asyncio.timeout(10):
            only = await anext(one_run)
    assert (only.run_id, only.seq, only.type) == ("not-this-run", 1, EventType.RUN_STARTED)


async def test_replay_after_seq_then_live_without_gap_or_duplicate(buses: Buses) -> None:
    thread = new_thread_id()
    emitter = RunEmitter(buses.publisher, thread_id=thread, run_id="r1")
    for i in range(5):
        await emitter.emit(EventType.CUSTOM, source="n", payload={"i": i})
    await buses.publisher.flush()
    async with buses.follower.subscribe(thread, after_seq=2) as sub:
        for i in range(5, 8):
            await emitter.emit(EventType.CUSTOM, source="n", payload={"i": i})
        await emitter.emit(EventType.RUN_COMPLETED)
        seen = await collect_until(sub, is_end)
    assert [e.seq for e in seen] == [3, 4, 5, 6, 7, 8, 9]
    assert [e.payload.get("i") for e in seen] == [2, 3, 4, 5, 6, 7, None]
    assert [e.seq for e in await buses.follower.replay(thread, after_seq=6)] == [7, 8, 9]


async def test_live_only_subscriber_gets_whole_runs_that_start_later(buses: Buses) -> None:
    thread = new_thread_id()
    async with buses.follower.subscribe(thread) as sub:
        for run in ("r1", "r2"):
            emitter = RunEmitter(buses.publisher, thread_id=thread, run_id=run)
            await emitter.emit(EventType.RUN_STARTED)
            await emitter.emit(EventType.RUN_COMPLETED)
        seen = await collect_until(sub, lambda e: e.run_id == "r2" and is_end(e))
    assert [(e.run_id, e.seq) for e in seen] == [("r1", 1), ("r1", 2), ("r2", 1), ("r2", 2)]


async def test_handlers_sync_and_async_and_a_failing_one(buses: Buses) -> None:
    thread = new_thread_id()
    got_sync: list[int] = []
    got_async: list[int] = []
    done = asyncio.Event()

    def sync_handler(event: Event) -> None:
        got_sync.append(event.seq)

    async def async_handler(event: Event) -> None:
        got_async.append(event.seq)
        if is_end(event):
            done.set()

    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    regs = [
        await buses.follower.add_handler(sync_handler, thread),
        await buses.follower.add_handler(async_handler, thread),
        await buses.follower.add_handler(broken, thread),
    ]
    emitter = RunEmitter(buses.publisher, thread_id=thread, run_id="r")
    for _ in range(3):
        await emitter.emit(EventType.CUSTOM)
    await emitter.emit(EventType.RUN_COMPLETED)
    async with asyncio.timeout(10):
        await done.wait()
    for reg in regs:
        await reg.aclose()
    assert got_async == [1, 2, 3, 4]
    assert got_sync == [1, 2, 3, 4]


async def test_concurrent_emits_get_contiguous_seq(buses: Buses) -> None:
    thread = new_thread_id()
    emitter = RunEmitter(buses.publisher, thread_id=thread, run_id="r")
    async with buses.follower.subscribe(thread) as sub:
        await asyncio.gather(*(emitter.emit(EventType.CUSTOM, payload={"i": i}) for i in range(50)))
        await emitter.emit(EventType.RUN_COMPLETED)
        seen = await collect_until(sub, is_end)
    assert [e.seq for e in seen] == list(range(1, 52))


@pytest.mark.parametrize("kind", ["inprocess", "redis"])
async def test_deferred_events_keep_their_order_around_awaited_ones(
    kind: str, conn: AsyncConnection, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events from ``from_chunk_deferred`` are numbered at once and built when the writer
    takes them: the log gets them in seq order, also when an awaited event is numbered
    while the batch before it still waits, and the event a caller reads is the one that
    was written."""
    clock = HandClock()  # never moved: the writer lingers until something wakes it
    async with open_buses(kind, conn, prefix, idle=IdleSwitch(), clock=clock) as buses:
        thread = new_thread_id()
        log = buses.publisher.log
        assert log is not None
        append_pages = log.append_pages
        handed_to_log: list[int] = []

        async def spy(page_list: list[list[Event]], **kwargs: Any) -> Any:  # the real log, watched
            handed_to_log.extend(e.seq for page in page_list for e in page if e.thread_id == thread)
            return await append_pages(page_list, **kwargs)

        monkeypatch.setattr(log, "append_pages", spy)
        publish_many = buses.publisher.publish_many
        queued = asyncio.Event()  # the awaited event is numbered and handed to the bus

        async def handed(events: list[Event], *, wait: bool = True) -> None:
            queued.set()
            await publish_many(events, wait=wait)

        monkeypatch.setattr(buses.publisher, "publish_many", handed)
        emitter = RunEmitter(buses.publisher, thread_id=thread, run_id="r")
        first = await emitter.from_chunk_deferred("custom", {"node": "a", "step": 1})
        assert [(p.seq, p.type, p.source) for p in first] == [(1, EventType.NODE_PROGRESS, "a")]
        async with asyncio.timeout(10):
            await clock.armed.wait()  # the writer holds seq 1, the process "busy"
        assert handed_to_log == []
        awaited = asyncio.create_task(emitter.emit(EventType.CUSTOM, payload={"step": 2}))
        async with asyncio.timeout(10):
            await queued.wait()
        assert emitter.seq == 2
        later = await emitter.from_chunk_deferred("custom", {"node": "a", "step": 3})
        async with asyncio.timeout(10):
            await awaited
        await emitter.emit(EventType.RUN_COMPLETED)
        async with buses.follower.subscribe(thread, after_seq=0) as sub:
            seen = await collect_until(sub, is_end)
        assert [(e.seq, e.payload.get("step")) for e in seen] == [(1, 1), (2, 2), (3, 3), (4, None)]
        assert handed_to_log == [1, 2, 3, 4]  # written in seq order, not healed afterwards
        logged = await buses.publisher.replay(thread)
        assert logged == seen
        assert [first[0].event, later[0].event] == [logged[0], logged[2]]


async def test_an_emitter_works_with_a_publisher_that_only_publishes() -> None:
    """``EventPublisher`` asks only for ``publish_many``: without ``defer`` the emitter
    hands each event over built, in seq order, awaited or not."""

    class Collecting:
        def __init__(self) -> None:
            self.got: list[tuple[int, bool]] = []

        async def publish_many(self, events: list[Event], *, wait: bool = True) -> None:
            self.got += [(e.seq, wait) for e in events]

    publisher = Collecting()
    emitter = RunEmitter(publisher, thread_id="t", run_id="r")
    await emitter.emit(EventType.RUN_STARTED, wait=False)
    pending = await emitter.from_chunk_deferred("custom", {"node": "n"})
    await emitter.emit(EventType.RUN_COMPLETED)
    assert publisher.got == [(1, False), (2, False), (3, True)]
    assert pending[0].event.seq == 2 and pending[0].event.source == "n"


async def test_a_deferred_event_the_log_refuses_fails_the_next_call(
    conn: AsyncConnection,
) -> None:
    """Written behind the run, a refused event cannot fail its own call: the next call
    of the run raises the log's error, and the log keeps what it had."""
    bus = await EventBus.open(conn)
    try:
        thread = new_thread_id()
        first = RunEmitter(bus, thread_id=thread, run_id="r")
        started = await first.emit(EventType.RUN_STARTED)
        # A second emitter reusing the run id: its seq 1 is taken in the log.
        again = RunEmitter(bus, thread_id=thread, run_id="r")
        await again.from_chunk_deferred("custom", {"node": "n"})
        await bus.wait_durable()
        with pytest.raises(StoreUnavailable, match="already exists"):
            await again.from_chunk_deferred("custom", {"node": "n"})
        assert await bus.replay(thread) == [started]
    finally:
        await bus.aclose()


async def test_a_large_write_is_split_and_a_refused_event_sinks_no_other(
    conn: AsyncConnection,
) -> None:
    """Events of more runs than one INSERT holds are written in several, in order;
    an event the log refuses fails alone, in whichever INSERT it fell."""
    inserts = 0
    query, query_now = conn.query, conn.query_now

    async def counted(sql: str, vars: Any = None, **kw: Any) -> Any:
        nonlocal inserts
        inserts += sql.startswith("INSERT INTO event")
        return await query(sql, vars, **kw)

    def counted_now(sql: str, vars: Any = None) -> Any:
        nonlocal inserts
        result = query_now(sql, vars)
        inserts += result is not None and sql.startswith("INSERT INTO event")
        return result

    conn.query, conn.query_now = counted, counted_now  # type: ignore[method-assign]
    bus = await EventBus.open(conn, linger=3600, idle=IdleSwitch(), clock=HandClock())
    try:
        thread = new_thread_id()
        taken = await RunEmitter(bus, thread_id=thread, run_id="taken").emit(EventType.RUN_STARTED)
        runs = 2 * ROWS_PER_INSERT + 3  # a page each: three INSERTs

        async def hold(prefix: str, refused_after: int | None = None) -> None:
            # Held: the clock never moves and the process looks busy.
            for i in range(runs):
                emitter = RunEmitter(bus, thread_id=thread, run_id=f"{prefix}{i:02}")
                await emitter.from_chunk_deferred("custom", {"node": "a"})
                await emitter.from_chunk_deferred("custom", {"node": "b"})
                if i == refused_after:  # seq 1 of "taken" again
                    again = RunEmitter(bus, thread_id=thread, run_id="taken")
                    await again.from_chunk_deferred("custom", {"node": "n"})

        inserts = 0
        await hold("a")
        await bus.wait_durable()
        assert inserts == 3
        await hold("b", refused_after=ROWS_PER_INSERT + 1)
        await bus.wait_durable()
        stored = await bus.replay(thread)
        assert stored[0] == taken
        assert [(e.run_id, e.seq) for e in stored[1:]] == [
            (f"{prefix}{i:02}", seq) for prefix in "ab" for i in range(runs) for seq in (1, 2)
        ]
    finally:
        await bus.aclose()


async def test_follow_only_bus_cannot_publish_and_bad_redis_is_one_line(
    conn: AsyncConnection,
) -> None:
    with pytest.raises(RedisUnavailable, match="no Redis server answers"):
        await EventBus.open(conn, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    bus = await EventBus.open(conn)
    await bus.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await bus.publish(Event(type="custom", thread_id="t", run_id="r", seq=1))


async def test_lingering_events_go_out_with_the_next_awaited_one_or_when_idle(
    conn: AsyncConnection,
) -> None:
    """Events nobody awaits wait for company (``linger``); an awaited one, or idleness, ends the wait."""
    with pytest.raises(ConfigError, match="linger"):
        await EventBus.open(conn, linger=-1)
    clock, signal = HandClock(), IdleSwitch()
    bus = await EventBus.open(conn, linger=3600, idle=signal, clock=clock)
    try:
        thread = new_thread_id()
        emitter = RunEmitter(bus, thread_id=thread, run_id="r")
        for i in range(3):
            await emitter.from_chunk("custom", {"node": "n", "i": i})
        assert bus.log is not None
        async with asyncio.timeout(10):  # an hour's linger must not hold this up
            await emitter.emit(EventType.RUN_COMPLETED)
        assert [e.seq for e in await bus.log.replay(thread)] == [1, 2, 3, 4]
        # Nobody awaits or follows this one, and the linger is an hour: while the
        # process is busy it waits, whatever the clock says short of the hour.
        clock.armed.clear()
        await emitter.from_chunk("custom", {"node": "n", "i": 3})
        async with asyncio.timeout(10):
            await clock.armed.wait()
        clock.advance(600)
        assert [e.seq for e in await bus.log.replay(thread)] == [1, 2, 3, 4]
        # It is written at the writer's next look once the process has nothing else to do.
        signal.is_idle = True
        clock.advance(0.004)
        assert bus._writer is not None
        async with asyncio.timeout(10):
            await bus._writer._drained.wait()  # set once the writer has nothing left to write
        assert [e.seq for e in await bus.log.replay(thread)] == [1, 2, 3, 4, 5]
        # Busy again: the cap ends the wait.
        signal.is_idle = False
        clock.armed.clear()
        await emitter.from_chunk("custom", {"node": "n", "i": 4})
        async with asyncio.timeout(10):
            await clock.armed.wait()
        clock.advance(3600)
        async with asyncio.timeout(10):
            await bus._writer._drained.wait()
        assert [e.seq for e in await bus.log.replay(thread)] == [1, 2, 3, 4, 5, 6]
        await emitter.from_chunk("custom", {"node": "n", "i": 5})
        async with asyncio.timeout(10):
            await bus.wait_durable()  # and a flush waits for neither idleness nor the cap
        assert [e.seq for e in await bus.log.replay(thread)] == [1, 2, 3, 4, 5, 6, 7]
    finally:
        await bus.aclose()


async def test_the_bus_tells_which_seq_of_a_run_is_durable(conn: AsyncConnection) -> None:
    """``durable_seq`` and ``wait_seq_durable`` follow the log, not the emitter: an event
    that lingers is not durable yet, and one the log refuses raises to whoever waits."""
    clock = HandClock()  # never moved, the process "busy": events linger until flushed
    bus = await EventBus.open(conn, linger=3600, idle=IdleSwitch(), clock=clock)
    try:
        thread = new_thread_id()
        emitter = RunEmitter(bus, thread_id=thread, run_id="r")
        await emitter.emit(EventType.RUN_STARTED)
        assert bus.durable_seq("r") == 1
        await bus.wait_seq_durable("r", 1)  # at once
        await emitter.from_chunk_deferred("custom", {"node": "n"})
        await emitter.from_chunk_deferred("custom", {"node": "n"})
        async with asyncio.timeout(10):
            await clock.armed.wait()  # the writer lingers over seq 2 and 3
        waiting = asyncio.create_task(bus.wait_seq_durable("r", 3))
        async with asyncio.timeout(10):
            await bus.wait_durable()
            await waiting
        assert bus.durable_seq("r") == 3
        assert bus.durable_seq("another run") == 0
        # Run q's seq 1 and 2 are in the log already, written by another bus on the store.
        other = await EventBus.open(conn, setup=False)
        try:
            first = RunEmitter(other, thread_id=thread, run_id="q")
            await first.emit(EventType.RUN_STARTED)
            await first.emit(EventType.CUSTOM)
        finally:
            await other.aclose()
        refused = asyncio.create_task(bus.wait_seq_durable("q", 2))
        again = RunEmitter(bus, thread_id=thread, run_id="q")
        await again.from_chunk_deferred("custom", {"node": "n"})
        await again.from_chunk_deferred("custom", {"node": "n"})
        async with asyncio.timeout(10):
            await bus.wait_durable()
            with pytest.raises(StoreUnavailable, match="already exists"):
                await refused
        assert bus.durable_seq("q") == 0
    finally:
        await bus.aclose()


def test_the_idle_watch_looks_less_often_while_the_process_stays_busy() -> None:
    """Looks every millisecond caught the short waits of a graph's nodes, too short for
    a write to be free; while busy, each look waits twice as long as the last (up to
    4 ms), and the deadline wakes the writer whatever the signal says."""
    clock, signal = HandClock(), IdleSwitch()
    woken: list[float] = []
    IdleWatch(clock, signal, 0.060, lambda: woken.append(clock.time()))
    clock.advance(0.0595)
    assert woken == []
    assert signal.looks == pytest.approx([0.001, 0.002] + [0.004] * 14)  # at 1, 3, 7, ..., 59 ms
    clock.advance(0.0005)
    assert woken == [pytest.approx(0.060)]
    clock.advance(1)
    assert len(woken) == 1  # woken once


def test_the_idle_watch_wakes_at_the_first_idle_look_and_not_once_cancelled() -> None:
    clock, signal = HandClock(), IdleSwitch()
    woken: list[float] = []
    IdleWatch(clock, signal, 10.0, lambda: woken.append(clock.time()))
    clock.advance(0.003)  # looks at 1 and 3 ms: busy
    signal.is_idle = True
    clock.advance(0.004)
    assert woken == [pytest.approx(0.007)]
    cancelled = IdleWatch(clock, signal, 20.0, lambda: woken.append(-1.0))
    cancelled.cancel()
    clock.advance(30)
    assert woken == [pytest.approx(0.007)]


def test_the_cpu_idle_signal_compares_cpu_time_with_the_wait() -> None:
    """Idle: less CPU time than 30% of the wall time since the mark."""
    cpu = [5.0]
    signal = CpuIdleSignal(cpu_time=lambda: cpu[0])
    signal.mark()
    cpu[0] += 0.0002
    assert signal.idle(0.001)  # 20% of a millisecond
    signal.mark()
    cpu[0] += 0.0009
    assert not signal.idle(0.001)  # a thread computing
    signal.mark()
    cpu[0] += 0.003
    assert signal.idle(0.016)


@pytest.mark.parametrize("kind", ["inprocess", "redis"])
async def test_while_busy_only_events_someone_follows_skip_the_linger(
    kind: str, conn: AsyncConnection, prefix: str
) -> None:
    """A busy process holds events nobody follows for the linger (an hour here); a
    thread with a follower (a subscription of the bus, or one on Redis) is written soon."""
    redis_url = None
    if kind == "redis":
        need_redis()
        redis_url = SHARED_REDIS
    clock = HandClock()  # moved by nobody: only a follower or a flush ends a linger
    bus = await EventBus.open(
        conn, redis_url=redis_url, prefix=prefix, linger=3600, idle=IdleSwitch(), clock=clock
    )
    # On Redis, the follower is in "another process": a follow-only bus.
    watcher = (
        bus if redis_url is None else await EventBus.open(None, redis_url=redis_url, prefix=prefix)
    )
    assert bus.log is not None
    try:
        watched, unwatched = new_thread_id(), new_thread_id()
        followed = RunEmitter(bus, thread_id=watched, run_id="r")
        alone = RunEmitter(bus, thread_id=unwatched, run_id="r")
        async with watcher.subscribe(watched) as sub:
            # Redis tells who heard a thread's messages: each thread's first goes out awaited.
            await followed.emit(EventType.RUN_STARTED)
            await alone.emit(EventType.RUN_STARTED)
            async with asyncio.timeout(10):
                await bus.flush()
                assert (await anext(aiter(sub))).seq == 1
            await _lingers_over_a_chunk(bus, clock, alone, [1])
            await followed.from_chunk("custom", {"node": "n"})
            async with asyncio.timeout(10):  # not an hour
                arrived = await anext(aiter(sub))
            assert (arrived.seq, arrived.source) == (2, "n")
            # Written in order: the queued event of the other thread went with it.
            assert [e.seq for e in await bus.log.replay(unwatched)] == [1, 2]
        # The follower left: Redis hears nobody at the thread's next message, and
        # its events linger again.
        await followed.emit(EventType.NODE_COMPLETED, "n")
        async with asyncio.timeout(10):
            await bus.flush()
        clock.armed.clear()
        await followed.from_chunk("custom", {"node": "n"})
        async with asyncio.timeout(10):
            await clock.armed.wait()
        assert [e.seq for e in await bus.log.replay(watched)] == [1, 2, 3]
        async with asyncio.timeout(10):
            await bus.wait_durable()
        assert [e.seq for e in await bus.log.replay(watched)] == [1, 2, 3, 4]
    finally:
        if watcher is not bus:
            await watcher.aclose()
        await bus.aclose()


async def _lingers_over_a_chunk(
    bus: EventBus, clock: HandClock, emitter: RunEmitter, stored: list[int]
) -> None:
    """``emitter`` makes a chunk event; the writer lingers over it (its timer is set)
    and the log of the emitter's thread still holds only ``stored``."""
    clock.armed.clear()
    await emitter.from_chunk("custom", {"node": "n"})
    async with asyncio.timeout(10):
        await clock.armed.wait()
    assert bus.log is not None
    assert [e.seq for e in await bus.log.replay(emitter.thread_id)] == stored


async def test_a_subscription_that_is_not_prompt_does_not_hurry_the_writer(
    conn: AsyncConnection,
) -> None:
    """An observer of every thread that can wait (``prompt=False``, the server's
    metrics) leaves events to linger, and gets them once they are written."""
    clock = HandClock()  # moved by nobody: only a prompt follower or a flush ends a linger
    bus = await EventBus.open(conn, linger=3600, idle=IdleSwitch(), clock=clock)
    assert bus.log is not None
    try:
        thread = new_thread_id()
        emitter = RunEmitter(bus, thread_id=thread, run_id="r")
        async with bus.subscribe(None, prompt=False) as sub:
            await emitter.emit(EventType.RUN_STARTED)
            assert (await anext(aiter(sub))).seq == 1
            await _lingers_over_a_chunk(bus, clock, emitter, [1])
            async with bus.subscribe(None) as prompt:  # a prompt follower arrives
                await emitter.from_chunk("custom", {"node": "n"})
                async with asyncio.timeout(10):  # not an hour (the run whole: it is new to it)
                    assert [(await anext(aiter(prompt))).seq for _ in range(3)] == [1, 2, 3]
            assert [(await anext(aiter(sub))).seq for _ in range(2)] == [2, 3]
    finally:
        await bus.aclose()


async def test_a_followed_node_start_is_written_before_the_event_loop_turns(
    conn: AsyncConnection,
) -> None:
    """A node start of a thread someone follows is durable once the emitter returns,
    with what was queued before it; at most one such write per turn of the event
    loop (the other starts of a fan-out go at the writer's next turn); a start
    nobody follows waits for the writer."""
    bus = await EventBus.open(conn, linger=3600)

    def durable(thread: str) -> list[int]:
        """The thread's seqs in the log, read without giving the event loop a turn."""
        rows = conn.query_now(
            "SELECT VALUE json FROM event:[$thread, NONE]..[$thread, ..]", {"thread": thread}
        )
        assert rows is not None
        return sorted(event.seq for page in rows[0] for event in events_from_json(page))

    def start(node: str) -> dict[str, Any]:
        return {"id": f"task-{node}", "name": node, "input": {}, "triggers": (f"branch:to:{node}",)}

    try:
        watched, unwatched = new_thread_id(), new_thread_id()
        followed = RunEmitter(bus, thread_id=watched, run_id="r")
        alone = RunEmitter(bus, thread_id=unwatched, run_id="r")
        async with bus.subscribe(watched) as sub:
            # From here to the end of the fan-out, nothing suspends: one loop turn.
            await alone.from_chunk_deferred("tasks", start("x"))
            assert durable(unwatched) == []
            await followed.from_chunk_deferred("tasks", {**start("a"), "result": {"k": 1}})
            assert durable(watched) == []  # a node's end waits for what comes next
            await followed.from_chunk_deferred("tasks", start("b"))
            assert durable(watched) == [1, 2]
            assert durable(unwatched) == [1]  # queued before it: the same write
            await followed.from_chunk_deferred("tasks", start("c"))  # b's sibling
            assert durable(watched) == [1, 2]
            async with asyncio.timeout(10):
                await bus.wait_durable()
            assert durable(watched) == [1, 2, 3]
            await followed.from_chunk_deferred("tasks", start("d"))  # a later turn
            assert durable(watched) == [1, 2, 3, 4]
            arrived = await collect_until(sub, lambda e: e.seq == 4)
        assert [(e.seq, e.type, e.source) for e in arrived] == [
            (1, EventType.NODE_COMPLETED, "a"),
            (2, EventType.NODE_STARTED, "b"),
            (3, EventType.NODE_STARTED, "c"),
            (4, EventType.NODE_STARTED, "d"),
        ]
    finally:
        await bus.aclose()


async def test_emitted_events_are_json_safe_whatever_nodes_and_callers_put_in(
    conn: AsyncConnection,
) -> None:
    """The emitter builds events without validation; what users pass is still made JSON-safe."""
    bus = await EventBus.open(conn)
    try:
        emitter = RunEmitter(bus, thread_id=new_thread_id(), run_id="r", metadata={"tags": {"a"}})
        emitted = await emitter.emit(
            EventType.CUSTOM, payload={"error": ValueError("boom"), "big": 2**70}
        )
        (progress,) = await emitter.from_chunk("custom", {"node": "n", "obj": object})
        await emitter.flush()
        for event in (emitted, progress):
            assert Event.from_json(event.to_json()) == event
            assert event.metadata == {"tags": ["a"]}
        assert emitted.payload == {"error": "ValueError('boom')", "big": 2**70}
        assert progress.payload == {"node": "n", "obj": repr(object)}
        assert len({emitted.event_id, progress.event_id}) == 2
        assert await bus.replay(emitter.thread_id) == [emitted, progress]
    finally:
        await bus.aclose()


@pytest.mark.parametrize("deferred", [False, True], ids=["built-at-once", "deferred"])
async def test_emitted_events_equal_validated_ones(conn: AsyncConnection, deferred: bool) -> None:
    """The emitter assembles events without validation: each must be what validation makes,
    whether built at once or when the writer takes them (as the engine's runner has them)."""
    bus = await EventBus.open(conn)
    try:
        thread = new_thread_id()
        graph = linear_graph(["plan", "build"], parallel=("front", "back"))
        emitter = RunEmitter(bus, thread_id=thread, run_id="r", metadata={"team": "a"})
        made = [await emitter.emit(EventType.RUN_STARTED, payload={"graph": "test"})]
        config = {"configurable": {"thread_id": thread}}
        pending = []
        async for item in graph.astream({"trail": []}, config, stream_mode=MODES):
            if deferred:
                pending += await emitter.from_item_deferred(item)
            else:
                made += await emitter.from_item(item)
        await bus.wait_durable()
        made += [p.event for p in pending]
        made.append(await emitter.emit(EventType.RUN_COMPLETED, priority="critical"))
        assert {e.type for e in made} >= {
            EventType.NODE_STARTED,
            EventType.NODE_COMPLETED,
            EventType.CHECKPOINT_SAVED,
        }
        for event in made:
            validated = Event.model_validate(event.model_dump())
            assert event == validated
            assert event.model_fields_set == validated.model_fields_set
            assert event.to_json() == validated.to_json()
            assert event.model_copy(update={"seq": 99}).seq == 99
        assert await bus.replay(thread) == made
        with pytest.raises(TypeError, match="needs exactly the fields"):
            Event._assemble({"type": EventType.CUSTOM, "thread_id": "t", "run_id": "r"})
    finally:
        await bus.aclose()


async def test_redis_reuses_the_log_pages_json_only_where_it_fits(
    conn: AsyncConnection, redis_url: str, prefix: str
) -> None:
    """Redis gets the log's page JSON where the pages tile a run's events exactly, and
    the events serialised anew otherwise; either way exactly those events."""
    bus = await EventBus.open(conn, redis_url=redis_url, prefix=prefix)
    try:
        emitter = RunEmitter(bus, thread_id=new_thread_id(), run_id="r")
        events = [
            await emitter.emit(EventType.CUSTOM, source="n", payload={"i": i}, wait=False)
            for i in range(9)
        ]
        await bus.flush()
        # Three pages of the same events under another run id, as three log writes make.
        pages = [
            page
            for first, last in ((0, 3), (3, 6), (6, 9))
            for page in await EventLog(conn).append_many(
                [e.model_copy(update={"run_id": "copy"}) for e in events[first:last]]
            )
        ]
        copies = [e for page in pages for e in page.events]
        cases = {
            "one page": (copies[0:3], True),
            "two pages": (copies[3:9], True),
            "a page cut short": (copies[0:2], False),
            "from mid-page": (copies[4:6], False),
            "with a gap": (copies[0:3] + copies[6:9], False),
        }
        outbox = bus._outbox
        assert outbox is not None
        for name, (group, tiled) in cases.items():
            for mark in ("i", "reused"):
                # As RedisOutbox.add remembers them; "reused" marks JSON from a page.
                outbox._page_json = {
                    (p.events[0].thread_id, p.events[0].run_id, p.events[0].seq): (
                        p.events[-1].seq,
                        p.json.replace('"i"', f'"{mark}"'),
                    )
                    for p in pages
                }
                sent = outbox._json_of(group)
                if mark == "i":
                    assert events_from_json(sent) == group, name
                else:
                    assert ('"reused"' in sent) == tiled, name
    finally:
        await bus.aclose()


async def test_subgraph_events_carry_their_namespace_and_inner_node(conn: AsyncConnection) -> None:
    """With ``subgraphs=True`` the inner nodes' events name the inner node as source and
    carry the namespace path; the outer graph's events carry none."""
    inner = linear_graph(["draft", "polish"])  # each node writes progress
    outer = StateGraph(State)
    outer.add_node("writer", inner)
    outer.add_node("publish", lambda state: {"trail": ["publish"]})
    outer.add_edge(START, "writer")
    outer.add_edge("writer", "publish")
    graph = outer.compile(checkpointer=InMemorySaver())
    bus = await EventBus.open(conn)
    try:
        emitter = RunEmitter(bus, thread_id=new_thread_id(), run_id="r")
        made: list[Event] = []
        async for item in graph.astream(
            {"trail": []},
            {"configurable": {"thread_id": emitter.thread_id}},
            stream_mode=MODES,
            subgraphs=True,
        ):
            made += await emitter.from_item(item)
        inner_events = [e for e in made if e.payload.get("namespace")]
        assert {e.source for e in inner_events if e.type is EventType.NODE_STARTED} == {
            "draft",
            "polish",
        }
        progress = [e for e in made if e.type is EventType.NODE_PROGRESS]
        assert {e.source for e in progress} == {"draft", "polish"}
        assert all(e.payload["namespace"][0].startswith("writer:") for e in progress)
        outer_started = [
            e.source
            for e in made
            if e.type is EventType.NODE_STARTED and "namespace" not in e.payload
        ]
        assert outer_started == ["writer", "publish"]
        checkpoints = [e for e in made if e.type is EventType.CHECKPOINT_SAVED]
        assert {e.source for e in checkpoints if "namespace" in e.payload} == {"writer"}
        assert [e.seq for e in made] == list(range(1, len(made) + 1))
    finally:
        await bus.aclose()


async def test_a_durable_event_leaves_for_redis_before_the_event_loop_turns(
    conn: AsyncConnection, redis_url: str, prefix: str
) -> None:
    """Once the outbox waits for work, the writer sends the script call itself:
    while the event loop is held (a blocking read here), the outbox task cannot
    run, yet Redis gets the event."""
    import redis

    from sentient_graph.events.redis.keys import stream_name

    thread = new_thread_id()
    bus = await EventBus.open(conn, redis_url=redis_url, prefix=prefix)
    client = redis.Redis.from_url(redis_url)
    try:
        emitter = RunEmitter(bus, thread_id=thread, run_id="r")
        await emitter.emit(EventType.RUN_STARTED)
        await bus.flush()  # connected, script loaded, the outbox waits for work
        [(first, _)] = client.xrange(stream_name(prefix, thread))
        await emitter.emit(EventType.NODE_STARTED, source="a")
        # Waits for the next entry, blocking this thread (and the event loop): at most 5 s.
        found = client.xread({stream_name(prefix, thread): first}, block=5000)
        entries = [fields for _, stream in found for _, fields in stream]
        assert [int(fields[b"s"]) for fields in entries] == [2]
        assert events_from_json(entries[0][b"e"])[0].source == "a"
        await bus.flush()
    finally:
        client.close()
        await bus.aclose()


async def test_a_followed_node_start_leaves_the_write_to_the_writer_when_the_log_is_busy(
    conn: AsyncConnection,
) -> None:
    """While another thread's query holds the connection, a followed node start is
    not written from the emitter's task (it would have to wait there, and a run
    cancelled meanwhile would lose it): the emitter returns at once, and the writer
    writes the events, in order, once the connection is free."""
    bus = await EventBus.open(conn, linger=3600)
    assert bus.log is not None
    turned = asyncio.Event()
    try:
        thread = new_thread_id()
        emitter = RunEmitter(bus, thread_id=thread, run_id="r")
        async with bus.subscribe(thread) as sub:
            with conn._shared.lock:  # another thread's query, as far as the connection knows
                asyncio.get_running_loop().call_soon(turned.set)
                async with asyncio.timeout(5):
                    await emitter.from_chunk_deferred("tasks", {"id": "t-a", "name": "a"})
                assert not turned.is_set()  # returned without a turn of the event loop
            async with asyncio.timeout(10):
                await bus.wait_durable()
            assert [e.seq for e in await bus.log.replay(thread)] == [1]
            await emitter.from_chunk_deferred("tasks", {"id": "t-b", "name": "b"})
            arrived = await collect_until(sub, lambda e: e.seq == 2)
        assert [(e.seq, e.source) for e in arrived] == [(1, "a"), (2, "b")]
    finally:
        await bus.aclose()


async def test_a_followed_node_start_leaves_for_redis_while_an_earlier_call_awaits_its_reply(
    conn: AsyncConnection, redis_url: str, prefix: str
) -> None:
    """Two followed node starts, one loop turn apart: the outbox task has not read
    the first call's reply yet, and the second start goes anyway; while this thread
    then holds the event loop, Redis has both."""
    import redis

    from sentient_graph.events.redis.keys import stream_name

    thread = new_thread_id()
    bus = await EventBus.open(conn, redis_url=redis_url, prefix=prefix)
    client = redis.Redis.from_url(redis_url)
    try:
        async with bus.subscribe(thread):  # someone follows the thread
            emitter = RunEmitter(bus, thread_id=thread, run_id="r")
            await emitter.emit(EventType.RUN_STARTED)
            await bus.flush()  # connected, script loaded, no call on the wire
            [(first, _)] = client.xrange(stream_name(prefix, thread))
            for node in ("a", "b"):
                chunk = {"id": f"task-{node}", "name": node, "input": {}, "triggers": ()}
                await emitter.from_chunk_deferred("tasks", chunk)
                await asyncio.sleep(0)  # one turn: too few for the outbox task to read a reply
            stream = stream_name(prefix, thread)
            assert stream_seqs_while_the_loop_is_held(client, stream, first, 2) == [2, 3]
            await bus.flush()
    finally:
        client.close()
        await bus.aclose()


async def test_a_follow_only_bus_reads_every_threads_stream_a_page_at_a_time(
    conn: AsyncConnection, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the log, history comes from the Redis streams: every event of every
    thread once, in order, with one request per page for all threads together."""
    monkeypatch.setattr(follower_module, "_STREAM_PAGE", 2)
    publisher = await EventBus.open(conn, redis_url=redis_url, prefix=prefix)
    follower = await EventBus.open(None, redis_url=redis_url, prefix=prefix)
    try:
        for thread in (new_thread_id(), new_thread_id(), new_thread_id()):
            emitter = RunEmitter(publisher, thread_id=thread, run_id=f"run-of-{thread}")
            for step in range(5):  # five stream entries: pages of 2, 2 and 1
                await emitter.emit(EventType.CUSTOM, payload={"step": step})
                await publisher.flush()
        assert follower._redis is not None
        pipeline = follower._redis.pipeline
        requests = 0

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal requests
            requests += 1
            return pipeline(*args, **kwargs)

        monkeypatch.setattr(follower._redis, "pipeline", counted)
        assert await follower.replay() == await publisher.replay()
        assert len(await follower.replay()) == 15
        assert requests == 6  # three pages, twice
    finally:
        await follower.aclose()
        await publisher.aclose()
