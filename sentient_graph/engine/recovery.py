"""Continuing runs: resume one thread, or recover every run whose owner died.

Owns: the checks before a resume (is the thread resumable, does it wait for an
answer), deciding whether a run's stored input was taken up by LangGraph (then
the run continues from its checkpoints) or not (then it starts again from the
input stored with its claim), finding runs whose owner is gone, and marking
runs that cannot be continued ``lost``. Every run is claimed before anything
is written to its thread: claim, then repair, then drive.

Must not: write SurrealQL or drive runs (the launcher and the driver do).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.types import Command

from sentient_graph.engine.driver import one_line
from sentient_graph.engine.handle import RunHandle
from sentient_graph.engine.launcher import Launcher, busy_message
from sentient_graph.engine.timetravel import checkpoint_exists
from sentient_graph.errors import RunNotActive, ThreadNotFound
from sentient_graph.runs import RunRecord
from sentient_graph.runs.codec import RunInputCodec
from sentient_graph.runs.liveness import owner_dead

__all__ = ["NOTHING", "Recovery", "input_taken"]

log = structlog.get_logger(__name__)

#: ``resume`` was not given (``None`` is a valid answer to an interrupt).
NOTHING: Any = object()


async def input_taken(saver: BaseCheckpointSaver[Any], thread_id: str, run_id: str) -> bool:
    """Whether run ``run_id`` wrote a checkpoint of the thread (so LangGraph has its input).

    The engine puts the run id in every checkpoint's metadata; a run killed
    before its first checkpoint left the thread's head to an earlier run (or none).
    """
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    head = await saver.aget_tuple(config)
    return head is not None and (head.metadata or {}).get("run_id") == run_id


class Recovery:
    """Resumes threads and recovers orphaned runs for one engine.

    Args:
        launcher: Claims and drives runs.
        codec: Reads the input stored with a run.
        not_found: Builds the error for an unknown thread (with a did-you-mean).
    """

    def __init__(
        self,
        launcher: Launcher,
        codec: RunInputCodec,
        not_found: Callable[[str], Awaitable[ThreadNotFound]],
    ) -> None:
        self.launcher = launcher
        self.runs = launcher.runs
        self.graphs = launcher.graphs
        self.saver = launcher.graphs.saver
        self.codec = codec
        self._not_found = not_found

    async def resume(
        self,
        thread_id: str,
        resume: Any,
        graph: Pregel | str | None,
        config: RunnableConfig | None,
    ) -> RunHandle:
        """See :meth:`Engine.resume`."""
        record = await self.runs.get(thread_id)
        if record is None and not await checkpoint_exists(self.saver, thread_id):
            raise await self._not_found(thread_id)
        stale: RunRecord | None = None
        if record is not None:
            if record.status == "running":
                if thread_id in self.launcher.active or not owner_dead(record, time.time()):
                    raise RunNotActive(busy_message(thread_id, record))
                stale = record
            elif record.status == "completed" and resume is NOTHING:
                raise RunNotActive(
                    f"thread {thread_id!r} completed; nothing to resume "
                    "(start it again with new input, or fork it from a checkpoint)"
                )
        compiled = self.graphs.for_thread(thread_id, record.graph if record else None, graph)
        ref = self.graphs.resolve(compiled)[1] or (record.graph if record else None)
        input, extra = await self.untaken_input(record)
        if resume is not NOTHING:
            input = Command(resume=resume)
        state = await self.graphs.attach(compiled).aget_state(
            {"configurable": {"thread_id": thread_id}}
        )
        if resume is not NOTHING and not state.interrupts and not state.next:
            raise RunNotActive(
                f"thread {thread_id!r} waits for no answer and has nothing left to run "
                "(start it again with new input, or fork it from a checkpoint)"
            )
        if resume is NOTHING and input is None:
            if state.interrupts:
                raise RunNotActive(
                    f"thread {thread_id!r} waits for an answer to {state.interrupts[0].value!r}; "
                    "pass resume=... (CLI: --value JSON)"
                )
            # ``next`` leaves out tasks that finished but whose superstep did not
            # complete (their writes are pending); those still need a resume.
            if not state.next and not state.tasks:
                raise RunNotActive(
                    f"thread {thread_id!r} has nothing left to run "
                    "(it finished at its last checkpoint)"
                )
        return await self.launcher.launch(
            compiled,
            ref,
            thread_id,
            input,
            config=config or extra,
            resumed=True,
            stale=stale,
            repair=input is None or isinstance(input, Command),
            replace_graph=True,
            correlation_id=record.correlation_id if record else None,
            metadata=record.metadata if record else None,
        )

    async def untaken_input(self, record: RunRecord | None) -> tuple[Any, RunnableConfig | None]:
        """The input a run was started with, if LangGraph never took it (killed or
        cancelled before its first checkpoint); else ``(None, its config)``."""
        if record is None:
            return None, None
        stored = await self.runs.get_input(record.thread_id, record.run_id)
        if stored is None or (stored.input is None and stored.config is None):
            return None, None
        input, config = self.codec.decode(stored)
        if input is not None and await input_taken(self.saver, record.thread_id, record.run_id):
            input = None
        return input, config

    async def stale_runs(self) -> list[RunRecord]:
        """See :meth:`Engine.stale_runs`."""
        now = time.time()
        records = await self.runs.running_elsewhere(self.launcher.owner)
        return [
            r.as_stale()
            for r in records
            if r.thread_id not in self.launcher.active and owner_dead(r, now)
        ]

    async def recover(self) -> list[RunHandle]:
        """See :meth:`Engine.recover`."""
        handles: list[RunHandle] = []
        for record in await self.stale_runs():
            try:
                compiled = self.graphs.for_thread(record.thread_id, record.graph, None)
                input, extra = await self.untaken_input(record)
            except Exception as exc:
                await self._lose(record, f"recover could not continue it: {one_line(exc)}")
                continue
            try:
                handle = await self.launcher.launch(
                    compiled,
                    record.graph,
                    record.thread_id,
                    input,
                    config=extra,
                    resumed=True,
                    stale=record,
                    repair=input is None or isinstance(input, Command),
                    replace_graph=True,
                    correlation_id=record.correlation_id,
                    metadata=record.metadata,
                )
            except RunNotActive:
                continue  # another process claimed it first
            log.info("recover.resumed", thread_id=record.thread_id, dead_owner=record.owner)
            handles.append(handle)
        return handles

    async def _lose(self, record: RunRecord, reason: str) -> None:
        log.warning("recover.lost", thread_id=record.thread_id, error=reason)
        await self.runs.finish(
            record.thread_id,
            record.run_id,
            {"status": "lost", "error": reason, "updated_at": time.time(), "lease_until": None},
        )
