"""Small graphs for the engine tests, importable by reference (``tests.integration.engine.sample_graphs:...``).

``make_diamond()`` builds ``START -> a -> (b, c) -> d -> END`` where every node
counts its executions in ``Counters`` and ``c`` can fail a number of times, and
``d`` can ``interrupt()`` or wait on a gate. Built per test so counters and
gates do not leak between tests; ``diamond`` is a module-level instance for
the tests that reload a graph by its reference.
"""

from __future__ import annotations

import asyncio
import operator
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import interrupt


class DiamondState(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: Any


@dataclass
class Controls:
    """Knobs and counters of one diamond graph."""

    runs: Counter[str] = field(default_factory=Counter)
    fail_c: int = 0
    ask_in_d: bool = False
    gate: asyncio.Event | None = None


def make_diamond(controls: Controls | None = None) -> tuple[Pregel, Controls]:
    """A fresh diamond graph and the controls it reads."""
    ctl = controls or Controls()

    async def a(state: DiamondState) -> DiamondState:
        ctl.runs["a"] += 1
        return {"log": ["a"]}

    async def b(state: DiamondState) -> DiamondState:
        ctl.runs["b"] += 1
        return {"log": ["b"]}

    async def c(state: DiamondState) -> DiamondState:
        if ctl.fail_c > 0:
            ctl.fail_c -= 1
            raise ValueError("c failed on purpose")
        ctl.runs["c"] += 1
        return {"log": ["c"]}

    async def d(state: DiamondState) -> DiamondState:
        if ctl.gate is not None:
            await ctl.gate.wait()
        answer = interrupt({"question": "ship it?"}) if ctl.ask_in_d else None
        ctl.runs["d"] += 1
        return {"log": ["d"], "answer": answer}

    builder = StateGraph(DiamondState)
    for name, fn in (("a", a), ("b", b), ("c", c), ("d", d)):
        builder.add_node(name, fn)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("a", "c")
    builder.add_edge(["b", "c"], "d")
    builder.add_edge("d", END)
    return builder.compile(), ctl


#: Module-level, so ``tests.integration.engine.sample_graphs:diamond`` loads it again by reference.
diamond, diamond_controls = make_diamond()
