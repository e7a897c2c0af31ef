"""The engine facade: start, watch, resume, recover, cancel, list, inspect and fork runs.

Owns: the one shared connection of an engine (checkpointer, event log and run
records all use it) and wiring its parts together: the run store
(:mod:`sentient_graph.runs`), the graph registry, the run driver, recovery,
time travel, the heartbeat. Each public method checks what it is given,
claims, and hands on; the parts do the work.

The module is longer than the others because it is the public API's reference:
each method's contract lives here in its docstring; the logic lives in the parts.

Must not: write SurrealQL (the run store and the checkpointer do), turn stream
chunks into events (the emitter does), or configure logging (the CLI does).
"""

from __future__ import annotations

import asyncio
import difflib
import os
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore, IndexConfig
from langgraph.types import Durability, StateSnapshot

from sentient_graph import db
from sentient_graph.engine import collector, health, inputs
from sentient_graph.engine.driver import RunDriver, one_line
from sentient_graph.engine.graphs import GraphRegistry
from sentient_graph.engine.handle import RunHandle
from sentient_graph.engine.heartbeat import Heartbeat
from sentient_graph.engine.launcher import Launcher
from sentient_graph.engine.recovery import NOTHING, Recovery
from sentient_graph.engine.sync import SyncEngine
from sentient_graph.engine.timetravel import (
    CheckpointInfo,
    TimeTravel,
    checkpoint_exists,
)
from sentient_graph.errors import RunNotActive, ThreadNotFound
from sentient_graph.runs import RunRecord, RunStore, records
from sentient_graph.runs.codec import RunInputCodec
from sentient_graph.runs.liveness import HOST, LIVE_OWNERS, owner_dead
from sentient_graph.settings import redis_url_from_env
from sentient_graph.shell import command

if TYPE_CHECKING:
    from sentient_graph.events import EventBus

__all__ = ["Engine"]

log = structlog.get_logger(__name__)


class _Opening:
    """What :meth:`Engine.open` returns: ``await`` it, or use it with ``async with``."""

    def __init__(self, factory: Callable[[], Coroutine[Any, Any, Engine]]) -> None:
        self._factory = factory
        self._engine: Engine | None = None

    def __await__(self) -> Any:
        return self._factory().__await__()

    async def __aenter__(self) -> Engine:
        self._engine = await self._factory()
        return self._engine

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._engine is not None:
            await self._engine.aclose()


async def _open_saver(conn: db.AsyncConnection) -> BaseCheckpointSaver[Any]:
    """The checkpointer on the engine's connection (the one seam to the saver)."""
    from checkpointers.surrealdb import AsyncSurrealSaver

    saver = AsyncSurrealSaver(conn)
    await saver.setup()
    return saver


async def _open_store(
    conn: db.AsyncConnection, store: BaseStore | bool, index: IndexConfig | None
) -> BaseStore | None:
    """The store graphs get: the default on the engine's connection, the caller's, or none."""
    if store is False:
        return None
    if store is True:
        from sentient_graph.store import AsyncSurrealStore

        default = AsyncSurrealStore(conn, index=index)
        await default.setup()
        return default
    return store


