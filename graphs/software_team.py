"""The software team: a reference workflow written the way users write theirs.

A planner breaks a request into research tasks with dependencies; an
orchestrator sends every task whose dependencies are done to a researcher,
in parallel (``Send``); when all findings are in, a research architect
decides whether the work needs a frontend and/or a backend and routes to the
matching developers (a conditional edge); a reviewer either sends the
developers back for one more round or finishes::

    START -> planner -> orchestrator -(Send per ready task)-> researcher -> orchestrator
                        orchestrator -(all done)-> research_architect
    research_architect -(needs)-> frontend_developer and/or backend_developer -> reviewer
    reviewer -(changes requested)-> the same developers | (approved) -> END

Every node is an ``@agent`` and reports progress. Input:
``{"request": "Build a todo app with a web UI and a REST API"}`` (a default
request is used when it is missing). The result holds ``plan``, ``findings``,
``architecture``, ``deliverables`` (``frontend`` / ``backend``), ``review``
and ``trail`` (node names in execution order, ``researcher:<task id>`` for
researchers).

By default the team runs offline and deterministic on
:class:`ScriptedTeamModel`, a langchain-core fake chat model that answers from
the prompt (not from call order, so parallel branches and resumed runs get the
same answers). ``build_graph(model=...)`` takes any LangChain chat model
instead; it is asked for JSON where structure is needed.

``graph`` is compiled without a checkpointer so that the engine, or LangGraph's
own tools (``langgraph.json``), attach theirs.

Environment variables (read on every node call, so a test can change them
between runs):

``SENTIENT_DEMO_DELAY``
    Seconds each node sleeps in the middle of its work (default ``0.05``), so a
    progress view has something to show and a test can kill a run mid-node.
``SENTIENT_FAIL_ONCE``
    A node name (``planner``, ``researcher``, ``backend_developer``, ...). That
    node raises :class:`InjectedFailure` on its first attempt ever, to show a
    failed run being resumed. "First ever" survives process restarts: the
    failure is recorded in a marker file, and while that file exists the node
    succeeds. Delete the file to arm the failure again.
``SENTIENT_FAIL_ONCE_MARKER``
    Path of that marker file (default ``.sentient/fail-once-<node>.marker``,
    relative to the working directory).
``SENTIENT_SIDE_EFFECTS``
    A file path. Each node appends a line with its name when it finishes its
    work (not when it fails), so tests can prove that nodes which had finished
    are not run again after a resume.
"""

# No ``from __future__ import annotations``: graph files are loaded by path,
# possibly without a sys.modules entry, where string annotations of the state
# TypedDicts could not be resolved.
import asyncio
import hashlib
import json
import operator
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import RetryPolicy, Send

from sentient_graph.agents import add_agent, agent, progress

__all__ = [
    "DEFAULT_REQUEST",
    "InjectedFailure",
    "ScriptedTeamModel",
    "TeamState",
    "build_graph",
    "graph",
]

DEFAULT_REQUEST = "Build a todo app with a web UI and a REST API"
MAX_REVIEW_ROUNDS = 2
"""The reviewer approves at the latest on this round, so a real model cannot loop forever."""

DEVELOPERS = {"frontend": "frontend_developer", "backend": "backend_developer"}


# --------------------------------------------------------------------------- #
# State
# --------------------------------------------------------------------------- #


class Task(TypedDict):
    """One research task of the plan."""

    id: str
    title: str
    depends_on: list[str]


def merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: parallel branches each add their own keys."""
    return {**(left or {}), **(right or {})}


class TeamState(TypedDict, total=False):
    """State of one software-team run.

    ``findings``, ``deliverables`` and ``trail`` have reducers because parallel
    branches (researchers, developers) write them in the same step.
    """

    request: str
    plan: list[Task]
    findings: Annotated[dict[str, str], merge]
    architecture: dict[str, Any]
    deliverables: Annotated[dict[str, str], merge]
    review: dict[str, Any]
    trail: Annotated[list[str], operator.add]


class ResearchInput(TypedDict):
    """What the orchestrator sends to one researcher."""

    request: str
    task: Task
    context: dict[str, str]


# --------------------------------------------------------------------------- #
# Demo knobs: delay, fail once, side-effect counter
# --------------------------------------------------------------------------- #


class InjectedFailure(RuntimeError):
    """The failure ``SENTIENT_FAIL_ONCE`` asked for (not retried: a RuntimeError)."""


def _demo_delay() -> float:
    raw = os.environ.get("SENTIENT_DEMO_DELAY", "0.05")
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"SENTIENT_DEMO_DELAY must be seconds, got {raw!r}") from None


def _fail_once(node: str) -> None:
    """Raise on the first attempt ever of ``node`` if ``SENTIENT_FAIL_ONCE`` names it."""
    if os.environ.get("SENTIENT_FAIL_ONCE") != node:
        return
    marker = Path(
        os.environ.get("SENTIENT_FAIL_ONCE_MARKER") or f".sentient/fail-once-{node}.marker"
    )
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Exclusive create: of several parallel attempts (researchers) exactly one fails.
        with marker.open("x") as f:
            f.write(f"{node}\n")
    except FileExistsError:
        return
    raise InjectedFailure(
        f"{node}: failing once on purpose (SENTIENT_FAIL_ONCE={node}); "
        f"resume the thread to finish it (marker: {marker})"
    )


def _side_effect(node: str) -> None:
    path = os.environ.get("SENTIENT_SIDE_EFFECTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{node}\n")


async def _work(node: str) -> None:
    """The slow, failure-prone middle of every node.

    An injected failure comes first, before the delay: siblings running in the
    same superstep are then still mid-work and are cancelled before they record
    a side effect, which keeps the demo (and the tests that count side effects)
    deterministic.
    """
    _fail_once(node)
    await asyncio.sleep(_demo_delay())


# --------------------------------------------------------------------------- #
# The offline model
# --------------------------------------------------------------------------- #


def _role_of(messages: Sequence[BaseMessage]) -> str:
    for message in messages:
        if isinstance(message, SystemMessage):
            match = re.search(r"^ROLE: (\w+)", str(message.content), re.MULTILINE)
            if match:
                return match.group(1)
    return ""


def _payload_of(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return _json_in(str(message.content)) or {}
    return {}


def _needs(request: str) -> list[str]:
    text = request.lower()
    needs = []
    if re.search(r"\b(ui|web|page|screen|frontend|app)\b", text):
        needs.append("frontend")
    if re.search(r"\b(api|rest|server|backend|database|store)\b", text):
        needs.append("backend")
    return needs or ["backend"]


def _script(role: str, payload: dict[str, Any]) -> str:
    """The scripted team's answer: a pure function of role and prompt."""
    request = str(payload.get("request", ""))
    if role == "planner":
        needs = _needs(request)
        tasks: list[dict[str, Any]] = [
            {"id": "requirements", "title": "Clarify user stories", "depends_on": []}
        ]
        if "backend" in needs:
            tasks.append(
                {
                    "id": "data_model",
                    "title": "Design the data model",
                    "depends_on": ["requirements"],
                }
            )
            tasks.append(
                {"id": "api_surface", "title": "Sketch the API", "depends_on": ["data_model"]}
            )
        if "frontend" in needs:
            tasks.append(
                {"id": "ui_flows", "title": "Map the UI flows", "depends_on": ["requirements"]}
            )
        return json.dumps({"tasks": tasks})
    if role == "researcher":
        task = payload.get("task", {})
        recalled = payload.get("recalled") or []
        earlier = f" (building on {len(recalled)} earlier findings)" if recalled else ""
        return f"Findings on {task.get('title', '?')} for: {request}{earlier}"
    if role == "research_architect":
        needs = _needs(request)
        return json.dumps({"design": f"{' + '.join(needs)} for: {request}", "needs": needs})
    if role in ("frontend_developer", "backend_developer"):
        part = role.removesuffix("_developer")
        if payload.get("review_comments"):
            return f"{part} implementation v2 (revised after review)"
        return f"{part} implementation v1"
    if role == "reviewer":
        deliverables = payload.get("deliverables", {})
        if all("revised" in str(v) for v in deliverables.values()):
            return json.dumps({"verdict": "approved", "comments": "Ship it."})
        return json.dumps(
            {"verdict": "changes_requested", "comments": "Add tests and error handling."}
        )
    return "OK"


