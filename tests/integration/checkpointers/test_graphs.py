"""Real LangGraph graphs on our savers: routing, fan-out, subgraphs, interrupts,
time travel, durability modes, and resume after a failed parallel superstep."""

from __future__ import annotations

import operator
import threading
from collections import Counter
from typing import Annotated, Any, Literal, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from tests.integration.checkpointers.conftest import Driver, thread


class Doc(TypedDict, total=False):
    topic: str
    route: str
    log: Annotated[list[str], operator.add]


def routed_graph(checkpointer: Any) -> Any:
    def classify(state: Doc) -> Doc:
        return {"route": "ui" if "button" in state["topic"] else "api", "log": ["classify"]}

    def frontend(state: Doc) -> Doc:
        return {"log": ["frontend"]}

    def backend(state: Doc) -> Doc:
        return {"log": ["backend"]}

    def pick(state: Doc) -> Literal["frontend", "backend"]:
        return "frontend" if state["route"] == "ui" else "backend"

    builder = StateGraph(Doc)
    builder.add_node(classify)
    builder.add_node(frontend)
    builder.add_node(backend)
    builder.add_edge(START, "classify")
    builder.add_conditional_edges("classify", pick)
    builder.add_edge("frontend", END)
    builder.add_edge("backend", END)
    return builder.compile(checkpointer=checkpointer)


async def test_conditional_edges_route_and_persist(driver: Driver) -> None:
    graph = routed_graph(driver.saver)
    config = thread()
    out = await driver.invoke(graph, {"topic": "a blue button", "log": []}, config)
    assert out["log"] == ["classify", "frontend"]
    other = thread()
    out = await driver.invoke(graph, {"topic": "an endpoint", "log": []}, other)
    assert out["log"] == ["classify", "backend"]
    state = await driver.state(graph, config)
    assert state.values["route"] == "ui" and state.next == ()
    history = await driver.history(graph, config)
    assert [h.metadata["step"] for h in history] == [2, 1, 0, -1]


class Fan(TypedDict, total=False):
    items: list[int]
    squares: Annotated[list[int], operator.add]


async def test_send_fan_out(driver: Driver) -> None:
    def square(arg: dict[str, int]) -> Fan:
        return {"squares": [arg["n"] * arg["n"]]}

    def fan_out(state: Fan) -> list[Send]:
        return [Send("square", {"n": n}) for n in state["items"]]

    builder = StateGraph(Fan)
    builder.add_node("square", square)
    builder.add_conditional_edges(START, fan_out, ["square"])
    builder.add_edge("square", END)
    graph = builder.compile(checkpointer=driver.saver)
    out = await driver.invoke(graph, {"items": list(range(12)), "squares": []}, thread())
    assert sorted(out["squares"]) == [n * n for n in range(12)]


async def test_subgraph_state_is_checkpointed_under_its_namespace(driver: Driver) -> None:
    class Inner(TypedDict, total=False):
        log: Annotated[list[str], operator.add]
        answer: str

    def ask(state: Inner) -> Inner:
        value = interrupt("inner question")
        return {"answer": value, "log": ["inner"]}

    inner = StateGraph(Inner)
    inner.add_node(ask)
    inner.add_edge(START, "ask")
    inner_graph = inner.compile()

    def before(state: Inner) -> Inner:
        return {"log": ["before"]}

    outer = StateGraph(Inner)
    outer.add_node(before)
    outer.add_node("inner", inner_graph)
    outer.add_edge(START, "before")
    outer.add_edge("before", "inner")
    # LangGraph's own in-memory saver gives the reference result.
    reference = outer.compile(checkpointer=InMemorySaver())
    ref_config = thread()
    reference.invoke({"log": []}, ref_config)
    expected = reference.invoke(Command(resume="42"), ref_config)

    graph = outer.compile(checkpointer=driver.saver)
    config = thread()
    await driver.invoke(graph, {"log": []}, config)
    state = await driver.state(graph, config, subgraphs=True)
    assert state.next == ("inner",)
    sub = state.tasks[0].state
    assert sub.config["configurable"]["checkpoint_ns"].startswith("inner:")
    assert sub.next == ("ask",)
    out = await driver.invoke(graph, Command(resume="42"), config)
    assert out["answer"] == "42"
    assert out == expected


