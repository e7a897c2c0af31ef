"""Our savers against LangGraph's ``InMemorySaver``: the same graphs give the same results.

Each scenario runs a graph on a fresh thread and returns a transcript (the
values a caller sees, the state and its history, the interrupts, and the
Python type of every value in them). The transcript with our saver, sync and
async on ``mem://``, must equal the one with ``InMemorySaver`` driven the same way.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.agents import AgentAction
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, Interrupt, Send, interrupt
from pydantic import BaseModel

from checkpointers.surrealdb import AsyncSurrealSaver, SurrealSaver


class Order(BaseModel):
    item: str
    qty: int


class Runner:
    """Drives a graph through the sync or the async API."""

    def __init__(self, kind: str, saver: Any) -> None:
        self.kind = kind
        self.saver = saver
        self.config: dict[str, Any] = {"configurable": {"thread_id": f"d-{uuid.uuid4().hex[:8]}"}}

    async def invoke(self, graph: Any, input: Any) -> Any:
        if self.kind == "sync":
            return graph.invoke(input, self.config)
        return await graph.ainvoke(input, self.config)

    async def transcript(self, graph: Any, out: Any) -> list[Any]:
        """What a caller can see after a call: its result, the state, the history."""
        if self.kind == "sync":
            state = graph.get_state(self.config, subgraphs=True)
            history = list(graph.get_state_history(self.config))
        else:
            state = await graph.aget_state(self.config, subgraphs=True)
            history = [s async for s in graph.aget_state_history(self.config)]
        return [
            shape(out),
            shape(state.values),
            state.next,
            [shape([i.value for i in t.interrupts]) for t in state.tasks],
            [
                shape(t.state.values)
                if t.state is not None and hasattr(t.state, "values")
                else None
                for t in state.tasks
            ],
            [
                (shape(h.values), h.next, h.metadata.get("step"), h.metadata.get("source"))
                for h in history
            ],
        ]


def shape(value: Any) -> Any:
    """``value`` with the type of every part beside it (a dict and a model differ here).

    An interrupt's id is derived from its checkpoint's, which differs from run
    to run: its value stands for it.
    """
    if isinstance(value, Interrupt):
        return ("Interrupt", shape(value.value))
    if isinstance(value, dict):
        return ("dict", {k: shape(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return (type(value).__name__, [shape(v) for v in value])
    return (type(value).__name__, value)


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


async def functional_pydantic_input(run: Runner) -> list[Any]:
    """``@entrypoint`` with a pydantic input, paused by ``interrupt()`` and resumed."""

    @task
    def price(order: Order) -> float:
        return order.qty * 2.5

    @entrypoint(checkpointer=run.saver)
    def workflow(order: Order) -> dict[str, Any]:
        total = price(order).result()
        answer = interrupt({"approve": order.item, "total": total})
        return {"kind": type(order).__name__, "item": order.item, "answer": answer}

    first = await run.invoke(workflow, Order(item="book", qty=2))
    seen = await run.transcript(workflow, first)
    second = await run.invoke(workflow, Command(resume="yes"))
    return [*seen, *await run.transcript(workflow, second)]


class AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    action: AgentAction
    seen: list[str]


def agent_graph(saver: Any) -> Any:
    def plan(state: AgentState) -> AgentState:
        return {
            "messages": [AIMessage(content="searching", id="m-ai")],
            "action": AgentAction(tool="search", tool_input={"q": "x"}, log="thought"),
        }

    def approve(state: AgentState) -> AgentState:
        answer = interrupt({"tool": state["action"].tool})
        return {"messages": [HumanMessage(content=str(answer), id="m-answer")]}

    def act(state: AgentState) -> AgentState:
        return {"seen": [type(state["action"]).__name__, type(state["messages"][0]).__name__]}

    builder = StateGraph(AgentState)
    builder.add_node(plan)
    builder.add_node(approve)
    builder.add_node(act)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "approve")
    builder.add_edge("approve", "act")
    builder.add_edge("act", END)
    return builder.compile(checkpointer=saver)


async def langchain_objects_in_state(run: Runner) -> list[Any]:
    """A TypedDict state holding an ``AgentAction`` and messages, across an interrupt."""
    graph = agent_graph(run.saver)
    first = await run.invoke(graph, {"messages": [HumanMessage(content="hi", id="m-hi")]})
    seen = await run.transcript(graph, first)
    second = await run.invoke(graph, Command(resume="go"))
    return [*seen, *await run.transcript(graph, second)]


class Outer(TypedDict, total=False):
    topic: str
    notes: Annotated[list[str], operator.add]


async def subgraph_with_interrupt(run: Runner) -> list[Any]:
    """A subgraph node that pauses; the parent resumes it with ``Command(resume=...)``."""

    def draft(state: Outer) -> Outer:
        return {"notes": [f"draft {state['topic']}"]}

    def review(state: Outer) -> Outer:
        verdict = interrupt({"review": state["notes"][-1]})
        return {"notes": [f"review: {verdict}"]}

    inner = StateGraph(Outer)
    inner.add_node(draft)
    inner.add_node(review)
    inner.add_edge(START, "draft")
    inner.add_edge("draft", "review")

    def publish(state: Outer) -> Outer:
        return {"notes": ["published"]}

    outer = StateGraph(Outer)
    outer.add_node("write", inner.compile())
    outer.add_node(publish)
    outer.add_edge(START, "write")
    outer.add_edge("write", "publish")
    graph = outer.compile(checkpointer=run.saver)

    first = await run.invoke(graph, {"topic": "saver", "notes": []})
    seen = await run.transcript(graph, first)
    second = await run.invoke(graph, Command(resume="ok"))
    return [*seen, *await run.transcript(graph, second)]


class Fan(TypedDict, total=False):
    items: list[str]
    done: Annotated[list[str], operator.add]


async def send_fan_out(run: Runner) -> list[Any]:
    """``Send`` fan-out to parallel workers, then two interrupts answered in turn."""

    def split(state: Fan) -> Fan:
        return {}

    def work(arg: dict[str, str]) -> Fan:
        return {"done": [arg["item"].upper()]}

    def gate(state: Fan) -> Fan:
        first = interrupt("first?")
        second = interrupt("second?")
        return {"done": [f"{first}+{second}"]}

    builder = StateGraph(Fan)
    builder.add_node(split)
    builder.add_node(work)
    builder.add_node(gate)
    builder.add_edge(START, "split")
    builder.add_conditional_edges(
        "split", lambda s: [Send("work", {"item": i}) for i in s["items"]], ["work"]
    )
    builder.add_edge("work", "gate")
    builder.add_edge("gate", END)
    graph = builder.compile(checkpointer=run.saver)

    out = [await run.transcript(graph, await run.invoke(graph, {"items": ["a", "b", "c"]}))]
    out.append(await run.transcript(graph, await run.invoke(graph, Command(resume="x"))))
    out.append(await run.transcript(graph, await run.invoke(graph, Command(resume="y"))))
    return out


SCENARIOS: dict[str, Callable[[Runner], Awaitable[list[Any]]]] = {
    "functional_pydantic_input": functional_pydantic_input,
    "langchain_objects_in_state": langchain_objects_in_state,
    "subgraph_with_interrupt": subgraph_with_interrupt,
    "send_fan_out": send_fan_out,
}


@asynccontextmanager
async def ours(kind: str) -> AsyncIterator[Any]:
    database = uuid.uuid4().hex
    if kind == "sync":
        with SurrealSaver.from_conn_string("mem://", namespace="diff", database=database) as saver:
            saver.setup()
            yield saver
    else:
        async with AsyncSurrealSaver.from_conn_string(
            "mem://", namespace="diff", database=database
        ) as saver:
            await saver.setup()
            yield saver


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_same_results_as_in_memory_saver(kind: str, scenario: str) -> None:
    play = SCENARIOS[scenario]
    expected = await play(Runner(kind, InMemorySaver()))
    async with ours(kind) as saver:
        got = await play(Runner(kind, saver))
    assert got == expected


async def test_pydantic_input_comes_back_as_its_model() -> None:
    """The plainest symptom of a stricter serializer: the resumed input is a dict."""
    async with ours("async") as saver:
        run = Runner("async", saver)

        @entrypoint(checkpointer=saver)
        def workflow(order: Order) -> str:
            interrupt("go?")
            return type(order).__name__

        await run.invoke(workflow, Order(item="pen", qty=1))
        assert await run.invoke(workflow, Command(resume=True)) == "Order"
