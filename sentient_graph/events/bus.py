"""The event bus: durable first, then live; subscriptions that never skip or repeat.

Owns: publishing (log append, then in-process fan-out, then Redis through an
outbox that survives Redis outages), subscriptions (replay from the log or the
Redis stream, then follow live, ordered per run, deduplicated by
``(run_id, seq)``, gaps filled by seq), the subscribers' reconnect loops and
handler callbacks.

The Redis key layout, the publish script and the outbox are in
:mod:`sentient_graph.events.outbox`.

Must not: write SurrealQL (that is :mod:`sentient_graph.events.log`), open a
SurrealDB connection, or turn LangGraph chunks into events
(:mod:`sentient_graph.events.emitter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, Unpack, runtime_checkable

import structlog

from sentient_graph.db import AsyncConnection
from sentient_graph.errors import ConfigError, RedisUnavailable
from sentient_graph.events.emitter import EventBatch
from sentient_graph.events.log import EventLog, WrittenPage, order_events
from sentient_graph.events.model import (
    Event,
    EventFilter,
    EventType,
    Priority,
    SubscriptionOptions,
    events_from_json,
)
from sentient_graph.events.outbox import (
    BACKOFF_MAX,
    BACKOFF_START,
    RedisOutbox,
    bounded,
    channel_name,
    glob_escape,
    new_redis_client,
    redis_errors,
    stream_name,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "DEFAULT_LINGER",
    "DEFAULT_PREFIX",
    "FOLLOWED_LINGER",
    "EventBus",
    "EventHandler",
    "HandlerRegistration",
    "Subscription",
    "channel_name",
    "stream_name",
]

log = structlog.get_logger(__name__)

DEFAULT_PREFIX = "sentient"
#: Entries kept per thread in the Redis stream (approximate trim).
DEFAULT_STREAM_MAXLEN = 10_000
#: Seconds a thread's Redis stream lives after its last event.
DEFAULT_STREAM_TTL = 24 * 3600
#: Events kept in memory while Redis is down; older ones stay in the SurrealDB log only.
DEFAULT_MAX_OUTBOX = 100_000
#: How long clocks of publisher and follower may disagree for "events since I subscribed".
CLOCK_MARGIN = timedelta(seconds=2)

_BATCH = 512
#: At most how long (seconds) an event nobody awaits (a graph's node transition)
#: waits to share one log write with the ones after it; the writer goes at once
#: when the process idles. A longer cap means fewer writes per run of busy graphs
#: and later live delivery ("The writer's linger" in BENCHMARKS.md). Events that
#: are awaited never linger. A write and its Redis call cost about 0.5 ms: a cap of
#: L bounds their share of a busy stretch to 0.5 ms / L, 1% at 50 ms. With 20 ms,
#: runs of no-op nodes (17-20 ms) made 2.2 writes each instead of 1.0, and cost
#: 2 points more in-process and 3 more with Redis (BENCHMARKS.md); 50 ms is half
#: of the "sub-100 ms propagation" the specs ask of live events.
DEFAULT_LINGER = 0.050
#: The cap instead, while someone follows the event's thread (a subscription of
#: the bus, or a subscriber on Redis): live delivery comes first then, and the
#: events go at the writer's next turn, with whatever else the run queued by then;
#: a node start goes sooner still, from the emitter's own task (:meth:`EventBus.defer`).
#: A 2 ms cap made such runs cheaper (no-op nodes +38% instead of +55%, 5 ms
#: nodes +4% instead of +15%) but transitions arrived in 3 ms (p50) instead of
#: 1.3 ms, and over 5 ms at p99 (BENCHMARKS.md, "Events: where the time goes").
FOLLOWED_LINGER = 0.0
#: How soon a lingering writer first looks whether the process has gone idle (a
#: timer of the event loop wakes an idle loop no sooner than 1 ms: epoll's
#: resolution); each look that finds it busy doubles the wait, up to ``_IDLE_PROBE_MAX``.
_IDLE_PROBE = 0.001
_IDLE_PROBE_MAX = 0.004
#: Entries of a thread's Redis stream read per request.
_STREAM_PAGE = 1000
#: Idle: the process used less CPU time than this share of the wall time.
_IDLE_SHARE = 0.3


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

#: Events waiting to be written (built, or a batch built when taken), and the
#: future of the caller waiting for them (if any).
_Write = tuple["list[Event] | EventBatch", "asyncio.Future[None] | None"]


def _decode_entries(
    entries: Iterable[tuple[Any, Any]],
    run_floor: dict[str, int] | None,
    default_floor: int,
) -> list[Event]:
    floors = run_floor or {}
    out = []
    for _entry_id, fields in entries:
        try:
            # An entry holds a batch of one run's events; `s` is its highest seq.
            run_id = fields[b"r"].decode()
            seq = int(fields[b"s"])
            if seq <= floors.get(run_id, default_floor):
                continue  # cheap skip: no JSON parse for what the caller has
            out += [
                e
                for e in events_from_json(fields[b"e"])
                if e.seq > floors.get(e.run_id, default_floor)
            ]
        except (KeyError, ValueError) as exc:
            log.warning("events.bad_stream_entry", error=str(exc))
    return out


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
        bus: EventBus,
        filt: EventFilter,
        *,
        after_seq: int | None,
        gap_timeout: float,
    ) -> None:
        self._bus = bus
        self.filter = filt
        self.after_seq = after_seq
        self._gap_timeout = gap_timeout
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._out: deque[Event] = deque()
        self._last: dict[str, int] = {}
        self._since = datetime.now(UTC) - CLOCK_MARGIN
        self._ready = asyncio.Event()
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
            if self._bus.log is not None:
                # This bus publishes: its own events arrive without Redis.
                self._bus._local_subs.add(self)
                self._ready.set()
            if self._bus.redis_url is not None:
                # Other processes' events arrive through Redis; duplicates of
                # local ones are dropped by (run_id, seq).
                self._listener = asyncio.create_task(
                    self._listen_redis(), name="sentient-event-subscription"
                )
                self._ready.clear()
                ready = asyncio.create_task(self._ready.wait())
                try:
                    await asyncio.wait({ready, self._listener}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ready.cancel()
                if self._listener.done() and not self._ready.is_set():
                    self._bus._local_subs.discard(self)
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
        self._bus._local_subs.discard(self)
        self._bus._subscriptions.discard(self)
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
        """Events after the given per-run floors, from the log if we have one, else Redis."""
        default = base if base is not None else (self.after_seq or 0)
        floors = floors or {}
        bus = self._bus
        if bus.log is not None:
            if run_id is not None:
                after = floors.get(run_id, default)
                return await bus.log.replay(thread_id, run_id=run_id, after_seq=after)
            since = None if self.after_seq is not None else self._since
            events = await bus.log.replay(
                thread_id, after_seq=min([default, *floors.values()]), since=since
            )
            return [e for e in events if e.seq > floors.get(e.run_id, default)]
        if bus._redis is None:
            return []
        return await bus._read_streams(thread_id, run_id, floors, default)

    # -- Redis live source -------------------------------------------------

    async def _listen_redis(self) -> None:
        bus = self._bus
        assert bus.redis_url is not None
        errors = redis_errors()
        delay = BACKOFF_START
        failures = 0
        while not self._closed:
            client = new_redis_client(bus.redis_url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                if self.filter.thread_id is None:
                    await pubsub.psubscribe(bus._pattern)
                else:
                    await pubsub.subscribe(channel_name(bus.prefix, self.filter.thread_id))
                if failures:
                    log.info("events.redis_resubscribed", after_failures=failures)
                failures = 0
                delay = BACKOFF_START
                self._queue.put_nowait(_RESYNC)
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") not in ("message", "pmessage"):
                        continue
                    try:
                        events = events_from_json(message["data"])
                    except ValueError as exc:
                        log.warning("events.bad_message", error=str(exc))
                        continue
                    for event in events:
                        self._queue.put_nowait(event)
                # listen() ends only when the connection is gone.
                raise ConnectionError("pub/sub connection closed")
            except asyncio.CancelledError:
                raise
            except (ConnectionError, *errors) as exc:  # type: ignore[misc]
                failures += 1
                if failures == 1:
                    log.warning(
                        "events.redis_subscriber_lost", error=str(exc) or type(exc).__name__
                    )
                if not self._ready.is_set() and failures >= 3:
                    raise RedisUnavailable(
                        f"no Redis server answers at {bus.redis_url}: {exc} (start one, or unset REDIS_URL)"
                    ) from None
                await asyncio.sleep(delay)  # reconnect backoff
                delay = min(delay * 2, BACKOFF_MAX)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()


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


class _IdleProbe:
    """Calls ``wake`` once the process idles or at ``deadline``, whichever comes first.

    A timer callback compares the process's CPU time (all threads: nodes run in
    worker threads) with the wall time since the last look; under
    ``_IDLE_SHARE`` of it means the process is waiting. The first look comes
    after ``_IDLE_PROBE`` seconds; while the process stays busy each next one
    waits twice as long, up to ``_IDLE_PROBE_MAX``. A write is free only in a
    wait longer than itself (0.3-0.5 ms inside a run): the idle moments of a
    graph whose nodes wait 1-2 ms, which looks every millisecond caught, cost
    such runs +11-12% in-process and +20% with Redis, against +4-5% and +7%
    with the doubling (BENCHMARKS.md); a busy stretch also costs fewer looks.
    """

    __slots__ = ("_cpu", "_deadline", "_handle", "_interval", "_loop", "_start", "_wake")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        wake: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._deadline = deadline
        self._wake = wake
        self._interval = _IDLE_PROBE
        self._handle: asyncio.TimerHandle | None = None
        self._arm(loop.time())

    def _arm(self, now: float) -> None:
        self._start = now
        self._cpu = time.process_time()
        self._handle = self._loop.call_at(min(self._deadline, now + self._interval), self._look)

    def _look(self) -> None:
        now = self._loop.time()
        waited = now - self._start
        if now >= self._deadline or time.process_time() - self._cpu < waited * _IDLE_SHARE:
            self._handle = None
            self._wake()
            return
        self._interval = min(self._interval * 2, _IDLE_PROBE_MAX)
        self._arm(now)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class EventBus:
    """Publish events (log first, then live) and subscribe to them.

    Open with :meth:`open`. With ``redis_url=None`` events fan out inside the
    process only; with Redis they also go to ``{prefix}:events:{thread_id}``
    (and its stream) for other processes. Subscribers of this bus get events
    in-process either way, so a Redis outage never delays the process that
    runs the graph; other buses (other processes) follow through Redis.

    A bus without a SurrealDB connection can only follow (through Redis):
    what ``sentient-graph events`` does beside a run that holds an embedded
    store.
    """

    def __init__(
        self,
        conn: AsyncConnection | None,
        *,
        redis_url: str | None,
        prefix: str,
        stream_maxlen: int,
        stream_ttl: int,
        max_outbox: int,
        linger: float = DEFAULT_LINGER,
    ) -> None:
        if not prefix:
            raise ConfigError("the Redis channel prefix must not be empty")
        self.log: EventLog | None = EventLog(conn) if conn is not None else None
        self.redis_url = redis_url
        self.prefix = prefix
        self.stream_maxlen = stream_maxlen
        self.stream_ttl = stream_ttl
        self.max_outbox = max_outbox
        if linger < 0:
            raise ConfigError(f"linger must be 0 or more seconds, not {linger}")
        self.linger = linger
        self._pattern = glob_escape(prefix) + ":events:*"
        self._redis: Redis | None = None
        self._local_subs: set[Subscription] = set()
        self._subscriptions: set[Subscription] = set()
        self._handlers: set[HandlerRegistration] = set()
        # Writes to the log, in order; each with a future when its caller waits.
        self._writes: deque[_Write] = deque()
        self._write_wakeup = asyncio.Event()
        self._writes_idle = asyncio.Event()
        self._writes_idle.set()
        self._write_lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._write_error: BaseException | None = None
        # When the oldest event in ``_writes`` was queued (loop time): lingering ends linger after it.
        self._first_queued = 0.0
        # The writer lingers for events nobody follows (up to ``linger``).
        self._lingering_long = False
        # A publisher wrote a followed node start in its own task since the loop last turned.
        self._wrote_this_turn = False
        # Durable events on their way to Redis (with a Redis URL only).
        self._outbox: RedisOutbox | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        conn: AsyncConnection | None = None,
        *,
        redis_url: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        setup: bool = True,
        stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
        stream_ttl: int = DEFAULT_STREAM_TTL,
        max_outbox: int = DEFAULT_MAX_OUTBOX,
        linger: float = DEFAULT_LINGER,
    ) -> EventBus:
        """Open a bus.

        Args:
            conn: where the event log lives; ``None`` for a follow-only bus.
            redis_url: Redis for other processes; ``None`` for in-process only
                (pass ``sentient_graph.settings.redis_url_from_env()`` to honour
                ``REDIS_URL``).
            prefix: first part of every Redis key and channel.
            setup: create the log's schema (idempotent).
            stream_maxlen: entries kept per thread in the Redis stream (each holds
                one or more events of a run, so at least this many events).
            stream_ttl: seconds a thread's Redis stream outlives its last event.
            max_outbox: events held in memory while Redis is unreachable.
            linger: at most how many seconds events nobody awaits (a graph's
                node transitions) wait, while the process is busy, to share one
                log write with the events after them: less cost per run, later
                live delivery. They are written as soon as the process idles,
                and at once (:data:`FOLLOWED_LINGER`) while someone follows
                their thread (a node start from the emitter's own task:
                :meth:`defer`).

        Raises:
            RedisUnavailable: ``redis_url`` is set but no Redis answers there.
        """
        bus = cls(
            conn,
            redis_url=redis_url,
            prefix=prefix,
            stream_maxlen=stream_maxlen,
            stream_ttl=stream_ttl,
            max_outbox=max_outbox,
            linger=linger,
        )
        if bus.log is not None and setup:
            await bus.log.setup()
        if redis_url is not None:
            # No socket timeout: each call on it is bounded() (sends leave at once).
            bus._redis = new_redis_client(redis_url, retries=2, socket_timeout=None)
            try:
                await bounded(bus._redis.ping())
            except redis_errors() as exc:
                await bus._redis.aclose()
                raise RedisUnavailable(
                    f"no Redis server answers at {redis_url}: {exc} (start one, or unset REDIS_URL)"
                ) from None
            bus._outbox = RedisOutbox(
                bus._redis,
                prefix=prefix,
                stream_maxlen=stream_maxlen,
                stream_ttl=stream_ttl,
                max_outbox=max_outbox,
                log=bus.log,
            )
        return bus

    async def __aenter__(self) -> EventBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- publishing ----------------------------------------------------------

    async def publish(self, event: Event, *, wait: bool = True) -> Event:
        """Write ``event`` to the log, then deliver it live; returns it.

        Args:
            event: the event, numbered (``seq`` >= 1) by a :class:`RunEmitter`.
            wait: return once the event is durable (default); with ``False``
                return at once - the event is still written before anyone
                sees it, in order, grouped with others into one ``INSERT``.

        Redis delivery always happens in the background: an outage never
        blocks or fails the caller, events wait in an outbox.

        Raises:
            ConfigError: this bus was opened without a SurrealDB connection.
            StoreUnavailable: the log could not be written (with ``wait=False``,
                raised by the next call after the failure).
        """
        await self.publish_many([event], wait=wait)
        return event

    async def publish_many(self, events: list[Event], *, wait: bool = True) -> None:
        """:meth:`publish` for several events."""
        self._check_publishable()
        for event in events:
            if event.seq < 1:
                raise ValueError(
                    f"event {event.type} of run {event.run_id!r} has no seq; emit it through RunEmitter"
                )
        if not events:
            return
        fut = asyncio.get_running_loop().create_future() if wait else None
        if fut is not None and not self._writes and not self._write_lock.locked():
            # Nothing queued or being written: write in the caller's task, sparing
            # two hand-offs to the writer task on the path an awaited event takes.
            self._writes_idle.clear()
            try:
                async with self._write_lock:
                    await self._write([(list(events), fut)])
            finally:
                self._settle_idle()
            await fut
            return
        self._enqueue((list(events), fut), (event.thread_id for event in events))
        if fut is not None:
            await fut

    def defer(self, batch: EventBatch) -> Awaitable[None] | None:
        """Queue a run's events that nobody awaits, as ``publish_many(wait=False)``
        does, as one :class:`~sentient_graph.events.emitter.EventBatch`.

        The batch is queued at its first call; events its emitter adds until the
        writer takes it go with it, and are built then. The emitter calls this for
        each event it adds, so that a failure surfaces as with ``publish_many``.

        Returns ``None``, or, when the caller should write now, an awaitable that
        does: the last event added is ``node_started`` and someone follows the
        thread. A node may then run for long, and the graph's work queued on the
        event loop (the checkpointer's commit, the node's first steps) would
        otherwise go first; the ``node_completed`` and ``checkpoint_saved`` made
        just before it go in the same write. At most one such write per turn of
        the event loop: the other starts of a step that fans out go together,
        at the writer's next turn.
        """
        self._check_publishable()
        if not batch.queued:
            batch.queued = True
            self._enqueue((batch, None), (batch.thread_id,))
        elif self._lingering_long and self._followed((batch.thread_id,)):
            self._write_wakeup.set()
        if (
            batch.pending[-1].type is EventType.NODE_STARTED
            and not self._wrote_this_turn
            and self._followed((batch.thread_id,))
        ):
            return self._write_now()
        return None

    async def _write_now(self) -> None:
        """What :meth:`defer` returns: write what is queued, in the caller's task,
        and send it to Redis even while an earlier call awaits its reply
        (:meth:`RedisOutbox.send_now`).

        Only when the writer is idle and nobody awaits a queued write (then the
        writer task is on its way anyway), and only if the log takes the events
        without suspending: a caller cancelled in the middle of a write (a run
        being cancelled) must not lose them. Otherwise the writer writes them.
        """
        assert self.log is not None
        writes = self._writes
        if not writes or self._write_lock.locked() or any(fut is not None for _, fut in writes):
            return
        self._wrote_this_turn = True
        asyncio.get_running_loop().call_soon(self._next_turn)
        built = self._built(self._take(_BATCH))
        events = [event for batch, _ in built for event in batch]
        try:
            written = self.log.append_now(events)
        except Exception:
            written = None  # refused: the writer writes them one by one and reports it
        if written is None:
            self._writes.extendleft(reversed(built))
            self._write_wakeup.set()
            return
        self._written(built, events, {}, written)
        self._settle_idle()
        if self._outbox is not None:
            await self._outbox.send_now(pipelined=True)

    def _next_turn(self) -> None:
        self._wrote_this_turn = False

    def _check_publishable(self) -> None:
        if self.log is None:
            raise ConfigError(
                "this EventBus was opened without a SurrealDB connection: it can follow, not publish"
            )
        if self._closed:
            raise ConfigError("this EventBus is closed")
        if self._write_error is not None:
            error, self._write_error = self._write_error, None
            raise error

    def _enqueue(self, item: _Write, threads: Iterable[str]) -> None:
        """Queue a write for the writer task; wake it if it must not linger over it."""
        queued_before = bool(self._writes)
        if not queued_before:
            self._first_queued = asyncio.get_running_loop().time()
        self._writes.append(item)
        self._writes_idle.clear()
        # The writer lingers over events nobody awaits; an awaited one, the first one
        # queued, or one of a followed thread while it lingers the long way, wakes it.
        if (
            item[1] is not None
            or not queued_before
            or (self._lingering_long and self._followed(threads))
        ):
            self._write_wakeup.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="sentient-event-writer")

    def _settle_idle(self) -> None:
        if not self._writes and not self._write_lock.locked():
            self._writes_idle.set()

    def _followed(self, thread_ids: Iterable[str]) -> bool:
        """Whether anyone follows one of these threads: a subscription of this
        bus, or a subscriber on Redis (:meth:`RedisOutbox.followed`)."""
        threads = set(thread_ids)
        for sub in self._local_subs:
            if sub.filter.thread_id is None or sub.filter.thread_id in threads:
                return True
        outbox = self._outbox
        return outbox is not None and any(outbox.followed(thread) for thread in threads)

    async def _linger(self, followed: bool) -> None:
        """Hold events nobody awaits while the process is busy, at most :attr:`linger` seconds.

        A graph run makes its events in bursts, at each step; a log write costs
        the same fixed time whether it carries one event or many. So the writer
        waits while the process works (a step being computed: more events are
        coming) and writes as soon as it would otherwise wait (the nodes are
        waiting on a model or a tool): the write then costs the run nothing.
        "Busy" is measured by the process's CPU time since the last look, by a
        timer callback (:class:`_IdleProbe`, looking after 1 ms, then less
        often while the process stays busy) rather than a waiting task: a look
        costs the run a few microseconds.
        The oldest event is written at the latest :attr:`linger` seconds after
        it was queued, and at once when someone awaits an event. While someone
        follows a thread of the events (``followed``: a subscription of this
        bus, or a subscriber that heard the thread's last message on Redis),
        live delivery matters more than the run's cost: the cap is then
        :data:`FOLLOWED_LINGER`.
        """
        loop = asyncio.get_running_loop()
        linger = min(self.linger, FOLLOWED_LINGER) if followed else self.linger
        deadline = self._first_queued + linger
        if loop.time() >= deadline:
            return
        self._write_wakeup.clear()
        probe = _IdleProbe(loop, deadline, self._write_wakeup.set)
        self._lingering_long = not followed
        try:
            await self._write_wakeup.wait()
        finally:
            self._lingering_long = False
            probe.cancel()

    async def _write_loop(self) -> None:
        """Group commit: write what waits in one INSERT, then hand it on to live delivery."""
        assert self.log is not None
        while True:
            if not self._writes:
                self._settle_idle()
                self._write_wakeup.clear()
                await self._write_wakeup.wait()
                continue
            if all(fut is None for _, fut in self._writes):
                # Let a run queue what else it has ready (a LangGraph step yields
                # several chunks at once): fewer, larger INSERTs. A caller that
                # waits gets its write at once; a followed thread, soon.
                await self._linger(self._followed(self._queued_threads()))
            items = self._take(_BATCH)
            if not items:
                continue  # a publisher wrote them meanwhile (:meth:`_write_now`)
            async with self._write_lock:
                await self._write(items, at_once=True)

    def _queued_threads(self) -> set[str]:
        threads: set[str] = set()
        for batch, _ in self._writes:
            if isinstance(batch, EventBatch):
                threads.add(batch.thread_id)
            else:
                threads.update(event.thread_id for event in batch)
        return threads

    def _take(self, limit: int) -> list[_Write]:
        items: list[_Write] = []
        count = 0
        while self._writes and count < limit:
            item = self._writes.popleft()
            items.append(item)
            count += len(item[0])
        return items

    async def _write(self, items: list[_Write], *, at_once: bool = False) -> None:
        """Write a group in one INSERT, deliver what was written, settle each writer.

        The caller holds ``_write_lock``: groups are written and delivered one
        after another, in the order they were queued. ``at_once``: see
        :meth:`EventLog.append_many` (the writer task, which yields when its
        queue is empty, passes it; a publisher's own task does not, so that a
        loop of awaited publishes still gives the loop its turns).
        """
        assert self.log is not None
        built = self._built(items)
        events = [event for batch, _ in built for event in batch]
        failed: dict[int, BaseException] = {}
        written: list[WrittenPage] = []
        try:
            try:
                written = await self.log.append_many(events, at_once=at_once)
            except Exception as exc:
                if len(events) == 1:
                    failed[id(events[0])] = exc
                else:
                    # One refused event (a duplicate seq) must not sink its neighbours.
                    for event in events:
                        try:
                            await self.log.append(event)
                        except Exception as one:
                            failed[id(event)] = one
        except asyncio.CancelledError:
            for _, fut in built:
                if fut is not None and not fut.done():
                    fut.set_exception(
                        ConfigError("the EventBus closed before this event was written")
                    )
            raise
        self._written(built, events, failed, written)
        if self._outbox is not None:
            await self._outbox.send_now()

    @staticmethod
    def _built(items: list[_Write]) -> list[tuple[list[Event], asyncio.Future[None] | None]]:
        """Queued writes with their events: batches of events nobody awaits are built
        now, one after another."""
        return [
            (batch.take() if isinstance(batch, EventBatch) else batch, fut) for batch, fut in items
        ]

    def _written(
        self,
        items: list[tuple[list[Event], asyncio.Future[None] | None]],
        events: list[Event],
        failed: dict[int, BaseException],
        pages: list[WrittenPage],
    ) -> None:
        """``events`` (those of ``items``) are in the log but for ``failed``: deliver, settle writers."""
        self._deliver([e for e in events if id(e) not in failed], pages)
        for batch, fut in items:
            errors = [failed[id(e)] for e in batch if id(e) in failed]
            if fut is not None:
                if not fut.done():
                    if errors:
                        fut.set_exception(errors[0])
                    else:
                        fut.set_result(None)
            elif errors:
                self._write_error = errors[0]
                log.error(
                    "events.log_write_failed",
                    error=str(errors[0]),
                    events=[(e.run_id, e.seq) for e in batch if id(e) in failed],
                )

    def _deliver(self, events: list[Event], pages: list[WrittenPage]) -> None:
        """Durable events go live: to this process's subscribers, then to Redis."""
        if not events:
            return
        for event in events:
            for sub in self._local_subs:
                if sub.filter.wants_run(event):
                    sub._queue.put_nowait(event)
        if self._outbox is not None:
            self._outbox.add(events, pages)

    async def wait_durable(self) -> None:
        """Wait until every event published so far is in the log (or failed to get there)."""
        if self._writes_idle.is_set():
            return
        # A marker behind what is queued now: later publishes cannot starve us.
        fut = asyncio.get_running_loop().create_future()
        self._writes.append(([], fut))
        self._write_wakeup.set()
        await fut

    async def flush(self) -> None:
        """Wait until every published event is in the log and on Redis (bound it with ``asyncio.timeout``)."""
        await self.wait_durable()
        if self._outbox is not None:
            await self._outbox.drained()

    # -- reading Redis streams (followers without the log) --------------------

    async def _read_streams(
        self,
        thread_id: str | None,
        run_id: str | None,
        floors: dict[str, int],
        default_floor: int,
    ) -> list[Event]:
        assert self._redis is not None
        if thread_id is not None:
            keys = [stream_name(self.prefix, thread_id)]
        else:
            keys = []
            cursor = None
            while cursor != 0:
                cursor, found = await bounded(
                    self._redis.scan(
                        cursor or 0, match=glob_escape(self.prefix) + ":stream:*", count=500
                    )
                )
                keys += [key.decode() if isinstance(key, bytes) else key for key in found]
            keys = list(dict.fromkeys(keys))  # SCAN may return a key twice
        events: list[Event] = []
        # Every stream's next page in one round trip: a follower of every thread
        # asks once per page, not once per thread.
        starts: dict[str, Any] = dict.fromkeys(keys, "-")
        while starts:
            pipe = self._redis.pipeline(transaction=False)
            for key, start in starts.items():
                pipe.xrange(key, min=start, max="+", count=_STREAM_PAGE)
            pages = await bounded(pipe.execute())
            for key, entries in zip(list(starts), pages, strict=True):
                events += _decode_entries(entries, floors, default_floor)
                if len(entries) < _STREAM_PAGE:
                    del starts[key]
                    continue
                last_id = entries[-1][0]
                last = last_id.decode() if isinstance(last_id, bytes) else str(last_id)
                starts[key] = "(" + last
        if run_id is not None:
            events = [e for e in events if e.run_id == run_id]
        # A reseeded stream may hold an event twice: keep one per (run, seq).
        unique = {e.key: e for e in events}
        return order_events(unique.values())

    async def replay(
        self,
        thread_id: str | None = None,
        *,
        run_id: str | None = None,
        after_seq: int = 0,
        types: Iterable[EventType | str] | EventType | str | None = None,
        source: Iterable[str] | str | None = None,
        min_priority: Priority | str | None = None,
    ) -> list[Event]:
        """History from the log, or (on a follow-only bus) from the Redis streams.

        The Redis streams keep the last ``stream_maxlen`` entries (batches of
        events) of each thread
        for ``stream_ttl`` seconds; the log keeps everything until it expires.
        """
        filt = EventFilter.build(
            thread_id, run_id=run_id, types=types, source=source, min_priority=min_priority
        )
        if self.log is not None:
            return await self.log.replay(
                thread_id,
                run_id=run_id,
                after_seq=after_seq,
                types=types,
                source=source,
                min_priority=min_priority,
            )
        if self._redis is None:
            return []
        events = await self._read_streams(thread_id, run_id, {}, after_seq)
        return [e for e in events if filt.matches(e)]

    # -- subscribing ---------------------------------------------------------

    def subscribe(
        self,
        thread_id: str | None = None,
        *,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
        source: Iterable[str] | str | None = None,
        min_priority: Priority | str | None = None,
        after_seq: int | None = None,
        gap_timeout: float = 5.0,
    ) -> Subscription:
        """Events matching the filters, as an async iterator.

        Args:
            thread_id: one thread, or ``None`` for every thread (a Redis
                pattern subscription).
            run_id: one run only.
            types: event types to receive.
            source: node/agent names to receive.
            min_priority: receive events at least this urgent.
            after_seq: ``None`` follows live only (runs that start later are
                delivered whole); ``n`` first replays every event with
                ``seq > n`` of every matching run, then follows live.
            gap_timeout: how long to wait for events missing in a run's
                sequence before giving up on them (with a warning).

        Use ``async with bus.subscribe(...) as sub:`` (or ``await sub.start()``)
        when the subscription must be live before something else happens.
        """
        if self._closed:
            raise ConfigError("this EventBus is closed")
        if self.log is None and self._redis is None:
            raise ConfigError("this EventBus has neither a SurrealDB log nor Redis to follow")
        filt = EventFilter.build(
            thread_id, run_id=run_id, types=types, source=source, min_priority=min_priority
        )
        sub = Subscription(self, filt, after_seq=after_seq, gap_timeout=gap_timeout)
        self._subscriptions.add(sub)
        return sub

    async def add_handler(
        self,
        handler: EventHandler,
        thread_id: str | None = None,
        **options: Unpack[SubscriptionOptions],
    ) -> HandlerRegistration:
        """Call ``handler`` (sync or async) for every matching event until closed.

        ``options`` are those of :meth:`subscribe`. A handler that raises is
        logged and keeps receiving events.
        """
        sub = self.subscribe(thread_id, **options)
        registration = await HandlerRegistration(sub, handler)._start()
        self._handlers.add(registration)
        return registration

    async def aclose(self, *, flush_timeout: float = 5.0) -> None:
        """Stop subscriptions and handlers, push what waits for Redis, close Redis.

        The SurrealDB connection is the caller's and stays open.
        """
        if self._closed:
            return
        self._closed = True
        for registration in list(self._handlers):
            await registration.aclose()
        for sub in list(self._subscriptions):
            await sub.aclose()
        if self._writer is not None:
            try:
                await asyncio.wait_for(self.wait_durable(), flush_timeout)
            except TimeoutError:
                log.error("events.unwritten_at_close", writes=len(self._writes))
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._outbox is not None:
            await self._outbox.aclose(flush_timeout)
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
