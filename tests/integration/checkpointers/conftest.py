"""Saver fixtures, parametrised over the sync and the async saver on ``mem://``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest

from checkpointers.surrealdb import AsyncSurrealSaver, SurrealSaver


class Driver:
    """Runs graph calls through the sync or the async API, matching the saver."""

    def __init__(self, kind: str, saver: Any) -> None:
        self.kind = kind
        self.saver = saver

    async def invoke(self, graph: Any, input: Any, config: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return graph.invoke(input, config, **kwargs)
        return await graph.ainvoke(input, config, **kwargs)

    async def state(self, graph: Any, config: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return graph.get_state(config, **kwargs)
        return await graph.aget_state(config, **kwargs)

    async def history(self, graph: Any, config: Any) -> list[Any]:
        if self.kind == "sync":
            return list(graph.get_state_history(config))
        return [s async for s in graph.aget_state_history(config)]

    async def update(self, graph: Any, config: Any, values: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return graph.update_state(config, values, **kwargs)
        return await graph.aupdate_state(config, values, **kwargs)


@pytest.fixture
def sync_saver() -> Iterator[SurrealSaver]:
    with SurrealSaver.from_conn_string(
        "mem://", namespace="test", database=uuid.uuid4().hex
    ) as saver:
        saver.setup()
        yield saver


A = TypeVar("A", bound=AsyncSurrealSaver)


@asynccontextmanager
async def open_async_saver(cls: type[A]) -> AsyncIterator[A]:
    """An async saver of ``cls`` on a fresh ``mem://`` database, set up."""
    async with cls.from_conn_string("mem://", namespace="test", database=uuid.uuid4().hex) as saver:
        await saver.setup()
        yield saver  # type: ignore[misc]  # from_conn_string is typed for the base class


@pytest.fixture
async def async_saver() -> AsyncIterator[AsyncSurrealSaver]:
    async with open_async_saver(AsyncSurrealSaver) as saver:
        yield saver


@pytest.fixture(params=["sync", "async"], ids=["sync", "async"])
def driver(request: pytest.FixtureRequest) -> Driver:
    saver = request.getfixturevalue(f"{request.param}_saver")
    return Driver(request.param, saver)


def thread() -> dict[str, Any]:
    """A config for a fresh thread."""
    return {"configurable": {"thread_id": f"t-{uuid.uuid4().hex[:8]}"}}
