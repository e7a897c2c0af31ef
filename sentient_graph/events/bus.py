"""The event bus: durable first, then live; subscriptions that never skip or repeat.

Owns :class:`EventBus`, a facade that puts the parts together and holds
their lifetimes: the writer (:mod:`~sentient_graph.events.writer`, with its
linger, :mod:`~sentient_graph.events.linger`) puts events in the log, then
hands them to this process's subscriptions
(:mod:`~sentient_graph.events.subscription`) and to the Redis outbox
(:mod:`~sentient_graph.events.redis.outbox`); subscriptions replay from a
history source (:mod:`~sentient_graph.events.sources`: the log, or the Redis
streams) and follow Redis (:mod:`~sentient_graph.events.redis.follower`).
Public names of those modules that callers imported from here are
re-exported.

Must not: write SurrealQL, open a SurrealDB connection, turn LangGraph chunks
into events (:mod:`sentient_graph.events.emitter`), or implement what the
parts do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Unpack

from sentient_graph.db import AsyncConnection
from sentient_graph.errors import ConfigError, RedisUnavailable
from sentient_graph.events.emitter import EventBatch
from sentient_graph.events.linger import (
    DEFAULT_LINGER,
    FOLLOWED_LINGER,
    Clock,
    IdleSignal,
    Linger,
)
from sentient_graph.events.log import EventLog, WrittenPage
from sentient_graph.events.model import (
    Event,
    EventFilter,
    EventType,
    Priority,
    SubscriptionOptions,
)
from sentient_graph.events.redis.client import bounded, new_redis_client, redis_errors
from sentient_graph.events.redis.follower import RedisFollower
from sentient_graph.events.redis.keys import channel_name, stream_name
from sentient_graph.events.redis.outbox import RedisOutbox
from sentient_graph.events.sources import HistorySource, LogHistory, StreamHistory
from sentient_graph.events.subscription import (
    CLOCK_MARGIN,
    EventHandler,
    HandlerRegistration,
    Subscription,
    Subscriptions,
)
from sentient_graph.events.writer import LogWriter

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "CLOCK_MARGIN",
    "DEFAULT_LINGER",
    "DEFAULT_MAX_OUTBOX",
    "DEFAULT_PREFIX",
    "DEFAULT_STREAM_MAXLEN",
    "DEFAULT_STREAM_TTL",
    "FOLLOWED_LINGER",
    "EventBus",
    "EventHandler",
    "HandlerRegistration",
    "Subscription",
    "channel_name",
    "stream_name",
]

DEFAULT_PREFIX = "sentient"
#: Entries kept per thread in the Redis stream (approximate trim).
DEFAULT_STREAM_MAXLEN = 10_000
#: Seconds a thread's Redis stream lives after its last event.
DEFAULT_STREAM_TTL = 24 * 3600
#: Events kept in memory while Redis is down; older ones stay in the SurrealDB log only.
DEFAULT_MAX_OUTBOX = 100_000


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
        idle: IdleSignal | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not prefix:
            raise ConfigError("the Redis channel prefix must not be empty")
        self.log: EventLog | None = EventLog(conn) if conn is not None else None
        self.redis_url = redis_url
        self.prefix = prefix
        self.stream_maxlen = stream_maxlen
        self.stream_ttl = stream_ttl
        self.max_outbox = max_outbox
        self._linger = Linger(linger, idle=idle, clock=clock)
        self._subscriptions = Subscriptions()
        self._history: HistorySource | None = LogHistory(self.log) if self.log is not None else None
        # The command client and the outbox exist with a Redis URL only (set by :meth:`open`).
        self._redis: Redis | None = None
        self._outbox: RedisOutbox | None = None
        self._writer: LogWriter | None = None
        if self.log is not None:
            self._writer = LogWriter(
                self.log,
                self._linger,
                followed=self._followed,
                deliver=self._deliver,
                send=None,
            )
        self._closed = False

    @property
    def linger(self) -> float:
        """At most how many seconds events nobody awaits wait for company."""
        return self._linger.cap

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
        idle: IdleSignal | None = None,
        clock: Clock | None = None,
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
            idle: tells the linger when the process idles (default: its CPU
                time against the wall time,
                :class:`~sentient_graph.events.linger.CpuIdleSignal`).
            clock: the linger's clock (default: the running event loop).

        Raises:
            ConfigError: ``linger`` is negative, or ``prefix`` empty.
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
            idle=idle,
            clock=clock,
        )
        if bus.log is not None and setup:
            await bus.log.setup()
        if redis_url is not None:
            await bus._connect_redis(redis_url)
        return bus

    async def _connect_redis(self, redis_url: str) -> None:
        # No socket timeout: each call on it is bounded() (sends leave at once).
        redis = new_redis_client(redis_url, retries=2, socket_timeout=None)
        try:
            await bounded(redis.ping())
        except redis_errors() as exc:
            await redis.aclose()
            raise RedisUnavailable(
                f"no Redis server answers at {redis_url}: {exc} (start one, or unset REDIS_URL)"
            ) from None
        self._redis = redis
        if self._history is None:
            self._history = StreamHistory(redis, self.prefix)
        if self._writer is not None:
            self._outbox = RedisOutbox(
                redis,
                prefix=self.prefix,
                stream_maxlen=self.stream_maxlen,
                stream_ttl=self.stream_ttl,
                max_outbox=self.max_outbox,
                log=self.log,
            )
            self._writer.send = self._outbox.send_now

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
        writer = self._publishing()
        for event in events:
            if event.seq < 1:
                raise ValueError(
                    f"event {event.type} of run {event.run_id!r} has no seq; emit it through RunEmitter"
                )
        if events:
            await writer.publish(list(events), wait=wait)

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
        return self._publishing().defer(batch)

    def _publishing(self) -> LogWriter:
        """The writer, once this bus may publish; raises a failed earlier write."""
        writer = self._writer
        if writer is None:
            raise ConfigError(
                "this EventBus was opened without a SurrealDB connection: it can follow, not publish"
            )
        if self._closed:
            raise ConfigError("this EventBus is closed")
        writer.raise_failure()
        return writer

    def _deliver(self, events: list[Event], pages: list[WrittenPage]) -> None:
        """Durable events go live: to this process's subscribers, then to Redis."""
        self._subscriptions.deliver(events)
        if self._outbox is not None:
            self._outbox.add(events, pages)

    def _followed(self, thread_ids: Iterable[str]) -> bool:
        """Whether anyone follows one of these threads: a subscription of this
        bus, or a subscriber on Redis (:meth:`RedisOutbox.followed`)."""
        threads = set(thread_ids)
        if self._subscriptions.follows(threads):
            return True
        outbox = self._outbox
        return outbox is not None and any(outbox.followed(thread) for thread in threads)

    async def wait_durable(self) -> None:
        """Wait until every event published so far is in the log (or failed to get there)."""
        if self._writer is not None:
            await self._writer.wait_durable()

    def durable_seq(self, run_id: str) -> int:
        """The highest seq of ``run_id`` this bus has written to the log; 0 if none.

        Runs are remembered while they write (the most recent few thousand): ask
        about runs published on this bus.
        """
        return self._writer.durable.get(run_id) if self._writer is not None else 0

    async def wait_seq_durable(self, run_id: str, seq: int) -> None:
        """Return once event ``seq`` of ``run_id``, published on this bus, is in the log.

        Does not hurry the writer (events nobody awaits still linger); a caller
        that wants it now awaits :meth:`wait_durable` instead.

        Raises:
            ConfigError: this bus has no log (it follows only).
            StoreUnavailable: the log refused that event.
        """
        writer = self._writer
        if writer is None:
            raise ConfigError(
                "this EventBus was opened without a SurrealDB connection: nothing is written here"
            )
        await writer.durable.wait(run_id, seq)

    async def flush(self) -> None:
        """Wait until every published event is in the log and on Redis (bound it with ``asyncio.timeout``)."""
        await self.wait_durable()
        if self._outbox is not None:
            await self._outbox.drained()

    # -- reading -------------------------------------------------------------

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
        events) of each thread for ``stream_ttl`` seconds; the log keeps
        everything until it expires.
        """
        if self._history is None:
            return []
        return await self._history.replay(
            thread_id,
            run_id=run_id,
            after_seq=after_seq,
            types=types,
            source=source,
            min_priority=min_priority,
        )

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
        prompt: bool = True,
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
            prompt: the events are wanted as soon as they are made: while a
                prompt subscription of this bus follows a thread, its events
                are not held back for company (see ``linger``). ``False``
                suits an observer that can wait up to the linger (counters,
                metrics): runs then cost less.

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
        sub = Subscription(
            filt,
            after_seq=after_seq,
            gap_timeout=gap_timeout,
            prompt=prompt,
            register=self._subscriptions,
            history=self._history,
            in_process=self.log is not None,
            follower=self._redis_follower if self.redis_url is not None else None,
        )
        self._subscriptions.open.add(sub)
        return sub

    def _redis_follower(
        self,
        thread_id: str | None,
        on_attached: Callable[[], None],
        on_events: Callable[[list[Event]], None],
    ) -> RedisFollower:
        assert self.redis_url is not None
        return RedisFollower(
            self.redis_url,
            self.prefix,
            thread_id,
            on_attached=on_attached,
            on_events=on_events,
        )

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
        self._subscriptions.handlers.add(registration)
        return registration

    async def ping_redis(self) -> bool | None:
        """Whether Redis answers now (``None``: this bus has no Redis)."""
        if self._redis is None:
            return None
        try:
            return bool(await bounded(self._redis.ping()))
        except Exception:
            return False

    async def aclose(self, *, flush_timeout: float = 5.0) -> None:
        """Stop subscriptions and handlers, push what waits for Redis, close Redis.

        The SurrealDB connection is the caller's and stays open.
        """
        if self._closed:
            return
        self._closed = True
        await self._subscriptions.aclose()
        if self._writer is not None:
            await self._writer.aclose(flush_timeout)
        if self._outbox is not None:
            await self._outbox.aclose(flush_timeout)
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
