"""Looking back and branching: a thread's checkpoints, and forks from any of them.

Owns: :class:`CheckpointInfo` (one checkpoint as the engine shows it, from
LangGraph's ``StateSnapshot`` or, when the graph does not load, from the
checkpointer's raw tuple) and :func:`fork_thread`, which copies a thread with
the checkpointer's ``acopy_thread`` and branches the copy at a past checkpoint
with LangGraph's ``aupdate_state``.

Must not: write SurrealQL (the run store records a fork's ``pending`` run).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot

from sentient_graph.engine.driver import interrupt_payload
from sentient_graph.engine.graphs import GraphRegistry
from sentient_graph.errors import GraphLoadError, RunNotActive, ThreadNotFound
from sentient_graph.runs import RunStore, records
from sentient_graph.shell import command

__all__ = [
    "CheckpointInfo",
    "checkpoint_exists",
    "fork_thread",
    "info_from_snapshot",
    "info_from_tuple",
]


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of a thread, newest first in :meth:`Engine.history`.

    Attributes:
        checkpoint_id: Pass to :meth:`Engine.fork` to branch from here.
        parent_checkpoint_id: The checkpoint this one followed.
        step: LangGraph's superstep number (``-1`` for the input).
        source: ``input``, ``loop``, ``update`` or ``fork``.
        created_at: ISO time the checkpoint was written.
        next: Nodes that would run next from here.
        values: The graph state at this checkpoint.
        interrupts: Pending ``interrupt()`` values at this checkpoint.
        run_id: The engine run that wrote it, when known.
    """

    checkpoint_id: str
    parent_checkpoint_id: str | None
    step: int | None
    source: str | None
    created_at: str | None
    next: tuple[str, ...]
    values: Any
    interrupts: tuple[Any, ...] = ()
    run_id: str | None = None


def info_from_snapshot(snap: StateSnapshot) -> CheckpointInfo:
    """LangGraph's view of a checkpoint (``next``, interrupts, state values)."""
    conf = snap.config.get("configurable", {})
    parent = (snap.parent_config or {}).get("configurable", {})
    meta = snap.metadata or {}
    return CheckpointInfo(
        checkpoint_id=conf.get("checkpoint_id", ""),
        parent_checkpoint_id=parent.get("checkpoint_id"),
        step=meta.get("step"),
        source=meta.get("source"),
        created_at=snap.created_at,
        next=tuple(snap.next),
        values=snap.values,
        interrupts=tuple(interrupt_payload(snap.interrupts)),
        run_id=meta.get("run_id"),  # type: ignore[arg-type]
    )


def info_from_tuple(tup: CheckpointTuple) -> CheckpointInfo:
    """The checkpointer's raw view of a checkpoint (channel values, no ``next``)."""
    conf = tup.config.get("configurable", {})
    parent = (tup.parent_config or {}).get("configurable", {})
    meta: dict[str, Any] = dict(tup.metadata or {})
    return CheckpointInfo(
        checkpoint_id=conf.get("checkpoint_id", ""),
        parent_checkpoint_id=parent.get("checkpoint_id"),
        step=meta.get("step"),
        source=meta.get("source"),
        created_at=tup.checkpoint.get("ts"),
        next=(),
        values=dict(tup.checkpoint.get("channel_values") or {}),
        run_id=meta.get("run_id"),
    )


async def checkpoint_exists(
    saver: BaseCheckpointSaver[Any], thread_id: str, checkpoint_id: str | None = None
) -> bool:
    """Whether the thread has a checkpoint (that one, when ``checkpoint_id`` is given)."""
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return await saver.aget_tuple({"configurable": configurable}) is not None


