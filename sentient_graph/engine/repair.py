"""Repairing a thread's last checkpoint before a resumed run is driven.

Owns: making tasks that were cancelled half-way through their writes run again
(LangGraph would take their partial writes as their output). Runs only once
the engine holds the run's claim: claim, then repair, then drive.

Must not: claim runs, write run records or SurrealQL.
"""

from __future__ import annotations

from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel

__all__ = ["drop_partial_writes"]

log = structlog.get_logger(__name__)

#: LangGraph's pending-write channel for a task's error (part of the stored checkpoint format).
ERROR_CHANNEL = "__error__"
#: Channels that record how a task ended rather than what it wrote.
STATUS_CHANNELS = frozenset({"__error__", "__error_source_node__", "__interrupt__", "__resume__"})


async def drop_partial_writes(
    saver: BaseCheckpointSaver[Any], attached: Pregel, thread_id: str
) -> None:
    """Make tasks that were cancelled half-way through their writes run again.

    LangGraph stores the writes a cancelled task had made so far next to its
    error (``PregelRunner.commit``), and on resume treats those writes as the
    task's output: a node cancelled between its state write and its
    conditional edge would count as finished and its branch would be lost.
    When the last checkpoint holds such a task, it is copied (LangGraph's
    ``__copy__``) and only the writes of the tasks that finished are carried
    over to the copy, so the cancelled ones run again and finished ones do not.

    Args:
        saver: The checkpointer ``attached`` uses.
        attached: The thread's graph with the engine's checkpointer.
        thread_id: The thread; the caller holds its run's claim.
    """
    head_config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    head = await saver.aget_tuple(head_config)
    if head is None or not head.pending_writes:
        return
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in head.pending_writes:
        by_task.setdefault(task_id, []).append((channel, value))

    def failed(writes: list[tuple[str, Any]]) -> bool:
        return any(channel == ERROR_CHANNEL for channel, _ in writes)

    partial = [
        task_id
        for task_id, writes in by_task.items()
        if failed(writes) and any(ch not in STATUS_CHANNELS for ch, _ in writes)
    ]
    if not partial:
        return
    before = await attached.aget_state(head.config)
    key_of = {task.id: (task.name, task.path) for task in before.tasks}
    copy_config = await attached.aupdate_state(head.config, None, as_node="__copy__")
    after = await attached.aget_state(copy_config)
    # Task ids hash the checkpoint id; the copy's tasks are the same tasks by (name, path).
    id_of = {(task.name, task.path): task.id for task in after.tasks}
    for task_id, writes in by_task.items():
        if failed(writes):
            continue
        key = key_of.get(task_id)
        new_id = id_of.get(key) if key is not None else task_id
        if new_id is None:
            log.warning("resume.finished_task_not_matched", task_id=task_id)
            continue
        await saver.aput_writes(copy_config, writes, new_id)
    log.info("resume.partial_writes_dropped", tasks=len(partial))
