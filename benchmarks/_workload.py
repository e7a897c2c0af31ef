"""The timed workload of ``benchmarks/checkpointers.py``: one round against one saver.

Owns: the checkpoints written, the operations timed (``aput``, ``aget_tuple``
latest, ``alist`` all / ``limit=10``, a 10-node graph run), checking that each
answer is right, and, run as a script, measuring a peer saver in that peer's
own venv (request and answer as JSON).

Must not: import anything but the standard library and LangGraph, because it
also runs in the peer venvs, where neither this project nor its pinned
SurrealDB SDK is installed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import operator
import os
import statistics
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    Checkpoint,
    CheckpointMetadata,
    empty_checkpoint,
)
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import END, START, StateGraph

#: SurrealDB namespace and database the peers are opened on.
PEER_NAMESPACE = "bench"
PEER_DATABASE = "bench"

#: A constant-size payload (~0.5 KB), so the 500th put costs what the first does.
_MESSAGES = [{"role": "user", "content": "lorem ipsum " * 10, "n": i} for i in range(3)]


class BenchError(Exception):
    """A saver answered wrongly or could not be measured; the message is one line."""


@dataclass(frozen=True)
class Workload:
    """How much of each operation one round does.

    The read and graph phases stop early once ``budget_s`` has passed and their
    minimum is met, so a saver that takes 50 ms per operation still finishes a
    round in reasonable time; ``puts`` is never cut, since it builds the thread
    that ``alist`` reads.
    """

    puts: int = 500
    gets: int = 200
    list_all: int = 3
    list_10: int = 50
    graph_runs: int = 10
    budget_s: float = 2.5


class GraphState(TypedDict):
    """State of the benchmark graph: a counter and a log, both summed by reducers."""

    count: Annotated[int, operator.add]
    log: Annotated[list[str], operator.add]


def build_graph() -> StateGraph:
    """A 10-node graph with trivial nodes: a chain, a 3-way fan-out, a chain.

    ``n0 → n1 → n2 → {n3, n4, n5} → n6 → n7 → n8 → n9``: 8 supersteps, one of
    them with 3 parallel tasks, so a run exercises ``aput`` and ``aput_writes``
    the way LangGraph does (10 task writes, 9 checkpoints plus the input one).
    """

    def make(name: str) -> Callable[[GraphState], Any]:
        async def node(state: GraphState) -> dict[str, Any]:
            return {"count": 1, "log": [name]}

        return node

    graph = StateGraph(GraphState)
    names = [f"n{i}" for i in range(10)]
    for name in names:
        graph.add_node(name, make(name))  # type: ignore[call-overload]
    graph.add_edge(START, "n0")
    graph.add_edge("n0", "n1")
    graph.add_edge("n1", "n2")
    for branch in ("n3", "n4", "n5"):
        graph.add_edge("n2", branch)
    graph.add_edge(["n3", "n4", "n5"], "n6")
    graph.add_edge("n6", "n7")
    graph.add_edge("n7", "n8")
    graph.add_edge("n8", "n9")
    graph.add_edge("n9", END)
    return graph


def make_checkpoint(
    saver: BaseCheckpointSaver[Any],
    step: int,
    versions: dict[str, Any],
) -> tuple[Checkpoint, CheckpointMetadata, dict[str, Any]]:
    """The ``step``-th checkpoint of a thread, with two of its three channels changed.

    ``versions`` carries the channel versions between calls (the saver's own
    ``get_next_version`` makes them, as in a real run).
    """
    for channel in ("messages", "counter"):
        versions[channel] = saver.get_next_version(versions.get(channel), None)
    versions.setdefault("notes", saver.get_next_version(None, None))
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=step))
    checkpoint["channel_values"] = {
        "messages": _MESSAGES,
        "counter": step,
        "notes": "unchanged after the first step",
    }
    checkpoint["channel_versions"] = dict(versions)
    new_versions = {"messages": versions["messages"], "counter": versions["counter"]}
    if step == 0:
        new_versions["notes"] = versions["notes"]
    metadata: CheckpointMetadata = {"source": "loop", "step": step, "parents": {}}
    return checkpoint, metadata, new_versions


def _thread_config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


async def put_chain(
    saver: BaseCheckpointSaver[Any], thread_id: str, count: int, *, timed: bool
) -> tuple[list[float], str]:
    """Put ``count`` checkpoints, each the child of the last; per-op ms and the last id."""
    samples: list[float] = []
    versions: dict[str, Any] = {}
    config = _thread_config(thread_id)
    for step in range(count):
        checkpoint, metadata, new_versions = make_checkpoint(saver, step, versions)
        start = time.perf_counter()
        config = await saver.aput(config, checkpoint, metadata, new_versions)
        if timed:
            samples.append((time.perf_counter() - start) * 1e3)
    return samples, config["configurable"]["checkpoint_id"]


async def _timed(
    call: Callable[[int], Awaitable[Any]],
    check: Callable[[Any], None],
    count: int,
    minimum: int,
    budget_s: float,
) -> list[float]:
    """Time up to ``count`` calls (ms each), checking each answer; stop after ``budget_s``
    once ``minimum`` calls are in, so a slow saver still ends its round."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    for i in range(count):
        start = time.perf_counter()
        answer = await call(i)
        samples.append((time.perf_counter() - start) * 1e3)
        check(answer)
        if len(samples) >= minimum and time.perf_counter() > deadline:
            break
    return samples


