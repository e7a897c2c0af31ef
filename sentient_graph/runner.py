"""The engine: start, watch, resume, recover, cancel, list, inspect and fork runs.

Owns: the one shared :class:`~sentient_graph.db.AsyncConnection` of an engine
(checkpointer, event log and run records all use it), attaching the SurrealDB
checkpointer to any compiled graph, driving a run with ``astream`` and handing
every stream chunk to :class:`~sentient_graph.events.RunEmitter`, the ``run``
table (one record per thread: its current run, status, graph reference, owner
process and lease), deciding which runs are orphaned (owner process dead or
lease expired) and resuming them, and the sync facade for scripts.

Must not: turn stream chunks into events itself (``RunEmitter.from_chunk`` is
the one place), know the checkpointer's tables, or configure logging (the CLI
does that). Every value reaches SurrealQL as a bound ``$param``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import difflib
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.types import Command, Durability, StateSnapshot, StreamMode

from sentient_graph import db
from sentient_graph.errors import (
    GraphLoadError,
    RunCancelled,
    RunFailed,
    RunNotActive,
    ThreadNotFound,
)
from sentient_graph.loader import load_graph, ref_of
from sentient_graph.settings import redis_url_from_env

if TYPE_CHECKING:
    from sentient_graph.events import Event, EventBus, RunEmitter
    from sentient_graph.events.emitter import PendingEvent

__all__ = [
    "CheckpointInfo",
    "Engine",
    "RunHandle",
    "RunRecord",
    "RunStatus",
    "SyncEngine",
    "SyncRunHandle",
]

log = structlog.get_logger(__name__)

T = TypeVar("T")

RunStatus = Literal["pending", "running", "completed", "failed", "interrupted", "cancelled"]
#: Statuses a run can be resumed from (``running`` only when its owner is dead).
RESUMABLE: frozenset[str] = frozenset({"pending", "failed", "interrupted", "cancelled"})

#: Stream modes the engine asks LangGraph for; ``values`` gives the final state.
STREAM_MODES: list[StreamMode] = ["tasks", "checkpoints", "custom", "values"]

_INTERRUPT_KEY = "__interrupt__"
#: LangGraph's pending-write channel for a task's error (part of the stored checkpoint format).
_ERROR_CHANNEL = "__error__"
#: Channels that record how a task ended rather than what it wrote.
_STATUS_CHANNELS = frozenset({"__error__", "__error_source_node__", "__interrupt__", "__resume__"})

# ---------------------------------------------------------------------------
# SurrealQL: every statement the runner sends, in one place
# ---------------------------------------------------------------------------

SETUP_SQL = """
DEFINE TABLE IF NOT EXISTS run SCHEMALESS;
DEFINE INDEX IF NOT EXISTS run_status ON run FIELDS status;
DEFINE INDEX IF NOT EXISTS run_owner ON run FIELDS owner;
"""

#: Take a thread for a new run: only if nobody runs it, we already own it, or we
#: are taking over from a named dead owner (compare-and-set on owner + run_id).
CLAIM_SQL = """
UPSERT run:[$thread_id] MERGE $fields
WHERE status != 'running' OR owner = $owner OR (owner = $stale_owner AND run_id = $stale_run)
RETURN AFTER;
"""

#: Record how a run ended; a run that was taken over by someone else writes nothing.
FINISH_SQL = "UPDATE run:[$thread_id] MERGE $fields WHERE run_id = $run_id RETURN NONE;"

GET_SQL = "SELECT * FROM ONLY run:[$thread_id];"
LIST_SQL = "SELECT * FROM run;"
LIST_BY_STATUS_SQL = "SELECT * FROM run WHERE status = $status;"
THREAD_IDS_SQL = "SELECT VALUE thread_id FROM run;"
RUNNING_ELSEWHERE_SQL = "SELECT * FROM run WHERE status = 'running' AND owner != $owner;"

HEARTBEAT_SQL = """
UPDATE run SET heartbeat_at = $now, lease_until = $until
WHERE owner = $owner AND status = 'running'
RETURN thread_id, run_id, cancel_requested;
"""

REQUEST_CANCEL_SQL = """
UPDATE run:[$thread_id] SET cancel_requested = true
WHERE run_id = $run_id AND status = 'running'
RETURN AFTER;
"""

# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """The current run of a thread, as stored in the ``run`` table.

    Attributes:
        thread_id: The thread (LangGraph's ``thread_id``).
        run_id: The latest run on the thread; every start or resume makes a new one.
        graph: The graph reference that loads the graph again, or ``None`` when
            the graph was defined in ``__main__`` or a notebook.
        status: ``pending``, ``running``, ``completed``, ``failed``,
            ``interrupted`` or ``cancelled``.
        owner: Which engine runs it (``host/pid/nonce``) while ``running``.
        pid: Owner process id.
        host: Owner host name.
        pid_start: Owner process start time (from ``/proc``), guards against pid reuse.
        started_at: Epoch seconds the run started.
        updated_at: Epoch seconds of the last change.
        heartbeat_at: Epoch seconds of the owner's last heartbeat.
        lease_until: Epoch seconds after which a silent owner counts as dead.
        error: One-line error of a failed run.
        node: The node that failed, when known.
        cancel_requested: Someone asked the owner to cancel the run.
    """

    thread_id: str
    run_id: str
    graph: str | None = None
    status: str = "pending"
    owner: str | None = None
    pid: int | None = None
    host: str | None = None
    pid_start: str | None = None
    started_at: float | None = None
    updated_at: float | None = None
    heartbeat_at: float | None = None
    lease_until: float | None = None
    error: str | None = None
    node: str | None = None
    cancel_requested: bool | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRecord:
        """Build from a ``run`` row, ignoring fields this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in known})


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of a thread, newest first in :meth:`Engine.history`.

    Attributes:
        checkpoint_id: Pass to :meth:`Engine.fork` to branch from here.
        parent_checkpoint_id: The checkpoint this one followed.
        step: LangGraph's superstep number (``-1`` for the input).
        source: ``input``, ``loop``, ``update`` or ``fork``.
        created_at: ISO time the checkpoint was written.
        next: Nodes that would run next from here.
        values: The graph state at this checkpoint.
        interrupts: Pending ``interrupt()`` values at this checkpoint.
        run_id: The engine run that wrote it, when known.
    """

    checkpoint_id: str
    parent_checkpoint_id: str | None
    step: int | None
    source: str | None
    created_at: str | None
    next: tuple[str, ...]
    values: Any
    interrupts: tuple[Any, ...] = ()
    run_id: str | None = None


# ---------------------------------------------------------------------------
# Owner liveness (pure, Linux /proc where available)
# ---------------------------------------------------------------------------

_HOST = socket.gethostname()


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """``(state, starttime)`` of a process from ``/proc``, or ``None`` if unknown."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields after the last ')'.
    rest = data.rsplit(")", 1)[-1].split()
    if len(rest) < 20:
        return None
    return rest[0], rest[19]


