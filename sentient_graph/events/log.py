"""The durable event log: the SurrealDB ``event`` table, the truth about what happened.

Owns: every SurrealQL statement that touches ``event`` and ``event_migration``
(schema, append, replay, purge), and the record-id layout
``event:[thread_id, run_id, seq]`` that makes "events of one run after seq n"
a range scan whose cost does not grow with history.

Must not: publish anything (that is :mod:`sentient_graph.events.bus`), open a
connection (callers pass one from :func:`sentient_graph.db.connect`), or format
a value into SurrealQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from surrealdb import RecordID

from sentient_graph.db import AsyncConnection
from sentient_graph.events.model import Event, EventFilter, EventType, Priority

__all__ = ["EVENT_MIGRATIONS", "EventLog"]

log = structlog.get_logger(__name__)

#: Append-only: a migration's position (from 1) is its version. Each statement
#: is idempotent so that two processes running ``setup()`` at once both succeed.
EVENT_MIGRATIONS: tuple[str, ...] = (
    """
    DEFINE TABLE IF NOT EXISTS event SCHEMALESS;
    DEFINE INDEX IF NOT EXISTS event_thread_type ON event FIELDS thread_id, type;
    DEFINE INDEX IF NOT EXISTS event_time ON event FIELDS timestamp;
    DEFINE INDEX IF NOT EXISTS event_expires ON event FIELDS expires_at;
    """,
)

_DEFINE_MIGRATION_TABLE = "DEFINE TABLE IF NOT EXISTS event_migration SCHEMALESS;"
_APPLIED_MIGRATIONS = "SELECT VALUE version FROM event_migration;"
_RECORD_MIGRATION = "UPSERT type::record('event_migration', $version) CONTENT { version: $version, applied_at: time::now() } RETURN NONE;"

# The whole event travels as its JSON in ``json``: SurrealDB would drop ``None``
# values and refuse integers beyond 64 bits in payloads. The other fields are
# copies kept only so that queries can filter and indexes can find.
_INSERT = "INSERT INTO event $rows RETURN NONE;"

_RANGE_RUN = "SELECT json, timestamp FROM event:[$thread_id, $run_id, $after_seq]>..[$thread_id, $run_id, ..]"
_RANGE_THREAD = "SELECT json, timestamp FROM event:[$thread_id, NONE]..[$thread_id, ..]"
_BY_RUN = "SELECT json, timestamp FROM event"
_ALL = "SELECT json, timestamp FROM event"

_LAST_SEQ = "SELECT VALUE seq FROM event:[$thread_id, $run_id, NONE]..[$thread_id, $run_id, ..] ORDER BY seq DESC LIMIT 1;"

_PURGE = """
LET $gone = (SELECT VALUE id FROM event WHERE expires_at != NONE AND expires_at != NULL AND expires_at < $now);
DELETE $gone;
RETURN array::len($gone);
"""

_THREADS = "SELECT thread_id, time::max(timestamp) AS last FROM event GROUP BY thread_id;"


def _row(event: Event) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": RecordID("event", [event.thread_id, event.run_id, event.seq]),
        "thread_id": event.thread_id,
        "run_id": event.run_id,
        "seq": event.seq,
        "type": event.type.value,
        "priority": event.priority.rank,
        "timestamp": event.timestamp,
        "json": event.to_json(),
    }
    # Absent rather than NULL: the purge keeps events without an expiry.
    if event.source is not None:
        row["source"] = event.source
    if event.expires_at is not None:
        row["expires_at"] = event.expires_at
    return row


def order_events(events: Iterable[Event]) -> list[Event]:
    """Events grouped by run (runs in the order they started), each run by seq."""
    items = list(events)
    first: dict[str, datetime] = {}
    for e in items:
        if e.run_id not in first or e.timestamp < first[e.run_id]:
            first[e.run_id] = e.timestamp
    return sorted(items, key=lambda e: (first[e.run_id], e.run_id, e.seq))


class EventLog:
    """The ``event`` table of one SurrealDB database.

    Args:
        conn: an open connection from :func:`sentient_graph.db.connect`; the
            log never closes it.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @property
    def conn(self) -> AsyncConnection:
        """The connection this log writes through."""
        return self._conn

    async def setup(self) -> None:
        """Create the schema (idempotent) and record the applied migrations."""
        await self._conn.query(_DEFINE_MIGRATION_TABLE)
        applied = set((await self._conn.query(_APPLIED_MIGRATIONS))[0] or [])
        for version, statements in enumerate(EVENT_MIGRATIONS, start=1):
            if version in applied:
                continue
            await self._conn.query(statements)
            await self._conn.query(_RECORD_MIGRATION, {"version": version})
            log.debug("events.migrated", version=version)

    async def append(self, event: Event) -> None:
        """Write one event durably; returns once it is in the store.

        Raises:
            ValueError: the event has no sequence number yet (``seq`` 0).
            QueryFailed: the store refused it (e.g. that ``(thread, run, seq)``
                already holds another event).
        """
        await self.append_many([event])

    async def append_many(self, events: Sequence[Event]) -> None:
        """Write several events in one statement: all of them, or none (then it raises)."""
        if not events:
            return
        for event in events:
            if event.seq < 1:
                raise ValueError(
                    f"event {event.type} of run {event.run_id!r} has no seq; emit it through RunEmitter"
                )
        await self._conn.query(_INSERT, {"rows": [_row(e) for e in events]})

    async def replay(
        self,
        thread_id: str | None = None,
        *,
        run_id: str | None = None,
        after_seq: int = 0,
        types: Iterable[EventType | str] | EventType | str | None = None,
        source: Iterable[str] | str | None = None,
        min_priority: Priority | str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Stored events, runs in the order they started, each run by ``seq``.

        Args:
            thread_id: one thread, or ``None`` for every thread.
            run_id: one run, or ``None`` for every run of the thread(s). Give
                its thread too: a run id alone scans the table.
            after_seq: keep events whose ``seq`` is greater, in every run matched.
            types: keep only these event types.
            source: keep only events from these nodes/agents.
            min_priority: keep events at least this urgent.
            since: keep events timestamped at or after this time.
            limit: at most this many events (the first ones in order).

        With ``thread_id`` and ``run_id`` this is a record-range scan: its cost
        depends on the events returned, not on the size of the history.
        """
        filt = EventFilter.build(
            thread_id, run_id=run_id, types=types, source=source, min_priority=min_priority
        )
        conditions: list[str] = []
        params: dict[str, Any] = {"after_seq": int(after_seq)}
        if thread_id is not None and run_id is not None:
            sql = _RANGE_RUN
            params.update(thread_id=thread_id, run_id=run_id)
        elif thread_id is not None:
            sql = _RANGE_THREAD
            params["thread_id"] = thread_id
            conditions.append("seq > $after_seq")
        elif run_id is not None:
            sql = _BY_RUN
            params["run_id"] = run_id
            conditions += ["run_id = $run_id", "seq > $after_seq"]
        else:
            sql = _ALL
            conditions.append("seq > $after_seq")
        if filt.types is not None:
            conditions.append("type IN $types")
            params["types"] = sorted(t.value for t in filt.types)
        if filt.source is not None:
            conditions.append("source IN $sources")
            params["sources"] = sorted(filt.source)
        if filt.min_priority is not None:
            conditions.append("priority >= $min_rank")
            params["min_rank"] = filt.min_priority.rank
        if since is not None:
            conditions.append("timestamp >= $since")
            params["since"] = since
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        rows = (await self._conn.query(sql + ";", params))[0] or []
        events = order_events(Event.from_json(row["json"]) for row in rows)
        return events[:limit] if limit is not None else events

    async def last_seq(self, thread_id: str, run_id: str) -> int:
        """The highest ``seq`` stored for a run, 0 if it has none (to resume numbering)."""
        rows = (await self._conn.query(_LAST_SEQ, {"thread_id": thread_id, "run_id": run_id}))[0]
        return int(rows[0]) if rows else 0

    async def threads(self) -> list[tuple[str, datetime]]:
        """Every thread with events and the time of its latest one, newest first."""
        rows = (await self._conn.query(_THREADS))[0] or []
        out = [(row["thread_id"], row["last"]) for row in rows]
        return sorted(out, key=lambda item: item[1], reverse=True)

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete events whose ``expires_at`` has passed; return how many went."""
        moment = now or datetime.now(UTC)
        result = await self._conn.query(_PURGE, {"now": moment})
        return int(result[-1] or 0)
