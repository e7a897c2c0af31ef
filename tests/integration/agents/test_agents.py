"""``@agent``: timeout, retries, concurrency cap, cancellation, progress, logging context."""

from __future__ import annotations

import asyncio
import operator
import threading
import uuid
from collections.abc import MutableMapping
from typing import Annotated, Any, TypedDict

import pytest
import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy, Send

from sentient_graph.agents import AgentNode, add_agent, agent, progress
from sentient_graph.errors import AgentTimeout, SentientError

WAIT = 5.0  # upper bound for waiting on an event that must happen; never a sync point


class State(TypedDict, total=False):
    value: Any
    out: Annotated[list[Any], operator.add]


def unique(prefix: str) -> str:
    # Concurrency slots are process-wide per agent name: keep tests apart.
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def single(node: AgentNode, **add_node_kwargs: Any) -> Any:
    builder = StateGraph(State)
    add_agent(builder, node, **add_node_kwargs)
    builder.add_edge(START, node.name)
    builder.add_edge(node.name, END)
    return builder.compile(checkpointer=InMemorySaver())


def fan_out(node: AgentNode, n: int) -> Any:
    """START sends ``n`` tasks to ``node`` in one superstep."""
    builder = StateGraph(State)
    add_agent(builder, node)
    builder.add_conditional_edges(
        START, lambda s: [Send(node.name, {"value": i}) for i in range(n)]
    )
    builder.add_edge(node.name, END)
    return builder.compile(checkpointer=InMemorySaver())


def cfg(thread_id: str | None = None, **configurable: Any) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id or uuid.uuid4().hex, **configurable}}


# --------------------------------------------------------------------------- #
# The decorated object
# --------------------------------------------------------------------------- #


def test_decorated_node_carries_its_settings() -> None:
    policy = RetryPolicy(max_attempts=2)
    name = unique("settings")

    @agent(name, timeout=1.5, retry=policy, max_concurrency=3)
    async def work(state: State) -> dict[str, Any]:
        return {}

    assert (work.name, work.__name__, work.timeout) == (name, name, 1.5)
    assert work.retry_policy is policy
    assert work.max_concurrency == 3
    builder = StateGraph(State)
    builder.add_node(work)  # LangGraph reads the node name from __name__
    assert name in builder.nodes


def test_bare_decorator_uses_function_name() -> None:
    @agent
    def summarise(state: State) -> dict[str, Any]:
        return {}

    assert summarise.name == "summarise"
    assert summarise.timeout is None and summarise.retry_policy is None


def test_add_agent_passes_the_retry_policy() -> None:
    policy = RetryPolicy(max_attempts=4)

    @agent(unique("policy"), retry=policy)
    async def work(state: State) -> dict[str, Any]:
        return {}

    builder = StateGraph(State)
    add_agent(builder, work)
    assert builder.nodes[work.name].retry_policy is policy


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"timeout": 0}, ValueError),
        ({"timeout": -1}, ValueError),
        ({"max_concurrency": 0}, ValueError),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match="must be"):

        @agent("bad", **kwargs)
        async def work(state: State) -> dict[str, Any]:
            return {}


def test_parameter_langgraph_cannot_supply_is_refused() -> None:
    with pytest.raises(TypeError, match="'llm' has no default"):

        @agent("needs_llm")
        async def work(state: State, llm: Any) -> dict[str, Any]:
            return {}


# --------------------------------------------------------------------------- #
# Timeout
# --------------------------------------------------------------------------- #


async def test_timeout_raises_agent_timeout_naming_agent_and_limit() -> None:
    name = unique("slowpoke")
    never = asyncio.Event()

    @agent(name, timeout=0.05)
    async def slow(state: State) -> dict[str, Any]:
        await never.wait()
        return {}

    with pytest.raises(AgentTimeout) as caught:
        await single(slow).ainvoke({"value": 1}, cfg())
    err = caught.value
    assert isinstance(err, TimeoutError) and isinstance(err, SentientError)
    assert (err.agent, err.timeout) == (name, 0.05)
    assert f"agent {name!r} timed out after 0.05s" in str(err)


async def test_timeout_error_raised_by_the_agent_itself_is_not_rewritten() -> None:
    @agent(unique("own_timeout"), timeout=10)
    async def work(state: State) -> dict[str, Any]:
        raise TimeoutError("upstream HTTP timeout")

    with pytest.raises(TimeoutError, match="upstream HTTP timeout") as caught:
        await single(work).ainvoke({"value": 1}, cfg())
    assert not isinstance(caught.value, AgentTimeout)


