"""The event model and the SurrealDB log, without a bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from surrealdb import RecordID

from sentient_graph.db import AsyncConnection, QueryFailed
from sentient_graph.events import Event, EventFilter, EventLog, EventType, Priority
from sentient_graph.events.log import EVENT_MIGRATIONS, PAGE_SIZE, pages


def test_event_json_round_trip_keeps_awkward_payloads() -> None:
    event = Event(
        type="node_failed",
        thread_id="t|a",
        run_id="r",
        seq=3,
        payload={"error": ValueError("boom"), "none": None, "big": 2**70, "nested": {"a": [1, 2]}},
    )
    again = Event.from_json(event.to_json())
    assert again == event
    assert again.payload == {
        "error": "ValueError('boom')",
        "none": None,
        "big": 2**70,
        "nested": {"a": [1, 2]},
    }
    assert again.type is EventType.NODE_FAILED
    assert again.timestamp.tzinfo is not None


def test_priority_order_is_by_rank_not_alphabet() -> None:
    assert Priority.LOW < Priority.NORMAL < Priority.HIGH < Priority.CRITICAL
    assert Priority.CRITICAL > "high"
    assert sorted([Priority.CRITICAL, Priority.LOW, Priority.HIGH]) == [
        Priority.LOW,
        Priority.HIGH,
        Priority.CRITICAL,
    ]
    with pytest.raises(ValueError):
        Priority("urgent")


def test_filter_matching() -> None:
    event = Event(
        type="node_completed", source="b", thread_id="t", run_id="r", seq=1, priority="high"
    )
    assert EventFilter.build(
        "t", types=["node_completed"], source="b", min_priority="normal"
    ).matches(event)
    assert not EventFilter.build("t", types="node_started").matches(event)
    assert not EventFilter.build("t", source=["a", "c"]).matches(event)
    assert not EventFilter.build("t", min_priority=Priority.CRITICAL).matches(event)
    assert not EventFilter.build("other").matches(event)
    assert not EventFilter.build(run_id="r2").matches(event)
    with pytest.raises(ValueError):
        EventFilter.build(types=["no_such_type"])


def _events(thread: str, run: str, n: int, **extra: object) -> list[Event]:
    return [
        Event(type="node_started", thread_id=thread, run_id=run, seq=i, source=f"n{i % 2}", **extra)  # type: ignore[arg-type]
        for i in range(1, n + 1)
    ]


async def test_log_replay_ranges_and_filters(conn: AsyncConnection) -> None:
    log = EventLog(conn)
    await log.setup()
    await log.setup()  # idempotent
    # Thread ids that would collide if record ids were joined strings.
    await log.append_many(_events("t|a", "b", 3) + _events("t", "a|b", 2) + _events("t", "r2", 4))
    assert [e.seq for e in await log.replay("t|a", run_id="b")] == [1, 2, 3]
    assert [(e.run_id, e.seq) for e in await log.replay("t")] == [
        ("a|b", 1),
        ("a|b", 2),
        ("r2", 1),
        ("r2", 2),
        ("r2", 3),
        ("r2", 4),
    ]
    assert [e.seq for e in await log.replay("t", run_id="r2", after_seq=2)] == [3, 4]
    assert [e.seq for e in await log.replay("t", run_id="r2", source="n1")] == [1, 3]
    assert [e.seq for e in await log.replay(run_id="r2", after_seq=3)] == [4]
    assert await log.replay("t", types=["run_started"]) == []
    assert await log.last_seq("t", "r2") == 4
    assert await log.last_seq("t", "nope") == 0


async def test_log_refuses_a_second_event_with_the_same_seq(conn: AsyncConnection) -> None:
    log = EventLog(conn)
    await log.setup()
    first = _events("t", "r", 1)[0]
    await log.append(first)
    with pytest.raises(QueryFailed, match="already exists"):
        await log.append(first.model_copy(update={"event_id": "other"}))
    with pytest.raises(ValueError, match="no seq"):
        await log.append(Event(type="custom", thread_id="t", run_id="r"))
    assert [e.event_id for e in await log.replay("t")] == [first.event_id]


async def test_purge_expired(conn: AsyncConnection) -> None:
    log = EventLog(conn)
    await log.setup()
    past = datetime.now(UTC) - timedelta(minutes=1)
    future = datetime.now(UTC) + timedelta(hours=1)
    await log.append_many(
        [
            Event(type="custom", thread_id="t", run_id="r", seq=1, expires_at=past),
            Event(type="custom", thread_id="t", run_id="r", seq=2, expires_at=future),
            Event(type="custom", thread_id="t", run_id="r", seq=3),
        ]
    )
    assert await log.purge_expired() == 1
    assert [e.seq for e in await log.replay("t")] == [2, 3]
    assert await log.purge_expired(now=future + timedelta(seconds=1)) == 1
    assert [e.seq for e in await log.replay("t")] == [3]


def test_pages_split_runs_gaps_and_size() -> None:
    a = _events("t", "a", 5)
    b = _events("t", "b", 2)
    mixed = [a[0], b[0], a[1], b[1], a[2], a[4]]  # a's seq 4 missing: a gap
    assert sorted([(e.run_id, e.seq) for e in page] for page in pages(mixed)) == [
        [("a", 1), ("a", 2), ("a", 3)],
        [("a", 5)],
        [("b", 1), ("b", 2)],
    ]
    long = _events("t", "c", PAGE_SIZE + 1)
    assert [len(page) for page in pages(long)] == [PAGE_SIZE, 1]


async def test_filters_and_purge_work_inside_a_page(conn: AsyncConnection) -> None:
    """One append is one page; replay and purge still see single events."""
    log = EventLog(conn)
    await log.setup()
    past = datetime.now(UTC) - timedelta(minutes=1)
    await log.append_many(
        [
            Event(
                type="node_started", source="a", thread_id="t", run_id="r", seq=1, expires_at=past
            ),
            Event(
                type="node_failed", source="b", thread_id="t", run_id="r", seq=2, priority="high"
            ),
            Event(
                type="node_started", source="b", thread_id="t", run_id="r", seq=3, expires_at=past
            ),
            Event(type="custom", source="c", thread_id="t", run_id="r", seq=4),
        ]
    )
    assert [e.seq for e in await log.replay("t", types="node_started")] == [1, 3]
    assert [e.seq for e in await log.replay(types=["node_failed", "custom"])] == [2, 4]
    assert [e.seq for e in await log.replay("t", source="b", after_seq=2)] == [3]
    assert [e.seq for e in await log.replay("t", run_id="r", min_priority="high")] == [2]
    assert await log.purge_expired() == 2
    # The survivors are split where the purge left gaps, and still found by range.
    assert [e.seq for e in await log.replay("t", run_id="r", after_seq=1)] == [2, 4]
    assert [e.seq for e in await log.replay("t", types="node_started")] == []
    assert await log.last_seq("t", "r") == 4
    assert await log.purge_expired() == 0


async def test_rows_written_by_schema_v1_still_read(conn: AsyncConnection) -> None:
    """v1 stored one event per row; migration v2 turns each into a page of one."""
    await conn.query(
        "DEFINE TABLE event_migration SCHEMALESS;"
        + EVENT_MIGRATIONS[0]
        + "UPSERT event_migration:1 CONTENT { version: 1 };"
    )
    old = _events("t", "r", 3)
    for event in old:
        await conn.query(
            "INSERT INTO event $row RETURN NONE;",
            {
                "row": {
                    "id": RecordID("event", ["t", "r", event.seq]),
                    "thread_id": "t",
                    "run_id": "r",
                    "seq": event.seq,
                    "type": event.type.value,
                    "source": event.source,
                    "priority": event.priority.rank,
                    "timestamp": event.timestamp,
                    "json": event.to_json(),
                }
            },
        )
    log = EventLog(conn)
    await log.setup()
    new = _events("t", "r", 5)[3:]
    await log.append_many(new)
    assert [e.seq for e in await log.replay("t", run_id="r")] == [1, 2, 3, 4, 5]
    assert [e.seq for e in await log.replay("t", source="n1")] == [1, 3, 5]
    assert await log.replay("t", run_id="r", after_seq=2) == old[2:] + new
    assert await log.last_seq("t", "r") == 5
    # Only the indexes a read uses are kept (v3 removed the thread/type one).
    (info,) = await conn.query("INFO FOR TABLE event;")
    assert sorted(info["indexes"]) == ["event_expires", "event_time"]
