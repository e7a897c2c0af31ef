"""Driving one run: LangGraph's stream in, events and the run record out.

Owns: running a claimed run's graph with ``astream`` (repairing its last
checkpoint first when recovery asks), handing every chunk to the
:class:`~sentient_graph.events.RunEmitter`, and recording how the run ended
(record first, then the event: whoever reacts to the event must see the status).

Must not: claim runs (the engine does, before a run is driven), turn chunks
into events itself (``RunEmitter.from_chunk_deferred`` is the one place), or
write SurrealQL (:class:`~sentient_graph.runs.RunStore` does).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import Durability, StreamMode

from sentient_graph.engine.handle import RunHandle
from sentient_graph.errors import RunCancelled, RunFailed
from sentient_graph.runs import RunStore
from sentient_graph.shell import command

if TYPE_CHECKING:
    from sentient_graph.events import EventBus, EventType

__all__ = ["STREAM_MODES", "RunDriver", "one_line"]

log = structlog.get_logger(__name__)


def _note(event: str, **fields: Any) -> None:
    """A run's lifecycle line, only where the application configured structlog
    (the CLI and the server do). Unconfigured, structlog would print every run
    to stdout: a library says nothing per run unasked (its events say it all)."""
    if structlog.is_configured():
        log.info(event, **fields)


#: Stream modes the engine asks LangGraph for; ``values`` gives the final state.
STREAM_MODES: list[StreamMode] = ["tasks", "checkpoints", "custom", "values"]

INTERRUPT_KEY = "__interrupt__"

#: What runs before a resumed run's graph, once the run is claimed (recovery's repair).
Repair = Callable[[], Awaitable[None]]


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def strip_interrupts(values: Any) -> Any:
    """State values without LangGraph's ``__interrupt__`` key."""
    if isinstance(values, dict) and INTERRUPT_KEY in values:
        return {k: v for k, v in values.items() if k != INTERRUPT_KEY}
    return values


def interrupt_payload(interrupts: Any) -> list[dict[str, Any]]:
    """``interrupt()`` values as JSON-able ``{id, value}`` dicts."""
    return [
        {"id": getattr(i, "id", None), "value": getattr(i, "value", i)} for i in interrupts or ()
    ]