def _process_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _pid_alive(pid: int | None, start: str | None) -> bool:
    """Whether process ``pid`` (started at ``start``) still runs on this machine."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = _proc_stat(pid)
    if stat is not None:
        state, started = stat
        # A SIGKILLed child that its parent has not reaped yet is a zombie: dead.
        if state in ("Z", "X"):
            return False
        if start is not None and started != start:
            return False  # the pid was reused by another process
    return True


#: Owners (engines) alive in this process; another engine here is not "dead".
_LIVE_OWNERS: set[str] = set()


def _owner_dead(record: RunRecord, now: float) -> bool:
    """Whether the owner of a ``running`` record is gone.

    Same machine: decided at once from the pid (and its start time). Another
    machine: only when the lease has expired.
    """
    if record.owner in _LIVE_OWNERS:
        return False
    if record.host == _HOST and record.pid:
        if record.pid == os.getpid():
            return True  # our process, but no live engine of ours owns it
        return not _pid_alive(record.pid, record.pid_start)
    return record.lease_until is None or record.lease_until < now


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _strip_interrupts(values: Any) -> Any:
    if isinstance(values, dict) and _INTERRUPT_KEY in values:
        return {k: v for k, v in values.items() if k != _INTERRUPT_KEY}
    return values


def _interrupt_payload(interrupts: Any) -> list[dict[str, Any]]:
    return [
        {"id": getattr(i, "id", None), "value": getattr(i, "value", i)} for i in interrupts or ()
    ]


# ---------------------------------------------------------------------------
# Run handle
# ---------------------------------------------------------------------------

_NOTHING: Any = object()


class RunHandle:
    """One run in progress on an :class:`Engine`.

    Attributes:
        thread_id: The thread the run works on.
        run_id: This run's id (events carry it).
        graph_ref: The graph reference stored with the run, if any.
    """

    def __init__(self, thread_id: str, run_id: str, graph_ref: str | None) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.graph_ref = graph_ref
        self.status: str = "running"
        self.values: Any = None
        self.interrupts: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        # Built events, or events built when first read (PendingEvent).
        self._events: list[Event | PendingEvent] = []
        self._changed = asyncio.Event()
        self._finished = False
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RunHandle(thread_id={self.thread_id!r}, run_id={self.run_id!r}, status={self.status!r})"

    def _add_events(self, events: Sequence[Event | PendingEvent]) -> None:
        if events:
            self._events.extend(events)
            self._changed.set()

    def _finish(self) -> None:
        self._finished = True
        self._changed.set()

    def done(self) -> bool:
        """True once the run completed, failed, was interrupted or cancelled."""
        return self._finished

    async def events(self) -> AsyncGenerator[Event, None]:
        """Every event of this run from ``seq`` 1, live; ends after the last one.

        Several consumers may iterate at once; each sees every event.
        """
        from sentient_graph.events.emitter import PendingEvent

        index = 0
        while True:
            while index < len(self._events):
                item = self._events[index]
                yield item.event if isinstance(item, PendingEvent) else item
                index += 1
            if self._finished:
                return
            self._changed.clear()
            if index < len(self._events) or self._finished:
                continue
            await self._changed.wait()

    async def wait(self) -> Any:
        """Wait for the run to end and return its final state.

        An interrupted run returns its state with LangGraph's ``__interrupt__``
        key, as ``invoke`` does; :attr:`status` is then ``"interrupted"``.
        Giving up on the wait (``asyncio.wait_for(run.wait(), 10)``) does not
        cancel the run.

        Raises:
            RunFailed: a node raised (the node's exception is the ``__cause__``).
            RunCancelled: the run was cancelled.
        """
        assert self._task is not None
        # shield: a waiter that gives up must not cancel the run it waits for
        await asyncio.shield(self._task)
        if self.error is not None:
            raise self.error
        return self.values

    async def cancel(self) -> None:
        """Cancel the run and wait until it recorded ``cancelled``; a no-op once done."""
        if self._task is None or self._task.done():
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._task)


# ---------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------


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
    try:
        from checkpointers.surrealdb import AsyncSurrealSaver
    except ImportError:  # pragma: no cover - only while the saver is being written
        from langgraph.checkpoint.memory import InMemorySaver

        log.warning("engine.saver_missing", fallback="InMemorySaver")
        return InMemorySaver()
    saver = AsyncSurrealSaver(conn)
    await saver.setup()
    return saver


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
    ) -> None:
        """Use :meth:`open`; this wires already-open parts together."""
        self.conn = conn
        self.saver = saver
        self.bus = bus
        self.durability: Durability = durability
        self.lease_seconds = lease_seconds
        self.owner = f"{_HOST}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        self._owns_conn = owns_conn
        self._pid_start = _process_start(os.getpid())
        self._active: dict[str, RunHandle] = {}
        # Graphs with no importable reference (notebooks, __main__), by thread.
        self._graph_by_thread: dict[str, Pregel] = {}
        self._graph_by_ref: dict[str, Pregel] = {}
        self._attached: weakref.WeakKeyDictionary[Pregel, Pregel] = weakref.WeakKeyDictionary()
        self._heartbeat: asyncio.Task[None] | None = None
        # Strong references to fire-and-forget tasks (the loop keeps only weak ones).
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        _LIVE_OWNERS.add(self.owner)

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
                next ones (default :data:`~sentient_graph.events.bus.DEFAULT_LINGER`,
                50 ms; it goes as soon as the process idles, and at the writer's
                next turn while someone follows its thread:
                :data:`~sentient_graph.events.bus.FOLLOWED_LINGER`; a followed
                node start goes at once, from the run's own task): less cost per
                run against later live delivery (BENCHMARKS.md).

        Returns:
            An awaitable that is also an async context manager.

        Raises:
            StoreLocked: the embedded store is held by another process.
            StoreUnavailable: SurrealDB cannot be reached.
            RedisUnavailable: ``redis_url`` is set but Redis does not answer.
        """

        async def factory() -> Engine:
            from sentient_graph.events import DEFAULT_LINGER, EventBus

            conn = await db.connect(surreal_url, namespace=namespace, database=database)
            try:
                saver = await _open_saver(conn)
                bus = await EventBus.open(
                    conn,
                    redis_url=redis_url_from_env(redis_url),
                    prefix=prefix,
                    linger=DEFAULT_LINGER if event_linger is None else event_linger,
                )
            except BaseException:
                await conn.aclose()
                raise
            engine = cls(conn, saver, bus, durability=durability, lease_seconds=lease_seconds)
            try:
                await engine.setup()
            except BaseException:
                await engine.aclose()
                raise
            return engine

        return _Opening(factory)

    async def setup(self) -> None:
        """Create the ``run`` table (idempotent) and start the heartbeat."""
        await self.conn.query(SETUP_SQL)
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="sentient-heartbeat")

    async def aclose(self) -> None:
        """Cancel runs still going (recorded ``cancelled``), then release the store."""
        if self._closed:
            return
        self._closed = True
        for handle in list(self._active.values()):
            await handle.cancel()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        _LIVE_OWNERS.discard(self.owner)
        with contextlib.suppress(Exception):
            await self.bus.aclose()
        if self._owns_conn:
            await self.conn.aclose()

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

    # -- graphs ------------------------------------------------------------

    def _attach(self, graph: Pregel) -> Pregel:
        """``graph`` with our checkpointer (a copy; the caller's graph is untouched)."""
        attached = self._attached.get(graph)
        if attached is None:
            if not isinstance(graph, Pregel):
                raise GraphLoadError(
                    f"expected a compiled LangGraph graph, got {type(graph).__name__} (call builder.compile())"
                )
            attached = graph.copy(update={"checkpointer": self.saver})
            self._attached[graph] = attached
        return attached

    def _resolve(self, graph: Pregel | str) -> tuple[Pregel, str | None]:
        if isinstance(graph, str):
            cached = self._graph_by_ref.get(graph)
            if cached is not None:
                return cached, ref_of(cached) or graph
            loaded = load_graph(graph)
            self._graph_by_ref[graph] = loaded.graph
            self._graph_by_ref[loaded.ref] = loaded.graph
            return loaded.graph, loaded.ref
        return graph, ref_of(graph)

    def _graph_for(
        self, record: RunRecord | None, thread_id: str, graph: Pregel | str | None
    ) -> Pregel:
        if graph is not None:
            return self._resolve(graph)[0]
        known = self._graph_by_thread.get(thread_id)
        if known is not None:
            return known
        if record is not None and record.graph:
            return self._resolve(record.graph)[0]
        raise GraphLoadError(
            f"thread {thread_id!r} was started from a graph with no importable reference "
            "(defined in __main__ or a notebook); pass graph=... (CLI: --graph path.py:graph)"
        )

    # -- run records ---------------------------------------------------------

    async def _record(self, thread_id: str) -> RunRecord | None:
        (row,) = await self.conn.query(GET_SQL, {"thread_id": thread_id})
        return RunRecord.from_row(row) if row else None

    async def _claim(
        self, thread_id: str, run_id: str, graph_ref: str | None, stale: RunRecord | None = None
    ) -> RunRecord | None:
        now = time.time()
        fields_ = {
            "thread_id": thread_id,
            "run_id": run_id,
            "graph": graph_ref,
            "status": "running",
            "owner": self.owner,
            "pid": os.getpid(),
            "host": _HOST,
            "pid_start": self._pid_start,
            "started_at": now,
            "updated_at": now,
            "heartbeat_at": now,
            "lease_until": now + self.lease_seconds,
            "error": None,
            "node": None,
            "cancel_requested": False,
        }
        (rows,) = await self.conn.query(
            CLAIM_SQL,
            {
                "thread_id": thread_id,
                "fields": fields_,
                "owner": self.owner,
                "stale_owner": stale.owner if stale else None,
                "stale_run": stale.run_id if stale else None,
            },
        )
        return RunRecord.from_row(rows[0]) if rows else None

    async def _finish_record(self, handle: RunHandle, status: str, **extra: Any) -> None:
        fields_ = {"status": status, "updated_at": time.time(), "lease_until": None, **extra}
        await self.conn.query(
            FINISH_SQL, {"thread_id": handle.thread_id, "run_id": handle.run_id, "fields": fields_}
        )

    async def _heartbeat_loop(self) -> None:
        interval = max(0.5, self.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                now = time.time()
                (rows,) = await self.conn.query(
                    HEARTBEAT_SQL,
                    {"now": now, "until": now + self.lease_seconds, "owner": self.owner},
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a missed beat must not stop the runs
                log.warning("engine.heartbeat_failed", error=_one_line(exc))
                continue
            for row in rows or ():
                handle = self._active.get(row.get("thread_id"))
                if row.get("cancel_requested") and handle and handle.run_id == row.get("run_id"):
                    task = asyncio.create_task(handle.cancel())
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)

    async def _not_found(self, thread_id: str) -> ThreadNotFound:
        (ids,) = await self.conn.query(THREAD_IDS_SQL)
        close = difflib.get_close_matches(thread_id, [str(i) for i in ids or ()], n=1)
        hint = (
            f" (did you mean {close[0]!r}?)"
            if close
            else " (list them with `sentient-graph threads`)"
        )
        return ThreadNotFound(
            f"no run or checkpoint for thread {thread_id!r} in {db.describe_url(self.conn.url)}{hint}"
        )

    async def _has_checkpoint(self, thread_id: str) -> bool:
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        return await self.saver.aget_tuple(config) is not None

    # -- runs ----------------------------------------------------------------

    async def start(
        self,
        graph: Pregel | str,
        input: Any,
        thread_id: str | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> RunHandle:
        """Start a run and return at once; the run goes on in the background.

        Args:
            graph: A compiled graph, or a reference (``path.py:attr``,
                ``module:attr``, a ``langgraph.json`` name).
            input: The graph input (LangGraph's ``input``; a ``Command`` works too).
            thread_id: Continue this thread; default a new one.
            config: Extra LangGraph config (``recursion_limit``, ``configurable``...).

        Raises:
            GraphLoadError: ``graph`` is a reference that does not load.
            RunNotActive: the thread is running in a live process.
        """
        compiled, ref = self._resolve(graph)
        thread_id = thread_id or uuid.uuid4().hex[:12]
        return await self._launch(compiled, ref, thread_id, input, config=config, resumed=False)

    async def _launch(
        self,
        graph: Pregel,
        ref: str | None,
        thread_id: str,
        input: Any,
        *,
        config: RunnableConfig | None,
        resumed: bool,
        stale: RunRecord | None = None,
    ) -> RunHandle:
        if self._closed:
            raise RunNotActive("the engine is closed; open a new one")
        if thread_id in self._active:
            raise RunNotActive(f"thread {thread_id!r} is already running in this engine")
        attached = self._attach(graph)
        run_id = uuid.uuid4().hex
        handle = RunHandle(thread_id, run_id, ref)
        # Reserve before the first await so two starts on one thread cannot both pass.
        self._active[thread_id] = handle
        try:
            claimed = await self._claim(thread_id, run_id, ref, stale)
            if claimed is None:
                record = await self._record(thread_id)
                raise RunNotActive(_busy_message(thread_id, record))
        except BaseException:
            self._active.pop(thread_id, None)
            raise
        if ref is None:
            self._graph_by_thread[thread_id] = graph
        handle._task = asyncio.create_task(
            self._drive(handle, attached, input, config, resumed=resumed),
            name=f"sentient-run-{thread_id}",
        )
        return handle

    async def _drive(
        self,
        handle: RunHandle,
        graph: Pregel,
        input: Any,
        extra: RunnableConfig | None,
        *,
        resumed: bool,
    ) -> None:
        from sentient_graph.events import EventType, RunEmitter

        emitter: RunEmitter = RunEmitter(self.bus, thread_id=handle.thread_id, run_id=handle.run_id)
        options: dict[str, Any] = dict(extra or {})
        configurable = {**options.pop("configurable", {}), "thread_id": handle.thread_id}
        metadata = {**options.pop("metadata", {}), "run_id": handle.run_id}
        config: RunnableConfig = {**options, "configurable": configurable, "metadata": metadata}  # type: ignore[typeddict-item]
        failing_node: str | None = None
        values: Any = None
        node_interrupted = False

        async def emit(type_: EventType, **kwargs: Any) -> None:
            handle._add_events([await emitter.emit(type_, **kwargs)])

        with structlog.contextvars.bound_contextvars(
            thread_id=handle.thread_id, run_id=handle.run_id
        ):
            try:
                # Written behind with the first steps' events (the run record already
                # says the run started): a log write of its own cost ~1 ms per run.
                await emit(
                    EventType.RUN_STARTED,
                    payload={"graph": handle.graph_ref, "resumed": resumed},
                    wait=False,
                )
                log.info("run.started", graph=handle.graph_ref, resumed=resumed)
                async for mode, chunk in graph.astream(
                    input, config, stream_mode=STREAM_MODES, durability=self.durability
                ):
                    if mode == "values":
                        values = chunk
                    elif mode == "tasks" and isinstance(chunk, dict) and chunk.get("error"):
                        failing_node = chunk.get("name")
                    # Built when written or read: not between the graph's steps.
                    emitted = await emitter.from_chunk_deferred(mode, chunk)
                    node_interrupted |= any(e.type is EventType.INTERRUPTED for e in emitted)
                    handle._add_events(emitted)
            except asyncio.CancelledError:
                handle.status = "cancelled"
                handle.values = _strip_interrupts(values)
                handle.error = RunCancelled(
                    f"run {handle.run_id} on thread {handle.thread_id!r} was cancelled "
                    f"(resume it with `sentient-graph resume {handle.thread_id}`)",
                    thread_id=handle.thread_id,
                    run_id=handle.run_id,
                )
                await self._end(handle, "cancelled", emit, EventType.RUN_CANCELLED, {})
                log.info("run.cancelled")
                return
            except Exception as exc:
                message = _one_line(exc)
                handle.status = "failed"
                handle.values = _strip_interrupts(values)
                where = f" in node {failing_node!r}" if failing_node else ""
                error = RunFailed(
                    f"run on thread {handle.thread_id!r} failed{where}: {message} "
                    f"(fix it, then `sentient-graph resume {handle.thread_id}`)",
                    thread_id=handle.thread_id,
                    run_id=handle.run_id,
                    node=failing_node,
                )
                error.__cause__ = exc
                handle.error = error
                await self._end(
                    handle,
                    "failed",
                    emit,
                    EventType.RUN_FAILED,
                    {"error": message, "error_type": type(exc).__name__, "node": failing_node},
                    error=message,
                    node=failing_node,
                )
                log.info("run.failed", error=message, node=failing_node)
                return
            handle.values = values
            interrupts = values.get(_INTERRUPT_KEY) if isinstance(values, dict) else None
            if interrupts:
                handle.status = "interrupted"
                handle.interrupts = _interrupt_payload(interrupts)
                # The emitter already announced the node's interrupt; one event per pause.
                await self._end(
                    handle,
                    "interrupted",
                    emit if not node_interrupted else None,
                    EventType.INTERRUPTED,
                    {"interrupts": handle.interrupts},
                )
                log.info("run.interrupted")
            else:
                handle.status = "completed"
                await self._end(
                    handle, "completed", emit, EventType.RUN_COMPLETED, {"values": values}
                )
                log.info("run.completed")

    async def _end(
        self,
        handle: RunHandle,
        status: str,
        emit: Callable[..., Awaitable[None]] | None,
        event_type: Any,
        payload: dict[str, Any],
        **record: Any,
    ) -> None:
        """Record how a run ended, then tell the world; the handle finishes either way."""
        try:
            # Record first: whoever reacts to the event (resume, recover) must see the status.
            await self._finish_record(handle, status, **record)
            if emit is not None:
                await emit(event_type, payload=payload)
        except Exception as exc:
            log.error("run.finish_not_recorded", status=status, error=_one_line(exc))
            if handle.error is None:
                handle.error = RunFailed(
                    f"run on thread {handle.thread_id!r} ended {status} but the store refused "
                    f"the record: {_one_line(exc)}",
                    thread_id=handle.thread_id,
                    run_id=handle.run_id,
                )
        finally:
            self._active.pop(handle.thread_id, None)
            handle._finish()

    async def resume(
        self,
        thread_id: str,
        resume: Any = _NOTHING,
        *,
        graph: Pregel | str | None = None,
        config: RunnableConfig | None = None,
    ) -> RunHandle:
        """Resume a failed, cancelled, interrupted or orphaned run from its last checkpoint.

        Nodes that finished (including the successful ones of a superstep that
        failed, kept as pending writes) are not run again.

        Args:
            thread_id: The thread to resume.
            resume: The answer to a pending ``interrupt()`` (sent as
                ``Command(resume=...)``); required when the run is interrupted.
            graph: The graph, when the run record holds no importable reference.
            config: Extra LangGraph config.

        Raises:
            ThreadNotFound: no run or checkpoint for the thread (with a did-you-mean).
            RunNotActive: the run completed, is running in a live process, or
                waits for an answer that was not given.
            GraphLoadError: the stored graph reference no longer loads.
        """
        record = await self._record(thread_id)
        if record is None and not await self._has_checkpoint(thread_id):
            raise await self._not_found(thread_id)
        stale: RunRecord | None = None
        if record is not None:
            if record.status == "running":
                if thread_id in self._active or not _owner_dead(record, time.time()):
                    raise RunNotActive(_busy_message(thread_id, record))
                stale = record
            elif record.status == "completed" and resume is _NOTHING:
                raise RunNotActive(
                    f"thread {thread_id!r} completed; nothing to resume "
                    "(start it again with new input, or fork it from a checkpoint)"
                )
        compiled = self._graph_for(record, thread_id, graph)
        ref = ref_of(compiled) or (record.graph if record else None)
        command: Any = None
        if resume is not _NOTHING:
            command = Command(resume=resume)
        else:
            state = await self._attach(compiled).aget_state(
                {"configurable": {"thread_id": thread_id}}
            )
            if state.interrupts:
                raise RunNotActive(
                    f"thread {thread_id!r} waits for an answer to {state.interrupts[0].value!r}; "
                    "pass resume=... (CLI: --value JSON)"
                )
            # ``next`` leaves out tasks that finished but whose superstep did not
            # complete (their writes are pending); those still need a resume.
            if not state.next and not state.tasks:
                raise RunNotActive(
                    f"thread {thread_id!r} has nothing left to run (it finished at its last checkpoint)"
                )
        await self._drop_partial_writes(compiled, thread_id)
        return await self._launch(
            compiled, ref, thread_id, command, config=config, resumed=True, stale=stale
        )

    async def _drop_partial_writes(self, graph: Pregel, thread_id: str) -> None:
        """Make tasks that were cancelled half-way through their writes run again.

        LangGraph stores the writes a cancelled task had made so far next to its
        error (``PregelRunner.commit``), and on resume treats those writes as the
        task's output: a node cancelled between its state write and its
        conditional edge would count as finished and its branch would be lost.
        When the last checkpoint holds such a task, it is copied (LangGraph's
        ``__copy__``) and only the writes of the tasks that finished are carried
        over to the copy, so the cancelled ones run again and finished ones do not.
        """
        head_config: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": ""}
        }
        head = await self.saver.aget_tuple(head_config)
        if head is None or not head.pending_writes:
            return
        by_task: dict[str, list[tuple[str, Any]]] = {}
        for task_id, channel, value in head.pending_writes:
            by_task.setdefault(task_id, []).append((channel, value))

        def failed(writes: list[tuple[str, Any]]) -> bool:
            return any(channel == _ERROR_CHANNEL for channel, _ in writes)

        partial = [
            task_id
            for task_id, writes in by_task.items()
            if failed(writes) and any(ch not in _STATUS_CHANNELS for ch, _ in writes)
        ]
        if not partial:
            return
        attached = self._attach(graph)
        before = await attached.aget_state(head.config)
        key_of = {task.id: (task.name, task.path) for task in before.tasks}
        copy_config = await attached.aupdate_state(head.config, None, as_node="__copy__")
        after = await attached.aget_state(copy_config)
        # Task ids hash the checkpoint id; the copy's tasks are the same tasks by (name, path).
        id_of = {(task.name, task.path): task.id for task in after.tasks}
        for task_id, writes in by_task.items():
            if failed(writes):
                continue
            key = key_of.get(task_id)
            new_id = id_of.get(key) if key is not None else task_id
            if new_id is None:
                log.warning("resume.finished_task_not_matched", task_id=task_id)
                continue
            await self.saver.aput_writes(copy_config, writes, new_id)
        log.info("resume.partial_writes_dropped", tasks=len(partial))

    async def stale_runs(self) -> list[RunRecord]:
        """Runs recorded ``running`` whose owner process is gone (or whose lease expired)."""
        (rows,) = await self.conn.query(RUNNING_ELSEWHERE_SQL, {"owner": self.owner})
        now = time.time()
        records = [RunRecord.from_row(r) for r in rows or ()]
        return [r for r in records if r.thread_id not in self._active and _owner_dead(r, now)]

    async def recover(self) -> list[RunHandle]:
        """Resume every run whose process died; live runs elsewhere are left alone.

        A dead owner on this machine is seen at once (its pid is gone, or now
        belongs to another process); on another machine once its lease expired.
        A run whose graph no longer loads is marked ``failed`` with the reason
        (resume it with ``graph=...`` / ``--graph``).

        Returns:
            Handles of the resumed runs (wait on them to finish the work).
        """
        handles: list[RunHandle] = []
        for record in await self.stale_runs():
            try:
                compiled = self._graph_for(record, record.thread_id, None)
            except GraphLoadError as exc:
                log.warning("recover.graph_unloadable", thread_id=record.thread_id, error=str(exc))
                await self.conn.query(
                    FINISH_SQL,
                    {
                        "thread_id": record.thread_id,
                        "run_id": record.run_id,
                        "fields": {
                            "status": "failed",
                            "error": f"recover could not load the graph: {exc}",
                            "updated_at": time.time(),
                        },
                    },
                )
                continue
            try:
                await self._drop_partial_writes(compiled, record.thread_id)
                handle = await self._launch(
                    compiled,
                    record.graph,
                    record.thread_id,
                    None,
                    config=None,
                    resumed=True,
                    stale=record,
                )
            except RunNotActive:
                continue  # another process claimed it first
            log.info("recover.resumed", thread_id=record.thread_id, dead_owner=record.owner)
            handles.append(handle)
        return handles

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
        record = await self._record(thread_id)
        if record is None:
            raise await self._not_found(thread_id)
        if record.status == "completed":
            raise RunNotActive(f"thread {thread_id!r} already completed; nothing to cancel")
        if record.status == "running" and not _owner_dead(record, time.time()):
            (rows,) = await self.conn.query(
                REQUEST_CANCEL_SQL, {"thread_id": thread_id, "run_id": record.run_id}
            )
            return RunRecord.from_row(rows[0]) if rows else record
        if record.status != "cancelled":
            await self.conn.query(
                FINISH_SQL,
                {
                    "thread_id": thread_id,
                    "run_id": record.run_id,
                    "fields": {
                        "status": "cancelled",
                        "updated_at": time.time(),
                        "lease_until": None,
                    },
                },
            )
            record = await self._record(thread_id) or record
        return record

    # -- inspection ----------------------------------------------------------

    async def threads(self, status: str | None = None) -> list[RunRecord]:
        """Every thread's current run, most recently updated first.

        Args:
            status: Only threads whose run has this status.
        """
        if status is None:
            (rows,) = await self.conn.query(LIST_SQL)
        else:
            (rows,) = await self.conn.query(LIST_BY_STATUS_SQL, {"status": status})
        records = [RunRecord.from_row(r) for r in rows or ()]
        return sorted(records, key=lambda r: r.updated_at or 0.0, reverse=True)

    async def get_run(self, thread_id: str) -> RunRecord:
        """The current run record of a thread.

        Raises:
            ThreadNotFound: unknown thread.
        """
        record = await self._record(thread_id)
        if record is None:
            raise await self._not_found(thread_id)
        return record

    async def state(self, thread_id: str, *, graph: Pregel | str | None = None) -> StateSnapshot:
        """LangGraph's ``StateSnapshot`` of the thread's latest checkpoint."""
        record = await self._record(thread_id)
        if record is None and not await self._has_checkpoint(thread_id):
            raise await self._not_found(thread_id)
        compiled = self._attach(self._graph_for(record, thread_id, graph))
        return await compiled.aget_state({"configurable": {"thread_id": thread_id}})

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
        record = await self._record(thread_id)
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        try:
            compiled: Pregel | None = self._attach(self._graph_for(record, thread_id, graph))
        except GraphLoadError:
            compiled = None
        items: list[CheckpointInfo] = []
        if compiled is not None:
            async for snap in compiled.aget_state_history(config, limit=limit):
                items.append(_info_from_snapshot(snap))
        else:
            async for tup in self.saver.alist(config, limit=limit):
                items.append(_info_from_tuple(tup))
        if not items:
            raise await self._not_found(thread_id)
        return items

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

        The checkpoint and its ancestors are copied to the new thread (so its
        history reads the same up to the fork); ``values``, if given, are then
        applied with ``update_state`` as if ``as_node`` had written them. Run
        the new thread with :meth:`resume` (its status is ``pending``).

        Returns:
            The new thread id.

        Raises:
            ThreadNotFound: unknown thread or checkpoint.
        """
        record = await self._record(thread_id)
        compiled = self._graph_for(record, thread_id, graph)
        ref = ref_of(compiled) or (record.graph if record else None)
        chain = []
        config: RunnableConfig | None = {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": "",
                "checkpoint_id": checkpoint_id,
            }
        }
        while config is not None:
            tup = await self.saver.aget_tuple(config)
            if tup is None:
                break
            chain.append(tup)
            config = tup.parent_config
        if not chain:
            if record is None and not await self._has_checkpoint(thread_id):
                raise await self._not_found(thread_id)
            raise ThreadNotFound(
                f"thread {thread_id!r} has no checkpoint {checkpoint_id!r} "
                f"(list them with `sentient-graph history {thread_id}`)"
            )
        new_thread_id = new_thread_id or uuid.uuid4().hex[:12]
        if await self._has_checkpoint(new_thread_id) or await self._record(new_thread_id):
            raise RunNotActive(f"thread {new_thread_id!r} already exists; choose another id")
        parent_id: str | None = None
        for tup in reversed(chain):
            target: RunnableConfig = {
                "configurable": {
                    "thread_id": new_thread_id,
                    "checkpoint_ns": "",
                    "checkpoint_id": parent_id,
                }
            }
            checkpoint = tup.checkpoint
            saved = await self.saver.aput(
                target,
                checkpoint,
                {
                    **tup.metadata,
                    "forked_from": {"thread_id": thread_id, "checkpoint_id": checkpoint["id"]},
                },  # type: ignore[typeddict-unknown-key]
                dict(checkpoint["channel_versions"]),
            )
            # The fork point's own pending writes belong to the old timeline (an
            # interrupt's answer, finished siblings): the new thread runs that step afresh.
            head_writes = () if tup is chain[0] else tup.pending_writes or ()
            by_task: dict[str, list[tuple[str, Any]]] = {}
            for task_id, channel, value in head_writes:
                by_task.setdefault(task_id, []).append((channel, value))
            for task_id, writes in by_task.items():
                await self.saver.aput_writes(saved, writes, task_id)
            parent_id = checkpoint["id"]
        if values is not None:
            await self._attach(compiled).aupdate_state(
                {"configurable": {"thread_id": new_thread_id}}, values, as_node=as_node
            )
        now = time.time()
        await self.conn.query(
            CLAIM_SQL,
            {
                "thread_id": new_thread_id,
                "fields": {
                    "thread_id": new_thread_id,
                    "run_id": uuid.uuid4().hex,
                    "graph": ref,
                    "status": "pending",
                    "started_at": now,
                    "updated_at": now,
                    "forked_from": {"thread_id": thread_id, "checkpoint_id": checkpoint_id},
                },
                "owner": self.owner,
                "stale_owner": None,
                "stale_run": None,
            },
        )
        if ref is None:
            self._graph_by_thread[new_thread_id] = compiled
        return new_thread_id


def _busy_message(thread_id: str, record: RunRecord | None) -> str:
    if record is None:
        return f"thread {thread_id!r} is busy; try again"
    where = f"process {record.pid} on {record.host}" if record.pid else "another engine"
    return (
        f"thread {thread_id!r} is running in {where} (run {record.run_id}); "
        f"wait for it, or `sentient-graph cancel {thread_id}`"
    )


def _info_from_snapshot(snap: StateSnapshot) -> CheckpointInfo:
    conf = snap.config.get("configurable", {})
    parent = (snap.parent_config or {}).get("configurable", {})
    meta = snap.metadata or {}
    return CheckpointInfo(
        checkpoint_id=conf.get("checkpoint_id", ""),
        parent_checkpoint_id=parent.get("checkpoint_id"),
        step=meta.get("step"),
        source=meta.get("source"),
        created_at=snap.created_at,
        next=tuple(snap.next),
        values=snap.values,
        interrupts=tuple(_interrupt_payload(snap.interrupts)),
        run_id=meta.get("run_id"),  # type: ignore[arg-type]
    )


def _info_from_tuple(tup: Any) -> CheckpointInfo:
    conf = tup.config.get("configurable", {})
    parent = (tup.parent_config or {}).get("configurable", {})
    meta = tup.metadata or {}
    return CheckpointInfo(
        checkpoint_id=conf.get("checkpoint_id", ""),
        parent_checkpoint_id=parent.get("checkpoint_id"),
        step=meta.get("step"),
        source=meta.get("source"),
        created_at=tup.checkpoint.get("ts"),
        next=(),
        values=dict(tup.checkpoint.get("channel_values") or {}),
        run_id=meta.get("run_id"),
    )


# ---------------------------------------------------------------------------
# Sync facade
# ---------------------------------------------------------------------------


class SyncRunHandle:
    """Blocking twin of :class:`RunHandle` (returned by :meth:`SyncEngine.start`)."""

    def __init__(self, handle: RunHandle, engine: SyncEngine) -> None:
        self._handle = handle
        self._engine = engine
        self.thread_id = handle.thread_id
        self.run_id = handle.run_id

    def __repr__(self) -> str:
        return f"Sync{self._handle!r}"

    @property
    def status(self) -> str:
        """``running``, ``completed``, ``failed``, ``interrupted`` or ``cancelled``."""
        return self._handle.status

    @property
    def interrupts(self) -> list[dict[str, Any]]:
        """Pending ``interrupt()`` values once the run is interrupted."""
        return self._handle.interrupts

    def events(self) -> Iterator[Event]:
        """Every event of the run, blocking until the next one; ends with the run."""
        agen = self._handle.events()
        try:
            while True:
                try:
                    yield self._engine._call(_await(agen.__anext__()))
                except StopAsyncIteration:
                    return
        finally:
            with contextlib.suppress(Exception):
                self._engine._call(agen.aclose())

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; see :meth:`RunHandle.wait`.

        Raises:
            TimeoutError: ``timeout`` seconds passed first (the run goes on).
        """
        return self._engine._call(asyncio.wait_for(self._handle.wait(), timeout))

    def cancel(self) -> None:
        """Cancel the run and wait until it is recorded."""
        self._engine._call(self._handle.cancel())


class SyncEngine:
    """A blocking :class:`Engine` for scripts: the async engine on a private loop thread.

    Example:
        >>> with SyncEngine.open("mem://") as engine:  # doctest: +SKIP
        ...     state = engine.start(graph, {"x": 1}).wait()
    """

    def __init__(
        self, surreal_url: str | None = None, redis_url: str | None = None, **options: Any
    ) -> None:
        """Open the engine on a new background event loop (see :meth:`Engine.open`)."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sentient-engine", daemon=True
        )
        self._thread.start()
        try:
            self.engine: Engine = self._call(_await(Engine.open(surreal_url, redis_url, **options)))
        except BaseException:
            self._stop_loop()
            raise

    @classmethod
    def open(
        cls, surreal_url: str | None = None, redis_url: str | None = None, **options: Any
    ) -> SyncEngine:
        """Open a blocking engine; use it with ``with`` or call :meth:`close`."""
        return cls(surreal_url, redis_url, **options)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("SyncEngine called from its own loop; use the async Engine there")
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        """Cancel runs still going and release the store."""
        if self._loop.is_closed():
            return
        try:
            self._call(self.engine.aclose())
        finally:
            self._stop_loop()

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(
        self, graph: Pregel | str, input: Any, thread_id: str | None = None, **kw: Any
    ) -> SyncRunHandle:
        """See :meth:`Engine.start`."""
        return SyncRunHandle(self._call(self.engine.start(graph, input, thread_id, **kw)), self)

    def run(self, graph: Pregel | str, input: Any, thread_id: str | None = None, **kw: Any) -> Any:
        """Start a run and wait for its final state."""
        return self.start(graph, input, thread_id, **kw).wait()

    def resume(self, thread_id: str, resume: Any = _NOTHING, **kw: Any) -> SyncRunHandle:
        """See :meth:`Engine.resume`."""
        return SyncRunHandle(self._call(self.engine.resume(thread_id, resume, **kw)), self)

    def recover(self) -> list[SyncRunHandle]:
        """See :meth:`Engine.recover`."""
        return [SyncRunHandle(h, self) for h in self._call(self.engine.recover())]

    def cancel(self, thread_id: str) -> RunRecord:
        """See :meth:`Engine.cancel`."""
        return self._call(self.engine.cancel(thread_id))

    def threads(self, status: str | None = None) -> list[RunRecord]:
        """See :meth:`Engine.threads`."""
        return self._call(self.engine.threads(status))

    def history(self, thread_id: str, **kw: Any) -> list[CheckpointInfo]:
        """See :meth:`Engine.history`."""
        return self._call(self.engine.history(thread_id, **kw))

    def state(self, thread_id: str, **kw: Any) -> StateSnapshot:
        """See :meth:`Engine.state`."""
        return self._call(self.engine.state(thread_id, **kw))

    def fork(self, thread_id: str, checkpoint_id: str, values: Any = None, **kw: Any) -> str:
        """See :meth:`Engine.fork`."""
        return self._call(self.engine.fork(thread_id, checkpoint_id, values, **kw))


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable
