"""What issue 14 found broken in the engine, each pinned by a test that failed before the fix.

Durable input (a run killed before its first checkpoint), ``aclose`` recording
the runs it cancels, ``lost`` and ``stale`` runs, claim before repair, bad
input refused before anything is written, events seen only once in the log,
and no draws from ``uuid`` on the engine's path.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph

from sentient_graph.engine import Engine
from sentient_graph.errors import InvalidInput, RunNotActive
from sentient_graph.events import EventType
from tests.integration.engine.conftest import wait_for
from tests.integration.engine.sample_graphs import Controls, DiamondState, make_diamond

GRAPH_FILE = """
from typing import Annotated, TypedDict
import operator
from langgraph.graph import END, START, StateGraph

class S(TypedDict):
    log: Annotated[list[str], operator.add]

async def a(state: S) -> S:
    return {"log": ["a"]}

async def b(state: S) -> S:
    return {"log": ["b"]}

builder = StateGraph(S)
builder.add_node("a", a)
builder.add_node("b", b)
builder.add_edge(START, "a")
builder.add_edge("a", "b")
builder.add_edge("b", END)
graph = builder.compile()
"""

#: Starts a run, then SIGKILLs its own process before the run's task ever ran.
KILLED_AFTER_START = """
import asyncio, os, signal, sys
from langgraph.types import Command
from sentient_graph.engine import Engine

async def main() -> None:
    engine = await Engine.open(sys.argv[1], redis_url=None)
    value = {"log": ["in"]} if sys.argv[4] == "input" else Command(resume="yes")
    await engine.start(sys.argv[2], value, sys.argv[3])
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def _graph_ref(tmp_path: Path) -> str:
    path = tmp_path / "two_steps.py"
    path.write_text(GRAPH_FILE)
    return f"{path}:graph"


def _killed_after_start(url: str, ref: str, thread_id: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_START, url, ref, thread_id, "input"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "REDIS_URL": ""},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


async def test_a_run_killed_before_its_first_checkpoint_is_recovered_from_its_input(
    tmp_path: Path,
) -> None:
    url, ref = f"surrealkv://{tmp_path}/store", _graph_ref(tmp_path)
    _killed_after_start(url, ref, "fresh")
    async with Engine.open(url, redis_url=None) as engine:
        assert [r.status for r in await engine.threads()] == ["running"]
        assert [r.stale for r in await engine.threads()] == [True]
        (handle,) = await engine.recover()
        assert await handle.wait() == {"log": ["in", "a", "b"]}
        # A second run on the same thread, killed the same way, takes its own input.
    _killed_after_start(url, ref, "fresh")
    async with Engine.open(url, redis_url=None) as engine:
        (handle,) = await engine.recover()
        assert await handle.wait() == {"log": ["in", "a", "b", "in", "a", "b"]}
        assert (await engine.get_run("fresh")).status == "completed"


async def test_resume_starts_a_run_cancelled_before_its_first_checkpoint(tmp_path: Path) -> None:
    url, ref = f"surrealkv://{tmp_path}/store", _graph_ref(tmp_path)
    async with Engine.open(url, redis_url=None) as engine:
        await engine.start(ref, {"log": ["in"]}, "early")
        # Leaving the engine with the run not yet begun cancels it.
    async with Engine.open(url, redis_url=None) as engine:
        record = await engine.get_run("early")
        assert record.status == "cancelled"
        assert await (await engine.resume("early")).wait() == {"log": ["in", "a", "b"]}


async def test_aclose_records_every_run_it_cancels(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path}/store"
    graph, _ = make_diamond(Controls(gate=asyncio.Event()))
    async with Engine.open(url, redis_url=None) as engine:
        await engine.start(graph, {"log": []}, "begun")
        waiting = await engine.start(graph, {"log": []}, "waiting")
        await wait_for(waiting, EventType.NODE_STARTED, "d")
    async with Engine.open(url, redis_url=None) as engine:
        assert {r.thread_id: r.status for r in await engine.threads()} == {
            "begun": "cancelled",
            "waiting": "cancelled",
        }


async def test_a_run_that_cannot_be_recovered_is_lost_with_the_reason(tmp_path: Path) -> None:
    url, ref = f"surrealkv://{tmp_path}/store", _graph_ref(tmp_path)
    _killed_after_start(url, ref, "gone")
    Path(ref.split(":")[0]).unlink()  # noqa: ASYNC240 - a test's own file
    async with Engine.open(url, redis_url=None) as engine:
        assert await engine.recover() == []
        record = await engine.get_run("gone")
        assert record.status == "lost"
        assert record.error is not None and "two_steps.py" in record.error
        assert "\n" not in record.error
        assert await engine.recover() == []


async def test_bad_input_is_refused_before_anything_is_written(engine: Engine) -> None:
    graph, _ = make_diamond()
    for bad in ([1, 2], "hello", None):
        with pytest.raises(InvalidInput, match=r"takes an object|input is null"):
            await engine.start(graph, bad, "junk")
    for blank in ("", "   "):
        with pytest.raises(InvalidInput, match="is empty"):
            await engine.start(graph, {"log": []}, blank)
    assert await engine.threads() == []
    assert not [t async for t in engine.saver.alist(None)]


