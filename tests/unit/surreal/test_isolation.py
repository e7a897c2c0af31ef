"""The checkpointer stands alone: importing it loads no engine and configures nothing,
and it draws no random ids from ``uuid`` that LangGraph's own tests patch."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict
from unittest import mock

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt

from checkpointers.surrealdb import SurrealSaver

REPO = Path(__file__).resolve().parents[3]

CHECK = """
import sys, uuid, structlog
import checkpointers.surrealdb
from surrealdb.request_message import message
loaded = [m for m in ("redis", "sentient_graph.events", "sentient_graph.runner",
                      "sentient_graph.engine", "sentient_graph.cli") if m in sys.modules]
print(loaded, structlog.is_configured(), message.uuid is uuid)
"""


def test_importing_the_checkpointer_loads_no_engine_and_configures_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, check=True
    )
    # No engine, no logging set up, and the SDK left as it was until a connection opens.
    assert done.stdout.strip() == "[] False True"


class Count(TypedDict):
    n: int


def graph_with(saver: Any) -> Any:
    def bump(state: Count) -> Count:
        return {"n": state["n"] + 1}

    def ask(state: Count) -> Count:
        return {"n": state["n"] + int(interrupt("more?"))}

    builder = StateGraph(Count)
    builder.add_node(bump)
    builder.add_node(ask)
    builder.add_edge(START, "bump")
    builder.add_edge("bump", "ask")
    return builder.compile(checkpointer=saver)


def draws(open_saver: Any) -> int:
    """uuid4 calls while a saver is opened, set up and used by a graph with an interrupt."""
    real = uuid.uuid4
    count = 0

    def counting() -> uuid.UUID:
        nonlocal count
        count += 1
        return real()

    with mock.patch("uuid.uuid4", counting), open_saver() as saver:
        graph = graph_with(saver)
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"n": 0}, config)
        graph.invoke(Command(resume=2), config)
        list(graph.get_state_history(config))
    return count


@contextlib.contextmanager
def ours() -> Iterator[SurrealSaver]:
    with SurrealSaver.from_conn_string("mem://", namespace="uuid", database="uuid") as saver:
        saver.setup()
        yield saver


def test_our_saver_draws_no_more_uuid4_than_the_in_memory_saver() -> None:
    expected = draws(lambda: contextlib.nullcontext(InMemorySaver()))
    assert draws(ours) == expected