class RunDriver:
    """Drives claimed runs of one engine.

    Args:
        store: Where run records live.
        bus: Where the run's events go.
        durability: LangGraph durability for every run.
        on_end: Called with the handle once its run ended and was recorded.
    """

    def __init__(
        self,
        store: RunStore,
        bus: EventBus,
        durability: Durability,
        on_end: Callable[[RunHandle], None],
    ) -> None:
        self.store = store
        self.bus = bus
        self.durability: Durability = durability
        self._on_end = on_end
        #: Events emitted by the runs of this driver, by type (``engine.metrics()``).
        self.event_counts: Counter[str] = Counter()

    async def drive(
        self,
        handle: RunHandle,
        graph: Pregel,
        input: Any,
        extra: RunnableConfig | None,
        *,
        resumed: bool,
        repair: Repair | None = None,
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Run ``graph`` (with the engine's checkpointer attached) for a claimed run."""
        from sentient_graph.events import EventType, RunEmitter

        emitter = RunEmitter(
            self.bus,
            thread_id=handle.thread_id,
            run_id=handle.run_id,
            correlation_id=correlation_id,
            metadata=metadata,
        )
        options: dict[str, Any] = dict(extra or {})
        configurable = {**options.pop("configurable", {}), "thread_id": handle.thread_id}
        run_metadata = {**options.pop("metadata", {}), "run_id": handle.run_id}
        config: RunnableConfig = {**options, "configurable": configurable, "metadata": run_metadata}  # type: ignore[typeddict-item]
        failing_node: str | None = None
        values: Any = None
        node_interrupted = False
        # A node's interrupt, announced once the run is recorded ``interrupted``
        # (record first, then the event: whoever answers must find it resumable).
        held: list[tuple[str, Any]] = []

        async def emit(type_: EventType, **kwargs: Any) -> None:
            self.event_counts[type_.value] += 1
            await emitter.emit(type_, **kwargs)

        with structlog.contextvars.bound_contextvars(
            thread_id=handle.thread_id, run_id=handle.run_id
        ):
            try:
                if repair is not None:
                    await repair()
                # Written behind with the first steps' events (the run record already
                # says the run started).
                await emit(
                    EventType.RUN_STARTED,
                    payload={"graph": handle.graph_ref, "resumed": resumed},
                    wait=False,
                )
                _note("run.started", graph=handle.graph_ref, resumed=resumed)
                async for mode, chunk in graph.astream(
                    input, config, stream_mode=STREAM_MODES, durability=self.durability
                ):
                    if mode == "values":
                        values = chunk
                    elif mode == "tasks" and isinstance(chunk, dict) and chunk.get("error"):
                        failing_node = chunk.get("name")
                    elif mode == "tasks" and isinstance(chunk, dict) and chunk.get("interrupts"):
                        held.append((mode, chunk))
                        node_interrupted = True
                        continue
                    await self._translate(emitter, mode, chunk)
            except asyncio.CancelledError:
                self._cancelled(handle, values)
                await self._end(
                    handle, emitter, "cancelled", emit, EventType.RUN_CANCELLED, {}, held=held
                )
                _note("run.cancelled")
                return
            except Exception as exc:
                message = one_line(exc)
                handle.status = "failed"
                handle.values = strip_interrupts(values)
                where = f" in node {failing_node!r}" if failing_node else ""
                error = RunFailed(
                    f"run on thread {handle.thread_id!r} failed{where}: {message} "
                    f"(fix it, then `{command('resume', handle.thread_id)}`)",
                    thread_id=handle.thread_id,
                    run_id=handle.run_id,
                    node=failing_node,
                )
                error.__cause__ = exc
                handle.error = error
                await self._end(
                    handle,
                    emitter,
                    "failed",
                    emit,
                    EventType.RUN_FAILED,
                    {"error": message, "error_type": type(exc).__name__, "node": failing_node},
                    held=held,
                    error=message,
                    node=failing_node,
                )
                _note("run.failed", error=message, node=failing_node)
                return
            handle.values = values
            interrupts = values.get(INTERRUPT_KEY) if isinstance(values, dict) else None
            if interrupts:
                handle.status = "interrupted"
                handle.interrupts = interrupt_payload(interrupts)
                # The emitter already announced the node's interrupt; one event per pause.
                await self._end(
                    handle,
                    emitter,
                    "interrupted",
                    emit if not node_interrupted else None,
                    EventType.INTERRUPTED,
                    {"interrupts": handle.interrupts},
                    held=held,
                )
                _note("run.interrupted")
            else:
                handle.status = "completed"
                await self._end(
                    handle,
                    emitter,
                    "completed",
                    emit,
                    EventType.RUN_COMPLETED,
                    {"values": values},
                    input=None,
                    run_config=None,
                )
                _note("run.completed")

    async def _translate(self, emitter: Any, mode: str, chunk: Any) -> None:
        for event in await emitter.from_chunk_deferred(mode, chunk):
            self.event_counts[event.type.value] += 1

    @staticmethod
    def _cancelled(handle: RunHandle, values: Any) -> None:
        handle.status = "cancelled"
        handle.values = strip_interrupts(values)
        handle.error = RunCancelled(
            f"run {handle.run_id} on thread {handle.thread_id!r} was cancelled "
            f"(resume it with `{command('resume', handle.thread_id)}`)",
            thread_id=handle.thread_id,
            run_id=handle.run_id,
        )

    async def record_cancelled(self, handle: RunHandle) -> None:
        """Record a run cancelled before its task began (so nothing else did)."""
        if handle.done():
            return
        self._cancelled(handle, None)
        await self._end(handle, None, "cancelled", None, None, {})

    async def _end(
        self,
        handle: RunHandle,
        emitter: Any,
        status: str,
        emit: Callable[..., Awaitable[None]] | None,
        event_type: Any,
        payload: dict[str, Any],
        *,
        held: Sequence[tuple[str, Any]] = (),
        **record: Any,
    ) -> None:
        """Record how a run ended, then tell the world (the ``held`` chunks first);
        the handle finishes either way."""
        try:
            fields = {"status": status, "updated_at": time.time(), "lease_until": None, **record}
            await self.store.finish(handle.thread_id, handle.run_id, fields)
            for mode, chunk in held:
                await self._translate(emitter, mode, chunk)
            if emit is not None:
                await emit(event_type, payload=payload)
            elif emitter is not None:
                await emitter.flush()
        except Exception as exc:
            log.error("run.finish_not_recorded", status=status, error=one_line(exc))
            if handle.error is None:
                handle.error = RunFailed(
                    f"run on thread {handle.thread_id!r} ended {status} but the store refused "
                    f"the record: {one_line(exc)}",
                    thread_id=handle.thread_id,
                    run_id=handle.run_id,
                )
        finally:
            self._on_end(handle)
            handle._finish(emitter.seq if emitter is not None else 0)
