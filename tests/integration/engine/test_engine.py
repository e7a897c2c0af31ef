"""The Engine API in one process: start, events, wait, resume, cancel, recover, history, fork."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import structlog
from langgraph.graph import START, StateGraph

from sentient_graph import db
from sentient_graph.errors import (
    ConfigError,
    GraphLoadError,
    RunCancelled,
    RunFailed,
    RunNotActive,
    ThreadNotFound,
)
from sentient_graph.events import EventType
from sentient_graph.runner import Engine, SyncEngine
from tests.integration.engine.conftest import REDIS_URL, need_redis, wait_for
from tests.integration.engine.sample_graphs import Controls, DiamondState, make_diamond
from tests.services import forget_prefix


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_run_emits_contiguous_events_and_returns_the_final_state(engine: Engine) -> None:
    graph, _ctl = make_diamond()
    handle = await engine.start(graph, {"log": []}, "t1")
    events = [e async for e in handle.events()]
    state = await handle.wait()

    assert (
        state["log"][0] == "a"
        and sorted(state["log"][1:3]) == ["b", "c"]
        and state["log"][3] == "d"
    )
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == EventType.RUN_STARTED and events[-1].type == EventType.RUN_COMPLETED
    finished = [e.source for e in events if e.type == EventType.NODE_COMPLETED]
    assert sorted(finished) == ["a", "b", "c", "d"]
    assert {e.run_id for e in events} == {handle.run_id}
    (record,) = await engine.threads()
    assert (record.thread_id, record.status, record.run_id) == ("t1", "completed", handle.run_id)
    # Replayed from the durable log, the same events in the same order.
    replayed = await engine.bus.replay("t1", run_id=handle.run_id)
    assert [e.seq for e in replayed] == [e.seq for e in events]


async def test_a_failed_superstep_resumes_only_the_task_that_failed(engine: Engine) -> None:
    graph, ctl = make_diamond(Controls(fail_c=1))
    handle = await engine.start(graph, {"log": []}, "f1")
    with pytest.raises(RunFailed) as failed:
        await handle.wait()
    assert failed.value.node == "c" and isinstance(failed.value.__cause__, ValueError)
    assert "resume f1" in str(failed.value) and "\n" not in str(failed.value)
    assert (await engine.get_run("f1")).status == "failed"
    assert dict(ctl.runs) == {"a": 1, "b": 1}

    resumed = await engine.resume("f1")
    state = await resumed.wait()
    # b finished in the superstep that failed: its write was kept, it did not run again.
    assert dict(ctl.runs) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert sorted(state["log"]) == ["a", "b", "c", "d"]
    assert resumed.run_id != handle.run_id
    with pytest.raises(RunNotActive, match="completed"):
        await engine.resume("f1")


async def test_an_interrupt_waits_for_an_answer(engine: Engine) -> None:
    graph, _ctl = make_diamond(Controls(ask_in_d=True))
    handle = await engine.start(graph, {"log": []}, "i1")
    state = await handle.wait()
    assert handle.status == "interrupted"
    assert handle.interrupts[0]["value"] == {"question": "ship it?"}
    assert "__interrupt__" in state
    assert (await engine.get_run("i1")).status == "interrupted"
    assert [r.thread_id for r in await engine.threads(status="interrupted")] == ["i1"]

    with pytest.raises(RunNotActive, match="resume="):
        await engine.resume("i1")
    answered = await engine.resume("i1", {"approved": True})
    final = await answered.wait()
    assert final["answer"] == {"approved": True} and answered.status == "completed"


async def test_cancel_stops_a_run_and_resume_continues_it(engine: Engine) -> None:
    gate = asyncio.Event()
    graph, ctl = make_diamond(Controls(gate=gate))
    handle = await engine.start(graph, {"log": []}, "c1")
    await wait_for(handle, EventType.NODE_STARTED, "d")
    with pytest.raises(RunNotActive, match="already running"):
        await engine.start(graph, {"log": []}, "c1")

    record = await engine.cancel("c1")
    assert record.status == "cancelled"
    with pytest.raises(RunCancelled):
        await handle.wait()
    types = [e.type async for e in handle.events()]
    assert types[-1] == EventType.RUN_CANCELLED

    gate.set()
    state = await (await engine.resume("c1")).wait()
    assert state["log"][-1] == "d" and ctl.runs["a"] == 1 and ctl.runs["d"] == 1


async def test_two_runs_on_different_threads_at_once(engine: Engine) -> None:
    gate = asyncio.Event()
    graph, ctl = make_diamond(Controls(gate=gate))
    first = await engine.start(graph, {"log": []}, "p1")
    second = await engine.start(graph, {"log": []}, "p2")
    # Both are inside node d at the same time before either may finish.
    await wait_for(first, EventType.NODE_STARTED, "d")
    await wait_for(second, EventType.NODE_STARTED, "d")
    assert {r.status for r in await engine.threads()} == {"running"}
    gate.set()
    states = await asyncio.gather(first.wait(), second.wait())
    assert all(s["log"][-1] == "d" for s in states)
    assert ctl.runs["d"] == 2


async def test_a_hundred_concurrent_runs_through_one_engine(engine: Engine) -> None:
    graph, ctl = make_diamond()
    started = time.monotonic()
    handles = await asyncio.gather(
        *(engine.start(graph, {"log": []}, f"many-{i}") for i in range(100))
    )
    states = await asyncio.wait_for(asyncio.gather(*(h.wait() for h in handles)), 60)
    elapsed = time.monotonic() - started
    assert all(sorted(s["log"]) == ["a", "b", "c", "d"] for s in states)
    assert ctl.runs == {"a": 100, "b": 100, "c": 100, "d": 100}
    for handle in handles:
        seqs = [e.seq async for e in handle.events()]
        assert seqs == list(range(1, len(seqs) + 1))
    assert len(await engine.threads(status="completed")) == 100
    assert elapsed < 45


async def test_unknown_thread_names_a_close_one(engine: Engine) -> None:
    graph, _ = make_diamond()
    await (await engine.start(graph, {"log": []}, "release-42")).wait()
    for call in (engine.resume, engine.history, engine.cancel, engine.get_run):
        with pytest.raises(ThreadNotFound, match=r"did you mean 'release-42'\?"):
            await call("release-24")


async def test_history_and_fork_from_a_past_checkpoint(engine: Engine) -> None:
    graph, _ctl = make_diamond(Controls(ask_in_d=True))
    await (await engine.start(graph, {"log": []}, "h1")).wait()
    await (await engine.resume("h1", "yes")).wait()

    history = await engine.history("h1")
    assert [h.step for h in history] == sorted((h.step for h in history), reverse=True)
    before_d = next(h for h in history if h.next == ("d",))
    assert before_d.values["log"][0] == "a"

    forked = await engine.fork("h1", before_d.checkpoint_id, {"log": ["edited"]}, as_node="b")
    assert (await engine.get_run(forked)).status == "pending"
    state = await (await engine.resume(forked, "no")).wait()
    assert state["answer"] == "no" and "edited" in state["log"]
    original = await engine.state("h1")
    assert original.values["answer"] == "yes" and "edited" not in original.values["log"]
    # The fork's history begins with the original's, up to the fork point.
    fork_history = await engine.history(forked)
    assert before_d.checkpoint_id in [h.checkpoint_id for h in fork_history]
    with pytest.raises(ThreadNotFound, match="no checkpoint"):
        await engine.fork("h1", "not-a-checkpoint")


async def test_recover_resumes_a_run_whose_process_died(engine: Engine) -> None:
    graph, ctl = make_diamond(Controls(fail_c=1))
    with pytest.raises(RunFailed):
        await (await engine.start(graph, {"log": []}, "orphan")).wait()
    # What a process killed mid-run leaves behind: "running", owned by a pid that is gone.
    dead = _dead_pid()
    host = (await engine.get_run("orphan")).host
    await engine.conn.query(
        "UPDATE run:[$t] MERGE $f",
        {
            "t": "orphan",
            "f": {
                "status": "running",
                "owner": f"{host}/{dead}/x",
                "pid": dead,
                "lease_until": time.time() + 3600,
            },
        },
    )
    # A run owned by a live process on this machine (the test runner's parent) is not stolen.
    graph2, _ctl2 = make_diamond(Controls(fail_c=1))
    with pytest.raises(RunFailed):
        await (await engine.start(graph2, {"log": []}, "alive")).wait()
    await engine.conn.query(
        "UPDATE run:[$t] MERGE $f",
        {
            "t": "alive",
            "f": {
                "status": "running",
                "owner": f"{host}/{os.getppid()}/y",
                "pid": os.getppid(),
                "pid_start": None,
            },
        },
    )
    assert [r.thread_id for r in await engine.stale_runs()] == ["orphan"]

    handles = await engine.recover()
    assert [h.thread_id for h in handles] == ["orphan"]
    state = await handles[0].wait()
    assert sorted(state["log"]) == ["a", "b", "c", "d"] and ctl.runs["b"] == 1
    assert (await engine.get_run("alive")).status == "running"
    with pytest.raises(RunNotActive, match=f"process {os.getppid()}"):
        await engine.resume("alive")
    assert await engine.recover() == []


async def test_a_remote_owner_keeps_its_runs_until_its_lease_expires(engine: Engine) -> None:
    graph, _ = make_diamond(Controls(fail_c=1))
    with pytest.raises(RunFailed):
        await (await engine.start(graph, {"log": []}, "remote")).wait()
    lease = {"status": "running", "owner": "elsewhere/1/z", "host": "elsewhere", "pid": 1}
    await engine.conn.query(
        "UPDATE run:[$t] MERGE $f", {"t": "remote", "f": {**lease, "lease_until": time.time() + 60}}
    )
    assert await engine.stale_runs() == []
    await engine.conn.query(
        "UPDATE run:[$t] MERGE $f", {"t": "remote", "f": {"lease_until": time.time() - 1}}
    )
    (handle,) = await engine.recover()
    assert sorted((await handle.wait())["log"]) == ["a", "b", "c", "d"]


async def test_runs_survive_reopening_the_embedded_store(tmp_path: Path) -> None:
    from tests.integration.engine.sample_graphs import diamond, diamond_controls

    url = f"surrealkv://{tmp_path}/store"
    diamond_controls.fail_c = 1
    async with Engine.open(url) as first:
        with pytest.raises(RunFailed):
            await (await first.start(diamond, {"log": []}, "persist")).wait()
        assert (
            await first.get_run("persist")
        ).graph == "tests.integration.engine.sample_graphs:diamond"
    async with Engine.open(url) as second:
        # A new engine knows the graph only from the run record's reference.
        assert (await second.get_run("persist")).status == "failed"
        state = await (await second.resume("persist")).wait()
        assert sorted(state["log"]) == ["a", "b", "c", "d"]
        assert len(await second.history("persist")) >= 4


async def test_a_graph_reference_that_does_not_load(engine: Engine) -> None:
    with pytest.raises(GraphLoadError, match="no attribute 'nope'"):
        await engine.start("tests.integration.engine.sample_graphs:nope", {})
    graph, _ = make_diamond()
    await (await engine.start(graph, {"log": []}, "mainless")).wait()
    assert (await engine.get_run("mainless")).graph is None


def test_sync_engine_for_scripts() -> None:
    graph, _ctl = make_diamond(Controls(fail_c=1))
    with SyncEngine.open("mem://", namespace=f"t{uuid.uuid4().hex}") as engine:
        handle = engine.start(graph, {"log": []}, "s1")
        types = [e.type for e in handle.events()]
        assert types[0] == EventType.RUN_STARTED and types[-1] == EventType.RUN_FAILED
        with pytest.raises(RunFailed):
            handle.wait()
        assert sorted(engine.resume("s1").wait()["log"]) == ["a", "b", "c", "d"]
        assert [r.status for r in engine.threads()] == ["completed"]
        assert Engine.sync is not None


@pytest.mark.redis
async def test_events_reach_redis_subscribers() -> None:
    need_redis()
    import redis.asyncio as redis

    from sentient_graph.events.bus import channel_name
    from sentient_graph.events.model import events_from_json

    prefix = f"test-engine-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel_name(prefix, "r1"))
    try:
        async with Engine.open(
            "mem://", REDIS_URL, namespace=f"t{uuid.uuid4().hex}", prefix=prefix
        ) as engine:
            graph, _ = make_diamond()
            handle = await engine.start(graph, {"log": []}, "r1")
            await handle.wait()
            expected = len([e async for e in handle.events()])
            seen: list[int] = []

            async def collect() -> None:
                while len(seen) < expected:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:  # one message carries a batch of a run's events
                        seen.extend(e.seq for e in events_from_json(message["data"]))

            await asyncio.wait_for(collect(), 20)
        assert seen == list(range(1, expected + 1))
    finally:
        await pubsub.aclose()
        await client.aclose()
        forget_prefix(prefix, REDIS_URL)


async def test_one_connection_is_shared(engine: Engine) -> None:
    assert isinstance(engine.conn, db.AsyncConnection)
    assert getattr(engine.saver, "conn", engine.conn) is engine.conn


async def test_a_task_cancelled_half_way_through_its_writes_runs_again(engine: Engine) -> None:
    # LangGraph keeps the writes a cancelled task made so far; node "a" has written
    # its state update and is cancelled while its conditional edge decides. On
    # resume "a" must run again (else its branch to "w" is lost) and "b", which
    # finished in the same superstep, must not.
    runs: dict[str, int] = {"a": 0, "b": 0, "w": 0}
    gate, routing = asyncio.Event(), asyncio.Event()

    async def a(state: DiamondState) -> DiamondState:
        runs["a"] += 1
        return {"log": ["a"]}

    async def b(state: DiamondState) -> DiamondState:
        runs["b"] += 1
        return {"log": ["b"]}

    async def w(state: DiamondState) -> DiamondState:
        runs["w"] += 1
        return {"log": ["w"]}

    async def route(state: DiamondState) -> list[str]:
        routing.set()
        await gate.wait()
        return ["w"]

    builder = StateGraph(DiamondState)
    builder.add_node("a", a)
    builder.add_node("b", b)
    builder.add_node("w", w)
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    builder.add_conditional_edges("a", route, ["w"])
    graph = builder.compile()

    handle = await engine.start(graph, {"log": []}, "half")
    await wait_for(handle, EventType.NODE_COMPLETED, "b")
    await asyncio.wait_for(routing.wait(), 10)
    await handle.cancel()
    gate.set()

    state = await (await engine.resume("half")).wait()
    assert sorted(state["log"]) == ["a", "b", "w"]
    assert runs == {"a": 2, "b": 1, "w": 1}


async def test_event_linger_is_the_engines_to_choose() -> None:
    with pytest.raises(ConfigError, match="linger"):
        await Engine.open("mem://", namespace=f"t{uuid.uuid4().hex}", event_linger=-1)
    async with Engine.open("mem://", namespace=f"t{uuid.uuid4().hex}", event_linger=0.5) as engine:
        assert engine.bus.linger == 0.5
        graph, _ = make_diamond()
        handle = await engine.start(graph, {"log": []}, "lingering")
        await handle.wait()  # a long linger does not hold the run's end back
        logged = await engine.bus.replay("lingering")
        assert [e.seq for e in logged] == list(range(1, len(logged) + 1))
        assert logged[0].type is EventType.RUN_STARTED
        assert logged[-1].type is EventType.RUN_COMPLETED


@pytest.mark.usefixtures("default_structlog")
async def test_a_library_run_prints_nothing_unless_logging_is_configured(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    graph, _ctl = make_diamond()
    await (await engine.start(graph, {"log": []}, "quiet")).wait()
    assert capsys.readouterr().out == ""  # structlog unconfigured: no line per run
    with structlog.testing.capture_logs() as logs:
        await (await engine.start(graph, {"log": []}, "told")).wait()
    assert [e["event"] for e in logs if e["event"].startswith("run.")] == [
        "run.started",
        "run.completed",
    ]
