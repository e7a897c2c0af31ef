"""Graphs the server tests register with ``--graph``.

``chain``: five nodes one after another, each a short sleep.
``blocker``: one node that waits until cancelled.
"""

import asyncio
import itertools
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph


class ChainState(TypedDict, total=False):
    steps: list[str]


def _step(name: str) -> Any:
    async def node(state: ChainState) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"steps": [*state.get("steps", []), name]}

    return node


def _chain() -> Any:
    builder = StateGraph(ChainState)
    names = [f"n{i}" for i in range(1, 6)]
    for name in names:
        builder.add_node(name, _step(name))
    builder.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder.compile(name="chain")


async def _wait_forever(state: ChainState) -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


def _blocker() -> Any:
    builder = StateGraph(ChainState)
    builder.add_node("wait", _wait_forever)
    builder.add_edge(START, "wait")
    builder.add_edge("wait", END)
    return builder.compile(name="blocker")


chain = _chain()
blocker = _blocker()