async def test_another_graph_on_a_thread_is_refused_unless_asked(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path}/store"
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(GRAPH_FILE)
    second.write_text(GRAPH_FILE)
    async with Engine.open(url, redis_url=None) as engine:
        await (await engine.start(f"{first}:graph", {"log": []}, "t")).wait()
        with pytest.raises(InvalidInput, match="replace_graph"):
            await engine.start(f"{second}:graph", {"log": []}, "t")
        assert (await engine.get_run("t")).graph == f"{first}:graph"
        state = await (
            await engine.start(f"{second}:graph", {"log": []}, "t", replace_graph=True)
        ).wait()
        assert state == {"log": ["a", "b", "a", "b"]}
        assert (await engine.get_run("t")).graph == f"{second}:graph"


async def test_an_answer_to_a_thread_that_waits_for_nothing_is_refused(engine: Engine) -> None:
    graph, _ = make_diamond()
    await (await engine.start(graph, {"log": []}, "done")).wait()
    with pytest.raises(RunNotActive, match="nothing"):
        await engine.resume("done", "yes")


async def test_every_event_a_handle_yields_is_already_in_the_log(engine: Engine) -> None:
    graph, _ = make_diamond()
    handle = await engine.start(graph, {"log": []}, "durable")
    assert engine.bus.log is not None
    seqs = []
    async for event in handle.events():
        logged = await engine.bus.log.replay("durable", run_id=handle.run_id)
        assert event.seq in [e.seq for e in logged], f"seq {event.seq} seen before the log had it"
        seqs.append(event.seq)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 5
    # After the run, a new reader gets the same events from the log.
    assert [e.seq async for e in handle.events()] == seqs


async def test_the_engine_draws_nothing_from_uuid(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph, _ = make_diamond()
    draws: list[int] = []
    real = uuid.uuid4

    def counted() -> uuid.UUID:
        draws.append(1)
        return real()

    monkeypatch.setattr(uuid, "uuid4", counted)
    await graph.copy(update={"checkpointer": InMemorySaver()}).ainvoke(
        {"log": []}, {"configurable": {"thread_id": "plain"}}
    )
    plain = len(draws)
    draws.clear()
    await (await engine.start(graph, {"log": []}, "engine")).wait()
    assert len(draws) == plain


async def test_two_recoverers_of_one_thread_write_once(tmp_path: Path) -> None:
    """Claim, then repair: the engine that loses the claim writes no checkpoint."""
    url = f"surrealkv://{tmp_path}/store"
    gate, routing = asyncio.Event(), asyncio.Event()

    async def a(state: DiamondState) -> DiamondState:
        return {"log": ["a"]}

    async def b(state: DiamondState) -> DiamondState:
        return {"log": ["b"]}

    async def w(state: DiamondState) -> DiamondState:
        return {"log": ["w"]}

    async def route(state: DiamondState) -> list[str]:
        routing.set()
        await gate.wait()
        return ["w"]

    builder = StateGraph(DiamondState)
    for name, fn in (("a", a), ("b", b), ("w", w)):
        builder.add_node(name, fn)
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    builder.add_conditional_edges("a", route, ["w"])
    graph = builder.compile()
    async with (
        Engine.open(url, redis_url=None) as first,
        Engine.open(url, redis_url=None) as second,
    ):
        # A task cancelled half-way through its writes: recovery must repair the checkpoint.
        handle = await first.start(graph, {"log": []}, "both")
        await wait_for(handle, EventType.NODE_COMPLETED, "b")
        await asyncio.wait_for(routing.wait(), 10)
        await handle.cancel()
        gate.set()
        dead = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: ASYNC220
        dead.wait()
        host = (await first.get_run("both")).host
        await first.conn.query(
            "UPDATE run:[$t] MERGE $f",
            {
                "t": "both",
                "f": {"status": "running", "owner": f"{host}/{dead.pid}/x", "pid": dead.pid},
            },
        )
        writes: list[str] = []
        for engine in (first, second):
            engine.graphs.remember("both", graph, None)
            real_aput = engine.saver.aput

            async def aput(*args: Any, _real: Any = real_aput, _who: Engine = engine) -> Any:
                writes.append(_who.owner)
                return await _real(*args)

            engine.saver.aput = aput  # type: ignore[method-assign]
        won = await asyncio.gather(first.recover(), second.recover())
        handles = [h for found in won for h in found]
        assert len(handles) == 1
        state = await handles[0].wait()
        assert sorted(state["log"]) == ["a", "b", "w"]
        winner = first if handles[0] in won[0] else second
        assert writes and set(writes) == {winner.owner}


async def test_an_interrupt_is_announced_once_the_run_is_recorded_interrupted(
    engine: Engine,
) -> None:
    graph, _ = make_diamond(Controls(ask_in_d=True))
    handle = await engine.start(graph, {"log": []}, "ask")
    seen = []
    async for event in handle.events():
        if event.type is EventType.INTERRUPTED:
            # Whoever answers the moment they see it finds the thread resumable.
            seen.append((await engine.get_run("ask")).status)
    assert seen == ["interrupted"]
    assert (await (await engine.resume("ask", "yes")).wait())["answer"] == "yes"
