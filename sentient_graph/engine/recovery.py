"""Continuing runs: what a claimed run resumes with, and the repair of its last checkpoint.

Owns: deciding whether a run's stored input was taken up by LangGraph (then
the run continues from its checkpoints) or not (then it starts again from the
input stored with its claim), and making tasks that were cancelled half-way
through their writes run again. Both run only after the engine holds the run's
claim: claim, then repair, then drive.

Must not: claim runs or write run records (the engine does), or write
SurrealQL.
"""

from __future__ import annotations

from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel

from sentient_graph.runs import RunInput

__all__ = ["RunInputCodec", "drop_partial_writes", "input_taken"]

log = structlog.get_logger(__name__)

#: LangGraph's pending-write channel for a task's error (part of the stored checkpoint format).
ERROR_CHANNEL = "__error__"
#: Channels that record how a task ended rather than what it wrote.
STATUS_CHANNELS = frozenset({"__error__", "__error_source_node__", "__interrupt__", "__resume__"})


class RunInputCodec:
    """Turns a run's input and config into a :class:`RunInput` and back, with the
    checkpointer's serializer (so they come back as the types they went in as).

    Args:
        saver: The engine's checkpointer; its ``serde`` is used.
    """

    def __init__(self, saver: BaseCheckpointSaver[Any]) -> None:
        self.serde = saver.serde

    def encode(self, input: Any, config: RunnableConfig | None) -> RunInput:
        """The stored form of a run's input and extra config.

        Raises:
            TypeError: a value the serializer cannot write.
        """
        return RunInput(
            input=None if input is None else self.serde.dumps_typed(input),
            config=self.serde.dumps_typed(dict(config)) if config else None,
        )

    def decode(self, stored: RunInput) -> tuple[Any, RunnableConfig | None]:
        """``(input, config)`` as they were given to the run."""
        input = None if stored.input is None else self.serde.loads_typed(stored.input)
        config = None if stored.config is None else self.serde.loads_typed(stored.config)
        return input, config


async def input_taken(saver: BaseCheckpointSaver[Any], thread_id: str, run_id: str) -> bool:
    """Whether run ``run_id`` wrote a checkpoint of the thread (so LangGraph has its input).

    The engine puts the run id in every checkpoint's metadata; a run killed
    before its first checkpoint left the thread's head to an earlier run (or none).
    """
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    head = await saver.aget_tuple(config)
    return head is not None and (head.metadata or {}).get("run_id") == run_id


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
