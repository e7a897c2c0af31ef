"""The one place where a LangGraph stream chunk becomes an :class:`Event`.

Owns: :class:`RunEmitter`, which numbers the events of one run (``seq`` 1, 2,
3, ... without gaps), measures node durations, maps LangGraph's
``astream(..., stream_mode=["tasks", "checkpoints", "custom"])`` chunks (with
or without ``subgraphs=True``) to event types, and hands each event to the bus.

Must not: know Redis or SurrealQL (the bus and the log do), or run the graph
(the engine's driver does, and feeds the chunks here).

A little over 500 lines: numbering, building and translating stay together
because an event's seq, its fields and its place in the bus's batch are
decided in one lock-protected step.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from sentient_graph.events.model import RETRY_MARK, Event, EventType, Priority, jsonable

__all__ = ["DEFAULT_PRIORITIES", "EventBatch", "EventPublisher", "PendingEvent", "RunEmitter"]

log = structlog.get_logger(__name__)

#: What an event type is worth when the caller does not say.
DEFAULT_PRIORITIES: dict[EventType, Priority] = {
    EventType.NODE_PROGRESS: Priority.LOW,
    EventType.CHECKPOINT_SAVED: Priority.LOW,
    EventType.NODE_FAILED: Priority.HIGH,
    EventType.NODE_RETRIED: Priority.HIGH,
    EventType.INTERRUPTED: Priority.HIGH,
    EventType.RUN_FAILED: Priority.HIGH,
    EventType.RUN_CANCELLED: Priority.HIGH,
}


class EventPublisher(Protocol):
    """What the emitter needs from a bus: :meth:`EventBus.publish_many`, which with
    ``wait=False`` queues the events without suspending. A bus that also has
    ``defer(batch)`` (:meth:`EventBus.defer`) gets the events nobody awaits as an
    :class:`EventBatch`, built when it writes them; when ``defer`` returns an
    awaitable (a node start someone follows), the emitter awaits it."""

    async def publish_many(self, events: list[Event], *, wait: bool = True) -> None: ...


class PendingEvent:
    """An event numbered and timed when it happened, built into an :class:`Event`
    when first needed: by the bus's writer, or by whoever reads :attr:`event` first.

    What :meth:`RunEmitter.from_chunk_deferred` returns. The writer builds a
    run's events one after another, rather than each between two pieces of
    LangGraph's work (BENCHMARKS.md, "Events: where the time goes").
    """

    __slots__ = (
        "_emitter",
        "_event",
        "_extra",
        "checkpoint_id",
        "payload",
        "seq",
        "source",
        "time",
        "type",
    )

    def __init__(
        self,
        emitter: RunEmitter,
        kind: EventType,
        source: str | None,
        payload: dict[str, Any],
        seq: int,
        checkpoint_id: str | None,
        extra: dict[str, Any] | None,
    ) -> None:
        self._emitter = emitter
        self.type = kind
        self.source = source
        self.payload = payload  # JSON-safe already
        self.seq = seq
        self.checkpoint_id = checkpoint_id
        self._extra = extra  # target, priority, metadata: rarely set
        self.time = time.time()
        self._event: Event | None = None

    @property
    def event(self) -> Event:
        """The event, built once."""
        event = self._event
        if event is None:
            event = self._event = self._emitter._build(self)
        return event

    def __repr__(self) -> str:
        return f"PendingEvent({self.type.value}, seq={self.seq}, built={self._event is not None})"


class EventBatch:
    """Consecutive events of one run that nobody awaits, queued with a bus as one item.

    The emitter adds events until the bus's writer takes the batch; the writer
    then builds them all (:meth:`take`).
    """

    __slots__ = ("pending", "queued", "taken", "thread_id")

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self.pending: list[PendingEvent] = []
        self.queued = False
        self.taken = False

    def __len__(self) -> int:
        return len(self.pending)

    def take(self) -> list[Event]:
        """Close the batch (later events start another) and build its events."""
        self.taken = True
        return [pending.event for pending in self.pending]


_ID_MASK = (1 << 128) - 1
_NO_EXTRA: dict[str, Any] = {}

#: Events after which a node does not go on: the run waits until they are durable.
_STOPPING = frozenset({EventType.NODE_FAILED, EventType.INTERRUPTED})

#: An event before it is numbered: type, source, payload, checkpoint id, and
#: whether the payload is JSON-safe as it stands (not taken from a node).
_Translation = tuple[EventType, str | None, dict[str, Any], str | None, bool]


def _node_of(namespace: Sequence[str]) -> str | None:
    """The innermost node of a subgraph namespace (``("outer:task-id", "inner:task-id")``)."""
    if not namespace:
        return None
    return namespace[-1].split(":", 1)[0] or None


class RunEmitter:
    """Numbers, builds and publishes the events of one run.

    Args:
        bus: where events go (an :class:`~sentient_graph.events.EventBus`).
        thread_id: the LangGraph thread.
        run_id: this run (one thread has a run per start or resume).
        correlation_id: copied into every event (e.g. a request id).
        start_seq: the last ``seq`` already used by this run (when a run
            id continues after a restart: ``await log.last_seq(...)``).
        ttl: events expire this long after they are emitted (``None``: never).
        metadata: copied into every event's ``metadata``.
        wait_chunks: make :meth:`from_chunk` wait until its events are durable.
            By default only :meth:`emit` and the events that stop a node
            (``node_failed``, ``interrupted``) wait; the others are written
            behind the run - still in order, still before anyone sees them,
            grouped into fewer queries - so that a graph is not slowed by one
            database round trip per transition.

    Example:
        ```python
        emitter = RunEmitter(bus, thread_id="t1", run_id="r1")
        await emitter.emit(EventType.RUN_STARTED)
        async for mode, chunk in graph.astream(
            inputs, config, stream_mode=["tasks", "checkpoints", "custom"]
        ):
            await emitter.from_chunk(mode, chunk)
        await emitter.emit(EventType.RUN_COMPLETED)
        ```
    """

    def __init__(
        self,
        bus: EventPublisher,
        *,
        thread_id: str,
        run_id: str,
        correlation_id: str | None = None,
        start_seq: int = 0,
        ttl: timedelta | None = None,
        metadata: Mapping[str, Any] | None = None,
        wait_chunks: bool = False,
    ) -> None:
        self.bus = bus
        self.wait_chunks = wait_chunks
        self.thread_id = thread_id
        self.run_id = run_id
        self.correlation_id = correlation_id
        self.ttl = ttl
        self.metadata = dict(metadata or {})
        self._seq = start_seq
        # Event ids: a random 128-bit base plus seq. Unique as uuid4 ids are, without
        # a call for random bytes per event (BENCHMARKS.md); drawn from the OS, not uuid.
        self._id_base = int.from_bytes(os.urandom(16), "big")
        # Serialises numbering and publishing: seq order is publish order.
        self._lock = asyncio.Lock()
        # task id -> (node name, monotonic start, namespace) for durations and progress sources.
        self._running: dict[str, tuple[str, float, tuple[str, ...]]] = {}
        # The batch that events nobody awaits join, until the bus's writer takes it.
        self._batch: EventBatch | None = None
        self._defer: Callable[[EventBatch], Awaitable[None] | None] | None = getattr(
            bus, "defer", None
        )

    @property
    def seq(self) -> int:
        """The ``seq`` of the last event emitted (0 before the first)."""
        return self._seq

    def _number(
        self,
        kind: EventType,
        source: str | None,
        payload: dict[str, Any],
        *,
        target: str | None = None,
        priority: Priority | str | None = None,
        checkpoint_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        trusted: bool = False,
    ) -> PendingEvent:
        """The next event of the run, numbered and timed now, built later (:meth:`_build`).

        Payloads the emitter makes from LangGraph's task and checkpoint chunks
        hold only strings, numbers and lists of strings (``trusted``); any other
        payload is made JSON-safe now, as validation would, so that what a node
        changes in it later is not what the event says.
        """
        extra = None
        if target is not None or priority is not None or metadata:
            extra = {
                "target": target,
                "priority": Priority(priority) if priority is not None else None,
                "metadata": metadata,
            }
        if not trusted:
            payload = jsonable(payload)
        self._seq += 1
        return PendingEvent(self, kind, source, payload, self._seq, checkpoint_id, extra)

    def _build(self, pending: PendingEvent) -> Event:
        """The :class:`Event` of ``pending``: every field made right here, no validation."""
        extra = pending._extra or _NO_EXTRA
        priority = extra.get("priority")
        metadata = extra.get("metadata")
        merged = {**self.metadata, **metadata} if metadata else self.metadata
        now = datetime.fromtimestamp(pending.time, UTC)
        kind = pending.type
        return Event._assemble(
            {
                "event_id": f"{(self._id_base + pending.seq) & _ID_MASK:032x}",
                "type": kind,
                "source": pending.source,
                "target": extra.get("target"),
                "thread_id": self.thread_id,
                "run_id": self.run_id,
                "seq": pending.seq,
                "priority": priority
                if priority is not None
                else DEFAULT_PRIORITIES.get(kind, Priority.NORMAL),
                "correlation_id": self.correlation_id,
                "checkpoint_id": pending.checkpoint_id,
                "payload": pending.payload,
                "metadata": jsonable(merged) if merged else {},
                "timestamp": now,
                "expires_at": now + self.ttl if self.ttl is not None else None,
            }
        )

    async def emit(
        self,
        type: EventType | str,
        source: str | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        target: str | None = None,
        priority: Priority | str | None = None,
        checkpoint_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        wait: bool = True,
    ) -> Event:
        """Build the next event of the run, publish it and return it once it is durable.

        With ``wait=False`` it returns at once and the event is written behind,
        with the events after it, as stream chunks are (in order, durable before
        anyone sees it).
        """
        pending = await self._publish(
            EventType(type),
            source,
            dict(payload or {}),
            wait=wait,
            target=target,
            priority=priority,
            checkpoint_id=checkpoint_id,
            metadata=metadata,
        )
        return pending.event

    async def _publish(
        self,
        kind: EventType,
        source: str | None,
        payload: dict[str, Any],
        *,
        wait: bool,
        **fields: Any,
    ) -> PendingEvent:
        """Number the next event and hand it to the bus in one step, so that seq
        order is log order.

        An event nobody awaits joins the run's open :class:`EventBatch` (the bus
        queues a batch once, at its first event). One that is awaited holds the
        lock until it is durable (events numbered meanwhile wait for it) and
        closes the batch, so that what comes after it queues behind it.
        """
        defer = self._defer
        if not wait and not self._lock.locked():
            # The bus does not suspend here: numbering and handing over are one step.
            pending = self._number(kind, source, payload, **fields)
            if defer is None:
                await self.bus.publish_many([pending.event], wait=False)
                return pending
            batch = self._batch
            if batch is None or batch.taken:
                batch = self._batch = EventBatch(self.thread_id)
            batch.pending.append(pending)
            now = defer(batch)
            if now is not None:
                await now
            return pending
        async with self._lock:
            self._batch = None
            pending = self._number(kind, source, payload, **fields)
            await self.bus.publish_many([pending.event], wait=wait)
        return pending

    async def _wait_durable(self) -> None:
        wait = getattr(self.bus, "wait_durable", None)
        if wait is not None:
            await wait()

    async def flush(self) -> None:
        """Wait until every event of this emitter so far is durable."""
        await self._wait_durable()

    async def from_item(self, item: tuple[Any, ...]) -> list[Event]:
        """:meth:`from_chunk` for an ``astream`` item as it comes.

        Accepts ``(mode, chunk)`` (several stream modes) and
        ``(namespace, mode, chunk)`` (``subgraphs=True``).
        """
        return [pending.event for pending in await self.from_item_deferred(item)]

    async def from_item_deferred(self, item: tuple[Any, ...]) -> list[PendingEvent]:
        """:meth:`from_chunk_deferred` for an ``astream`` item as it comes."""
        if len(item) == 3:
            namespace, mode, chunk = item
            return await self.from_chunk_deferred(mode, chunk, namespace=namespace)
        if len(item) == 2:
            mode, chunk = item
            return await self.from_chunk_deferred(mode, chunk)
        raise ValueError(f"not a LangGraph stream item: {item!r:.200}")

    async def from_chunk(
        self, mode: str, chunk: Any, *, namespace: Sequence[str] = ()
    ) -> list[Event]:
        """Turn one LangGraph stream chunk into events, publish them and return them.

        * ``tasks`` without ``result`` -> ``node_started`` (task id, node,
          triggers); with ``result`` -> ``node_completed`` (duration, keys
          written), or ``node_failed`` when ``error`` is set (error type and
          message), or ``interrupted`` when the task raised interrupts.
        * ``checkpoints`` -> ``checkpoint_saved`` with the checkpoint id, step
          and next nodes.
        * ``custom`` (what a node writes with ``get_stream_writer()``) ->
          ``node_progress``; the source is the node when it can be known (a
          ``"node"`` key in the payload, the subgraph namespace, or the only
          node running).

        Other modes produce no event.
        """
        pending = await self.from_chunk_deferred(mode, chunk, namespace=namespace)
        return [p.event for p in pending]

    async def from_chunk_deferred(
        self, mode: str, chunk: Any, *, namespace: Sequence[str] = ()
    ) -> list[PendingEvent]:
        """:meth:`from_chunk`, with each event built only when first needed.

        The events are numbered, timed and published as by :meth:`from_chunk`;
        an event's fields are assembled when the bus writes it or when someone
        reads :attr:`PendingEvent.event`, whichever comes first. The engine's
        runner uses this: a run then pays for building its events in one go,
        in the bus's writer, instead of between its steps.
        """
        translated = self._translate(mode, chunk, tuple(namespace))
        if translated is None:
            return []
        kind, source, payload, checkpoint_id, trusted = translated
        if namespace:
            payload["namespace"] = list(namespace)
        pending = await self._publish(
            kind,
            source,
            payload,
            wait=self.wait_chunks or kind in _STOPPING,
            checkpoint_id=checkpoint_id,
            trusted=trusted,
        )
        return [pending]

    def _translate(self, mode: str, chunk: Any, namespace: tuple[str, ...]) -> _Translation | None:
        """The event of one chunk, before numbering: type, source, payload, checkpoint id, trusted."""
        if mode == "tasks" and isinstance(chunk, Mapping):
            return self._from_task(chunk, namespace)
        if mode == "checkpoints" and isinstance(chunk, Mapping):
            configurable = (chunk.get("config") or {}).get("configurable") or {}
            metadata = chunk.get("metadata") or {}
            payload = {
                "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                "step": metadata.get("step"),
                "source": metadata.get("source"),
                "next": list(chunk.get("next") or []),
            }
            source = _node_of(namespace)
            return (
                EventType.CHECKPOINT_SAVED,
                source,
                payload,
                configurable.get("checkpoint_id"),
                True,
            )
        if mode == "custom":
            payload = dict(chunk) if isinstance(chunk, Mapping) else {"value": chunk}
            source = self._progress_source(payload, namespace)
            if payload.get(RETRY_MARK) is True:
                # An agent's attempt after a failed one (sentient_graph.agents announces it).
                del payload[RETRY_MARK]
                return EventType.NODE_RETRIED, source, payload, None, True
            return EventType.NODE_PROGRESS, source, payload, None, False  # whatever a node wrote
        return None

    def _from_task(self, chunk: Mapping[str, Any], namespace: tuple[str, ...]) -> _Translation:
        task_id = str(chunk.get("id"))
        node = str(chunk.get("name"))
        payload: dict[str, Any] = {"task_id": task_id, "node": node}
        if "result" not in chunk and "error" not in chunk:
            self._running[task_id] = (node, time.monotonic(), namespace)
            payload["triggers"] = list(chunk.get("triggers") or [])
            return EventType.NODE_STARTED, node, payload, None, True
        _, started, _ = self._running.pop(task_id, (node, None, namespace))
        if started is not None:
            payload["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
        error = chunk.get("error")
        if error is not None:
            payload["error_type"] = type(error).__name__
            payload["error"] = str(error)
            return EventType.NODE_FAILED, node, payload, None, True
        interrupts = chunk.get("interrupts") or []
        if interrupts:
            payload["interrupts"] = [_interrupt(i) for i in interrupts]
            return EventType.INTERRUPTED, node, payload, None, True
        payload["keys"] = _written_keys(chunk.get("result"))
        return EventType.NODE_COMPLETED, node, payload, None, True

    def _progress_source(
        self, payload: Mapping[str, Any], namespace: tuple[str, ...]
    ) -> str | None:
        for key in ("node", "source"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
        # A node writes progress in the namespace its own task chunks came with:
        # the only node running there wrote it; else the subgraph's node did.
        nodes = {node for node, _, ns in self._running.values() if ns == namespace}
        if len(nodes) == 1:
            return nodes.pop()
        return _node_of(namespace)


def _written_keys(result: Any) -> list[str]:
    """State keys a node wrote: the shape of the update, not its (maybe large) values."""
    if isinstance(result, Mapping):
        return [str(k) for k in result]
    if isinstance(result, Sequence) and not isinstance(result, str | bytes):
        keys: list[str] = []
        for item in result:
            if isinstance(item, Sequence) and len(item) == 2 and isinstance(item[0], str):
                keys.append(item[0])
        return keys
    return []


def _interrupt(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {"id": value.get("id"), "value": jsonable(value.get("value"))}
    return {"id": getattr(value, "id", None), "value": jsonable(getattr(value, "value", value))}
