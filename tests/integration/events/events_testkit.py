"""Helpers shared by the events tests (graphs, Redis servers, collecting events)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import operator
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from sentient_graph.db import AsyncConnection
from sentient_graph.events import Event, EventBus, EventType, RunEmitter, Subscription
from sentient_graph.runner import STREAM_MODES
from tests.services import SHARED_REDIS, free_port, need_redis, redis_answers

__all__ = ["SHARED_REDIS", "need_redis"]


@dataclass
class Buses:
    """The bus a run publishes on, and the one a watcher follows with."""

    kind: str
    publisher: EventBus
    follower: EventBus


@contextlib.asynccontextmanager
async def open_buses(
    kind: str, conn: AsyncConnection, prefix: str, **options: Any
) -> AsyncIterator[Buses]:
    """The publisher (``options`` go to its :meth:`EventBus.open`) and its follower:
    the same bus in-process; with ``kind="redis"``, a follow-only bus as in another process."""
    if kind == "inprocess":
        bus = await EventBus.open(conn, **options)
        try:
            yield Buses("inprocess", bus, bus)
        finally:
            await bus.aclose()
        return
    need_redis()
    publisher = await EventBus.open(conn, redis_url=SHARED_REDIS, prefix=prefix, **options)
    follower = await EventBus.open(None, redis_url=SHARED_REDIS, prefix=prefix)
    try:
        yield Buses("redis", publisher, follower)
    finally:
        await follower.aclose()
        await publisher.aclose()


class _HandTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class HandClock:
    """A linger clock that moves only when a test says so (:meth:`advance`).

    ``armed`` is set whenever a timer is scheduled: a lingering writer has
    started (or renewed) its watch.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[_HandTimer] = []
        self.armed = asyncio.Event()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None], /) -> _HandTimer:
        timer = _HandTimer(when, callback)
        self.timers.append(timer)
        self.armed.set()
        return timer

    def advance(self, seconds: float) -> None:
        """Move on by ``seconds``, firing every timer due on the way, in time order."""
        target = self.now + seconds
        while True:
            due = [t for t in self.timers if not t.cancelled and t.when <= target]
            if not due:
                break
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            self.now = max(self.now, timer.when)
            timer.callback()
        self.timers = [t for t in self.timers if not t.cancelled]
        self.now = target


class IdleSwitch:
    """An idle signal set by the test: busy until ``idle`` is set to True.

    ``looks`` records the wait each question covered.
    """

    def __init__(self, idle: bool = False) -> None:
        self.is_idle = idle
        self.looks: list[float] = []

    def mark(self) -> None:
        pass

    def idle(self, waited: float) -> bool:
        self.looks.append(waited)
        return self.is_idle


class RedisServer:
    """A private redis-server on a free loopback port that tests may stop and start."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail("redis-server is not installed (CI=true: Redis is required)")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_answers(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)  # polling a process that is starting

    def freeze(self) -> None:
        """Stop the server without closing its sockets (SIGSTOP): commands hang unanswered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def new_thread_id() -> str:
    """A thread id of this test's own."""
    return f"thread-{uuid.uuid4().hex[:8]}"


def stream_seqs_while_the_loop_is_held(
    client: Any, stream: str, after: bytes | str, count: int
) -> list[int]:
    """The last seq (field ``s``) of the next ``count`` entries of ``stream`` after
    entry ``after``, read with a blocking ``XREAD`` on this thread (``client`` is a
    sync redis-py client): the event loop is held meanwhile, so only what has left
    the process already can arrive. Fails after 5 s without a new entry."""
    seen: list[int] = []
    while len(seen) < count:
        found = client.xread({stream: after}, block=5000)
        assert found, f"Redis got only seq {seen} while the event loop was held"
        for _, entries in found:
            for entry_id, fields in entries:
                seen.append(int(fields[b"s"]))
                after = entry_id
    return seen


# -- graphs -------------------------------------------------------------------


class State(TypedDict):
    trail: Annotated[list[str], operator.add]


def _node(name: str, gate: asyncio.Event | None = None, fail: bool = False) -> Callable[..., Any]:
    async def run(state: State) -> dict[str, Any]:
        get_stream_writer()({"step": name, "pct": 50})
        if gate is not None:
            await gate.wait()
        if fail:
            raise ValueError(f"{name} failed on purpose")
        return {"trail": [name]}

    run.__name__ = name
    return run


def linear_graph(
    names: list[str],
    *,
    gates: dict[str, asyncio.Event] | None = None,
    fail: str | None = None,
    parallel: tuple[str, str] | None = None,
) -> Any:
    """``names`` in a line; optionally two nodes in parallel after the first."""
    builder = StateGraph(State)
    gates = gates or {}
    for name in names:
        builder.add_node(name, _node(name, gates.get(name), fail == name))
    builder.add_edge(START, names[0])
    if parallel:
        for name in parallel:
            builder.add_node(name, _node(name))
            builder.add_edge(names[0], name)
        builder.add_edge(list(parallel), names[1] if len(names) > 1 else END)
        rest = names[1:]
    else:
        rest = names
    for a, b in itertools.pairwise(rest):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder.compile(checkpointer=InMemorySaver())


#: The stream modes the engine's runner asks LangGraph for.
MODES = STREAM_MODES


async def run_graph(
    bus: EventBus, graph: Any, thread_id: str, run_id: str | None = None
) -> RunEmitter:
    """Drive a graph the way the engine does: run events around the LangGraph stream."""
    emitter = RunEmitter(bus, thread_id=thread_id, run_id=run_id or uuid.uuid4().hex)
    await emitter.emit(EventType.RUN_STARTED, payload={"graph": "test"})
    config = {"configurable": {"thread_id": thread_id}}
    try:
        async for item in graph.astream({"trail": []}, config, stream_mode=MODES):
            await emitter.from_item(item)
    except Exception as exc:
        await emitter.emit(EventType.RUN_FAILED, payload={"error_type": type(exc).__name__})
        return emitter
    await emitter.emit(EventType.RUN_COMPLETED)
    return emitter


async def collect_until(
    sub: Subscription, stop: Callable[[Event], bool], within: float = 15.0
) -> list[Event]:
    """Events from ``sub`` up to and including the first for which ``stop`` is true."""
    out: list[Event] = []
    async with asyncio.timeout(within):
        async for event in sub:
            out.append(event)
            if stop(event):
                return out
    return out


def is_end(event: Event) -> bool:
    return event.type in (EventType.RUN_COMPLETED, EventType.RUN_FAILED, EventType.RUN_CANCELLED)