async def time_latest(
    saver: BaseCheckpointSaver[Any], thread_id: str, expect_id: str, count: int, budget_s: float
) -> list[float]:
    """Time ``aget_tuple`` of the latest checkpoint of ``thread_id`` (ms per call)."""
    config = _thread_config(thread_id)

    def check(found: Any) -> None:
        if found is None or found.config["configurable"]["checkpoint_id"] != expect_id:
            got = None if found is None else found.config["configurable"]["checkpoint_id"]
            raise BenchError(
                f"aget_tuple returned {got!r}, not the latest checkpoint {expect_id!r}"
            )

    return await _timed(lambda _: saver.aget_tuple(config), check, count, 5, budget_s)


async def time_list(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    limit: int | None,
    expect: int,
    count: int,
    minimum: int,
    budget_s: float,
) -> list[float]:
    """Time ``alist(limit=...)`` of ``thread_id``, checking it returns ``expect`` items (ms per call)."""
    config = _thread_config(thread_id)

    async def call(_: int) -> list[Any]:
        return [item async for item in saver.alist(config, limit=limit)]

    def check(items: list[Any]) -> None:
        if len(items) != expect:
            raise BenchError(
                f"alist(limit={limit}) returned {len(items)} checkpoints, not {expect}"
            )

    return await _timed(call, check, count, minimum, budget_s)


async def _time_graph(
    saver: BaseCheckpointSaver[Any], tag: str, count: int, budget_s: float
) -> list[float]:
    graph = build_graph().compile(checkpointer=saver)

    def config(run: int) -> RunnableConfig:
        return {"configurable": {"thread_id": f"{tag}-graph-{run}"}}

    def check(state: Any) -> None:
        if state["count"] != 10 or len(state["log"]) != 10:
            raise BenchError(f"graph run ended with count={state['count']}, not 10")

    samples = await _timed(
        lambda run: graph.ainvoke({"count": 0, "log": []}, config(run)),
        check,
        count,
        3,
        budget_s,
    )
    if samples:
        saved = await saver.aget_tuple(config(len(samples) - 1))
        if saved is None or saved.checkpoint["channel_values"].get("count") != 10:
            raise BenchError("graph run: the saver did not return the final checkpoint")
    return samples


async def run_round(
    saver: BaseCheckpointSaver[Any], workload: Workload, tag: str
) -> dict[str, dict[str, float]]:
    """One round against an open, set-up saver: ``{op: {"median_ms", "n"}}``.

    ``tag`` makes this round's thread ids unique, so rounds never read each
    other's data even when they share a database.
    """
    # Warm-up (untimed): first queries compile statements, open files, fill caches.
    _, warm_id = await put_chain(saver, f"{tag}-warm", 3, timed=False)
    await time_latest(saver, f"{tag}-warm", warm_id, 3, 0.0)
    gc.collect()

    thread = f"{tag}-main"
    put_ms, last_id = await put_chain(saver, thread, workload.puts, timed=True)
    gc.collect()
    get_ms = await time_latest(saver, thread, last_id, workload.gets, workload.budget_s)
    gc.collect()
    list_all_ms = await time_list(
        saver, thread, None, workload.puts, workload.list_all, 2, workload.budget_s
    )
    gc.collect()
    list_10_ms = await time_list(saver, thread, 10, 10, workload.list_10, 5, workload.budget_s)
    gc.collect()
    graph_ms = await _time_graph(saver, tag, workload.graph_runs, workload.budget_s * 2)

    def summary(samples: list[float]) -> dict[str, float]:
        return {"median_ms": statistics.median(samples), "n": len(samples)}

    return {
        "aput": summary(put_ms),
        "aget_tuple": summary(get_ms),
        "alist_all": summary(list_all_ms),
        "alist_10": summary(list_10_ms),
        "graph_run": summary(graph_ms),
    }


