"""Store fixtures: the sync and the async store on a fresh ``mem://`` database, one clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sentient_graph.store import AsyncSurrealStore, HashingEmbeddings, SurrealStore

DIMS = 64


class FakeClock:
    """The store's clock in tests: time moves only when a test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


def index_config(dims: int = DIMS, fields: list[str] | None = None) -> dict[str, Any]:
    return {"dims": dims, "embed": HashingEmbeddings(dims), "fields": fields or ["text"]}


class Driver:
    """Calls a store through the sync or the async API, matching the store."""

    def __init__(self, kind: str, store: Any) -> None:
        self.kind = kind
        self.store = store

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return getattr(self.store, method)(*args, **kwargs)
        return await getattr(self.store, "a" + method)(*args, **kwargs)

    async def setup(self) -> None:
        if self.kind == "sync":
            self.store.setup()
        else:
            await self.store.setup()

    async def sweep(self) -> int:
        if self.kind == "sync":
            return self.store.sweep_ttl()
        return await self.store.sweep_ttl()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def open_store(kind: str, **kwargs: Any) -> Any:
    """An unopened ``from_conn_string`` context of ``kind`` on a fresh mem:// database."""
    cls = SurrealStore if kind == "sync" else AsyncSurrealStore
    return cls.from_conn_string("mem://", namespace="test", database=uuid.uuid4().hex, **kwargs)


@pytest.fixture(params=["sync", "async"], ids=["sync", "async"])
async def driver(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Driver]:
    """A store with a vector index over ``text`` and TTL, driven sync or async."""
    kwargs = {"index": index_config(), "ttl": {"refresh_on_read": True}, "clock": clock}
    if request.param == "sync":
        with open_store("sync", **kwargs) as store:
            store.setup()
            yield Driver("sync", store)
    else:
        async with open_store("async", **kwargs) as store:
            await store.setup()
            yield Driver("async", store)