# --------------------------------------------------------------------------- #
# Retries are LangGraph's
# --------------------------------------------------------------------------- #


async def test_retry_policy_retries_then_succeeds() -> None:
    attempts: list[int] = []

    @agent(unique("flaky"), retry=RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False))
    async def flaky(state: State, runtime: Runtime) -> dict[str, Any]:
        assert runtime.execution_info is not None
        attempts.append(runtime.execution_info.node_attempt)
        if len(attempts) < 3:
            raise ConnectionError("model endpoint reset the connection")
        return {"out": ["ok"]}

    result = await single(flaky).ainvoke({"value": 1}, cfg())
    assert result["out"] == ["ok"]
    assert attempts == [1, 2, 3]


async def test_retry_gives_up_after_max_attempts() -> None:
    calls = 0

    @agent(
        unique("broken"), retry=RetryPolicy(max_attempts=2, initial_interval=0.001, jitter=False)
    )
    async def broken(state: State) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        raise ConnectionError("still down")

    with pytest.raises(ConnectionError):
        await single(broken).ainvoke({"value": 1}, cfg())
    assert calls == 2


async def test_timeouts_are_retried_when_the_policy_says_so() -> None:
    never = asyncio.Event()
    calls = 0

    @agent(
        unique("sometimes_slow"),
        timeout=0.05,
        retry=RetryPolicy(
            max_attempts=2, initial_interval=0.001, jitter=False, retry_on=AgentTimeout
        ),
    )
    async def sometimes_slow(state: State) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await never.wait()
        return {"out": [calls]}

    result = await single(sometimes_slow).ainvoke({"value": 1}, cfg())
    assert result["out"] == [2]


# --------------------------------------------------------------------------- #
# Concurrency cap
# --------------------------------------------------------------------------- #


class WaitingLogs:
    """A structlog processor that counts "waiting for a slot" lines, thread-safely."""

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.reached = threading.Event()
        self._lock = threading.Lock()

    async def wait(self) -> bool:
        """Whether ``target`` lines were logged within ``WAIT`` seconds."""
        # A timeout inside the thread: a thread blocked forever would hang the loop's shutdown.
        return await asyncio.to_thread(self.reached.wait, WAIT)

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if event.get("event") == "agent waiting for a slot":
            with self._lock:
                self.count += 1
                if self.count >= self.target:
                    self.reached.set()
        return event


@pytest.mark.usefixtures("default_structlog")
async def test_concurrency_cap_holds_across_runs() -> None:
    cap, per_run, runs = 2, 3, 2
    in_flight = max_in_flight = done = 0
    gate = asyncio.Event()
    full = asyncio.Event()

    @agent(unique("capped"), max_concurrency=cap)
    async def capped(state: State) -> dict[str, Any]:
        nonlocal in_flight, max_in_flight, done
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        if in_flight == cap:
            full.set()
        try:
            await gate.wait()
        finally:
            in_flight -= 1
            done += 1
        return {"out": [state["value"]]}

    waiting = WaitingLogs(target=per_run * runs - cap)
    graph = fan_out(capped, per_run)
    with structlog.testing.capture_logs(processors=[waiting]):
        tasks = [asyncio.create_task(graph.ainvoke({}, cfg())) for _ in range(runs)]
        async with asyncio.timeout(WAIT):
            await full.wait()
        # Every attempt beyond the cap is now queued, none is running.
        assert await waiting.wait()
        assert (in_flight, max_in_flight, done) == (cap, cap, 0)
        gate.set()
        results = await asyncio.gather(*tasks)
    assert max_in_flight == cap
    assert [sorted(r["out"]) for r in results] == [[0, 1, 2]] * runs