async def test_interrupt_and_resume(driver: Driver) -> None:
    class Approval(TypedDict, total=False):
        draft: str
        decision: str

    def draft(state: Approval) -> Approval:
        return {"draft": "v1"}

    def approve(state: Approval) -> Approval:
        return {"decision": interrupt({"draft": state["draft"]})}

    builder = StateGraph(Approval)
    builder.add_node(draft)
    builder.add_node(approve)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "approve")
    graph = builder.compile(checkpointer=driver.saver)
    config = thread()
    out = await driver.invoke(graph, {}, config)
    assert out["__interrupt__"][0].value == {"draft": "v1"}
    state = await driver.state(graph, config)
    assert state.next == ("approve",)
    out = await driver.invoke(graph, Command(resume="yes"), config)
    assert out == {"draft": "v1", "decision": "yes"}


async def test_time_travel_update_and_replay(driver: Driver) -> None:
    graph = routed_graph(driver.saver)
    config = thread()
    await driver.invoke(graph, {"topic": "button", "log": []}, config)
    history = await driver.history(graph, config)
    after_classify = next(h for h in history if h.next == ("frontend",))
    # Replay from a past checkpoint: only the nodes after it run again.
    replay = await driver.invoke(graph, None, after_classify.config)
    assert replay["log"] == ["classify", "frontend"]
    # Fork: change the past, and routing follows the new value.
    forked = await driver.update(graph, after_classify.config, {"route": "api"})
    out = await driver.invoke(graph, None, forked)
    assert out["log"] == ["classify", "backend"]
    assert out["route"] == "api"
    history = await driver.history(graph, config)
    assert len(history) > 4  # the original run, the replay and the fork are all kept


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_durability_modes(driver: Driver, durability: str) -> None:
    graph = routed_graph(driver.saver)
    config = thread()
    out = await driver.invoke(graph, {"topic": "button", "log": []}, config, durability=durability)
    assert out["log"] == ["classify", "frontend"]
    state = await driver.state(graph, config)
    assert state.values["log"] == ["classify", "frontend"]
    history = await driver.history(graph, config)
    if durability == "exit":
        assert len(history) == 1  # only the final checkpoint is written
    else:
        assert len(history) == 4


async def test_failed_parallel_superstep_resumes_without_rerunning_siblings(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: Counter[str] = Counter()
    failing = {"armed": True}
    # c fails only once a's and b's writes are stored: otherwise the failure may
    # end the superstep before a sibling's write is saved (LangGraph's runner
    # stops at the first error), and whether it was is a race.
    saved: set[str] = set()
    siblings_saved = threading.Event()
    method = "aput_writes" if driver.kind == "async" else "put_writes"
    original = getattr(driver.saver, method)

    def note(writes: Any) -> None:
        saved.update(v[0] for c, v in writes if c == "done" and v in (["a"], ["b"]))
        if saved == {"a", "b"}:
            siblings_saved.set()

    if driver.kind == "async":

        async def put_writes(config: Any, writes: Any, *args: Any, **kwargs: Any) -> None:
            await original(config, writes, *args, **kwargs)
            note(writes)

    else:

        def put_writes(config: Any, writes: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[misc]
            original(config, writes, *args, **kwargs)
            note(writes)

    monkeypatch.setattr(driver.saver, method, put_writes)

    class S(TypedDict, total=False):
        done: Annotated[list[str], operator.add]

    def worker(name: str) -> Any:
        def run(state: S) -> S:
            runs[name] += 1
            if name == "c" and failing["armed"]:
                failing["armed"] = False
                assert siblings_saved.wait(30), "a's and b's writes were never stored"
                raise RuntimeError("c failed once")
            return {"done": [name]}

        run.__name__ = name
        return run

    builder = StateGraph(S)
    for name in "abc":
        builder.add_node(name, worker(name))
        builder.add_edge(START, name)
        builder.add_edge(name, "join")
    builder.add_node("join", lambda s: {"done": ["join"]})
    builder.add_edge("join", END)
    graph = builder.compile(checkpointer=driver.saver)
    config = thread()
    with pytest.raises(RuntimeError, match="c failed once"):
        await driver.invoke(graph, {"done": []}, config)
    state = await driver.state(graph, config)
    assert state.next == ("c",)  # a and b finished: their writes are pending, not re-run
    out = await driver.invoke(graph, None, config)
    assert sorted(out["done"]) == ["a", "b", "c", "join"]
    assert runs == Counter({"a": 1, "b": 1, "c": 2})
