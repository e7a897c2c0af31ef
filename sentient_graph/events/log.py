"""The durable event log: the SurrealDB ``event`` table, the truth about what happened.

Owns: every SurrealQL statement that touches ``event`` (schema steps for
the shared migrator, append, replay, purge), and the row layout.

A row is a *page*: consecutive events of one run (``seq`` first..last, at most
:data:`PAGE_SIZE`), written together, with record id
``event:[thread_id, run_id, last_seq]``. "Events of one run after seq n" is then
a record-range scan (``> [thread, run, n]``) whose cost does not grow with
history, and each event costs the engine a share of one row instead of a row
of its own (its id and its index entries; BENCHMARKS.md, "Events: where the
time goes", compares the two). The copies that queries filter on are per page: ``types`` and
``sources`` (the distinct values in it), ``priority`` (the highest rank),
``timestamp`` (the last event's), ``expires_at`` (the earliest expiry); replay
narrows by them in SurrealQL and keeps exactly the matching events in Python.

Must not: publish anything (that is :mod:`sentient_graph.events.bus`), open a
connection (callers pass one from :func:`sentient_graph.db.connect`), or format
a value into SurrealQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import structlog
from surrealdb import RecordID

from sentient_graph.db import AsyncConnection
from sentient_graph.events.model import (
    Event,
    EventFilter,
    EventType,
    Priority,
    events_from_json,
    events_to_json,
)
from sentient_graph.surreal.migrations import Migrations, migrate

__all__ = [
    "EVENT_MIGRATIONS",
    "EVENT_SCHEMA",
    "PAGE_SIZE",
    "ROWS_PER_INSERT",
    "EventLog",
    "WrittenPage",
    "insert_groups",
    "pages",
]

log = structlog.get_logger(__name__)

#: Most events one row holds (a run's events written together are split beyond it).
PAGE_SIZE = 256

#: Most rows the writer puts in one ``INSERT``. The engine's cost per row grows
#: with the size of the statement's transaction, so a large group of events is
#: written as several (BENCHMARKS.md, "Concurrent runs").
ROWS_PER_INSERT = 16

#: Append-only: a migration's position (from 1) is its version. Each statement
#: is idempotent so that two processes running ``setup()`` at once both succeed.
EVENT_MIGRATIONS: tuple[str, ...] = (
    """
    DEFINE TABLE IF NOT EXISTS event SCHEMALESS;
    DEFINE INDEX IF NOT EXISTS event_thread_type ON event FIELDS thread_id, type;
    DEFINE INDEX IF NOT EXISTS event_time ON event FIELDS timestamp;
    DEFINE INDEX IF NOT EXISTS event_expires ON event FIELDS expires_at;
    """,
    # v2: one row per page of events instead of one per event. A v1 row is a page
    # of one: its id already ends in its seq; its JSON becomes a one-element array.
    """
    UPDATE event SET
        first_seq = seq,
        types = [type],
        sources = array::filter([source], |$v| $v != NONE),
        json = '[' + json + ']',
        type = NONE,
        source = NONE
    WHERE first_seq = NONE RETURN NONE;
    DEFINE INDEX OVERWRITE event_thread_type ON event FIELDS thread_id, types;
    """,
    # v3: no index on thread and types. Every read of a thread is a record-id range
    # and a read of all threads a table scan: no query used it, and each insert
    # paid for it (BENCHMARKS.md, "Concurrent runs").
    """
    REMOVE INDEX IF EXISTS event_thread_type ON event;
    """,
)

#: The log's schema for the shared migrator; stores set up before it recorded
#: their versions in ``event_migration``, adopted once.
EVENT_SCHEMA = Migrations("event", EVENT_MIGRATIONS, legacy_table="event_migration")

# The events travel as their JSON array in ``json``: SurrealDB would drop ``None``
# values and refuse integers beyond 64 bits in payloads. The other fields are
# per-page copies kept only so that queries can filter and indexes can find.
_INSERT = "INSERT INTO event $rows RETURN NONE;"

_RANGE_RUN = "SELECT json FROM event:[$thread_id, $run_id, $after_seq]>..[$thread_id, $run_id, ..]"
_RANGE_THREAD = "SELECT json FROM event:[$thread_id, NONE]..[$thread_id, ..]"
_BY_RUN = "SELECT json FROM event"
_ALL = "SELECT json FROM event"

_LAST_SEQ = "SELECT VALUE seq FROM event:[$thread_id, $run_id, NONE]..[$thread_id, $run_id, ..] ORDER BY seq DESC LIMIT 1;"

# ``expires_at`` of a page is its earliest expiry: these pages hold at least one
# expired event. Whole pages go; the others are written again without the expired.
_EXPIRED_PAGES = "SELECT id, json FROM event WHERE expires_at != NONE AND expires_at != NULL AND expires_at < $now;"
# A page written again under its own id is updated in place: the engine refuses
# to insert an id that the same transaction deleted.
_REWRITE_PAGES = """
BEGIN TRANSACTION;
DELETE $gone;
INSERT INTO event $rows ON DUPLICATE KEY UPDATE
    first_seq = $input.first_seq, types = $input.types, sources = $input.sources,
    priority = $input.priority, timestamp = $input.timestamp, json = $input.json,
    expires_at = $input.expires_at
