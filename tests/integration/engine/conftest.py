"""Fixtures for the engine tests: a real embedded SurrealDB per test, real Redis when asked."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from sentient_graph.events import Event, EventType
from sentient_graph.runner import Engine, RunHandle
from tests.services import SHARED_REDIS, need_redis

__all__ = ["REDIS_URL", "need_redis", "wait_for"]

REDIS_URL = SHARED_REDIS


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    """An engine on a private ``mem://`` database, no Redis."""
    async with Engine.open(
        "mem://", redis_url=None, namespace=f"t{uuid.uuid4().hex}", database="engine"
    ) as opened:
        yield opened


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
