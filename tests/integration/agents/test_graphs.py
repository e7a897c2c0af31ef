"""The reference graphs in ``graphs/``, run with LangGraph's ``InMemorySaver``."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel import Pregel
from langgraph.types import Command

from tests.integration.agents.conftest import REPO, load_graph_file

pytestmark = pytest.mark.usefixtures("demo_env")


def with_memory(graph: Any) -> Any:
    """The module's graph compiled again, this time with a checkpointer."""
    return graph.builder.compile(checkpointer=InMemorySaver())


def cfg() -> RunnableConfig:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def lines(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


# Node runs of a clean software-team run on the default request.
CLEAN_RUN = Counter(
    planner=1,
    orchestrator=4,
    researcher=4,
    research_architect=1,
    frontend_developer=2,
    backend_developer=2,
    reviewer=2,
)


# --------------------------------------------------------------------------- #
# software_team
# --------------------------------------------------------------------------- #


async def test_software_team_runs_end_to_end(software_team: ModuleType, demo_env: Path) -> None:
    graph = with_memory(software_team.graph)
    result = await graph.ainvoke({"request": software_team.DEFAULT_REQUEST}, cfg())

    assert [t["id"] for t in result["plan"]] == [
        "requirements",
        "data_model",
        "api_surface",
        "ui_flows",
    ]
    assert set(result["findings"]) == {"requirements", "data_model", "api_surface", "ui_flows"}
    assert result["architecture"]["needs"] == ["frontend", "backend"]
    assert result["deliverables"] == {
        "frontend": "frontend implementation v2 (revised after review)",
        "backend": "backend implementation v2 (revised after review)",
    }
    assert result["review"] == {"verdict": "approved", "comments": "Ship it.", "round": 2}
    trail = result["trail"]
    # Dependencies respected; independent tasks in the same wave (fan-out via Send).
    assert trail[:9] == [
        "planner",
        "orchestrator",
        "researcher:requirements",
        "orchestrator",
        "researcher:data_model",
        "researcher:ui_flows",
        "orchestrator",
        "researcher:api_surface",
        "orchestrator",
    ]
    # Both developers in parallel, the reviewer looped back exactly once.
    assert (
        trail[9:]
        == ["research_architect"] + ["backend_developer", "frontend_developer", "reviewer"] * 2
    )
    assert lines(demo_env) == CLEAN_RUN


async def test_software_team_is_deterministic(software_team: ModuleType) -> None:
    graph = with_memory(software_team.graph)
    first = await graph.ainvoke({"request": "Build a web UI and an API"}, cfg())
    second = await graph.ainvoke({"request": "Build a web UI and an API"}, cfg())
    assert first == second


async def test_software_team_routes_only_to_the_developers_needed(
    software_team: ModuleType,
) -> None:
    graph = with_memory(software_team.graph)
    result = await graph.ainvoke({"request": "Write a REST API for invoices"}, cfg())
    assert result["architecture"]["needs"] == ["backend"]
    assert set(result["deliverables"]) == {"backend"}
    assert "frontend_developer" not in result["trail"]
    assert "researcher:ui_flows" not in result["trail"]


async def test_software_team_progress_is_streamed(software_team: ModuleType) -> None:
    graph = with_memory(software_team.graph)
    chunks = [c async for c in graph.astream({}, cfg(), stream_mode="custom")]
    agents = {c["agent"] for c in chunks}
    assert agents == set(CLEAN_RUN)
    assert {
        "agent": "planner",
        "node": "planner",
        "message": "planning",
        "request": software_team.DEFAULT_REQUEST,
    } in chunks


async def test_software_team_takes_any_chat_model(software_team: ModuleType) -> None:
    # A plain list-driven fake model, as a stand-in for a real provider.
    model = FakeListChatModel(
        responses=[
            'Here is the plan: {"tasks": [{"id": "spec", "title": "Write the spec", "depends_on": []}]}',
            "The spec: one endpoint.",
            '{"design": "a tiny service", "needs": ["backend"]}',
            "def handler(): ...",
            '{"verdict": "approved", "comments": "fine"}',
        ]
    )
    graph = with_memory(software_team.build_graph(model=model))
    result = await graph.ainvoke({"request": "tiny service"}, cfg())
    assert result["findings"] == {"spec": "The spec: one endpoint."}
    assert result["deliverables"] == {"backend": "def handler(): ..."}
    assert result["review"]["verdict"] == "approved"


@pytest.mark.parametrize("node", ["researcher", "backend_developer"])
async def test_fail_once_then_resume_reruns_only_the_failed_node(
    software_team: ModuleType,
    demo_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    node: str,
) -> None:
    marker = tmp_path / "fail-once.marker"
    monkeypatch.setenv("SENTIENT_FAIL_ONCE", node)
    # The failure comes at the start of the node; parallel siblings are still in
    # this delay and get cancelled before recording a side effect. Without it they
    # race the failure, and one that finished its work but not its commit would run
    # again on resume (at-least-once), which the count below would flag.
    monkeypatch.setenv("SENTIENT_DEMO_DELAY", "0.1")
    graph = with_memory(software_team.graph)
    config = cfg()

    with pytest.raises(software_team.InjectedFailure, match=f"SENTIENT_FAIL_ONCE={node}"):
        await graph.ainvoke({"request": software_team.DEFAULT_REQUEST}, config)
    assert marker.exists()
    before = lines(demo_env)
    assert before[node] < CLEAN_RUN[node]

    result = await graph.ainvoke(None, config)  # resume from the last checkpoint

    assert result["review"]["verdict"] == "approved"
    # Same node runs as a run that never failed: nothing that finished ran again.
    assert lines(demo_env) == CLEAN_RUN


async def test_fail_once_survives_a_restart(
    software_team: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTIENT_FAIL_ONCE", "planner")
    with pytest.raises(software_team.InjectedFailure):
        await with_memory(software_team.graph).ainvoke({}, cfg())
    # A new process: fresh module, fresh graph, same marker file -> no second failure.
    reloaded = load_graph_file(REPO / "graphs" / "software_team.py")
    result = await with_memory(reloaded.graph).ainvoke({}, cfg())
    assert result["review"]["verdict"] == "approved"


# --------------------------------------------------------------------------- #
# approval
# --------------------------------------------------------------------------- #


async def test_approval_interrupts_and_resume_publishes(
    approval: ModuleType, demo_env: Path
) -> None:
    graph = with_memory(approval.graph)
    config = cfg()

    paused = await graph.ainvoke({"topic": "v1.0"}, config)
    (question,) = paused["__interrupt__"]
    assert question.value == {
        "question": "Publish this draft?",
        "draft": "Announcing v1.0.",
        "revision": 1,
    }
    assert "published" not in paused

    done = await graph.ainvoke(Command(resume="approve"), config)
    assert done["published"] is True
    assert done["decisions"] == ["approve"]
    assert lines(demo_env) == Counter(draft=1, approval=1, publish=1)


async def test_approval_feedback_revises_and_asks_again(approval: ModuleType) -> None:
    graph = with_memory(approval.graph)
    config = cfg()
    await graph.ainvoke({"topic": "v1.0"}, config)

    again = await graph.ainvoke(Command(resume={"approved": False, "feedback": "shorter"}), config)
    (question,) = again["__interrupt__"]
    assert question.value["revision"] == 2
    assert "shorter" in question.value["draft"]

    done = await graph.ainvoke(Command(resume=True), config)
    assert done["published"] is True and done["revision"] == 2


@pytest.mark.parametrize(
    ("answer", "approved"),
    [
        (True, True),
        ("yes", True),
        ("Approved ", True),
        ({"approved": True}, True),
        (False, False),
        ("no", False),
        ({"feedback": "x"}, False),
    ],
)
def test_approval_answers(approval: ModuleType, answer: Any, approved: bool) -> None:
    assert approval.is_approval(answer) is approved


# --------------------------------------------------------------------------- #
# langgraph.json
# --------------------------------------------------------------------------- #


def test_langgraph_json_names_the_reference_graphs() -> None:
    config = json.loads((REPO / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    assert set(config["graphs"]) == {"software_team", "approval"}
    for ref in config["graphs"].values():
        path, _, attr = ref.partition(":")
        module = load_graph_file(REPO / path)
        graph = getattr(module, attr)
        assert isinstance(graph, Pregel)
        assert graph.checkpointer is None  # the engine / LangGraph tools attach theirs


async def test_researchers_recall_findings_of_earlier_threads_through_the_engines_store(
    software_team: ModuleType,
) -> None:
    from sentient_graph.engine import Engine

    request = {"request": "A todo app with a REST API"}
    async with Engine.open("mem://", redis_url=None, namespace=f"t{os.getpid()}a") as engine:
        first = await (await engine.start(software_team.graph, request, "first")).wait()
        assert not any("earlier findings" in f for f in first["findings"].values())
        kept = await engine.store.asearch(software_team.FINDINGS, limit=50)
        assert sorted(item.value["task"] for item in kept) == sorted(first["findings"])
        second = await (await engine.start(software_team.graph, request, "second")).wait()
        assert all("building on 1 earlier findings" in f for f in second["findings"].values()), (
            second["findings"]
        )


async def test_a_graph_keeps_its_own_store_and_an_engine_can_have_none(
    software_team: ModuleType,
) -> None:
    from langgraph.store.memory import InMemoryStore

    from sentient_graph.engine import Engine

    own = InMemoryStore()
    graph = software_team.build_graph().copy(update={"store": own})
    async with Engine.open("mem://", redis_url=None, namespace=f"t{os.getpid()}b") as engine:
        await (await engine.start(graph, {"request": "An API"}, "own")).wait()
        assert own.search(software_team.FINDINGS)
        assert await engine.store.asearch(software_team.FINDINGS) == []
    async with Engine.open(
        "mem://", redis_url=None, namespace=f"t{os.getpid()}c", store=False
    ) as engine:
        assert engine.store is None
        state = await (await engine.start(software_team.graph, {"request": "An API"})).wait()
        assert state["findings"]
