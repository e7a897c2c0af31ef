"""``sentient_graph.engine.inputs``: what a run refuses before anything is written (no database)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from langgraph.func import entrypoint
from langgraph.graph import START, StateGraph
from langgraph.types import Command
from pydantic import BaseModel
from typing_extensions import TypedDict

from sentient_graph.engine.inputs import check_input, check_thread_id
from sentient_graph.errors import InvalidInput


class TypedState(TypedDict, total=False):
    topic: str
    count: int


class ModelState(BaseModel):
    topic: str = ""


@dataclasses.dataclass
class DataState:
    topic: str = ""


def _state_graph(schema: Any, **kw: Any) -> Any:
    builder = StateGraph(schema, **kw)
    builder.add_node("node", lambda state: {})
    builder.add_edge(START, "node")
    return builder.compile()


@entrypoint()
def numbers(values: list[int]) -> int:
    return sum(values)


@entrypoint()
def anything(value):  # type: ignore[no-untyped-def]
    return value


STATE_GRAPHS = [_state_graph(TypedState), _state_graph(ModelState), _state_graph(DataState)]


@pytest.mark.parametrize("graph", STATE_GRAPHS, ids=["typeddict", "pydantic", "dataclass"])
@pytest.mark.parametrize(
    ("value", "said"),
    [
        ([1, 2], "a list"),
        ("hello", "a string"),
        (None, "null"),
        (3, "a number"),
        (True, "a boolean"),
    ],
)
def test_a_state_graph_refuses_what_is_not_an_object(graph: Any, value: Any, said: str) -> None:
    with pytest.raises(InvalidInput, match=said) as caught:
        check_input(graph, value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("graph", STATE_GRAPHS, ids=["typeddict", "pydantic", "dataclass"])
def test_a_state_graph_takes_an_object_and_a_command(graph: Any) -> None:
    check_input(graph, {})
    check_input(graph, {"topic": "x"})
    check_input(graph, Command(resume="yes"))
    check_input(graph, [Command(update={"topic": "x"})])


def test_a_key_outside_the_input_schema_is_refused() -> None:
    with pytest.raises(
        InvalidInput, match=r"'topc' is not in the graph's TypedState \(keys: topic, count\)"
    ):
        check_input(_state_graph(TypedState), {"topc": "x"})


def test_the_input_schema_not_the_state_decides() -> None:
    class Ask(TypedDict):
        topic: str

    graph = _state_graph(TypedState, input_schema=Ask)
    check_input(graph, {"topic": "x"})
    with pytest.raises(InvalidInput, match="'count'"):
        check_input(graph, {"count": 1})


def test_an_instance_of_the_state_passes() -> None:
    check_input(_state_graph(ModelState), ModelState(topic="x"))
    check_input(_state_graph(DataState), DataState(topic="x"))


def test_a_functional_entrypoint_is_checked_against_its_annotation() -> None:
    check_input(numbers, [1, 2])
    with pytest.raises(InvalidInput, match=r"a string.*valid list"):
        check_input(numbers, "hello")
    with pytest.raises(InvalidInput, match="null"):
        check_input(numbers, None)
    for value in ([1], "hello", {"a": 1}, 3):
        check_input(anything, value)


@pytest.mark.parametrize("thread_id", ["", " ", "\t"])
def test_an_empty_thread_id_is_refused(thread_id: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        check_thread_id(thread_id)


def test_a_control_character_in_a_thread_id_is_refused() -> None:
    with pytest.raises(InvalidInput, match="control character"):
        check_thread_id("a\nb")


@pytest.mark.parametrize("thread_id", [None, "a1", 'it\'s "q" x', "-x", "t" * 300])
def test_other_thread_ids_pass_unchanged(thread_id: str | None) -> None:
    assert check_thread_id(thread_id) == thread_id
