"""``AsyncSurrealSaver``: the async LangGraph checkpointer on SurrealDB.

Owns only I/O: it sends the queries that ``base`` prepares over one
:class:`sentient_graph.db.AsyncConnection` and hands the answers back. All
SurrealQL and (de)serialisation live in ``base``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpointers.surrealdb.base import BaseSurrealSaver, Steps, explain_query_error
from sentient_graph.db import AsyncConnection, QueryFailed, connect, wrap_async

__all__ = ["AsyncSurrealSaver"]

R = TypeVar("R")


class AsyncSurrealSaver(BaseSurrealSaver):
    """Async checkpointer storing every superstep in SurrealDB.

    Example:
        ```python
        async with AsyncSurrealSaver.from_conn_string("surrealkv://.sentient/store") as saver:
            await saver.setup()
            graph = builder.compile(checkpointer=saver)
            await graph.ainvoke(inputs, {"configurable": {"thread_id": "1"}})
        ```
    """

    def __init__(
        self, conn: AsyncConnection | Any, *, serde: SerializerProtocol | None = None
    ) -> None:
        """Use an open connection: ours from ``sentient_graph.db.connect`` or an SDK ``AsyncSurreal``."""
        super().__init__(serde=serde)
        self.conn = wrap_async(conn)
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

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
        serde: SerializerProtocol | None = None,
    ) -> AsyncIterator[AsyncSurrealSaver]:
        """Open a connection for the saver's lifetime; arguments default to ``SURREALDB_*``."""
        conn = await connect(
            url, namespace=namespace, database=database, username=username, password=password
        )
        try:
            yield cls(conn, serde=serde)
        finally:
            await conn.aclose()

    async def _arun(self, steps: Steps[R]) -> R:
        """Drive one operation from ``base``: send each query, feed back its results."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        try:
            query = next(steps)
            while True:
                try:
                    results = await self.conn.query(query.sql, query.vars)
                except QueryFailed as exc:
                    raise explain_query_error(exc) from None
                query = steps.send(results)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def setup(self) -> None:
        """Create or upgrade the schema; idempotent, safe to call at every start."""
        await self._arun(self._op_setup())

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._arun(self._op_get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        # Fetch the whole page first, then yield: a caller may call aget_tuple
        # inside the loop (LangGraph does), which must not wait on us.
        for item in await self._arun(self._op_list(config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._arun(self._op_put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._arun(self._op_put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(self._op_delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._arun(self._op_delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._arun(self._op_copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._arun(self._op_prune(thread_ids, strategy))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self._arun(self._op_delta_history(config, channels))

    # -- sync methods: for graph.invoke() called from another thread ------------

    def _sync(self, steps: Steps[R]) -> R:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            raise asyncio.InvalidStateError(
                "AsyncSurrealSaver's sync methods cannot run on the event loop thread; "
                "use `await graph.ainvoke(...)`, or SurrealSaver for synchronous code"
            )
        loop = self._loop
        # No loop runs on this thread (checked above), so a running saver loop is
        # another thread's: hand the work to it.
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(self._arun(steps), loop).result()
        return asyncio.run(self._arun(steps))

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._sync(self._op_get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._sync(self._op_list(config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._sync(self._op_put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._sync(self._op_put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._sync(self._op_delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._sync(self._op_delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._sync(self._op_copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._sync(self._op_prune(thread_ids, strategy))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return self._sync(self._op_delta_history(config, channels))
