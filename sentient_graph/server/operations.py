"""What a client can ask of the server, once, for HTTP and JSON-RPC alike.

Owns: :class:`Operations` (start, list, get, history, resume, cancel, fork,
graphs) returning plain JSON data, and :func:`error_reply`, the one mapping
from an exception to a status, a code and a one-line message.

Must not: speak HTTP or WebSocket (``api`` and ``rpc`` do), or pass a name a
client sent to the graph loader (the :class:`GraphCatalog` answers instead).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import structlog

from sentient_graph.engine import Engine, RunHandle, RunRecord
from sentient_graph.errors import (
    ConfigError,
    GraphLoadError,
    InvalidInput,
    RedisUnavailable,
    RunFailed,
    RunNotActive,
    StoreUnavailable,
    ThreadNotFound,
)
from sentient_graph.events.model import jsonable
from sentient_graph.server.graphs import GraphCatalog, GraphNotRegistered

__all__ = ["Operations", "error_reply"]

log = structlog.get_logger(__name__)


_ERRORS: list[tuple[type[BaseException], int, str]] = [
    (ThreadNotFound, 404, "thread_not_found"),
    (GraphNotRegistered, 403, "graph_not_registered"),
    (InvalidInput, 422, "invalid_input"),
    (RunNotActive, 409, "run_not_active"),
    (GraphLoadError, 500, "graph_load_error"),
    (StoreUnavailable, 503, "store_unavailable"),
    (RedisUnavailable, 503, "redis_unavailable"),
    (ConfigError, 400, "bad_request"),
]


def error_reply(exc: BaseException) -> tuple[int, str, str]:
    """``(http_status, code, one-line message)`` for an exception; never a stack trace.

    Errors raised on purpose keep their message (it names the fix); anything
    else is logged with its traceback and reaches the client as a generic line.
    """
    for kind, status, code in _ERRORS:
        if isinstance(exc, kind):
            return status, code, str(exc).splitlines()[0] if str(exc) else code
    log.error("server.internal_error", exc_info=exc)
    return 500, "internal_error", "internal server error (the server log has the details)"


def record_json(record: RunRecord) -> dict[str, Any]:
    """A run record as JSON data."""
    return jsonable(dataclasses.asdict(record))


def handle_json(handle: RunHandle) -> dict[str, Any]:
    """What starting or resuming a run answers."""
    return {"thread_id": handle.thread_id, "run_id": handle.run_id, "status": handle.status}


class Operations:
    """The engine's operations as a client sees them.

    Args:
        engine: The server's engine.
        catalog: The graphs clients may run.
    """

    def __init__(self, engine: Engine, catalog: GraphCatalog) -> None:
        self.engine = engine
        self.catalog = catalog

    async def start(
        self,
        graph: str,
        input: Any,
        thread_id: str | None = None,
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start a run of a registered graph; returns once its input is durable."""
        return handle_json(await self._start(graph, input, thread_id, correlation_id, metadata))

    async def _start(
        self,
        graph: str,
        input: Any,
        thread_id: str | None,
        correlation_id: str | None,
        metadata: dict[str, Any] | None,
    ) -> RunHandle:
        registered = self.catalog.get(graph)
        return await self.engine.start(
            registered.graph, input, thread_id, correlation_id=correlation_id, metadata=metadata
        )

    async def start_and_wait(
        self,
        graph: str,
        input: Any,
        thread_id: str | None = None,
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start a run and answer when it ended: with its final state, interrupts or error.

        A client that goes away does not stop the run (the wait is shielded).
        """
        handle = await self._start(graph, input, thread_id, correlation_id, metadata)
        with contextlib.suppress(RunFailed):
            await handle.wait()
        reply = handle_json(handle)
        reply["values"] = jsonable(handle.values)
        if handle.interrupts:
            reply["interrupts"] = jsonable(handle.interrupts)
        if handle.error is not None:
            reply["error"] = str(handle.error).splitlines()[0]
        return reply

    async def threads(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every thread's current run, most recently updated first."""
        return [record_json(r) for r in await self.engine.threads(status)]

    async def _graph_of(self, thread_id: str) -> Any:
        record = await self.engine.get_run(thread_id)
        return self.catalog.for_ref(record.graph, thread_id)

    async def get(self, thread_id: str) -> dict[str, Any]:
        """The thread's run record and current state (values, next nodes, pending interrupts)."""
        record = await self.engine.get_run(thread_id)
        graph = self.catalog.for_ref(record.graph, thread_id)
        snap = await self.engine.state(thread_id, graph=graph)
        interrupts = [
            {"id": getattr(i, "id", None), "value": getattr(i, "value", i)} for i in snap.interrupts
        ]
        return {
            "record": record_json(record),
            "state": {
                "values": jsonable(snap.values),
                "next": list(snap.next),
                "checkpoint_id": (snap.config or {}).get("configurable", {}).get("checkpoint_id"),
                "interrupts": jsonable(interrupts),
            },
        }

    async def history(self, thread_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The thread's checkpoints, newest first."""
        graph = await self._graph_of(thread_id)
        items = await self.engine.history(thread_id, limit=limit, graph=graph)
        return [jsonable(dataclasses.asdict(i)) for i in items]

    async def resume(self, thread_id: str, value: Any = None, *, answer: bool) -> dict[str, Any]:
        """Resume the thread's run; ``answer`` says whether ``value`` answers an interrupt."""
        graph = await self._graph_of(thread_id)
        if answer:
            handle = await self.engine.resume(thread_id, value, graph=graph)
        else:
            handle = await self.engine.resume(thread_id, graph=graph)
        return handle_json(handle)

    async def cancel(self, thread_id: str) -> dict[str, Any]:
        """Cancel the thread's run; it stays resumable."""
        return record_json(await self.engine.cancel(thread_id))

    async def fork(
        self,
        thread_id: str,
        checkpoint_id: str,
        values: Any = None,
        new_thread_id: str | None = None,
        as_node: str | None = None,
    ) -> dict[str, Any]:
        """Branch a new thread at a past checkpoint; run it with ``resume``."""
        graph = await self._graph_of(thread_id)
        new_id = await self.engine.fork(
            thread_id,
            checkpoint_id,
            values,
            as_node=as_node,
            new_thread_id=new_thread_id,
            graph=graph,
        )
        return {"thread_id": new_id, "forked_from": thread_id, "checkpoint_id": checkpoint_id}

    def graphs(self) -> list[dict[str, Any]]:
        """The registered graphs with their nodes and edges."""
        return self.catalog.describe()
