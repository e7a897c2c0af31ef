"""LangGraph's saver methods, sync and async, written out over the sans-IO core.

Owns: the public methods both savers share - each one drives one operation of
``BaseSurrealSaver`` (``_op_*``) with the subclass's driver: ``_run`` (blocking)
or ``_arun`` (awaited). ``SurrealSaver`` and ``AsyncSurrealSaver`` supply the
drivers and nothing else of these methods.

Must not: build queries or rows, or do I/O itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from checkpointers.surrealdb.base import BaseSurrealSaver
from checkpointers.surrealdb.queries import Steps

__all__ = ["SaverMethods"]

R = TypeVar("R")


class SaverMethods(BaseSurrealSaver):
    """Every method of LangGraph's ``BaseCheckpointSaver``, sync and async.

    A subclass supplies the two drivers: ``_run`` (blocking I/O in
    ``SurrealSaver``, a hop to the saver's event loop in ``AsyncSurrealSaver``)
    and ``_arun`` (awaited I/O in ``AsyncSurrealSaver``, the blocking driver in
    a worker thread in ``SurrealSaver``).
    """

    def _run(self, steps: Steps[R]) -> R:
        raise NotImplementedError

    async def _arun(self, steps: Steps[R]) -> R:
        raise NotImplementedError

    # -- reads ------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names, or the thread's latest; ``None`` if there is none.

        With ``checkpoint_id`` in ``config["configurable"]`` that checkpoint,
        else the latest of the thread and namespace (one pointer read, whatever
        the history's length). Channel values and pending writes included.
        """
        return self._run(self._op_get_tuple(config))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        return await self._arun(self._op_get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first, filtered by thread/namespace/id in ``config``.

        Args:
            config: ``thread_id`` (and ``checkpoint_ns``, ``checkpoint_id``) to
                narrow the listing; ``None`` lists every thread.
            filter: Metadata keys and the values they must equal.
            before: Only checkpoints older than this config's ``checkpoint_id``.
            limit: At most this many.

        The whole page is read before the first item is yielded, so a caller
        may call the saver inside the loop.
        """
        yield from self._run(self._op_list(config, filter, before, limit))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list`; the page is fetched before the first yield (LangGraph
        calls ``aget_tuple`` inside the loop, which must not wait on us)."""
        for item in await self._arun(self._op_list(config, filter, before, limit)):
            yield item

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        """Writes to ``channels`` along the parent chain of ``config``'s checkpoint, and seeds.

        For each channel: ``writes`` (oldest first, since its last stored value)
        and ``seed`` (that stored value, when one exists). The chain is read in
        one query instead of one ``get_tuple`` per ancestor.
        """
        return self._run(self._op_get_delta_channel_history(config=config, channels=channels))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        """Async :meth:`get_delta_channel_history`."""
        return await self._arun(
            self._op_get_delta_channel_history(config=config, channels=channels)
        )

    # -- writes -----------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the channel values of ``new_versions``, atomically.

        The thread's latest pointer moves only forward. Returns the config
        that names the stored checkpoint.

        Raises:
            SerializationFailed: a value cannot be serialised; nothing is written.
        """
        return self._run(self._op_put(config, checkpoint, metadata, new_versions))

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        return await self._arun(self._op_put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against ``config``'s checkpoint, atomically.

        A regular write keeps its first value (a retried task does not
        overwrite it); special writes (errors, interrupts, resumes) keep their last.
        """
        self._run(self._op_put_writes(config, writes, task_id, task_path))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""
        await self._arun(self._op_put_writes(config, writes, task_id, task_path))

    # -- deletes, copies, pruning -------------------------------------------

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, value, write and pointer of a thread, atomically."""
        self._run(self._op_delete_thread(thread_id))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        await self._arun(self._op_delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) made by these runs; repoint each thread.

        Raises:
            TypeError: ``run_ids`` is a single string.
        """
        self._run(self._op_delete_for_runs(run_ids))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        await self._arun(self._op_delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Replace the target thread with a copy of every record of the source, atomically."""
        self._run(self._op_copy_thread(source_thread_id, target_thread_id))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        await self._arun(self._op_copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Keep only each thread's latest checkpoint per namespace, or delete the threads.

        Raises:
            NotImplementedError: ``keep_latest`` on a thread that uses a DeltaChannel.
            ValueError: an unknown strategy.
        """
        self._run(self._op_prune(thread_ids, strategy=strategy))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        await self._arun(self._op_prune(thread_ids, strategy=strategy))
