"""LangGraph checkpointers on SurrealDB: ``SurrealSaver`` (sync) and ``AsyncSurrealSaver``.

Both take any SurrealDB URL the SDK knows: ``mem://`` (tests),
``surrealkv://PATH`` (embedded, on disk; the default ``surrealkv://.sentient/store``),
``ws(s)://HOST:PORT`` or ``http(s)://HOST:PORT`` (a SurrealDB server).

This module owns the sync saver's I/O; queries and (de)serialisation are in
``base``, the async saver in ``aio``.

Example:
    ```python
    from checkpointers.surrealdb import SurrealSaver

    with SurrealSaver.from_conn_string("surrealkv://.sentient/store") as saver:
        saver.setup()
        graph = builder.compile(checkpointer=saver)
        graph.invoke(inputs, {"configurable": {"thread_id": "1"}})
    ```
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpointers.surrealdb.aio import AsyncSurrealSaver
from checkpointers.surrealdb.base import MIGRATIONS, BaseSurrealSaver, explain_query_error
from checkpointers.surrealdb.methods import SaverMethods
from checkpointers.surrealdb.queries import SCHEMA, Steps
from sentient_graph.surreal.connection import QueryFailed, SyncConnection, connect_sync, wrap_sync
from sentient_graph.surreal.steps import drive

__all__ = ["MIGRATIONS", "SCHEMA", "AsyncSurrealSaver", "BaseSurrealSaver", "SurrealSaver"]

R = TypeVar("R")


class SurrealSaver(SaverMethods):
    """Synchronous checkpointer storing every superstep in SurrealDB.

    Its async methods run the blocking driver in a worker thread, so
    ``graph.ainvoke`` works too; prefer :class:`AsyncSurrealSaver` in async programs.
    """

    def __init__(
        self, conn: SyncConnection | Any, *, serde: SerializerProtocol | None = None
    ) -> None:
        """Use an open connection: ours from ``sentient_graph.surreal.connect_sync`` or an SDK ``Surreal``."""
        super().__init__(serde=serde)
        self.conn = wrap_sync(conn)

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
        serde: SerializerProtocol | None = None,
    ) -> Iterator[SurrealSaver]:
        """Open a connection for the saver's lifetime; arguments default to ``SURREALDB_*``."""
        conn = connect_sync(
            url, namespace=namespace, database=database, username=username, password=password
        )
        try:
            yield cls(conn, serde=serde)
        finally:
            conn.close()

    def setup(self) -> None:
        """Create or upgrade the schema; idempotent, safe to call at every start."""
        self._run(self._op_setup())

    def _run(self, steps: Steps[R]) -> R:
        """Drive one operation from ``base``: send each query, feed back its results."""
        return drive(steps, self._answer)

    def _answer(self, query: Any) -> list[Any]:
        try:
            return self.conn.query(query.sql, query.vars)
        except QueryFailed as exc:
            raise explain_query_error(exc) from None

    async def _arun(self, steps: Steps[R]) -> R:
        """The async methods: the blocking driver in a worker thread."""
        return await asyncio.to_thread(self._run, steps)