async def fork_thread(
    saver: BaseCheckpointSaver[Any],
    attached: Pregel,
    thread_id: str,
    checkpoint_id: str,
    new_thread_id: str,
    values: Any,
    as_node: str | None,
) -> None:
    """Copy ``thread_id`` to ``new_thread_id`` and branch the copy at ``checkpoint_id``.

    The copy's history reads as the original's; its newest checkpoint is a
    child of ``checkpoint_id`` holding that checkpoint's state, with ``values``
    applied as if ``as_node`` wrote them (or copied unchanged with no values).
    The fork point's own pending writes (an interrupt's answer, finished
    siblings) stay with the old timeline: the new thread runs that step afresh.

    Args:
        saver: The checkpointer (its ``acopy_thread`` does the copy).
        attached: The thread's graph with ``saver`` attached.
        thread_id: The thread to fork.
        checkpoint_id: The checkpoint of ``thread_id`` to branch from.
        new_thread_id: A thread id with no checkpoints yet.
        values: State updates for the branch, or ``None``.
        as_node: The node the updates count as written by.
    """
    await saver.acopy_thread(thread_id, new_thread_id)
    at: RunnableConfig = {
        "configurable": {
            "thread_id": new_thread_id,
            "checkpoint_ns": "",
            "checkpoint_id": checkpoint_id,
        }
    }
    if values is None:
        await attached.aupdate_state(at, None, as_node="__copy__")
    else:
        await attached.aupdate_state(at, values, as_node=as_node)


class TimeTravel:
    """History and forks of one engine's threads.

    Args:
        runs: The run records (a fork records its ``pending`` run).
        graphs: The engine's graphs and checkpointer.
        not_found: Builds the error for an unknown thread (with a did-you-mean).
    """

    def __init__(
        self,
        runs: RunStore,
        graphs: GraphRegistry,
        not_found: Callable[[str], Awaitable[ThreadNotFound]],
    ) -> None:
        self.runs = runs
        self.graphs = graphs
        self.saver = graphs.saver
        self._not_found = not_found

    async def history(
        self, thread_id: str, limit: int | None, graph: Pregel | str | None
    ) -> list[CheckpointInfo]:
        """See :meth:`Engine.history`."""
        record = await self.runs.get(thread_id)
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        try:
            compiled: Pregel | None = self.graphs.attach(
                self.graphs.for_thread(thread_id, record.graph if record else None, graph)
            )
        except GraphLoadError:
            compiled = None
        items: list[CheckpointInfo] = []
        if compiled is not None:
            async for snap in compiled.aget_state_history(config, limit=limit):
                items.append(info_from_snapshot(snap))
        else:
            async for tup in self.saver.alist(config, limit=limit):
                items.append(info_from_tuple(tup))
        if not items:
            raise await self._not_found(thread_id)
        return items

    async def fork(
        self,
        thread_id: str,
        checkpoint_id: str,
        values: Any,
        as_node: str | None,
        new_thread_id: str | None,
        graph: Pregel | str | None,
    ) -> str:
        """See :meth:`Engine.fork`."""
        record = await self.runs.get(thread_id)
        compiled = self.graphs.for_thread(thread_id, record.graph if record else None, graph)
        ref = self.graphs.resolve(compiled)[1] or (record.graph if record else None)
        if not await checkpoint_exists(self.saver, thread_id, checkpoint_id):
            if record is None and not await checkpoint_exists(self.saver, thread_id):
                raise await self._not_found(thread_id)
            raise ThreadNotFound(
                f"thread {thread_id!r} has no checkpoint {checkpoint_id!r} "
                f"(list them with `{command('history', thread_id)}`)"
            )
        new_thread_id = new_thread_id or records.new_thread_id()
        if await checkpoint_exists(self.saver, new_thread_id) or await self.runs.get(new_thread_id):
            raise RunNotActive(f"thread {new_thread_id!r} already exists; choose another id")
        await fork_thread(
            self.saver,
            self.graphs.attach(compiled),
            thread_id,
            checkpoint_id,
            new_thread_id,
            values,
            as_node,
        )
        now = time.time()
        await self.runs.create_pending(
            new_thread_id,
            {
                "thread_id": new_thread_id,
                "run_id": records.new_run_id(),
                "graph": ref,
                "status": "pending",
                "started_at": now,
                "updated_at": now,
                "forked_from": {"thread_id": thread_id, "checkpoint_id": checkpoint_id},
            },
        )
        self.graphs.remember(new_thread_id, compiled, ref)
        return new_thread_id
