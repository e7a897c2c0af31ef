"""``AsyncSurrealSaver``: the async LangGraph checkpointer on SurrealDB.

Owns only I/O: it sends the queries that ``base`` prepares over one
:class:`sentient_graph.surreal.AsyncConnection` and hands the answers back, and
commits the writes of one event-loop tick together. SurrealQL lives in
``queries``, (de)serialisation in ``base`` and ``rows``; the public methods are
``methods.SaverMethods``, driven here by ``_arun`` and ``_run``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langgraph.checkpoint.serde.base import SerializerProtocol

from checkpointers.surrealdb.base import explain_query_error
from checkpointers.surrealdb.methods import SaverMethods
from checkpointers.surrealdb.queries import PreparedQuery, Steps, WriteBatch, group_commit
from sentient_graph.surreal.connection import AsyncConnection, QueryFailed, connect, wrap_async
from sentient_graph.surreal.steps import adrive

__all__ = ["AsyncSurrealSaver"]

R = TypeVar("R")

#: A write batch and the future of the caller waiting for its commit.
_Pending = tuple[WriteBatch, "asyncio.Future[list[Any]]"]


def _settle(
    group: list[_Pending], *, results: list[Any] | None = None, error: BaseException | None = None
) -> None:
    """Tell every writer of a group how its commit ended (a cancelled writer is skipped)."""
    for _, done in group:
        if done.done():
            continue
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(results or [])


@dataclass
class _Commits:
    """Group commit on one event loop: batches gathering for the next commit, commits running."""

    gathering: list[_Pending] | None = None
    running: set[asyncio.Task[None]] = field(default_factory=set)


class AsyncSurrealSaver(SaverMethods):
    """Async checkpointer storing every superstep in SurrealDB.

    Its sync methods serve ``graph.invoke`` called from another thread than the
    saver's event loop; on the loop's own thread they refuse with a clear error.

    Writes issued in the same event-loop tick share one commit (group commit):
    each ``aput``/``aput_writes`` returns once its own write is committed, a
    read first waits for the writes issued before it, and leaving
    ``from_conn_string`` waits for every write issued.

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
        """Use an open connection: ours from ``sentient_graph.surreal.connect`` or an SDK ``AsyncSurreal``."""
        super().__init__(serde=serde)
        self.conn = wrap_async(conn)
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        # Group commit, per event loop (the sync methods may run on loops of their own).
        self._commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Commits] = (
            weakref.WeakKeyDictionary()
        )

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
        offload: bool = False,
    ) -> AsyncIterator[AsyncSurrealSaver]:
        """Open a connection for the saver's lifetime; arguments default to ``SURREALDB_*``.

        ``offload=True`` runs an embedded store's queries on SurrealDB's own
        threads, without the GIL: slower for one call at a time, faster with
        many graphs running at once (``sentient_graph.surreal.connect``).
        """
        conn = await connect(
            url,
            namespace=namespace,
            database=database,
            username=username,
            password=password,
            offload=offload,
        )
        saver = cls(conn, serde=serde)
        try:
            yield saver
        finally:
            await saver.drain()
            await conn.aclose()

    async def setup(self) -> None:
        """Create or upgrade the schema; idempotent, safe to call at every start."""
        await self._arun(self._op_setup())

    async def _arun(self, steps: Steps[R]) -> R:
        """Drive one operation from ``base``: send each query, feed back its results."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return await adrive(steps, self._answer)

    async def _answer(self, query: PreparedQuery | WriteBatch) -> list[Any]:
        if isinstance(query, WriteBatch):
            return await self._commit(query)
        # Reads see every write issued before them.
        await self.drain()
        return await self._query(query)

    async def _query(self, query: PreparedQuery | WriteBatch) -> list[Any]:
        try:
            return await self.conn.query(query.sql, query.vars)
        except QueryFailed as exc:
            raise explain_query_error(exc) from None

    def _commits_here(self) -> _Commits:
        loop = asyncio.get_running_loop()
        state = self._commits.get(loop)
        if state is None:
            state = self._commits[loop] = _Commits()
        return state

    async def _commit(self, batch: WriteBatch) -> list[Any]:
        """Store ``batch`` in the next commit, with the batches issued in the same tick.

        The event loop makes the commit (in the callback that closes the tick,
        or in a task when it has to wait), not the caller: a caller cancelled
        while waiting neither loses the others' writes nor leaves them waiting.
        """
        state = self._commits_here()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        if state.gathering is None:
            state.gathering = []
            loop.call_soon(self._start_commit, state)
        state.gathering.append((batch, done))
        return await done

    def _start_commit(self, state: _Commits) -> None:
        group, state.gathering = state.gathering or [], None
        query = group_commit([batch for batch, _ in group])
        # On a free embedded connection the commit is a function call: make it
        # here, sparing a task; otherwise (busy, remote, a conflict to retry) in one.
        try:
            results = self.conn.query_now(query.sql, query.vars)
        except Exception as exc:
            _settle(group, error=explain_query_error(exc))
            return
        if results is not None:
            _settle(group, results=results)
            return
        task = asyncio.ensure_future(self._commit_group(group, query))
        state.running.add(task)
        task.add_done_callback(state.running.discard)

    async def _commit_group(self, group: list[_Pending], query: PreparedQuery) -> None:
        try:
            results = await self._query(query)
        except BaseException as exc:  # delivered to every writer of the group
            _settle(group, error=exc)
            if not isinstance(exc, Exception):
                raise
        else:
            _settle(group, results=results)

    async def drain(self) -> None:
        """Wait until every write issued so far on this event loop is committed (or failed)."""
        state = self._commits.get(asyncio.get_running_loop())
        while state is not None and (state.gathering is not None or state.running):
            if state.running:
                await asyncio.wait(list(state.running))
            else:
                await asyncio.sleep(0)

    def _run(self, steps: Steps[R]) -> R:
        """The sync methods: run the operation on the saver's loop (never on its thread)."""
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
