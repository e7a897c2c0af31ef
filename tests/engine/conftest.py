"""Fixtures for the engine tests: a real embedded SurrealDB per test, real Redis when asked."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from sentient_graph.events import Event, EventType
from sentient_graph.runner import Engine, RunHandle

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    """An engine on a private ``mem://`` database, no Redis."""
    async with Engine.open(
        "mem://", redis_url=None, namespace=f"t{uuid.uuid4().hex}", database="engine"
    ) as opened:
        yield opened


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def need_redis() -> None:
    """Skip without Redis locally; under ``CI=true`` a missing Redis is a failure."""
    if redis_available():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Redis is required under CI=true but nothing answers at 127.0.0.1:6379")
    pytest.skip("no Redis at 127.0.0.1:6379")


async def wait_for(
    handle: RunHandle, type_: EventType, source: str | None = None, within: float = 20.0
) -> Event:
    """The first event of ``handle`` of this type (and source); fails after ``within`` seconds."""

    async def find() -> Event:
        async for event in handle.events():
            if event.type == type_ and (source is None or event.source == source):
                return event
        raise AssertionError(f"run ended without a {type_} event from {source}")

    return await asyncio.wait_for(find(), within)
