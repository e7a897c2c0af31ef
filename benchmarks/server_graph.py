"""The graph both servers run in ``benchmarks/server.py``: four nodes in a row, each sleeping 10 ms.

Imports LangGraph only: it also loads in LangGraph's own server, in its venv.
"""

import asyncio
import itertools
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

NODES = ("a", "b", "c", "d")
SLEEP = 0.010


class State(TypedDict, total=False):
    visited: list[str]


def _node(name: str) -> Any:
    async def run(state: State) -> dict[str, Any]:
        await asyncio.sleep(SLEEP)
        return {"visited": [*state.get("visited", []), name]}

    return run


def _build() -> Any:
    builder = StateGraph(State)
    for name in NODES:
        builder.add_node(name, _node(name))
    builder.add_edge(START, NODES[0])
    for first, second in itertools.pairwise(NODES):
        builder.add_edge(first, second)
    builder.add_edge(NODES[-1], END)
    return builder.compile(name="bench")


graph = _build()
