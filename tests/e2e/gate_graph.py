"""A graph whose middle node waits until the test opens a gate (a file appears).

Lets an end-to-end test hold a run mid-node for as long as it needs (to see
the store held, to press Ctrl-C) without guessing how long a node takes on a
loaded machine. ``SENTIENT_GATE`` names the file; a node started before it
exists waits, checking every 10 ms, until it does.
"""

from __future__ import annotations

import asyncio
import operator
import os
from pathlib import Path
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class GateState(TypedDict, total=False):
    trail: Annotated[list[str], operator.add]


async def first(state: GateState) -> dict[str, Any]:
    return {"trail": ["first"]}


async def gate(state: GateState) -> dict[str, Any]:
    opened = Path(os.environ["SENTIENT_GATE"])
    # The gate is opened by another process (the test): no asyncio.Event reaches
    # here, so the node looks, however long the test takes.
    while not opened.exists():  # noqa: ASYNC110, ASYNC240 - a stat of a local file
        await asyncio.sleep(0.01)
    return {"trail": ["gate"]}


async def last(state: GateState) -> dict[str, Any]:
    return {"trail": ["last"]}


builder = StateGraph(GateState)
builder.add_node("first", first)
builder.add_node("gate", gate)
builder.add_node("last", last)
builder.add_edge(START, "first")
builder.add_edge("first", "gate")
builder.add_edge("gate", "last")
builder.add_edge("last", END)
graph = builder.compile()
