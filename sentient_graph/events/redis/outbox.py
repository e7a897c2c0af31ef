"""The outbox: durable events on their way to Redis, in order, through outages.

Owns :class:`RedisOutbox`: one connection of its own on which publish script
calls go out in the order the events were written, the replies read by the
outbox's task, backoff while Redis is away, the script loaded again after
NOSCRIPT, streams that a Redis restart emptied refilled from the log, and who
heard each thread's last message (:meth:`RedisOutbox.followed`).

Must not: write the log (it only reads it, to refill streams), deliver events
in-process or subscribe (:mod:`sentient_graph.events.subscription` and
:mod:`sentient_graph.events.redis.follower` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import structlog

from sentient_graph.events.log import EventLog, WrittenPage, order_events
from sentient_graph.events.model import Event, events_to_json
from sentient_graph.events.redis.client import (
    BACKOFF_MAX,
    BACKOFF_START,
    bounded,
    no_script_error,
    pool_connection,
    redis_errors,
    refused_error,
)
from sentient_graph.events.redis.keys import PUBLISH_SCRIPT, channel_name, stream_name

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.connection import AbstractConnection

__all__ = ["RedisOutbox"]

log = structlog.get_logger(__name__)

#: Events per script call.
_SEND_BATCH = 512
#: Script calls sent on the outbox's connection before the first one's reply is read.
_MAX_ON_WIRE = 4
#: Threads whose published runs and followers the outbox remembers (most recent).
_THREADS_KEPT = 1024


class _Call(NamedTuple):
    """One publish script call: the events it carries and what its reply settles."""

    events: list[Event]
    live: bool
    #: Per run group, in the script's order: its thread, and whether its stream must exist.
    threads: list[tuple[str, bool]]
    runs: list[tuple[str, str]]
    #: The script's keys and arguments.
    keys: list[str]
    args: list[Any]


# The outbox's hot path speaks the protocol by hand, on a connection of its own:
# the writer packs the EVALSHA and hands it to the socket in its own task, right
# after the log write, before the event loop turns; several calls may be on the
# wire before the outbox task reads their replies, in order. A ``Script`` call or
# a ``Pipeline`` awaits its reply in the caller's task, so the writer would wait
# on Redis or hand the call to a task that runs only after the graph's queued
# work. Why it pays: BENCHMARKS.md, "Events: where the time goes", items 13 and
# 18 and runs S-X (pipelined calls). Everything off that path (loading the
# script, refilling streams, looking for lost streams) uses ``register_script``
# and ``Pipeline``.
async def _put(conn: AbstractConnection, sha: str, call: _Call) -> None:
    """Send ``call`` on ``conn`` (no suspension while the connection's buffers take it)."""
    command = conn.pack_command("EVALSHA", sha, len(call.keys), *call.keys, *call.args)
    await conn.send_packed_command(command, check_health=False)


def _keep_recent(threads: OrderedDict[str, Any], thread_id: str) -> None:
    """Mark ``thread_id`` most recent; forget the oldest beyond :data:`_THREADS_KEPT`."""
    threads.move_to_end(thread_id)
    while len(threads) > _THREADS_KEPT:
        threads.popitem(last=False)


class ThreadsOnRedis:
    """What the outbox knows of the threads it published: their runs (to refill a
    lost stream) and how many subscribers heard each one's last message."""

    __slots__ = ("_anyone", "_heard", "_runs")

    def __init__(self) -> None:
        self._runs: OrderedDict[str, set[str]] = OrderedDict()
        # Thread -> how many subscribers heard its last live message; and whether
        # anyone heard the last message of any thread (for threads not sent yet).
        self._heard: OrderedDict[str, int] = OrderedDict()
        self._anyone = False

    def __contains__(self, thread_id: str) -> bool:
        return thread_id in self._runs

    def threads(self) -> list[str]:
        """The threads published, least recent first."""
        return list(self._runs)

    def runs(self, thread_id: str) -> list[str]:
        """The runs of ``thread_id`` published, sorted."""
        return sorted(self._runs.get(thread_id, ()))

    def published(self, thread_id: str, run_id: str) -> None:
        self._runs.setdefault(thread_id, set()).add(run_id)
        _keep_recent(self._runs, thread_id)

    def heard(self, thread_id: str, subscribers: int) -> None:
        """``subscribers`` got the thread's last live message."""
        self._heard[thread_id] = subscribers
        _keep_recent(self._heard, thread_id)
        self._anyone = subscribers > 0

    def followed(self, thread_id: str) -> bool:
        """See :meth:`RedisOutbox.followed`."""
        heard = self._heard.get(thread_id)
        return self._anyone if heard is None else heard > 0


def _report_failure(task: asyncio.Task[None]) -> None:
    """The outbox task ended on an error it does not wait out: say so (nothing else will)."""
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("events.outbox_failed", error=f"{type(exc).__name__}: {exc}")


class RedisOutbox:
    """Durable events on their way to Redis, in the order they were written.

    Script calls go on a connection of their own, in order: the bus's writer
    sends a call itself right after the log write (:meth:`send_now`), and the
    outbox task reads the replies; the task sends what the writer did not (what
    was written while a call awaited its reply, a backlog after a failure). A
    restarted Redis that lost the script gets it again (NOSCRIPT); one that lost
    a thread's stream gets it refilled from the log.

    Args:
        redis: the command client (:func:`new_redis_client` with
            ``socket_timeout=None``: its calls here are :func:`bounded`).
        prefix: first part of every key and channel.
        stream_maxlen: entries kept per thread stream.
        stream_ttl: seconds a thread's stream outlives its last event.
        max_outbox: events held while Redis is unreachable; beyond it the oldest
            are dropped (they are in the log).
        log: where streams lost in a Redis restart are refilled from.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        stream_maxlen: int,
        stream_ttl: int,
        max_outbox: int,
        log: EventLog | None,
    ) -> None:
        self.redis = redis
        # Its SHA for the hand-written calls; its ``__call__`` (NOSCRIPT handled) off the hot path.
        self._script = redis.register_script(PUBLISH_SCRIPT)
        self.prefix = prefix
        self.stream_maxlen = stream_maxlen
        self.stream_ttl = stream_ttl
        self.max_outbox = max_outbox
        self.log = log
        self._outbox: deque[Event] = deque()
        # JSON of pages written to the log and waiting in the outbox:
        # (thread, run, first seq) -> (last seq, JSON array).
        self._page_json: dict[tuple[str, str, int], tuple[int, str]] = {}
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._flusher: asyncio.Task[None] | None = None
        self._threads = ThreadsOnRedis()
        self._needs_reseed = False
        # The outbox's own connection. The writer sends calls on it itself
        # (:meth:`send_now`): no task switch between an event being durable and
        # its bytes leaving; the outbox task reads the replies.
        self._conn: AbstractConnection | None = None
        self._needs_script = True  # loaded before the first call, and after a NOSCRIPT
        # Calls sent on that connection whose replies are unread, oldest first;
        # they carry the first ``_wired`` events of the outbox.
        self._on_wire: deque[_Call] = deque()
        self._wired = 0
        # The task makes a call that is not in ``_on_wire`` (loading the script,
        # refilling streams) or recovers from a failure: nobody else sends.
        self._exclusive = True

    async def drained(self) -> None:
        """Wait until every event added so far is on Redis."""
        await self._drained.wait()

    async def aclose(self, flush_timeout: float) -> None:
        """Push what waits (for at most ``flush_timeout`` seconds), then stop."""
        if self._outbox:
            try:
                await asyncio.wait_for(self.drained(), flush_timeout)
            except TimeoutError:
                log.warning(
                    "events.unpublished_at_close",
                    events=len(self._outbox),
                    hint="they are in the SurrealDB log",
                )
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.disconnect()
            await self.redis.connection_pool.release(conn)

    def add(self, events: list[Event], pages: Sequence[WrittenPage]) -> None:
        """Queue durable events for Redis; ``pages``: the log pages they were written in."""
        # Redis carries the same JSON arrays as the log's pages: no second
        # serialisation (BENCHMARKS.md).
        for page in pages:
            first, last = page.events[0], page.events[-1]
            self._page_json[(first.thread_id, first.run_id, first.seq)] = (last.seq, page.json)
        self._outbox.extend(events)
        overflow = len(self._outbox) - self.max_outbox
        if overflow > 0:
            for _ in range(overflow):
                self._outbox.popleft()
            self._wired -= min(overflow, self._wired)  # what calls on the wire carried
            self._page_json.clear()  # bounded by what the outbox holds
            log.error(
                "events.outbox_full",
                dropped=overflow,
                hint="Redis has been unreachable long; the dropped events are in the SurrealDB log only",
            )
        self._drained.clear()
        self._wakeup.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="sentient-event-outbox")
            self._flusher.add_done_callback(_report_failure)

    async def send_now(self, *, pipelined: bool = False) -> None:
        """Send what was just added, from the caller's task, as one call.

        The writer calls this right after :meth:`add`: the script call's bytes leave
        before the event loop turns, instead of after the outbox task's turn
        behind the graph's queued work. The outbox task reads the replies, in order.

        Only when no call awaits its reply, unless ``pipelined`` (a node start
        someone follows): then up to :data:`_MAX_ON_WIRE` calls may. Otherwise
        the events wait for the reply and go with those written meanwhile, in
        one call (a call per write slows a stream of awaited publishes,
        BENCHMARKS.md). Not while the task recovers from
        a failure or makes a call of its own: it sends the events itself then.
        A send waits on Redis only once the socket's buffers are full (a hung
        Redis, large calls), and at most :data:`~sentient_graph.events.redis.client.REDIS_TIMEOUT`.
        """
        unsent = len(self._outbox) - self._wired
        on_wire = len(self._on_wire)
        if (
            self._exclusive
            or not 0 < unsent <= _SEND_BATCH
            or on_wire >= (_MAX_ON_WIRE if pipelined else 1)
        ):
            return
        conn = self._conn
        if conn is None or not conn.is_connected:
            return
        try:
            await bounded(self._put_next(conn))
        except redis_errors():
            return  # redis-py dropped the connection; the outbox task sends again

    async def _flush_loop(self) -> None:
        # An error reply other than NOSCRIPT (out of memory, a read-only replica)
        # is waited out like an outage: the events stay here until Redis takes them.
        errors = (*redis_errors(), refused_error())
        delay = BACKOFF_START
        failures = 0
        while True:
            if not self._outbox:
                self._page_json.clear()
                self._drained.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                if not self._on_wire:
                    self._exclusive = True
                    if self._needs_script:
                        await bounded(self.redis.script_load(self._script.script))
                        self._needs_script = False
                    if self._needs_reseed:
                        await self._reseed()
                        self._needs_reseed = False
                    # Others send once this call is out: a reconnect's handshake is
                    # over, and its replies read.
                    await bounded(self._put_next(await self._connection()))
                    self._exclusive = False
                replies = await bounded(self._reply())
                call = self._on_wire.popleft()
                for sent in call.events:
                    # An overflow may have dropped events meanwhile: pop by identity.
                    if self._outbox and self._outbox[0] is sent:
                        self._outbox.popleft()
                        self._wired -= 1
                await self._settle(call, replies)
            except asyncio.CancelledError:
                raise
            except no_script_error():
                # A restarted Redis lost the script: nothing ran; load it, send again.
                self._needs_script = True
                await self._lose_wire(drop=len(self._on_wire) > 1)
                continue
            except errors as exc:
                failures += 1
                self._needs_reseed = True
                await self._lose_wire(drop=True)
                if failures == 1:
                    log.warning(
                        "events.redis_publish_failed",
                        error=str(exc) or type(exc).__name__,
                        waiting=len(self._outbox),
                    )
                await asyncio.sleep(delay)  # reconnect backoff; events wait in the outbox
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            if failures:
                log.info("events.redis_publish_resumed", after_failures=failures)
            failures = 0
            delay = BACKOFF_START

    async def _connection(self) -> AbstractConnection:
        if self._conn is None:
            self._conn = await bounded(pool_connection(self.redis.connection_pool))
        assert self._conn is not None  # typed Optional by redis-py; a pool always gives one
        return self._conn

    async def _drop_connection(self) -> None:
        """After a failure: a reply may be half read; the next call reconnects."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.disconnect(nowait=True)

    async def _put_next(self, conn: AbstractConnection) -> None:
        """Send the outbox's next events that no call carries yet, as one call."""
        batch = list(itertools.islice(self._outbox, self._wired, self._wired + _SEND_BATCH))
        call = self._call(batch, live=True)
        # Registered before its bytes leave: a reply may come before ``_put`` returns.
        self._on_wire.append(call)
        self._wired += len(batch)
        await _put(conn, self._script.sha, call)

    async def _lose_wire(self, *, drop: bool) -> None:
        """Forget the calls on the wire (their events go again); ``drop``: a reply
        may be half read or still coming, so the next call reconnects."""
        self._on_wire.clear()
        self._wired = 0
        self._exclusive = True
        if drop:
            await self._drop_connection()

    async def _reply(self) -> Any:
        conn = await self._connection()
        return await conn.read_response()

    async def _send(self, call: _Call) -> None:
        """One script call and its reply, while nothing is on the outbox's connection."""
        replies = await bounded(self._script(keys=call.keys, args=call.args, client=self.redis))
        await self._settle(call, replies)

    def _call(self, batch: list[Event], *, live: bool) -> _Call:
        """The script call for ``batch``: per run in it, one stream entry and one message for all its events."""
        groups: dict[tuple[str, str], list[Event]] = {}
        for event in batch:
            groups.setdefault((event.thread_id, event.run_id), []).append(event)
        keys: list[str] = []
        args: list[Any] = [self.stream_ttl, self.stream_maxlen, int(live)]
        threads: list[tuple[str, bool]] = []
        for (thread_id, run_id), events in groups.items():
            # A stream we wrote before is appended to only if it still exists:
            # if it is gone, a Redis restart lost it (nothing is kept on disk
            # here) and it is refilled from the log below.
            known = live and thread_id in self._threads
            threads.append((thread_id, known))
            keys += [stream_name(self.prefix, thread_id), channel_name(self.prefix, thread_id)]
            args += [run_id, events[-1].seq, self._json_of(events), int(known)]
        return _Call(batch, live, threads, list(groups), keys, args)

    async def _settle(self, call: _Call, replies: list[int]) -> None:
        """Note who heard what, which runs each thread has on Redis, and refill lost streams."""
        lost: set[str] = set()
        for (thread_id, known), ok, heard in zip(
            call.threads, replies[::2], replies[1::2], strict=True
        ):
            if known and not ok:
                lost.add(thread_id)
            if call.live:
                self._threads.heard(thread_id, int(heard))
        for thread_id, run_id in call.runs:
            self._threads.published(thread_id, run_id)
        if not lost:
            return
        if self._on_wire:
            # Refilling needs the connection to itself: the later calls go again after it.
            self._needs_reseed = True
            await self._lose_wire(drop=True)
            return
        self._exclusive = True
        for thread_id in sorted(lost):
            await self._reseed_thread(thread_id)
        self._exclusive = False

    def _json_of(self, events: list[Event]) -> str:
        """The JSON array of a run's consecutive events: the log's pages when they tile
        them exactly, else serialised anew (after an overflow, or a refused event)."""
        first, last = events[0], events[-1]
        if last.seq - first.seq + 1 == len(events):
            parts: list[str] = []
            seq = first.seq
            while seq <= last.seq:
                cached = self._page_json.pop((first.thread_id, first.run_id, seq), None)
                if cached is None or cached[0] > last.seq:
                    break
                parts.append(cached[1][1:-1])
                seq = cached[0] + 1
            else:
                return "[" + ",".join(parts) + "]"
        return events_to_json(events)

    def followed(self, thread_id: str) -> bool:
        """Whether someone follows the thread on Redis, as far as its last message tells.

        ``PUBLISH`` answers how many subscribers got a message, those of the
        thread's channel and those following every thread alike. A thread with
        no message yet counts as followed if the last message of any thread was
        heard. A follower that arrives is noticed at the thread's next message.
        """
        return self._threads.followed(thread_id)

    async def _reseed(self) -> None:
        """After an outage: refill streams that a Redis restart emptied, from the log."""
        threads = self._threads.threads()
        if not threads:
            return
        pipe = self.redis.pipeline(transaction=False)
        for thread_id in threads:
            pipe.exists(stream_name(self.prefix, thread_id))
        found = await bounded(pipe.execute())
        for thread_id, exists in zip(threads, found, strict=True):
            if not exists:
                await self._reseed_thread(thread_id)

    async def _reseed_thread(self, thread_id: str) -> None:
        if self.log is None:
            return
        history: list[Event] = []
        for run_id in self._threads.runs(thread_id):
            history += await self.log.replay(thread_id, run_id=run_id)
        history = order_events(history)[-self.stream_maxlen :]
        for start in range(0, len(history), _SEND_BATCH):
            await self._send(self._call(history[start : start + _SEND_BATCH], live=False))
        log.info("events.redis_stream_reseeded", thread_id=thread_id, events=len(history))
