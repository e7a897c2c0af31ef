"""The event model and the SurrealDB log, without a bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentient_graph.db import AsyncConnection, QueryFailed
from sentient_graph.events import Event, EventFilter, EventLog, EventType, Priority


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