class ScriptedTeamModel(GenericFakeChatModel):
    """A langchain-core fake chat model that plays every role of the team.

    It answers from the ``ROLE:`` line of the system prompt and the JSON in the
    last human message, never from call order, so parallel and resumed runs
    are deterministic. Streaming works as for ``GenericFakeChatModel``.
    """

    def __init__(self, **kwargs: Any) -> None:
        # GenericFakeChatModel's scripted iterator is required but unused here.
        kwargs.setdefault("messages", iter(()))
        super().__init__(**kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = _script(_role_of(messages), _payload_of(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Pure and instant: skip the default hop to a worker thread.
        return self._generate(messages, stop)

    @property
    def _llm_type(self) -> str:
        return "sentient-scripted-team"


# --------------------------------------------------------------------------- #
# Prompts
# --------------------------------------------------------------------------- #

ROLES = {
    "planner": (
        "Break the request into 2-6 research tasks. Answer only JSON: "
        '{"tasks": [{"id": "snake_case", "title": "...", "depends_on": ["<id>", ...]}]}'
    ),
    "researcher": "Research the task for the request. Answer with concise findings.",
    "research_architect": (
        "Turn the findings into a design and say which developers are needed. Answer only "
        'JSON: {"design": "...", "needs": ["frontend" and/or "backend"]}'
    ),
    "frontend_developer": "Implement the frontend of the design; address review comments if any.",
    "backend_developer": "Implement the backend of the design; address review comments if any.",
    "reviewer": (
        "Review the deliverables. Answer only JSON: "
        '{"verdict": "approved" or "changes_requested", "comments": "..."}'
    ),
}


def _prompt(role: str, payload: dict[str, Any]) -> list[BaseMessage]:
    return [
        SystemMessage(
            f"ROLE: {role}\nYou are the {role.replace('_', ' ')} of a software team. {ROLES[role]}"
        ),
        HumanMessage(json.dumps(payload, sort_keys=True)),
    ]


def _json_in(text: str) -> dict[str, Any] | None:
    """The first JSON object in a model's answer (models like to wrap it in prose)."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if not match:
        return None
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


async def _ask(model: BaseChatModel, role: str, payload: dict[str, Any]) -> str:
    reply = await model.ainvoke(_prompt(role, payload))
    return str(reply.text)


def _plan_from(answer: str) -> list[Task]:
    data = _json_in(answer) or {}
    tasks: list[Task] = []
    for raw in data.get("tasks", []):
        if isinstance(raw, dict) and raw.get("id"):
            deps = [str(d) for d in raw.get("depends_on", []) if d]
            tasks.append(
                Task(id=str(raw["id"]), title=str(raw.get("title", raw["id"])), depends_on=deps)
            )
    if not tasks:
        raise ValueError(f"planner: the model returned no tasks: {answer[:200]!r}")
    known = {t["id"] for t in tasks}
    for t in tasks:  # a dependency on a task that is not in the plan could never be met
        t["depends_on"] = [d for d in t["depends_on"] if d in known and d != t["id"]]
    return tasks


#: Where researchers keep what they found, across threads (the engine's store).
FINDINGS = ("agents", "researcher", "long_term")


async def _recall(store: BaseStore | None, task: Task) -> list[str]:
    """Earlier findings on a task like this one, from any thread (none without a store)."""
    if store is None:
        return []
    items = await store.asearch(FINDINGS, query=task["title"], filter={"task": task["id"]}, limit=3)
    return [str(item.value.get("text", "")) for item in items]


async def _remember(store: BaseStore | None, request: str, task: Task, finding: str) -> None:
    """Keep a finding for later threads: one item per request and task."""
    if store is None:
        return
    key = hashlib.sha256(f"{request}\n{task['id']}".encode()).hexdigest()[:16]
    await store.aput(
        FINDINGS,
        key,
        {"text": finding, "task": task["id"], "title": task["title"], "request": request},
    )


def ready_tasks(state: TeamState) -> list[Task]:
    """Tasks not done yet whose dependencies all are."""
    done = state.get("findings", {})
    return [
        t
        for t in state.get("plan", [])
        if t["id"] not in done and all(d in done for d in t["depends_on"])
    ]


# --------------------------------------------------------------------------- #
# The graph
# --------------------------------------------------------------------------- #


def build_graph(
    model: BaseChatModel | None = None, *, max_researchers: int = 8
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the software-team graph, compiled without a checkpointer.

    Args:
        model: Any LangChain chat model; defaults to the offline
            :class:`ScriptedTeamModel`.
        max_researchers: Most researcher calls at once in this process (the
            ``researcher`` agent's concurrency cap, shared by all runs).

    Returns:
        The compiled graph. Compile the builder yourself (``build_graph``'s
        source) to attach a checkpointer, or pass one to the engine.
    """
    llm: BaseChatModel = model if model is not None else ScriptedTeamModel()
    model_errors = RetryPolicy(max_attempts=3, initial_interval=0.2)  # retries transport errors

    @agent("planner", timeout=120, retry=model_errors)
    async def planner(state: TeamState) -> dict[str, Any]:
        request = state.get("request") or DEFAULT_REQUEST
        progress("planning", request=request)
        await _work("planner")
        plan = _plan_from(await _ask(llm, "planner", {"request": request}))
        progress(f"planned {len(plan)} tasks", tasks=[t["id"] for t in plan])
        _side_effect("planner")
        return {"request": request, "plan": plan, "trail": ["planner"]}

    @agent("orchestrator", timeout=30)
    async def orchestrator(state: TeamState) -> dict[str, Any]:
        plan, done = state.get("plan", []), state.get("findings", {})
        ready = ready_tasks(state)
        if not ready and len(done) < len(plan):
            stuck = [t["id"] for t in plan if t["id"] not in done]
            raise ValueError(f"orchestrator: tasks {stuck} wait on each other (dependency cycle)")
        progress(f"{len(done)}/{len(plan)} tasks done", ready=[t["id"] for t in ready])
        _side_effect("orchestrator")
        return {"trail": ["orchestrator"]}

    def dispatch(state: TeamState) -> list[Send] | Literal["research_architect"]:
        ready = ready_tasks(state)
        if not ready:
            return "research_architect"
        findings = state.get("findings", {})
        return [
            Send(
                "researcher",
                ResearchInput(
                    request=state.get("request", DEFAULT_REQUEST),
                    task=t,
                    context={d: findings[d] for d in t["depends_on"]},
                ),
            )
            for t in ready
        ]

    @agent("researcher", timeout=120, retry=model_errors, max_concurrency=max_researchers)
    async def researcher(state: ResearchInput, store: BaseStore | None = None) -> dict[str, Any]:
        task = state["task"]
        recalled = await _recall(store, task)
        progress(f"researching {task['title']}", task=task["id"], recalled=len(recalled))
        await _work("researcher")
        payload = {**state, "recalled": recalled} if recalled else dict(state)
        finding = await _ask(llm, "researcher", payload)
        await _remember(store, state["request"], task, finding)
        _side_effect("researcher")
        return {"findings": {task["id"]: finding}, "trail": [f"researcher:{task['id']}"]}

    @agent("research_architect", timeout=120, retry=model_errors)
    async def research_architect(state: TeamState) -> dict[str, Any]:
        progress("designing", findings=len(state.get("findings", {})))
        await _work("research_architect")
        payload = {"request": state.get("request"), "findings": state.get("findings", {})}
        answer = await _ask(llm, "research_architect", payload)
        data = _json_in(answer) or {"design": answer}
        needs = [n for n in data.get("needs", []) if n in DEVELOPERS] or list(DEVELOPERS)
        architecture = {"design": str(data.get("design", answer)), "needs": needs}
        progress("design ready", needs=needs)
        _side_effect("research_architect")
        return {"architecture": architecture, "trail": ["research_architect"]}

    def to_developers(state: TeamState) -> list[str]:
        return [DEVELOPERS[n] for n in state.get("architecture", {}).get("needs", list(DEVELOPERS))]

    def developer(part: Literal["frontend", "backend"]) -> Any:
        node = DEVELOPERS[part]

        @agent(node, timeout=120, retry=model_errors)
        async def develop(state: TeamState) -> dict[str, Any]:
            review = state.get("review", {})
            revising = review.get("verdict") == "changes_requested"
            progress("revising" if revising else "implementing", part=part)
            await _work(node)
            payload = {
                "request": state.get("request"),
                "design": state.get("architecture", {}).get("design"),
                "review_comments": review.get("comments") if revising else None,
            }
            code = await _ask(llm, node, payload)
            progress("done", part=part, chars=len(code))
            _side_effect(node)
            return {"deliverables": {part: code}, "trail": [node]}

        return develop

    @agent("reviewer", timeout=120, retry=model_errors)
    async def reviewer(state: TeamState) -> dict[str, Any]:
        round_ = state.get("review", {}).get("round", 0) + 1
        progress(f"reviewing (round {round_})", round=round_)
        await _work("reviewer")
        payload = {"request": state.get("request"), "deliverables": state.get("deliverables", {})}
        data = _json_in(await _ask(llm, "reviewer", payload)) or {}
        verdict = data.get("verdict")
        if verdict != "changes_requested" or round_ >= MAX_REVIEW_ROUNDS:
            verdict = "approved"
        review = {"verdict": verdict, "comments": str(data.get("comments", "")), "round": round_}
        progress(verdict, round=round_)
        _side_effect("reviewer")
        return {"review": review, "trail": ["reviewer"]}

    def after_review(state: TeamState) -> list[str] | str:
        if state.get("review", {}).get("verdict") == "approved":
            return END
        return [DEVELOPERS[p] for p in state.get("deliverables", {}) if p in DEVELOPERS]

    builder = StateGraph(TeamState)
    for node in (
        planner,
        orchestrator,
        researcher,
        research_architect,
        developer("frontend"),
        developer("backend"),
        reviewer,
    ):
        add_agent(builder, node)
    builder.add_edge(START, "planner")
    builder.add_edge("planner", "orchestrator")
    builder.add_conditional_edges("orchestrator", dispatch, ["researcher", "research_architect"])
    builder.add_edge("researcher", "orchestrator")
    builder.add_conditional_edges("research_architect", to_developers, list(DEVELOPERS.values()))
    for node_name in DEVELOPERS.values():
        builder.add_edge(node_name, "reviewer")
    builder.add_conditional_edges("reviewer", after_review, [*DEVELOPERS.values(), END])
    return builder.compile(name="software_team")


graph = build_graph()
