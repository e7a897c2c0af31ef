"""Starting a run: claim the thread (with the run's input in the same statement), then drive.

Owns: the runs this engine drives now (one per thread), the fields of a claim,
why a claim was refused, and handing a claimed run to the
:class:`~sentient_graph.engine.driver.RunDriver` in a task of its own.

Must not: decide what a resumed run continues with (recovery does) or write
SurrealQL (:class:`~sentient_graph.runs.RunStore`).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel

from sentient_graph.engine.driver import RunDriver, one_line
from sentient_graph.engine.graphs import GraphRegistry
from sentient_graph.engine.handle import RunHandle
from sentient_graph.engine.repair import drop_partial_writes
from sentient_graph.errors import InvalidInput, RunNotActive
from sentient_graph.runs import RunInput, RunRecord, RunStore, records
from sentient_graph.runs.codec import RunInputCodec
from sentient_graph.runs.liveness import HOST, process_start
from sentient_graph.shell import command

__all__ = ["Launcher", "busy_message"]


def busy_message(thread_id: str, record: RunRecord | None) -> str:
    """Why a thread cannot take a new run now, and what to do."""
    if record is None:
        return f"thread {thread_id!r} is busy; try again"
    where = f"process {record.pid} on {record.host}" if record.pid else "another engine"
    return (
        f"thread {thread_id!r} is running in {where} (run {record.run_id}); "
        f"wait for it, or `{command('cancel', thread_id)}`"
    )


class Launcher:
    """Claims threads and drives their runs for one engine.

    Args:
        owner: The engine's owner id (``host/pid/nonce``).
        lease_seconds: The lease a claim starts with.
        runs: The run records.
        graphs: The engine's graphs (the checkpointer is attached there).
        driver: Drives claimed runs.
        codec: Stores a run's input with its claim.
    """

    def __init__(
        self,
        owner: str,
        lease_seconds: float,
        runs: RunStore,
        graphs: GraphRegistry,
        driver: RunDriver,
        codec: RunInputCodec,
    ) -> None:
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.runs = runs
        self.graphs = graphs
        self.driver = driver
        self.codec = codec
        self.active: dict[str, RunHandle] = {}
        self.closed = False
        self._pid_start = process_start(os.getpid())

    async def launch(
        self,
        graph: Pregel,
        ref: str | None,
        thread_id: str,
        input: Any,
        *,
        config: RunnableConfig | None,
        resumed: bool,
        stale: RunRecord | None = None,
        repair: bool = False,
        replace_graph: bool = False,
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> RunHandle:
        """Claim the thread for a new run, its input stored with the claim; then drive it.

        Args:
            graph: The graph to run (without the checkpointer; it is attached here).
            ref: Its reference, stored with the run.
            thread_id: The thread.
            input: The input or ``Command``; ``None`` continues from the last checkpoint.
            config: Extra LangGraph config.
            resumed: Whether the run continues the thread's previous one.
            stale: The dead owner's record this claim takes over.
            repair: Repair the last checkpoint once claimed, before driving.
            replace_graph: Claim even if the thread ran another graph.
            correlation_id: Carried by every event of the run.
            metadata: Copied into every event's ``metadata``.

        Raises:
            RunNotActive: the engine is closed, or the thread runs elsewhere.
            InvalidInput: the thread ran another graph, or the input cannot be stored.
        """
        if self.closed:
            raise RunNotActive("the engine is closed; open a new one")
        if thread_id in self.active:
            raise RunNotActive(f"thread {thread_id!r} is already running in this engine")
        attached = self.graphs.attach(graph)
        try:
            stored = self.codec.encode(input, config)
        except Exception as exc:
            raise InvalidInput(
                f"the run's input or config cannot be stored: {one_line(exc)}"
            ) from None
        run_id = records.new_run_id()
        handle = RunHandle(thread_id, run_id, ref, self.driver.bus)
        # Reserve before the first await so two starts on one thread cannot both pass.
        self.active[thread_id] = handle
        try:
            claimed = await self.runs.claim(
                thread_id,
                self._claim_fields(thread_id, run_id, ref, stored, correlation_id, metadata),
                owner=self.owner,
                stale=stale,
                replace_graph=replace_graph,
            )
            if claimed is None:
                raise await self._refusal(thread_id, ref)
        except BaseException:
            self.active.pop(thread_id, None)
            raise
        self.graphs.remember(thread_id, graph, ref)

        async def repair_now() -> None:
            await drop_partial_writes(self.graphs.saver, attached, thread_id)

        handle._task = asyncio.create_task(
            self.driver.drive(
                handle,
                attached,
                input,
                config,
                resumed=resumed,
                repair=repair_now if repair else None,
                correlation_id=correlation_id,
                metadata=metadata,
            ),
            name=f"sentient-run-{thread_id}",
        )
        return handle

    def ended(self, handle: RunHandle) -> None:
        """The driver's hook: ``handle``'s run ended and was recorded."""
        if self.active.get(handle.thread_id) is handle:
            del self.active[handle.thread_id]

    async def cancel_all(self) -> None:
        """Cancel every run this engine drives; each is recorded ``cancelled``."""
        self.closed = True
        for handle in list(self.active.values()):
            await handle.cancel()
            # A run cancelled before its task began never ran its own ending.
            await self.driver.record_cancelled(handle)

    def _claim_fields(
        self,
        thread_id: str,
        run_id: str,
        ref: str | None,
        stored: RunInput,
        correlation_id: str | None,
        metadata: dict[str, Any] | None,
    ) -> dict[str, Any]:
        now = time.time()
        return {
            "thread_id": thread_id,
            "run_id": run_id,
            "graph": ref,
            "status": "running",
            "owner": self.owner,
            "pid": os.getpid(),
            "host": HOST,
            "pid_start": self._pid_start,
            "started_at": now,
            "updated_at": now,
            "heartbeat_at": now,
            "lease_until": now + self.lease_seconds,
            "error": None,
            "node": None,
            "cancel_requested": False,
            "correlation_id": correlation_id,
            "metadata": metadata,
            **stored.to_row(),
        }

    async def _refusal(self, thread_id: str, ref: str | None) -> Exception:
        """Why a claim was refused: the thread runs elsewhere, or has another graph."""
        record = await self.runs.get(thread_id)
        if record is not None and record.status != "running" and ref and record.graph != ref:
            return InvalidInput(
                f"thread {thread_id!r} runs graph {record.graph!r}, not {ref!r} "
                "(use another thread, or replace_graph=True / --replace-graph)"
            )
        return RunNotActive(busy_message(thread_id, record))
