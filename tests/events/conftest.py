"""Fixtures for the events tests: a real SurrealDB engine per test, real Redis servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from events_testkit import SHARED_REDIS, Buses, RedisServer, need_redis

from sentient_graph.db import AsyncConnection, connect
from sentient_graph.events import EventBus
from tests.services import forget_prefix


@pytest.fixture
def redis_url() -> str:
    need_redis()
    return SHARED_REDIS


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis prefix of this test's own; its keys are removed afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    forget_prefix(name)


@pytest.fixture
async def conn() -> AsyncIterator[AsyncConnection]:
    connection = await connect("mem://", namespace=f"t{uuid.uuid4().hex}", database="events")
    try:
        yield connection
    finally:
        await connection.aclose()


@pytest.fixture(params=["inprocess", "redis"])
async def buses(
    request: pytest.FixtureRequest, conn: AsyncConnection, prefix: str
) -> AsyncIterator[Buses]:
    if request.param == "inprocess":
        bus = await EventBus.open(conn)
        try:
            yield Buses("inprocess", bus, bus)
        finally:
            await bus.aclose()
        return
    need_redis()
    publisher = await EventBus.open(conn, redis_url=SHARED_REDIS, prefix=prefix)
    # A follow-only bus, as in another process: Redis is all it has.
    follower = await EventBus.open(None, redis_url=SHARED_REDIS, prefix=prefix)
    try:
        yield Buses("redis", publisher, follower)
    finally:
        await follower.aclose()
        await publisher.aclose()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
