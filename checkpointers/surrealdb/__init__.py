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
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpointers.surrealdb.aio import AsyncSurrealSaver
from checkpointers.surrealdb.base import MIGRATIONS, BaseSurrealSaver, Steps, explain_query_error
from sentient_graph.db import QueryFailed, SyncConnection, connect_sync, wrap_sync

__all__ = ["MIGRATIONS", "AsyncSurrealSaver", "BaseSurrealSaver", "SurrealSaver"]

R = TypeVar("R")


class SurrealSaver(BaseSurrealSaver):
    """Synchronous checkpointer storing every superstep in SurrealDB.

    Its async methods run the sync ones in a worker thread, so ``graph.ainvoke``
    works too; prefer :class:`AsyncSurrealSaver` in async programs.
    """

    def __init__(
        self, conn: SyncConnection | Any, *, serde: SerializerProtocol | None = None
    ) -> None:
        """Use an open connection: ours from ``sentient_graph.db.connect_sync`` or an SDK ``Surreal``."""
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

    def _run(self, steps: Steps[R]) -> R:
        """Drive one operation from ``base``: send each query, feed back its results."""
        try:
            query = next(steps)
            while True:
                try:
                    results = self.conn.query(query.sql, query.vars)
                except QueryFailed as exc:
                    raise explain_query_error(exc) from None
                query = steps.send(results)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def setup(self) -> None:
        """Create or upgrade the schema; idempotent, safe to call at every start."""
        self._run(self._op_setup())

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._op_get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._run(self._op_list(config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._run(self._op_put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._run(self._op_put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._op_delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._op_delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self._op_copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self._op_prune(thread_ids, strategy))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return self._run(self._op_delta_history(config, channels))

    # -- async methods: the sync ones in a worker thread -------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        page = await asyncio.to_thread(
            lambda: self._run(self._op_list(config, filter, before, limit))
        )
        for item in page:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await asyncio.to_thread(
            lambda: self.get_delta_channel_history(config=config, channels=channels)
        )