# ---------------------------------------------------------------------------
# Peers: run as a script with a peer venv's Python.
# ---------------------------------------------------------------------------


@asynccontextmanager
async def open_peer_saver(peer: str, url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Open one of the PyPI SurrealDB savers on an embedded ``url``, set up.

    Constructed as each project's own source shows (read in its venv):

    - ``langgraph-checkpoint-surrealdb``: ``SurrealSaver(url, ns, db, user,
      password)``; it opens a new connection and signs in as a root user on
      every operation, and closes it only for ``ws(s)://``. The embedded engine
      has no users, so one is defined in the store first; on ``mem://`` each
      connection is a new empty database, so that cannot work there.
    - ``langgraph-surrealdb``: ``AsyncSurrealSaver(SurrealAsyncConnection(db))``
      on an SDK connection opened here (its ``from_settings`` insists on
      credentials), then ``await saver.setup()``.
    """
    from surrealdb import AsyncSurreal

    if peer == "langgraph-checkpoint-surrealdb":
        from langgraph_checkpoint_surrealdb import SurrealSaver

        admin = AsyncSurreal(url)
        await admin.connect()
        await admin.use(PEER_NAMESPACE, PEER_DATABASE)
        await admin.query("DEFINE USER IF NOT EXISTS bench ON ROOT PASSWORD 'bench' ROLES OWNER")
        await admin.close()
        yield SurrealSaver(url, PEER_NAMESPACE, PEER_DATABASE, "bench", "bench")
    elif peer == "langgraph-surrealdb":
        from langgraph_surrealdb import AsyncSurrealSaver
        from langgraph_surrealdb.database import SurrealAsyncConnection

        conn = AsyncSurreal(url)
        await conn.connect()
        await conn.use(PEER_NAMESPACE, PEER_DATABASE)
        try:
            saver = AsyncSurrealSaver(SurrealAsyncConnection(conn))
            await saver.setup()
            yield saver
        finally:
            await conn.close()
    else:
        raise BenchError(f"unknown peer {peer!r}")


def package_versions(names: list[str]) -> dict[str, str]:
    """Installed versions of ``names`` (absent ones left out)."""
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters."""
    text = str(exc).strip().splitlines()
    first = next((line.strip() for line in text if line.strip()), "")
    return f"{type(exc).__name__}: {first}"[:300]


async def _peer_main(request: dict[str, Any]) -> dict[str, Any]:
    workload = Workload(**request["workload"])
    async with open_peer_saver(request["peer"], request["url"]) as saver:
        timings = await run_round(saver, workload, request["tag"])
    return {"ok": True, "timings": timings}


def main() -> None:
    """Measure one peer round: ``python _workload.py '<request JSON>'``, answer on stdout."""
    request = json.loads(sys.argv[1])
    versions = package_versions(
        [request["peer"], "surrealdb", "surrealdb-embedded", "langgraph", "langgraph-checkpoint"]
    )
    python = ".".join(map(str, sys.version_info[:3]))
    try:
        answer = asyncio.run(_peer_main(request))
    except Exception as exc:
        answer = {"ok": False, "error": one_line(exc), "trace": traceback.format_exc()[-2000:]}
    answer.update(versions=versions, python=python)
    sys.stdout.write("\n" + json.dumps(answer) + "\n")
    sys.stdout.flush()
    # Peers leave embedded connections open; the engine can abort at interpreter
    # exit when they are (exit 134), so leave without running finalisers.
    os._exit(0)


if __name__ == "__main__":
    main()


__all__ = [
    "BenchError",
    "GraphState",
    "Workload",
    "build_graph",
    "make_checkpoint",
    "one_line",
    "package_versions",
    "put_chain",
    "run_round",
    "time_latest",
    "time_list",
]
