"""Redis, the following side: live messages of a channel, and history from the streams.

Owns :class:`RedisFollower` (subscribe to one thread's channel or every
thread's pattern, hand each message's events over, resubscribe after any
outage for as long as it runs) and :func:`read_streams` (the events of one or
every thread's stream, a page of every stream per round trip).

Must not: order, deduplicate or gap-fill events (a subscription does that:
:mod:`sentient_graph.events.subscription`), publish, or read the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import structlog

from sentient_graph.errors import RedisUnavailable
from sentient_graph.events.log import order_events
from sentient_graph.events.model import Event, events_from_json
from sentient_graph.events.redis.client import (
    BACKOFF_MAX,
    BACKOFF_START,
    bounded,
    new_redis_client,
    redis_errors,
)
from sentient_graph.events.redis.keys import (
    channel_name,
    stream_name,
    stream_pattern,
    thread_pattern,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisFollower", "read_streams"]

log = structlog.get_logger(__name__)

#: Entries of a thread's Redis stream read per request.
_STREAM_PAGE = 1000
#: Failed attempts before a follower that never attached reports Redis unavailable.
_ATTEMPTS_BEFORE_GIVING_UP = 3


class RedisFollower:
    """Follows one thread's channel (or every thread's) on Redis, reconnecting forever.

    Args:
        url: the Redis server.
        prefix: first part of every channel.
        thread_id: one thread, or ``None`` for every thread of ``prefix``.
        on_attached: called each time the (re)subscription is in place: what
            was published while it was not must be fetched from history.
        on_events: called with the events of each message, in arrival order.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        thread_id: str | None,
        *,
        on_attached: Callable[[], None],
        on_events: Callable[[list[Event]], None],
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.thread_id = thread_id
        self._on_attached = on_attached
        self._on_events = on_events

    async def run(self) -> None:
        """Follow until cancelled.

        Raises:
            RedisUnavailable: the first subscription never got in place.
        """
        errors = redis_errors()
        delay = BACKOFF_START
        failures = 0
        attached = False
        while True:
            client = new_redis_client(self.url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                if self.thread_id is None:
                    await pubsub.psubscribe(thread_pattern(self.prefix))
                else:
                    await pubsub.subscribe(channel_name(self.prefix, self.thread_id))
                if failures:
                    log.info("events.redis_resubscribed", after_failures=failures)
                failures = 0
                delay = BACKOFF_START
                attached = True
                self._on_attached()
                async for message in pubsub.listen():
                    if message.get("type") not in ("message", "pmessage"):
                        continue
                    try:
                        events = events_from_json(message["data"])
                    except ValueError as exc:
                        log.warning("events.bad_message", error=str(exc))
                        continue
                    self._on_events(events)
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
                if not attached and failures >= _ATTEMPTS_BEFORE_GIVING_UP:
                    raise RedisUnavailable(
                        f"no Redis server answers at {self.url}: {exc} (start one, or unset REDIS_URL)"
                    ) from None
                await asyncio.sleep(delay)  # reconnect backoff
                delay = min(delay * 2, BACKOFF_MAX)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()


def _decode_entries(
    entries: Iterable[tuple[Any, Any]],
    floors: dict[str, int],
    default_floor: int,
) -> list[Event]:
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


async def _stream_keys(redis: Redis, prefix: str) -> list[str]:
    keys: list[str] = []
    cursor = None
    while cursor != 0:
        cursor, found = await bounded(
            redis.scan(cursor or 0, match=stream_pattern(prefix), count=500)
        )
        keys += [key.decode() if isinstance(key, bytes) else key for key in found]
    return list(dict.fromkeys(keys))  # SCAN may return a key twice


async def read_streams(
    redis: Redis,
    prefix: str,
    thread_id: str | None,
    run_id: str | None,
    floors: dict[str, int],
    default_floor: int,
) -> list[Event]:
    """Events in the streams of one thread (or every thread) after the per-run floors.

    Args:
        redis: a command client (its calls are :func:`bounded`).
        prefix: first part of every key.
        thread_id: one thread, or ``None`` for every stream of ``prefix``.
        run_id: one run only, or ``None``.
        floors: per run, the seq the caller has up to.
        default_floor: the floor of runs not in ``floors``.

    Returns:
        The events in seq order per run, each ``(run_id, seq)`` once.
    """
    if thread_id is not None:
        keys = [stream_name(prefix, thread_id)]
    else:
        keys = await _stream_keys(redis, prefix)
    events: list[Event] = []
    # Every stream's next page in one round trip: a follower of every thread
    # asks once per page, not once per thread.
    starts: dict[str, Any] = dict.fromkeys(keys, "-")
    while starts:
        pipe = redis.pipeline(transaction=False)
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
