"""``node_retried`` events, ``engine.metrics()`` and the engine's public health parts."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy

from sentient_graph.agents import add_agent, agent
from sentient_graph.engine import Engine
from sentient_graph.events import EventType


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _flaky_graph(failures: int):  # type: ignore[no-untyped-def]
    left = {"n": failures}

    @agent("flaky", retry=RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False))
    async def flaky(state: S) -> S:
        if left["n"] > 0:
            left["n"] -= 1
            raise ConnectionError("try again")
        return {"log": ["flaky"]}

    builder = StateGraph(S)
    add_agent(builder, flaky)
    builder.add_edge(START, "flaky")
    builder.add_edge("flaky", END)
    return builder.compile()


async def test_a_retried_agent_emits_node_retried_and_metrics_count_it(engine: Engine) -> None:
    handle = await engine.start(_flaky_graph(2), {"log": []}, "retry")
    events = [e async for e in handle.events()]
    assert await handle.wait() == {"log": ["flaky"]}
    retried = [e for e in events if e.type is EventType.NODE_RETRIED]
    assert [(e.source, e.payload["attempt"]) for e in retried] == [("flaky", 2), ("flaky", 3)]
    assert not [e for e in events if e.type is EventType.NODE_PROGRESS]

    metrics = await engine.metrics()
    assert metrics["runs"] == {"completed": 1}
    assert metrics["events"]["node_retried"] == 2
    assert metrics["events"]["run_completed"] == 1
    assert metrics["active_runs"] == 0 and engine.active_runs() == []
    assert metrics["redis"] is None and metrics["heartbeat"] is True
    assert metrics["store_round_trip_ms"] >= 0
