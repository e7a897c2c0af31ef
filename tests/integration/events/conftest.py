"""Fixtures for the events tests: a real SurrealDB engine per test, real Redis servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from sentient_graph.db import AsyncConnection, connect
from tests.integration.events.events_testkit import (
    SHARED_REDIS,
    Buses,
    RedisServer,
    need_redis,
    open_buses,
)


@pytest.fixture
def redis_url() -> str:
    need_redis()
    return SHARED_REDIS


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
    async with open_buses(request.param, conn, prefix) as pair:
        yield pair


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
