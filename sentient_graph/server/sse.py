"""Event streams for clients: where to pick up again, and Server-Sent Events framing.

Owns: :class:`Cursor` (the position of the last event a client saw: a run and
its seq), :func:`follow_events` (history after a cursor, then live, no gap and
no duplicate; used by SSE and by JSON-RPC subscriptions) and the SSE framing.

Seq numbers count the events of one run; a thread that was resumed has
several runs. So the SSE ``id`` of an event is ``RUN_ID:SEQ``, and a
``Last-Event-ID`` of that form resumes exactly after it, across runs. A bare
number (or ``after_seq=n``) means what it means to
:meth:`~sentient_graph.events.EventBus.subscribe`: every run, after seq ``n``.

Must not: write events or know the HTTP framework beyond the bytes it yields.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass

from sentient_graph.events import Event, EventBus
from sentient_graph.events.log import order_events

__all__ = ["Cursor", "follow_events", "sse_comment", "sse_frame"]


@dataclass(frozen=True)
class Cursor:
    """Where a client stands in a thread's events.

    Attributes:
        seq: The seq of the last event seen.
        run_id: Its run; ``None`` means "after ``seq`` in every run".
    """

    seq: int
    run_id: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """``RUN_ID:SEQ`` or ``SEQ`` (a ``Last-Event-ID``); ``None`` for nothing.

        Raises:
            ValueError: neither form.
        """
        if text is None or not text.strip():
            return None
        run_id, sep, seq = text.strip().rpartition(":")
        value = int(seq)
        if value < 0:
            raise ValueError("a seq is 0 or more")
        return cls(value, run_id if sep and run_id else None)

    def event_id(self) -> str:
        """The SSE id form."""
        return f"{self.run_id}:{self.seq}" if self.run_id else str(self.seq)


def event_id(event: Event) -> str:
    """The SSE id of an event (``RUN_ID:SEQ``)."""
    return f"{event.run_id}:{event.seq}"


class _Past:
    """Which events lie at or before a cursor that names a run."""

    def __init__(self, cursor: Cursor, history: Iterable[Event]) -> None:
        self.cursor = cursor
        self.earlier: set[str] = set()
        for event in order_events(history):
            if event.run_id == cursor.run_id:
                break
            self.earlier.add(event.run_id)

    def seen(self, event: Event) -> bool:
        if event.run_id in self.earlier:
            return True
        return event.run_id == self.cursor.run_id and event.seq <= self.cursor.seq


async def follow_events(
    bus: EventBus,
    *,
    thread_id: str | None,
    cursor: Cursor | None,
    follow: bool,
    types: list[str] | None = None,
    source: list[str] | None = None,
    min_priority: str | None = None,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[Event, None]:
    """The events after ``cursor`` in order (per run, by seq), then live ones if ``follow``.

    Args:
        bus: The engine's event bus.
        thread_id: One thread, or every thread (then ``cursor`` may only be a bare seq).
        cursor: Where the client stands; ``None`` means from the start when
            not following, and live only when following every thread.
        follow: Keep going with live events until ``stop`` is set or the caller stops.
        types: Event types to keep.
        source: Node names to keep.
        min_priority: Keep events at least this urgent.
        stop: Ends a followed stream (the server shutting down).
    """
    past: _Past | None = None
    after_seq: int | None = cursor.seq if cursor is not None else 0
    if cursor is not None and cursor.run_id is not None:
        past = _Past(cursor, await bus.replay(thread_id))
        after_seq = 0
    if cursor is None and thread_id is None and follow:
        after_seq = None
    if not follow:
        for event in await bus.replay(
            thread_id,
            after_seq=after_seq or 0,
            types=types,
            source=source,
            min_priority=min_priority,
        ):
            if past is None or not past.seen(event):
                yield event
        return
    sub = bus.subscribe(
        thread_id, after_seq=after_seq, types=types, source=source, min_priority=min_priority
    )
    watcher: asyncio.Task[None] | None = None
    if stop is not None:

        async def close_on_stop() -> None:
            await stop.wait()
            await sub.aclose()  # ends the iteration below

        watcher = asyncio.create_task(close_on_stop(), name="sentient-stream-stop")
    try:
        await sub.start()
        async for event in sub:
            if past is None or not past.seen(event):
                yield event
    finally:
        if watcher is not None:
            watcher.cancel()
        await sub.aclose()


def sse_frame(event: Event) -> bytes:
    """One event as an SSE message: ``id`` ``RUN_ID:SEQ``, ``event`` its type, ``data`` its JSON."""
    return f"id: {event_id(event)}\nevent: {event.type.value}\ndata: {event.to_json()}\n\n".encode()


def sse_comment(text: str) -> bytes:
    """An SSE comment (keeps idle connections open through proxies)."""
    return f": {text}\n\n".encode()