@pytest.mark.usefixtures("default_structlog")
async def test_concurrency_cap_is_shared_across_event_loops() -> None:
    name = unique("one_at_a_time")
    holder_in = asyncio.Event()
    release = asyncio.Event()
    entered: list[str] = []

    @agent(name, max_concurrency=1)
    async def one_at_a_time(state: State) -> dict[str, Any]:
        entered.append(state["value"])
        if state["value"] == "holder":
            holder_in.set()
            await release.wait()
        return {"out": [state["value"]]}

    waiting = WaitingLogs(target=1)
    graph = single(one_at_a_time)
    with structlog.testing.capture_logs(processors=[waiting]):
        holder = asyncio.create_task(graph.ainvoke({"value": "holder"}, cfg()))
        async with asyncio.timeout(WAIT):
            await holder_in.wait()
        # A second run on another event loop, in another thread.
        other = asyncio.create_task(
            asyncio.to_thread(asyncio.run, graph.ainvoke({"value": "other"}, cfg()))
        )
        assert await waiting.wait()
        assert entered == ["holder"]
        release.set()
        async with asyncio.timeout(WAIT):
            assert (await holder)["out"] == ["holder"]
            assert (await other)["out"] == ["other"]
    assert entered == ["holder", "other"]


@pytest.mark.usefixtures("default_structlog")
async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    name = unique("leak_check")
    holder_in = asyncio.Event()
    release = asyncio.Event()

    @agent(name, max_concurrency=1)
    async def work(state: State) -> dict[str, Any]:
        if state["value"] == "holder":
            holder_in.set()
            await release.wait()
        return {"out": [state["value"]]}

    graph = single(work)
    waiting = WaitingLogs(target=1)
    holder = asyncio.create_task(graph.ainvoke({"value": "holder"}, cfg()))
    async with asyncio.timeout(WAIT):
        await holder_in.wait()
    with structlog.testing.capture_logs(processors=[waiting]):
        queued = asyncio.create_task(graph.ainvoke({"value": "queued"}, cfg()))
        assert await waiting.wait()
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    release.set()
    await holder
    async with asyncio.timeout(WAIT):  # the slot came back: a new run gets in
        assert (await graph.ainvoke({"value": "after"}, cfg()))["out"] == ["after"]


# --------------------------------------------------------------------------- #
# Cancellation
# --------------------------------------------------------------------------- #


async def test_cancellation_propagates_through_the_agent() -> None:
    started = asyncio.Event()
    seen: list[str] = []

    @agent(unique("cancellable"), timeout=30, max_concurrency=1)
    async def cancellable(state: State) -> dict[str, Any]:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return {}

    graph = single(cancellable)
    run = asyncio.create_task(graph.ainvoke({"value": 1}, cfg()))
    async with asyncio.timeout(WAIT):
        await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert seen == ["cancelled"]
    # The concurrency slot was released on the way out.
    started.clear()
    again = asyncio.create_task(graph.ainvoke({"value": 2}, cfg()))
    async with asyncio.timeout(WAIT):
        await started.wait()
    again.cancel()
    with pytest.raises(asyncio.CancelledError):
        await again


async def test_cancellation_does_not_wait_for_a_sync_agent() -> None:
    entered = threading.Event()
    unblock = threading.Event()

    @agent(unique("blocking"))
    def blocking(state: State) -> dict[str, Any]:
        entered.set()
        unblock.wait(WAIT)
        return {}

    run = asyncio.create_task(single(blocking).ainvoke({"value": 1}, cfg()))
    try:
        assert await asyncio.to_thread(entered.wait, WAIT)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    finally:
        unblock.set()  # let the abandoned worker thread finish


# --------------------------------------------------------------------------- #
# Sync functions, injected arguments
# --------------------------------------------------------------------------- #


async def test_sync_function_runs_in_a_worker_thread_with_config() -> None:
    loop_thread = threading.get_ident()

    @agent(unique("sync_worker"), timeout=5)
    def sync_worker(state: State, config: RunnableConfig) -> dict[str, Any]:
        progress("working in a thread")
        return {
            "out": [
                state["value"] * 2,
                threading.get_ident() != loop_thread,
                config["configurable"]["thread_id"],
            ]
        }

    graph = single(sync_worker)
    chunks = [
        c
        async for c in graph.astream({"value": 21}, cfg("t-sync"), stream_mode=["custom", "values"])
    ]
    assert chunks[-1] == ("values", {"value": 21, "out": [42, True, "t-sync"]})
    name = sync_worker.name
    assert ("custom", {"agent": name, "node": name, "message": "working in a thread"}) in chunks


async def test_langgraph_runtime_is_injected() -> None:
    @agent(unique("with_runtime"))
    async def with_runtime(state: State, runtime: Runtime) -> dict[str, Any]:
        assert runtime.execution_info is not None
        return {"out": [runtime.execution_info.thread_id]}

    assert (await single(with_runtime).ainvoke({"value": 1}, cfg("t-rt")))["out"] == ["t-rt"]