RETURN NONE;
COMMIT TRANSACTION;
"""

_THREADS = "SELECT thread_id, time::max(timestamp) AS last FROM event GROUP BY thread_id;"


def pages(events: Iterable[Event]) -> list[list[Event]]:
    """Split events into pages: runs of consecutive ``seq`` of one run, in order.

    Events of different runs may be interleaved in ``events``; each run's
    events keep their order. A page breaks where ``seq`` does not follow on,
    and after :data:`PAGE_SIZE` events.
    """
    open_pages: dict[tuple[str, str], list[Event]] = {}
    done: list[list[Event]] = []
    for event in events:
        key = (event.thread_id, event.run_id)
        page = open_pages.get(key)
        if page is not None and (event.seq != page[-1].seq + 1 or len(page) >= PAGE_SIZE):
            done.append(page)
            page = None
        if page is None:
            page = open_pages[key] = []
        page.append(event)
    return done + list(open_pages.values())


def insert_groups(events: Iterable[Event]) -> list[list[list[Event]]]:
    """The :func:`pages` of ``events`` in groups of at most :data:`ROWS_PER_INSERT`.

    Each group is one :meth:`EventLog.append_pages`; a run's pages keep their
    order across the groups.
    """
    all_pages = pages(events)
    return [
        all_pages[start : start + ROWS_PER_INSERT]
        for start in range(0, len(all_pages), ROWS_PER_INSERT)
    ]


class WrittenPage(NamedTuple):
    """A page as :meth:`EventLog.append_many` wrote it: its events and their JSON array."""

    events: Sequence[Event]
    json: str


def _written_pages(page_list: Iterable[list[Event]]) -> list[WrittenPage]:
    """Each page with its JSON array (the row's ``json``)."""
    return [WrittenPage(page, events_to_json(page)) for page in page_list]


def _row(written: WrittenPage) -> dict[str, Any]:
    page, json = written
    first, last = page[0], page[-1]
    row: dict[str, Any] = {
        "id": RecordID("event", [last.thread_id, last.run_id, last.seq]),
        "thread_id": last.thread_id,
        "run_id": last.run_id,
        "seq": last.seq,
        "first_seq": first.seq,
        "types": sorted({e.type.value for e in page}),
        "sources": sorted({e.source for e in page if e.source is not None}),
        "priority": max(e.priority.rank for e in page),
        "timestamp": max(e.timestamp for e in page),
        "json": json,
    }
    expiries = [e.expires_at for e in page if e.expires_at is not None]
    # Absent rather than NULL when nothing in the page expires: the purge skips it.
    if expiries:
        row["expires_at"] = min(expiries)
    return row


def _insert(page_list: Sequence[list[Event]]) -> tuple[list[WrittenPage], dict[str, Any]]:
    """The pages with their JSON, and the parameters of their ``INSERT``."""
    for page in page_list:
        for event in page:
            if event.seq < 1:
                raise ValueError(
                    f"event {event.type} of run {event.run_id!r} has no seq; "
                    "emit it through RunEmitter"
                )
    written = _written_pages(page_list)
    return written, {"rows": [_row(page) for page in written]}


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
        """Create or upgrade the schema (idempotent; the shared migrator records it)."""
        await migrate(self._conn, EVENT_SCHEMA)

    async def append(self, event: Event) -> None:
        """Write one event durably; returns once it is in the store.

        Raises:
            ValueError: the event has no sequence number yet (``seq`` 0).
            QueryFailed: the store refused it (e.g. that ``(thread, run, seq)``
                already holds another event).
        """
        await self.append_many([event])

    async def append_many(
        self, events: Sequence[Event], *, at_once: bool = False
    ) -> list[WrittenPage]:
        """Write several events in one statement: all of them, or none (then it raises).

        Consecutive events of one run share a row (see :func:`pages`); a page
        whose last ``seq`` is already stored for that run is refused. Returns
        the pages written, with their JSON, which the bus reuses for Redis.

        ``at_once``: where the connection allows it (a free embedded one), write
        on the caller's thread and return without giving the event loop a turn
        first, as a query otherwise does; the bus's writer hands events on to
        live delivery this way, one loop turn sooner.
        """
        return await self.append_pages(pages(events), at_once=at_once)

    async def append_pages(
        self, page_list: Sequence[list[Event]], *, at_once: bool = False
    ) -> list[WrittenPage]:
        """:meth:`append_many` of events already split into pages (:func:`pages`,
        :func:`insert_groups`): one statement, all of them or none."""
        written, params = _insert(page_list)
        if written and (not at_once or self._conn.query_now(_INSERT, params) is None):
            await self._conn.query(_INSERT, params)
        return written

    def append_now(self, events: Sequence[Event]) -> list[WrittenPage] | None:
        """:meth:`append_many` on the caller's thread, returning before the event loop
        turns; ``None``, with nothing written, where that cannot be (a busy or
        remote connection, a conflict to retry)."""
        written, params = _insert(pages(events))
        if written and self._conn.query_now(_INSERT, params) is None:
            return None
        return written

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
        # The page fields narrow in SurrealQL (a page qualifies if any of its
        # events may); the events themselves are matched exactly below.
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
            conditions.append("types CONTAINSANY $types")
            params["types"] = sorted(t.value for t in filt.types)
        if filt.source is not None:
            conditions.append("sources CONTAINSANY $sources")
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
        # An index scan over an array field can return a row once per element: keep
        # one event per (run, seq).
        found: dict[tuple[str, int], Event] = {}
        for row in rows:
            for event in events_from_json(row["json"]):
                if (
                    event.seq > after_seq
                    and filt.matches(event)
                    and (since is None or event.timestamp >= since)
                ):
                    found[event.key] = event
        events = order_events(found.values())
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
        """Delete events whose ``expires_at`` has passed; return how many went.

        A page holding only expired events is deleted; one that also holds
        live events is written again without the expired ones, in the same
        transaction.
        """
        moment = now or datetime.now(UTC)
        rows = (await self._conn.query(_EXPIRED_PAGES, {"now": moment}))[0] or []
        kept: list[Event] = []
        removed = 0
        for row in rows:
            for event in events_from_json(row["json"]):
                if event.expires_at is not None and event.expires_at < moment:
                    removed += 1
                else:
                    kept.append(event)
        if rows:
            rewritten = [_row(page) for page in _written_pages(pages(kept))]
            ids = {row["id"] for row in rewritten}
            gone = [row["id"] for row in rows if row["id"] not in ids]
            await self._conn.query(_REWRITE_PAGES, {"gone": gone, "rows": rewritten})
        return removed
