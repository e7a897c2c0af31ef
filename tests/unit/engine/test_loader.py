"""Graph references: files, modules, langgraph.json names, and the errors that name the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langgraph.pregel import Pregel

from sentient_graph.errors import GraphLoadError
from sentient_graph.loader import load_graph, ref_of

GRAPH_FILE = """
from typing import TypedDict
from langgraph.graph import StateGraph, START, END

class S(TypedDict):
    x: int

def inc(state):
    return {"x": state["x"] + 1}

builder = StateGraph(S)
builder.add_node("inc", inc)
builder.add_edge(START, "inc")
builder.add_edge("inc", END)
graph = builder.compile()

def make_graph():
    return builder.compile()

not_a_graph = 42
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "counter.py").write_text(GRAPH_FILE)
    (tmp_path / "flows" / "broken.py").write_text("raise RuntimeError('kaput')\n")
    (tmp_path / "langgraph.json").write_text(
        json.dumps({"graphs": {"counter": "./flows/counter.py:graph"}})
    )
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_file_reference_gives_a_canonical_absolute_ref(project: Path) -> None:
    loaded = load_graph("flows/counter.py:graph", start=project)
    assert isinstance(loaded.graph, Pregel)
    assert loaded.ref == f"{project / 'flows' / 'counter.py'}:graph"
    assert ref_of(loaded.graph) == loaded.ref
    # Loading the same file again gives the same graph object (one module per file).
    assert load_graph(loaded.ref).graph is loaded.graph


def test_langgraph_json_name_from_a_subdirectory(project: Path) -> None:
    loaded = load_graph("counter", start=project / "sub")
    assert loaded.name == "counter"
    assert loaded.ref == f"{project / 'flows' / 'counter.py'}:graph"
    assert loaded.graph.invoke({"x": 1}) == {"x": 2}


def test_builders_and_factories_are_compiled(project: Path) -> None:
    assert isinstance(load_graph("flows/counter.py:builder", start=project).graph, Pregel)
    assert isinstance(load_graph("flows/counter.py:make_graph", start=project).graph, Pregel)


def test_module_reference() -> None:
    loaded = load_graph("tests.integration.engine.sample_graphs:diamond")
    assert loaded.ref == "tests.integration.engine.sample_graphs:diamond"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "unknown graph 'nope' (known in"),
        ("flows/missing.py:graph", "does not exist"),
        ("flows/counter.py:nope", "has no attribute 'nope' (graphs there: builder, graph)"),
        ("flows/counter.py:not_a_graph", "is a int, not a LangGraph graph"),
        ("flows/broken.py:graph", "RuntimeError: kaput"),
        ("no_such_pkg.mod:graph", "no module named 'no_such_pkg.mod'"),
        ("flows/counter.py:", "names no attribute"),
        ("", "empty graph reference"),
    ],
)
def test_bad_references_say_what_to_fix(project: Path, ref: str, message: str) -> None:
    with pytest.raises(GraphLoadError) as info:
        load_graph(ref, start=project)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_without_langgraph_json(tmp_path: Path) -> None:
    with pytest.raises(GraphLoadError, match=r"no langgraph\.json found"):
        load_graph("software_team", start=tmp_path)