# --------------------------------------------------------------------------- #
# Progress
# --------------------------------------------------------------------------- #


async def test_progress_arrives_on_the_custom_stream() -> None:
    name = unique("reporter")

    @agent(name)
    async def reporter(state: State) -> dict[str, Any]:
        progress("starting")
        progress("half way", percent=50)
        return {"out": ["done"]}

    chunks = [c async for c in single(reporter).astream({"value": 1}, cfg(), stream_mode="custom")]
    assert chunks == [
        {"agent": name, "node": name, "message": "starting"},
        {"agent": name, "node": name, "message": "half way", "percent": 50},
    ]


async def test_progress_is_a_no_op_outside_a_streaming_run() -> None:
    progress("nobody is listening")  # outside any graph

    @agent(unique("quiet"))
    async def quiet(state: State) -> dict[str, Any]:
        progress("not streamed")
        return {"out": ["ok"]}

    assert (await single(quiet).ainvoke({"value": 1}, cfg()))["out"] == ["ok"]


async def test_progress_from_a_plain_node_uses_the_node_name() -> None:
    async def plain(state: State) -> dict[str, Any]:
        progress("plain node")
        return {}

    builder = StateGraph(State)
    builder.add_node("plain", plain)
    builder.add_edge(START, "plain")
    graph = builder.compile()
    chunks = [c async for c in graph.astream({"value": 1}, stream_mode="custom")]
    assert chunks == [{"agent": "plain", "node": "plain", "message": "plain node"}]


async def test_progress_names_agent_and_node_when_they_differ() -> None:
    name = unique("renamed")

    @agent(name)
    async def renamed(state: State) -> dict[str, Any]:
        progress("hi", agent="ignored")
        return {}

    builder = StateGraph(State)
    builder.add_node("step", renamed)
    builder.add_edge(START, "step")
    chunks = [c async for c in builder.compile().astream({"value": 1}, stream_mode="custom")]
    assert chunks == [{"agent": name, "node": "step", "message": "hi"}]


# --------------------------------------------------------------------------- #
# structlog context
# --------------------------------------------------------------------------- #


@pytest.mark.usefixtures("default_structlog")
async def test_structlog_context_is_bound_inside_the_agent() -> None:
    name = unique("logger")

    @agent(name)
    async def logger(state: State) -> dict[str, Any]:
        structlog.get_logger().info("inside agent")
        return {}

    @agent(unique("sync_logger"))
    def sync_logger(state: State) -> dict[str, Any]:
        structlog.get_logger().info("inside sync agent")
        return {}

    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        await single(logger).ainvoke({"value": 1}, cfg("t-log", run_id="r-log"))
        await single(sync_logger).ainvoke({"value": 1}, cfg("t-sync-log", run_id="r-sync-log"))
    inside = next(e for e in logs if e["event"] == "inside agent")
    assert (inside["thread_id"], inside["run_id"], inside["node"]) == ("t-log", "r-log", name)
    inside_sync = next(e for e in logs if e["event"] == "inside sync agent")
    assert (inside_sync["thread_id"], inside_sync["run_id"]) == ("t-sync-log", "r-sync-log")
    finished = next(e for e in logs if e["event"] == "agent finished" and e["node"] == name)
    assert finished["thread_id"] == "t-log"
    assert "node" not in structlog.contextvars.get_contextvars()  # unbound afterwards


@pytest.mark.usefixtures("default_structlog")
async def test_run_id_falls_back_to_langgraph_run_id() -> None:
    run_id = uuid.uuid4()

    @agent(unique("run_id_probe"))
    async def probe(state: State) -> dict[str, Any]:
        return {"out": [structlog.contextvars.get_contextvars().get("run_id")]}

    config = cfg("t-run-id")
    config["run_id"] = run_id
    assert (await single(probe).ainvoke({"value": 1}, config))["out"] == [str(run_id)]


@pytest.mark.usefixtures("default_structlog")
async def test_timeout_and_failure_are_logged_with_context() -> None:
    @agent(unique("fails"))
    async def fails(state: State) -> dict[str, Any]:
        raise ValueError("bad input")

    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        with pytest.raises(ValueError, match="bad input"):
            await single(fails).ainvoke({"value": 1}, cfg("t-fail"))
    failed = next(e for e in logs if e["event"] == "agent failed")
    assert (failed["node"], failed["thread_id"], failed["log_level"]) == (
        fails.name,
        "t-fail",
        "warning",
    )
