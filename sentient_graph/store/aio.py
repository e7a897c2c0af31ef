"""``AsyncSurrealStore``: the async LangGraph store on SurrealDB.

Owns only I/O: it sends the queries that ``base`` prepares over one
:class:`sentient_graph.db.AsyncConnection`, embeds with the embeddings' async
methods, and runs the TTL sweeper as an asyncio task. All SurrealQL and the
operations themselves live in ``base``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import structlog
from langgraph.store.base import BaseStore, IndexConfig, Op, Result, TTLConfig

from sentient_graph.store.base import (
    APPROXIMATE_FROM,
    BaseSurrealStore,
    EmbedTexts,
    Hnsw,
    Steps,
    _utcnow,
    explain_query_error,
)
from sentient_graph.surreal.connection import AsyncConnection, QueryFailed, connect, wrap_async
from sentient_graph.surreal.steps import adrive

__all__ = ["AsyncSurrealStore"]

R = TypeVar("R")
log = structlog.get_logger(__name__)


class AsyncSurrealStore(BaseSurrealStore, BaseStore):
    """Async LangGraph store on SurrealDB.

    Its sync methods serve code running in another thread than the store's
    event loop; on the loop's own thread they refuse with a clear error.

    Example:
        ```python
        async with AsyncSurrealStore.from_conn_string(index=index) as store:
            await store.setup()
            await store.aput(("memories", "u1"), "k", {"text": "likes tea"})
            hits = await store.asearch(("memories",), query="drinks")
        ```
    """

    def __init__(
        self,
        conn: AsyncConnection | Any,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        hnsw: Hnsw | None = None,
        approximate_from: int | None = APPROXIMATE_FROM,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Use an open connection: ours from ``sentient_graph.db.connect`` or an SDK ``AsyncSurreal``."""
        super().__init__(
            index=index, ttl=ttl, hnsw=hnsw, approximate_from=approximate_from, clock=clock
        )
        self.conn = wrap_async(conn)
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        url: str | None = None,
        *,
        namespace: str | None = None,
        database: str | None = None,
        username: str | None = None,
        password: str | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        hnsw: Hnsw | None = None,
        approximate_from: int | None = APPROXIMATE_FROM,
        clock: Callable[[], datetime] = _utcnow,
    ) -> AsyncIterator[AsyncSurrealStore]:
        """Open a connection for the store's lifetime; arguments default to ``SURREALDB_*``."""
        conn = await connect(
            url, namespace=namespace, database=database, username=username, password=password
        )
        store = cls(
            conn,
            index=index,
            ttl=ttl,
            hnsw=hnsw,
            approximate_from=approximate_from,
            clock=clock,
        )
        try:
            yield store
        finally:
            await store.stop_ttl_sweeper()
            await conn.aclose()

    async def setup(self) -> None:
        """Create or upgrade the schema (and the vector index); idempotent."""
        await self._arun(self._op_setup())

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run operations in order of kind (reads, then writes); nothing is written on bad input."""
        return await self._arun(self._op_batch(ops))

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`abatch` for code outside the store's event loop thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            raise asyncio.InvalidStateError(
                "AsyncSurrealStore's sync methods cannot run on the event loop thread; "
                "use `await store.aput(...)` / `asearch(...)`, or SurrealStore for synchronous code"
            )
        ops = list(ops)
        if self._loop is not None and self._loop.is_running():
            return asyncio.run_coroutine_threadsafe(self.abatch(ops), self._loop).result()
        return asyncio.run(self.abatch(ops))

    async def sweep_ttl(self) -> int:
        """Delete the items whose TTL ran out (by the store's clock); return how many."""
        return await self._arun(self._op_sweep())

    async def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> asyncio.Task[None]:
        """Sweep every ``sweep_interval_minutes`` (default: the TTL config's, else 5) in a task."""
        if self._sweeper is not None and not self._sweeper.done():
            return self._sweeper
        interval = (
            sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes") or 5
        )

        async def sweep_loop() -> None:
            while True:
                await asyncio.sleep(interval * 60)
                try:
                    await self.sweep_ttl()
                except Exception as exc:  # a failed sweep is retried at the next tick
                    log.warning("store.ttl_sweep_failed", error=str(exc))

        self._sweeper = asyncio.create_task(sweep_loop(), name="store-ttl-sweeper")
        return self._sweeper

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - LangGraph's signature
        """Stop the sweeper task; True once it has stopped (or none ran)."""
        task, self._sweeper = self._sweeper, None
        if task is None or task.done():
            return True
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
        return task.done()

    async def _arun(self, steps: Steps[R]) -> R:
        """Drive one operation from ``base``: await each query, embed each text batch."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return await adrive(steps, self._answer)

    async def _answer(self, request: Any) -> Any:
        if isinstance(request, EmbedTexts):
            return await self._embed(request)
        try:
            return await self.conn.query(request.sql, request.vars)
        except QueryFailed as exc:
            raise explain_query_error(exc) from None

    async def _embed(self, request: EmbedTexts) -> list[list[float]]:
        assert self.embeddings is not None
        if request.query:
            return list(
                await asyncio.gather(*(self.embeddings.aembed_query(t) for t in request.texts))
            )
        return await self.embeddings.aembed_documents(request.texts)