class Engine:
    """Runs LangGraph graphs durably: checkpoints, run records and events in SurrealDB.

    Open with ``async with Engine.open() as engine:`` (or ``engine = await
    Engine.open()`` and later ``await engine.aclose()``). One engine serves any
    number of concurrent runs over one shared connection.

    Example:
        >>> async with Engine.open() as engine:  # doctest: +SKIP
        ...     run = await engine.start("software_team", {"request": "todo app"})
        ...     async for event in run.events():
        ...         print(event.type, event.source)
        ...     state = await run.wait()
    """

    def __init__(
        self,
        conn: db.AsyncConnection,
        saver: BaseCheckpointSaver[Any],
        bus: EventBus,
        *,
        durability: Durability = "sync",
        lease_seconds: float = 30.0,
        owns_conn: bool = True,
        store: BaseStore | None = None,
    ) -> None:
        """Use :meth:`open`; this wires already-open parts together."""
        self.conn = conn
        self.saver = saver
        self.bus = bus
        #: The LangGraph store every graph run through the engine gets (``store`` in nodes).
        self.store = store
        self.durability: Durability = durability
        self.lease_seconds = lease_seconds
        self.owner = f"{HOST}/{os.getpid()}/{os.urandom(6).hex()}"
        self.runs = RunStore(conn)
        self.graphs = GraphRegistry(saver, store)
        codec = RunInputCodec(saver)
        driver = self._driver = RunDriver(self.runs, bus, durability, self._ended)
        self.launcher = Launcher(self.owner, lease_seconds, self.runs, self.graphs, driver, codec)
        self.recovery = Recovery(self.launcher, codec, self._not_found)
        self.timetravel = TimeTravel(self.runs, self.graphs, self._not_found)
        self._heartbeat = Heartbeat(self.runs, self.owner, lease_seconds, self._cancel_requested)
        self._owns_conn = owns_conn
        self._active = self.launcher.active
        # Strong references to fire-and-forget tasks (the loop keeps only weak ones).
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        self._holds_gc = False
        LIVE_OWNERS.add(self.owner)

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    def open(
        cls,
        surreal_url: str | None = None,
        redis_url: str | None = None,
        *,
        namespace: str | None = None,
        database: str | None = None,
        prefix: str = "sentient",
        durability: Durability = "sync",
        lease_seconds: float = 30.0,
        event_linger: float | None = None,
        redis: bool = True,
        store: BaseStore | bool = True,
        store_index: IndexConfig | None = None,
        offload: bool = True,
        tune_gc: bool = True,
    ) -> _Opening:
        """Open an engine: connection, checkpointer, event bus, run table.

        Args:
            surreal_url: ``mem://``, ``surrealkv://PATH`` or ``ws://HOST:PORT``;
                default ``SURREALDB_URL`` or the embedded ``surrealkv://.sentient/store``.
            redis_url: Publish events on Redis; default ``REDIS_URL``; without
                one events fan out in-process (the SurrealDB log is the same).
            namespace: SurrealDB namespace (default ``SURREALDB_NAMESPACE`` or ``sentient``).
            database: SurrealDB database (default ``SURREALDB_DATABASE`` or ``graph``).
            prefix: Redis channel prefix.
            durability: LangGraph durability; ``"sync"`` writes each checkpoint
                before the next superstep starts, which is what makes a killed
                run resumable without re-running finished nodes.
            lease_seconds: How long a silent owner on another machine keeps its runs.
            event_linger: At most how many seconds a node transition's event
                waits, while the process is busy, to share a log write with the
                next ones (default :data:`~sentient_graph.events.DEFAULT_LINGER`);
                it goes as soon as the process idles, and at once while someone
                follows its thread.
            redis: ``False`` publishes in-process only, whatever ``REDIS_URL`` says
                (for work that neither publishes nor follows events).
            store: The LangGraph store graphs get (a node that takes ``store``):
                by default an :class:`~sentient_graph.store.AsyncSurrealStore` on the
                engine's connection; a ``BaseStore`` of your own; ``False`` for none.
                A graph compiled with a store of its own keeps it.
            store_index: The default store's vector index (LangGraph's ``index=``
                config, e.g. :func:`sentient_graph.store.default_index`); none by default.
            offload: On an embedded store, run its queries on the SurrealDB
                engine's own threads, which leave the GIL to the runs
                (``sentient_graph.surreal.connect(..., offload=True)``): more
                runs per second with many at once, for a slightly longer wait
                for each query (BENCHMARKS.md, "Concurrent runs"). ``False``
                runs them on the event loop's thread. Ignored for a server URL.
            tune_gc: While the engine is open, collect the garbage collector's
                young generations less often (``gc.set_threshold``, see
                :mod:`sentient_graph.engine.collector`), unless the application
                changed the thresholds itself: many runs at once otherwise
                spend a large share of their time in full collections that
                free nothing. ``False`` leaves the collector alone.

        Returns:
            An awaitable that is also an async context manager.

        Raises:
            StoreLocked: the embedded store is held by another process.
            StoreUnavailable: SurrealDB cannot be reached.
            RedisUnavailable: ``redis_url`` is set but Redis does not answer.
        """

        async def factory() -> Engine:
            from sentient_graph.events import DEFAULT_LINGER, EventBus

            conn = await db.connect(
                surreal_url, namespace=namespace, database=database, offload=offload
            )
            try:
                saver = await _open_saver(conn)
                bus = await EventBus.open(
                    conn,
                    redis_url=redis_url_from_env(redis_url) if redis else None,
                    prefix=prefix,
                    linger=DEFAULT_LINGER if event_linger is None else event_linger,
                )
            except BaseException:
                await conn.aclose()
                raise
            try:
                chosen = await _open_store(conn, store, store_index)
            except BaseException:
                await bus.aclose()
                await conn.aclose()
                raise
            engine = cls(
                conn,
                saver,
                bus,
                durability=durability,
                lease_seconds=lease_seconds,
                store=chosen,
            )
            try:
                await engine.setup()
            except BaseException:
                await engine.aclose()
                raise
            if tune_gc:
                collector.hold()
                engine._holds_gc = True
            return engine

        return _Opening(factory)

    async def setup(self) -> None:
        """Create the ``run`` table (idempotent) and start the heartbeat."""
        await self.runs.setup()
        self._heartbeat.start()

    async def aclose(self) -> None:
        """Cancel runs still going (each recorded ``cancelled``), then release the store."""
        if self._closed:
            return
        self._closed = True
        await self.launcher.cancel_all()
        await self._heartbeat.stop()
        LIVE_OWNERS.discard(self.owner)
        try:
            await self.bus.aclose()
        except Exception as exc:
            log.warning("engine.bus_close_failed", error=one_line(exc))
        if self._owns_conn:
            await self.conn.aclose()
        if self._holds_gc:
            self._holds_gc = False
            collector.release()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @classmethod
    def sync(
        cls, surreal_url: str | None = None, redis_url: str | None = None, **options: Any
    ) -> SyncEngine:
        """A blocking engine for scripts; see :class:`SyncEngine`."""
        return SyncEngine.open(surreal_url, redis_url, **options)

    # -- hooks of the parts --------------------------------------------------

    def _ended(self, handle: RunHandle) -> None:
        self.launcher.ended(handle)

    def _cancel_requested(self, thread_id: str, run_id: str) -> None:
        handle = self._active.get(thread_id)
        if handle is not None and handle.run_id == run_id:
            task = asyncio.create_task(handle.cancel())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _not_found(self, thread_id: str) -> ThreadNotFound:
        ids = await self.runs.thread_ids()
        close = difflib.get_close_matches(thread_id, ids, n=1)
        hint = (
            f" (did you mean {close[0]!r}?)"
            if close
            else f" (list them with `{command('threads')}`)"
        )
        return ThreadNotFound(
            f"no run or checkpoint for thread {thread_id!r} in {db.describe_url(self.conn.url)}{hint}"
        )

    # -- runs ----------------------------------------------------------------

    async def start(
        self,
        graph: Pregel | str,
        input: Any,
        thread_id: str | None = None,
        *,
        config: RunnableConfig | None = None,
        replace_graph: bool = False,
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> RunHandle:
        """Start a run and return once its input is durable; the run goes on in the background.

        Args:
            graph: A compiled graph, or a reference (``path.py:attr``,
                ``module:attr``, a ``langgraph.json`` name).
            input: The graph input (LangGraph's ``input``; a ``Command`` works too).
            thread_id: Continue this thread; default a new one.
            config: Extra LangGraph config (``recursion_limit``, ``configurable``...).
            replace_graph: Run ``graph`` on a thread started with another graph.
            correlation_id: Carried by every event of the run (e.g. a request id).
            metadata: Copied into every event's ``metadata``.

        Raises:
            InvalidInput: an empty thread id, input the graph cannot take, or
                another graph than the thread's (without ``replace_graph``).
            GraphLoadError: ``graph`` is a reference that does not load.
            RunNotActive: the thread is running in a live process.
        """
        inputs.check_thread_id(thread_id)
        compiled, ref = self.graphs.resolve(graph)
        inputs.check_input(compiled, input)
        return await self.launcher.launch(
            compiled,
            ref,
            thread_id or records.new_thread_id(),
            input,
            config=config,
            resumed=False,
            replace_graph=replace_graph,
            correlation_id=correlation_id,
            metadata=metadata,
        )

    async def resume(
        self,
        thread_id: str,
        resume: Any = NOTHING,
        *,
        graph: Pregel | str | None = None,
        config: RunnableConfig | None = None,
    ) -> RunHandle:
        """Resume a failed, cancelled, interrupted, lost or orphaned run from its last checkpoint.

        Nodes that finished (including the successful ones of a superstep that
        failed, kept as pending writes) are not run again. A run that ended
        before LangGraph took its input starts again from the input stored
        with it.

        Args:
            thread_id: The thread to resume.
            resume: The answer to a pending ``interrupt()`` (sent as
                ``Command(resume=...)``); required when the run is interrupted.
            graph: The graph, when the run record holds no importable reference.
            config: Extra LangGraph config.

        Raises:
            ThreadNotFound: no run or checkpoint for the thread (with a did-you-mean).
            RunNotActive: the run completed, is running in a live process,
                waits for an answer that was not given, or was given an answer
                it does not wait for.
            GraphLoadError: the stored graph reference no longer loads.
        """
        inputs.check_thread_id(thread_id)
        return await self.recovery.resume(thread_id, resume, graph, config)

    async def stale_runs(self) -> list[RunRecord]:
        """Runs recorded ``running`` whose owner process is gone (or whose lease expired)."""
        return await self.recovery.stale_runs()

    async def recover(self) -> list[RunHandle]:
        """Resume every run whose process died; live runs elsewhere are left alone.

        A dead owner on this machine is seen at once (its pid is gone, or now
        belongs to another process); on another machine once its lease expired.
        Each run is claimed first (compare-and-set against the dead owner), then
        its last checkpoint repaired, then driven: two processes recovering
        together never both write. A run killed before LangGraph took its input
        starts again from the input stored with it. A run that cannot be
        recovered (its graph does not load, its input cannot be read) is
        marked ``lost`` with the reason.

        Returns:
            Handles of the resumed runs (wait on them to finish the work).
        """
        return await self.recovery.recover()

    async def cancel(self, thread_id: str) -> RunRecord:
        """Cancel a thread's run.

        A run in this engine stops now; a run owned by a live process elsewhere
        (a shared SurrealDB server) is asked to stop at its owner's next
        heartbeat; a failed, interrupted or orphaned run is marked
        ``cancelled`` so :meth:`recover` leaves it alone (``resume`` still works).

        Raises:
            ThreadNotFound: unknown thread.
            RunNotActive: the run already completed.
        """
        handle = self._active.get(thread_id)
        if handle is not None:
            await handle.cancel()
        record = await self.runs.get(thread_id)
        if record is None:
            raise await self._not_found(thread_id)
        if record.status == "completed":
            raise RunNotActive(f"thread {thread_id!r} already completed; nothing to cancel")
        if record.status == "running" and not owner_dead(record, time.time()):
            return await self.runs.request_cancel(thread_id, record.run_id) or record
        if record.status != "cancelled":
            await self.runs.finish(
                thread_id,
                record.run_id,
                {"status": "cancelled", "updated_at": time.time(), "lease_until": None},
            )
            record = await self.runs.get(thread_id) or record
        return record

    # -- health and metrics --------------------------------------------------

    def active_runs(self) -> list[RunHandle]:
        """The runs this engine drives now."""
        return list(self.launcher.active.values())

    def event_counts(self) -> dict[str, int]:
        """Events emitted by this engine's runs since it opened, by type."""
        return dict(self._driver.event_counts)

    @property
    def heartbeat_running(self) -> bool:
        """Whether the lease heartbeat is alive (runs elsewhere would take ours over otherwise)."""
        return self._heartbeat.running

    async def metrics(self) -> dict[str, Any]:
        """What a dashboard or a health check wants to know, in one dict
        (see :func:`sentient_graph.engine.health.collect`)."""
        return await health.collect(self)

    # -- inspection ----------------------------------------------------------

    async def threads(self, status: str | None = None) -> list[RunRecord]:
        """Every thread's current run, most recently updated first.

        A ``running`` run whose owner is gone comes back with ``stale=True``
        (what :meth:`recover` would take over).

        Args:
            status: Only threads whose run has this status.
        """
        now = time.time()
        records = [
            r.as_stale()
            if r.status == "running" and r.thread_id not in self._active and owner_dead(r, now)
            else r
            for r in await self.runs.list_records(status)
        ]
        return sorted(records, key=lambda r: r.updated_at or 0.0, reverse=True)

    async def get_run(self, thread_id: str) -> RunRecord:
        """The current run record of a thread.

        Raises:
            ThreadNotFound: unknown thread.
        """
        record = await self.runs.get(thread_id)
        if record is None:
            raise await self._not_found(thread_id)
        return record

    async def state(self, thread_id: str, *, graph: Pregel | str | None = None) -> StateSnapshot:
        """LangGraph's ``StateSnapshot`` of the thread's latest checkpoint."""
        record = await self.runs.get(thread_id)
        if record is None and not await checkpoint_exists(self.saver, thread_id):
            raise await self._not_found(thread_id)
        compiled = self.graphs.for_thread(thread_id, record.graph if record else None, graph)
        return await self.graphs.attach(compiled).aget_state(
            {"configurable": {"thread_id": thread_id}}
        )

    async def history(
        self, thread_id: str, *, limit: int | None = None, graph: Pregel | str | None = None
    ) -> list[CheckpointInfo]:
        """The thread's checkpoints, newest first.

        With the graph (loaded from the run record) each entry has LangGraph's
        view (``next``, interrupts, state values); without it, the raw channel
        values from the checkpointer.

        Raises:
            ThreadNotFound: no checkpoints for the thread.
        """
        return await self.timetravel.history(thread_id, limit, graph)

    async def fork(
        self,
        thread_id: str,
        checkpoint_id: str,
        values: Any = None,
        *,
        as_node: str | None = None,
        new_thread_id: str | None = None,
        graph: Pregel | str | None = None,
    ) -> str:
        """Branch a new thread from a past checkpoint ("time travel").

        The thread is copied to the new one (so its history reads the same up
        to the fork), and the copy branches at ``checkpoint_id``: ``values``,
        if given, are applied with ``update_state`` as if ``as_node`` had
        written them. Run the new thread with :meth:`resume` (its status is
        ``pending``).

        Returns:
            The new thread id.

        Raises:
            ThreadNotFound: unknown thread or checkpoint.
            InvalidInput: ``new_thread_id`` is empty.
            RunNotActive: ``new_thread_id`` already exists.
        """
        inputs.check_thread_id(new_thread_id)
        return await self.timetravel.fork(
            thread_id, checkpoint_id, values, as_node, new_thread_id, graph
        )
