"""Subscriptions: replayed history, then live events, per run in order, each once.

Owns :class:`Subscription` (replay, live delivery from this process and from
Redis, deduplication by ``(run_id, seq)``, gaps filled from history, the
resync after a Redis reconnect), :class:`HandlerRegistration` (a callback fed
by a subscription), and :class:`Subscriptions`, one bus's register of them:
who gets its durable events in-process, and whether anyone follows a thread.

Must not: publish, write the log, or talk to Redis itself (the history source
and :class:`~sentient_graph.events.redis.follower.RedisFollower` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import structlog

from sentient_graph.events.log import order_events
from sentient_graph.events.model import Event, EventFilter
from sentient_graph.events.redis.client import BACKOFF_MAX, BACKOFF_START, redis_errors
from sentient_graph.events.redis.follower import RedisFollower
from sentient_graph.events.sources import HistorySource

__all__ = [
    "CLOCK_MARGIN",
    "EventHandler",
    "HandlerRegistration",
    "Subscription",
    "Subscriptions",
]

log = structlog.get_logger(__name__)

#: How long clocks of publisher and follower may disagree for "events since I subscribed".
CLOCK_MARGIN = timedelta(seconds=2)


@runtime_checkable
class EventHandler(Protocol):
    """A callback for events: a plain function or a coroutine function."""

    def __call__(self, event: Event, /) -> Awaitable[object] | object: ...


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_RESYNC = _Marker("resync")
_CLOSED = _Marker("closed")

#: Makes the Redis follower of a subscription: (thread id, on attached, on events).
FollowerFactory = Callable[
    [str | None, Callable[[], None], Callable[[list[Event]], None]], RedisFollower
]


class Subscriptions:
    """The subscriptions and handlers of one bus."""

    def __init__(self) -> None:
        #: Subscriptions fed in-process with this bus's durable events.
        self.local: set[Subscription] = set()
        self.open: set[Subscription] = set()
        self.handlers: set[HandlerRegistration] = set()

    def deliver(self, events: list[Event]) -> None:
        """Durable events of this process, to its subscriptions."""
        for event in events:
            for sub in self.local:
                if sub.filter.wants_run(event):
                    sub._queue.put_nowait(event)

    def follows(self, threads: set[str]) -> bool:
        """Whether a prompt subscription of this bus follows one of ``threads``."""
        for sub in self.local:
            if sub.prompt and (sub.filter.thread_id is None or sub.filter.thread_id in threads):
                return True
        return False

    async def aclose(self) -> None:
        """Stop every handler and subscription."""
        for registration in list(self.handlers):
            await registration.aclose()
        for sub in list(self.open):
            await sub.aclose()


class Subscription:
    """Events matching a filter: replayed history first (if asked), then live.

    Iterate with ``async for``; close with :meth:`aclose` or ``async with``.
    Per run, events come in ``seq`` order, each once: duplicates (from
    replay overlapping live delivery, or republished after a Redis outage)
    are dropped; a gap in ``seq`` is filled from the log (or the Redis
    stream) before later events are delivered.

    Created by :meth:`EventBus.subscribe`; :meth:`start` (or ``async with``)
    returns once live delivery is attached, so that nothing published after
    it can be missed.
    """

    def __init__(
        self,
        filt: EventFilter,
        *,
        after_seq: int | None,
        gap_timeout: float,
        register: Subscriptions,
        prompt: bool = True,
        history: HistorySource | None,
        in_process: bool,
        follower: FollowerFactory | None,
    ) -> None:
        self.filter = filt
        self.after_seq = after_seq
        #: Whether its events are wanted as soon as they are made (``EventBus.subscribe``).
        self.prompt = prompt
        self._gap_timeout = gap_timeout
        self._register = register
        self._history = history
        self._in_process = in_process
        self._follower = follower
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._out: deque[Event] = deque()
        self._last: dict[str, int] = {}
        self._since = datetime.now(UTC) - CLOCK_MARGIN
        self._attached = asyncio.Event()
        self._started = False
        self._closed = False
        self._skip_first_resync = False
        self._listener: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> Subscription:
        """Attach live delivery, then replay history; idempotent."""
        async with self._start_lock:
            if self._started:
                return self
            self._started = True
            if self._in_process:
                # This bus publishes: its own events arrive without Redis.
                self._register.local.add(self)
                self._attached.set()
            if self._follower is not None:
                # Other processes' events arrive through Redis; duplicates of
                # local ones are dropped by (run_id, seq).
                follower = self._follower(
                    self.filter.thread_id, self._on_redis_attached, self._on_redis_events
                )
                self._listener = asyncio.create_task(
                    follower.run(), name="sentient-event-subscription"
                )
                self._attached.clear()
                attached = asyncio.create_task(self._attached.wait())
                try:
                    await asyncio.wait(
                        {attached, self._listener}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    attached.cancel()
                if self._listener.done() and not self._attached.is_set():
                    self._register.local.discard(self)
                    self._listener.result()  # surface the reason
                self._skip_first_resync = True
            if self.after_seq is not None:
                history = await self._fetch(self.filter.thread_id, self.filter.run_id, None)
                self._deliver_batch(history)
            return self

    async def aclose(self) -> None:
        """Stop following; pending iteration ends with ``StopAsyncIteration``."""
        if self._closed:
            return
        self._closed = True
        self._register.local.discard(self)
        self._register.open.discard(self)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        self._queue.put_nowait(_CLOSED)

    async def __aenter__(self) -> Subscription:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if not self._started:
            await self.start()
        while True:
            while self._out:
                event = self._out.popleft()
                if self.filter.matches(event):
                    return event
            if self._closed and self._queue.empty():
                raise StopAsyncIteration
            item = await self._queue.get()
            if item is _CLOSED:
                raise StopAsyncIteration
            if item is _RESYNC:
                if self._skip_first_resync:
                    self._skip_first_resync = False
                    continue
                await self._resync()
            elif isinstance(item, BaseException):
                raise item
            else:
                await self._accept(item)

    # -- what the Redis follower hands over ----------------------------------

    def _on_redis_attached(self) -> None:
        self._queue.put_nowait(_RESYNC)
        self._attached.set()

    def _on_redis_events(self, events: list[Event]) -> None:
        for event in events:
            self._queue.put_nowait(event)

    # -- delivery bookkeeping ----------------------------------------------

    def _floor(self, run_id: str) -> int | None:
        """The seq delivered last for a run; ``None`` for a live-only run not seen yet."""
        if run_id in self._last:
            return self._last[run_id]
        return self.after_seq

    def _wanted_unseen(self, event: Event) -> bool:
        # Live-only subscribers get the whole of runs that start after they
        # subscribed, and runs in progress from the first event seen.
        return event.timestamp >= self._since

    def _push(self, event: Event) -> None:
        self._last[event.run_id] = event.seq
        self._out.append(event)

    def _deliver_batch(self, events: Iterable[Event]) -> None:
        """Deliver what continues each run without a gap; drop what was delivered."""
        for event in order_events(e for e in events if self.filter.wants_run(e)):
            floor = self._floor(event.run_id)
            if floor is None:
                if self._wanted_unseen(event) and event.seq == 1:
                    self._push(event)
                continue
            if event.seq == floor + 1:
                self._push(event)

    async def _accept(self, event: Event) -> None:
        if not self.filter.wants_run(event):
            return
        floor = self._floor(event.run_id)
        if floor is not None and event.seq <= floor:
            return  # duplicate
        if floor is None and event.seq == 1:
            self._push(event)
            return
        if floor is not None and event.seq == floor + 1:
            self._push(event)
            return
        await self._fill_gap(event, floor)

    async def _fill_gap(self, event: Event, floor: int | None) -> None:
        """Fetch what lies between the last delivered seq and ``event``, then deliver it."""
        deadline = time.monotonic() + self._gap_timeout
        delay = BACKOFF_START
        while True:
            try:
                missing = await self._fetch(
                    event.thread_id, event.run_id, {event.run_id: floor or 0}
                )
            except redis_errors() as exc:
                log.warning("events.gap_fill_failed", error=str(exc) or type(exc).__name__)
                missing = []
            if floor is None:
                missing = [e for e in missing if self._wanted_unseen(e)]
                if missing and missing[0].seq != 1:
                    missing = []
            self._deliver_batch(e for e in missing if e.seq < event.seq)
            new_floor = self._floor(event.run_id)
            if new_floor is not None and event.seq <= new_floor:
                return
            if new_floor is not None and event.seq == new_floor + 1:
                self._push(event)
                return
            if floor is None and new_floor is None and not missing:
                # Joined a run in progress: it starts for us here.
                self._push(event)
                return
            if time.monotonic() >= deadline:
                log.warning(
                    "events.gap_unfilled",
                    thread_id=event.thread_id,
                    run_id=event.run_id,
                    after_seq=new_floor,
                    next_seq=event.seq,
                )
                self._push(event)
                return
            await asyncio.sleep(delay)  # the missing events may still be on their way
            delay = min(delay * 2, BACKOFF_MAX)

    async def _resync(self) -> None:
        """After (re)subscribing to Redis: pick up what was published meanwhile."""
        floors = dict(self._last)
        base = self.after_seq if self.after_seq is not None else 0
        try:
            events = await self._fetch(self.filter.thread_id, self.filter.run_id, floors, base)
        except redis_errors() as exc:
            # Down again: the listener reconnects and asks for another resync.
            log.warning("events.resync_failed", error=str(exc) or type(exc).__name__)
            return
        if self.after_seq is None:
            events = [e for e in events if e.run_id in self._last or self._wanted_unseen(e)]
        self._deliver_batch(events)

    async def _fetch(
        self,
        thread_id: str | None,
        run_id: str | None,
        floors: dict[str, int] | None,
        base: int | None = None,
    ) -> list[Event]:
        """Events after the given per-run floors, from the history source."""
        if self._history is None:
            return []
        default = base if base is not None else (self.after_seq or 0)
        since = None if self.after_seq is not None else self._since
        return await self._history.after(thread_id, run_id, floors or {}, default, since)


class HandlerRegistration:
    """A handler fed by its own subscription; stop it with :meth:`aclose`."""

    def __init__(self, subscription: Subscription, handler: EventHandler) -> None:
        self.subscription = subscription
        self.handler = handler
        self._task: asyncio.Task[None] | None = None

    async def _start(self) -> HandlerRegistration:
        await self.subscription.start()
        self._task = asyncio.create_task(self._run(), name="sentient-event-handler")
        return self

    async def _run(self) -> None:
        async for event in self.subscription:
            try:
                result = self.handler(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # One failing callback must not stop the events of everyone else.
                log.exception(
                    "events.handler_failed",
                    handler=getattr(self.handler, "__qualname__", repr(self.handler)),
                    event_type=event.type.value,
                    error=str(exc),
                )

    async def aclose(self) -> None:
        """Stop the subscription and the handler task."""
        await self.subscription.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> HandlerRegistration:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
