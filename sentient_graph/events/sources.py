"""Where history comes from: the SurrealDB log, or (without it) the Redis streams.

Owns :class:`HistorySource`, the one question a subscription asks of history
("events after these per-run floors") and the bus's :meth:`replay`, answered
by :class:`LogHistory` (everything, until it expires) or
:class:`StreamHistory` (the last entries of each thread's Redis stream: what a
process gets that cannot open the store).

Must not: order live delivery, fill gaps or deduplicate (a subscription does),
or write anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sentient_graph.events.log import EventLog
from sentient_graph.events.model import Event, EventFilter, EventType, Priority
from sentient_graph.events.redis.follower import read_streams

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["HistorySource", "LogHistory", "StreamHistory"]


class HistorySource(Protocol):
    """Past events of runs, by thread and per-run floor."""

    async def after(
        self,
        thread_id: str | None,
        run_id: str | None,
        floors: dict[str, int],
        default_floor: int,
        since: datetime | None,
    ) -> list[Event]:
        """Events of one thread (or all) and one run (or all) whose seq is above
        their run's floor (``default_floor`` for runs not in ``floors``), in seq
        order per run. ``since``: a source may leave out runs older than it."""
        ...

    async def replay(
        self,
        thread_id: str | None,
        *,
        run_id: str | None,
        after_seq: int,
        types: Iterable[EventType | str] | EventType | str | None,
        source: Iterable[str] | str | None,
        min_priority: Priority | str | None,
    ) -> list[Event]:
        """What :meth:`EventBus.replay` returns."""
        ...


class LogHistory:
    """History from the SurrealDB log."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    async def after(
        self,
        thread_id: str | None,
        run_id: str | None,
        floors: dict[str, int],
        default_floor: int,
        since: datetime | None,
    ) -> list[Event]:
        if run_id is not None:
            after = floors.get(run_id, default_floor)
            return await self.log.replay(thread_id, run_id=run_id, after_seq=after)
        events = await self.log.replay(
            thread_id, after_seq=min([default_floor, *floors.values()]), since=since
        )
        return [e for e in events if e.seq > floors.get(e.run_id, default_floor)]

    async def replay(
        self,
        thread_id: str | None,
        *,
        run_id: str | None,
        after_seq: int,
        types: Iterable[EventType | str] | EventType | str | None,
        source: Iterable[str] | str | None,
        min_priority: Priority | str | None,
    ) -> list[Event]:
        return await self.log.replay(
            thread_id,
            run_id=run_id,
            after_seq=after_seq,
            types=types,
            source=source,
            min_priority=min_priority,
        )


class StreamHistory:
    """History from the Redis streams of ``prefix`` (see :mod:`~sentient_graph.events.redis.keys`)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def after(
        self,
        thread_id: str | None,
        run_id: str | None,
        floors: dict[str, int],
        default_floor: int,
        since: datetime | None,
    ) -> list[Event]:
        return await read_streams(self.redis, self.prefix, thread_id, run_id, floors, default_floor)

    async def replay(
        self,
        thread_id: str | None,
        *,
        run_id: str | None,
        after_seq: int,
        types: Iterable[EventType | str] | EventType | str | None,
        source: Iterable[str] | str | None,
        min_priority: Priority | str | None,
    ) -> list[Event]:
        filt = EventFilter.build(
            thread_id, run_id=run_id, types=types, source=source, min_priority=min_priority
        )
        events = await read_streams(self.redis, self.prefix, thread_id, run_id, {}, after_seq)
        return [e for e in events if filt.matches(e)]
