"""Human approval: a reference workflow that stops for a person with ``interrupt()``.

``draft`` writes an announcement, ``approval`` pauses the run with
``interrupt({"question": ..., "draft": ..., "revision": n})`` and waits, then
either ``publish`` finishes or ``revise`` rewrites the draft with the reviewer's
feedback and asks again::

    START -> draft -> approval -(approved)-> publish -> END
                      approval -(feedback)-> revise -> approval

Input: ``{"topic": "the 1.0 release"}``. Answer the interrupt with
``Command(resume=...)`` (``sentient-graph resume THREAD --value ...``):

- approve: ``true``, ``"yes"``, ``"approve"``, ``"approved"`` or
  ``{"approved": true}``;
- ask for changes: any other string (it is the feedback), or
  ``{"approved": false, "feedback": "..."}``.

The result holds ``draft``, ``revision``, ``published`` (``True`` once
published) and ``decisions`` (every answer, in order). ``graph`` is compiled
without a checkpointer; interrupts need one, which the engine (or LangGraph's
tools) attach.

``SENTIENT_DEMO_DELAY`` (seconds per node, default ``0.05``) and
``SENTIENT_SIDE_EFFECTS`` (a file each node appends its name to when it
finishes) work as in ``graphs/software_team.py``.
"""

# No ``from __future__ import annotations``: graph files are loaded by path,
# where string annotations of the state TypedDict might not resolve.
import asyncio
import operator
import os
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt

from sentient_graph.agents import add_agent, agent, progress

__all__ = ["ApprovalState", "build_graph", "graph", "is_approval"]

DEFAULT_TOPIC = "the 1.0 release"
_YES = {"yes", "y", "approve", "approved", "ok", "lgtm", "true"}


class ApprovalState(TypedDict, total=False):
    """State of one approval run."""

    topic: str
    draft: str
    revision: int
    feedback: str
    published: bool
    decisions: Annotated[list[Any], operator.add]


def is_approval(answer: Any) -> bool:
    """Whether a resume value approves the draft (see the module docstring)."""
    if isinstance(answer, dict):
        return bool(answer.get("approved"))
    if isinstance(answer, str):
        return answer.strip().lower() in _YES
    return answer is True


def _feedback(answer: Any) -> str:
    if isinstance(answer, dict):
        return str(answer.get("feedback") or "make it better")
    return str(answer) if isinstance(answer, str) and answer.strip() else "make it better"


async def _pause() -> None:
    await asyncio.sleep(max(0.0, float(os.environ.get("SENTIENT_DEMO_DELAY", "0.05"))))


def _side_effect(node: str) -> None:
    path = os.environ.get("SENTIENT_SIDE_EFFECTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{node}\n")


def build_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the approval graph, compiled without a checkpointer."""

    @agent("draft", timeout=60)
    async def draft(state: ApprovalState) -> dict[str, Any]:
        topic = state.get("topic") or DEFAULT_TOPIC
        progress("drafting", topic=topic)
        await _pause()
        _side_effect("draft")
        return {"topic": topic, "draft": f"Announcing {topic}.", "revision": 1}

    # No timeout: a person may take days to answer, and while the run waits at
    # interrupt() no code runs at all (on resume the node starts again here).
    @agent("approval")
    async def approval(state: ApprovalState) -> Command[Literal["publish", "revise"]]:
        answer = interrupt(
            {
                "question": "Publish this draft?",
                "draft": state.get("draft", ""),
                "revision": state.get("revision", 1),
            }
        )
        _side_effect("approval")
        if is_approval(answer):
            progress("approved")
            return Command(goto="publish", update={"decisions": [answer]})
        progress("changes requested", feedback=_feedback(answer))
        return Command(goto="revise", update={"decisions": [answer], "feedback": _feedback(answer)})

    @agent("revise", timeout=60)
    async def revise(state: ApprovalState) -> dict[str, Any]:
        revision = state.get("revision", 1) + 1
        progress("revising", revision=revision)
        await _pause()
        text = f"Announcing {state.get('topic', DEFAULT_TOPIC)} (revision {revision}: {state.get('feedback', '')})."
        _side_effect("revise")
        return {"draft": text, "revision": revision}

    @agent("publish", timeout=60)
    async def publish(state: ApprovalState) -> dict[str, Any]:
        progress("publishing", revision=state.get("revision", 1))
        await _pause()
        _side_effect("publish")
        return {"published": True}

    builder = StateGraph(ApprovalState)
    for node in (draft, approval, revise, publish):
        add_agent(builder, node)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "approval")
    builder.add_edge("revise", "approval")
    builder.add_edge("publish", END)
    return builder.compile(name="approval")


graph = build_graph()
