"""Long-term memory: LangGraph stores on SurrealDB, ``SurrealStore`` (sync) and ``AsyncSurrealStore``.

Both are LangGraph ``BaseStore``s: namespaces, ``put``/``get``/``delete``,
``search`` by filter and by meaning, ``list_namespaces``, TTL with a sweeper.
SurrealDB holds every item and vector (the durable truth); similarity search
runs on an in-process index of those vectors (``vectors.VectorIndex``), loaded
at the first search and kept in step with this store's own writes. A write by
another process (a second store on the same SurrealDB server) bumps a counter
that every search checks, so this index reloads instead of answering stale.

This module owns the sync store's I/O; queries and operations are in
``base``, the async store in ``aio``.

Example:
    ```python
    from sentient_graph.store import HashingEmbeddings, SurrealStore

    index = {"dims": 256, "embed": HashingEmbeddings(256), "fields": ["text"]}
    with SurrealStore.from_conn_string("surrealkv://.sentient/store", index=index) as store:
        store.setup()
        store.put(("agents", "researcher", "long_term"), "f1", {"text": "SurrealDB has HNSW"})
        hits = store.search(("agents",), query="vector index", limit=5)
        graph = builder.compile(checkpointer=saver, store=store)
    ```
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import structlog
from langgraph.store.base import BaseStore, IndexConfig, Op, Result, TTLConfig

from sentient_graph.store.aio import AsyncSurrealStore
from sentient_graph.store.base import (
    APPROXIMATE_FROM,
    MIGRATIONS,
    BaseSurrealStore,
    EmbedTexts,
    Hnsw,
    Steps,
    _utcnow,
    explain_query_error,
)
from sentient_graph.store.embeddings import DEFAULT_DIMS, HashingEmbeddings, default_index
from sentient_graph.surreal.connection import QueryFailed, SyncConnection, connect_sync, wrap_sync
from sentient_graph.surreal.steps import drive

__all__ = [
    "DEFAULT_DIMS",
    "MIGRATIONS",
    "AsyncSurrealStore",
    "HashingEmbeddings",
    "Hnsw",
    "SurrealStore",
    "default_index",
]

R = TypeVar("R")
log = structlog.get_logger(__name__)


class SurrealStore(BaseSurrealStore, BaseStore):
    """Synchronous LangGraph store on SurrealDB (its async methods run it in a worker thread).

    Args:
        conn: An open connection: ours from ``sentient_graph.db.connect_sync``
            or an SDK ``Surreal``. The store does not close it.
        index, ttl, hnsw, approximate_from, clock: See :class:`~sentient_graph.store.base.BaseSurrealStore`.
    """

    def __init__(
        self,
        conn: SyncConnection | Any,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        hnsw: Hnsw | None = None,
        approximate_from: int | None = APPROXIMATE_FROM,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(
            index=index, ttl=ttl, hnsw=hnsw, approximate_from=approximate_from, clock=clock
        )
        self.conn = wrap_sync(conn)
        self._sweeper: threading.Thread | None = None
        self._stop_sweeping = threading.Event()

    @classmethod
    @contextmanager
    def from_conn_string(
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
    ) -> Iterator[SurrealStore]:
        """Open a connection for the store's lifetime; arguments default to ``SURREALDB_*``."""
        conn = connect_sync(
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
            store.stop_ttl_sweeper()
            conn.close()

    def setup(self) -> None:
        """Create or upgrade the schema (and the vector index); idempotent."""
        self._run(self._op_setup())

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run operations in order of kind (reads, then writes); nothing is written on bad input."""
        return self._run(self._op_batch(ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` in a worker thread."""
        return await asyncio.to_thread(self.batch, list(ops))

    def sweep_ttl(self) -> int:
        """Delete the items whose TTL ran out (by the store's clock); return how many."""
        return self._run(self._op_sweep())

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep every ``sweep_interval_minutes`` (default: the TTL config's, else 5) in a thread.

        Returns a future that completes when the sweeper stops; cancel it or
        call :meth:`stop_ttl_sweeper` to stop.
        """
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self._sweeper is not None and self._sweeper.is_alive():
            return done
        interval = (
            sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes") or 5
        )
        self._stop_sweeping.clear()

        def sweep_loop() -> None:
            try:
                while not self._stop_sweeping.wait(interval * 60):
                    try:
                        self.sweep_ttl()
                    except Exception as exc:  # a failed sweep is retried at the next tick
                        log.warning("store.ttl_sweep_failed", error=str(exc))
            finally:
                done.set_result(None)

        done.add_done_callback(lambda f: self._stop_sweeping.set() if f.cancelled() else None)
        self._sweeper = threading.Thread(target=sweep_loop, daemon=True, name="store-ttl-sweeper")
        self._sweeper.start()
        return done

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; True once it has stopped (or none ran)."""
        if self._sweeper is None:
            return True
        self._stop_sweeping.set()
        self._sweeper.join(timeout)
        stopped = not self._sweeper.is_alive()
        if stopped:
            self._sweeper = None
        return stopped

    def _run(self, steps: Steps[R]) -> R:
        """Drive one operation from ``base``: run each query, embed each text batch."""
        return drive(steps, self._answer)

    def _answer(self, request: Any) -> Any:
        if isinstance(request, EmbedTexts):
            return self._embed(request)
        try:
            return self.conn.query(request.sql, request.vars)
        except QueryFailed as exc:
            raise explain_query_error(exc) from None

    def _embed(self, request: EmbedTexts) -> list[list[float]]:
        assert self.embeddings is not None
        if request.query:
            return [self.embeddings.embed_query(text) for text in request.texts]
        return self.embeddings.embed_documents(request.texts)
