"""The log writer: events to the SurrealDB log in order, grouped, then handed on.

Owns the queue of writes, the group commit (what waits goes in one
``INSERT``), the linger over events nobody awaits (:mod:`~sentient_graph.events.linger`),
the short cuts that write in the caller's task (an awaited event when nothing
is queued; a followed node start), settling each caller's future, reporting a
failed write of events nobody awaited at the next call, and per run the
highest seq made durable (:class:`DurableSeqs`).

Must not: deliver events itself (it hands what is durable to ``deliver``, then
lets ``send`` push it to Redis), know Redis or subscriptions, or write
SurrealQL (:class:`~sentient_graph.events.log.EventLog` does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable

import structlog

from sentient_graph.errors import ConfigError
from sentient_graph.events.emitter import EventBatch
from sentient_graph.events.linger import Linger
from sentient_graph.events.log import EventLog, WrittenPage, insert_groups
from sentient_graph.events.model import Event, EventType

__all__ = ["DurableSeqs", "LogWriter"]

log = structlog.get_logger(__name__)

#: Events per log write.
_BATCH = 512
#: Runs whose highest durable seq a writer remembers (most recently written).
_RUNS_KEPT = 4096

#: Events waiting to be written (built, or a batch built when taken), and the
#: future of the caller waiting for them (if any).
_Write = tuple["list[Event] | EventBatch", "asyncio.Future[None] | None"]
#: A write whose events are built.
_Built = tuple[list[Event], "asyncio.Future[None] | None"]


class DurableSeqs:
    """Per run, the highest seq its writer made durable, and callers waiting for one.

    Remembers the :data:`_RUNS_KEPT` runs written most recently; a run that
    someone waits for is written to, so it stays.
    """

    __slots__ = ("_seqs", "_waiters")

    def __init__(self) -> None:
        self._seqs: OrderedDict[str, int] = OrderedDict()
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}

    def get(self, run_id: str) -> int:
        """The highest seq of ``run_id`` in the log by this writer; 0 if none (or forgotten)."""
        return self._seqs.get(run_id, 0)

    async def wait(self, run_id: str, seq: int) -> None:
        """Return once event ``seq`` of ``run_id`` is durable; raise its write's error."""
        if self._seqs.get(run_id, 0) >= seq:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(run_id, []).append((seq, fut))
        try:
            await fut
        finally:
            waiting = self._waiters.get(run_id)
            if waiting is not None and (seq, fut) in waiting:
                waiting.remove((seq, fut))
                if not waiting:
                    del self._waiters[run_id]

    def written(self, events: list[Event]) -> None:
        """``events`` are durable (in seq order per run)."""
        seqs = self._seqs
        for event in events:
            seqs[event.run_id] = event.seq
        for run_id in {event.run_id for event in events}:
            seqs.move_to_end(run_id)
        while len(seqs) > _RUNS_KEPT:
            seqs.popitem(last=False)
        if self._waiters:
            for run_id, waiting in list(self._waiters.items()):
                top = seqs.get(run_id, 0)
                for seq, fut in waiting:
                    if seq <= top and not fut.done():
                        fut.set_result(None)

    def refused(self, event: Event, error: BaseException) -> None:
        """``event`` will not be durable: whoever waits for it gets ``error``."""
        for seq, fut in self._waiters.get(event.run_id, ()):
            if seq == event.seq and not fut.done():
                fut.set_exception(error)


class LogWriter:
    """Writes a bus's events to the log, in the order they were queued.

    Args:
        log: the event log.
        linger: how long events nobody awaits may wait for company.
        followed: whether anyone follows one of these threads (such events
            linger only up to :data:`~sentient_graph.events.linger.FOLLOWED_LINGER`).
        deliver: called with the events just made durable and the log pages
            they were written in, in write order.
        send: awaited after each write (``pipelined=True`` for a followed node
            start): pushes what ``deliver`` queued for Redis; ``None`` without Redis.
            An attribute: the bus sets it once its Redis outbox exists.
    """

    def __init__(
        self,
        log: EventLog,
        linger: Linger,
        *,
        followed: Callable[[Iterable[str]], bool],
        deliver: Callable[[list[Event], list[WrittenPage]], None],
        send: Callable[..., Awaitable[None]] | None,
    ) -> None:
        self.log = log
        self.linger = linger
        self._followed = followed
        self._deliver = deliver
        self.send = send
        self._queue: deque[_Write] = deque()
        self._wakeup = asyncio.Event()
        # Set while nothing is queued or being written.
        self._drained = asyncio.Event()
        self._drained.set()
        # Held while a group is written and delivered: groups go one after another.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        # A write of events nobody awaited failed: raised by the next call.
        self._failure: BaseException | None = None
        # When the oldest queued write was queued (linger clock): lingering ends at the cap after it.
        self._first_queued = 0.0
        # The writer lingers for events nobody follows (up to the cap).
        self._lingering_long = False
        # A followed node start was written in a publisher's task since the loop last turned.
        self._wrote_this_turn = False
        #: Per run, what is durable so far.
        self.durable = DurableSeqs()

    # -- what the bus calls ----------------------------------------------------

    def raise_failure(self) -> None:
        """Raise the error of a failed write of events nobody awaited, once."""
        if self._failure is not None:
            error, self._failure = self._failure, None
            raise error

    async def publish(self, events: list[Event], *, wait: bool) -> None:
        """Queue ``events`` (numbered, checked); with ``wait``, return once durable."""
        fut = asyncio.get_running_loop().create_future() if wait else None
        if fut is not None and not self._queue and not self._lock.locked():
            # Nothing queued or being written: write in the caller's task, sparing
            # two hand-offs to the writer task on the path an awaited event takes.
            self._drained.clear()
            try:
                async with self._lock:
                    await self._write([(events, fut)])
            finally:
                self._settle_drained()
            await fut
            return
        self._enqueue((events, fut), (event.thread_id for event in events))
        if fut is not None:
            await fut

    def defer(self, batch: EventBatch) -> Awaitable[None] | None:
        """Queue a batch of events nobody awaits (see :meth:`EventBus.defer`)."""
        if not batch.queued:
            batch.queued = True
            self._enqueue((batch, None), (batch.thread_id,))
        elif self._lingering_long and self._followed((batch.thread_id,)):
            self._wakeup.set()
        if (
            batch.pending[-1].type is EventType.NODE_STARTED
            and not self._wrote_this_turn
            and self._followed((batch.thread_id,))
        ):
            return self._write_now()
        return None

    async def wait_durable(self) -> None:
        """Wait until every event queued so far is in the log (or failed to get there)."""
        if self._drained.is_set():
            return
        # A marker behind what is queued now: later publishes cannot starve us.
        fut = asyncio.get_running_loop().create_future()
        self._queue.append(([], fut))
        self._wakeup.set()
        await fut

    async def aclose(self, flush_timeout: float) -> None:
        """Write what is queued (for at most ``flush_timeout`` seconds), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.wait_durable(), flush_timeout)
        except TimeoutError:
            log.error("events.unwritten_at_close", writes=len(self._queue))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    # -- queueing ----------------------------------------------------------------

    def _enqueue(self, item: _Write, threads: Iterable[str]) -> None:
        """Queue a write for the writer task; wake it if it must not linger over it."""
        queued_before = bool(self._queue)
        if not queued_before:
            self._first_queued = self.linger.clock.time()
        self._queue.append(item)
        self._drained.clear()
        # The writer lingers over events nobody awaits; an awaited one, the first one
        # queued, or one of a followed thread while it lingers the long way, wakes it.
        if (
            item[1] is not None
            or not queued_before
            or (self._lingering_long and self._followed(threads))
        ):
            self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_loop(), name="sentient-event-writer")

    def _settle_drained(self) -> None:
        if not self._queue and not self._lock.locked():
            self._drained.set()

    def _queued_threads(self) -> set[str]:
        threads: set[str] = set()
        for batch, _ in self._queue:
            if isinstance(batch, EventBatch):
                threads.add(batch.thread_id)
            else:
                threads.update(event.thread_id for event in batch)
        return threads

    def _take(self, limit: int) -> list[_Write]:
        items: list[_Write] = []
        count = 0
        while self._queue and count < limit:
            item = self._queue.popleft()
            items.append(item)
            count += len(item[0])
        return items

    # -- writing -----------------------------------------------------------------

    async def _write_now(self) -> None:
        """What :meth:`defer` returns: write what is queued, in the caller's task,
        and send it to Redis even while an earlier call awaits its reply.

        Only when the writer is idle and nobody awaits a queued write (then the
        writer task is on its way anyway), and only if the log takes the events
        without suspending: a caller cancelled in the middle of a write (a run
        being cancelled) must not lose them. Otherwise the writer writes them.
        """
        queue = self._queue
        if not queue or self._lock.locked() or any(fut is not None for _, fut in queue):
            return
        self._wrote_this_turn = True
        asyncio.get_running_loop().call_soon(self._next_turn)
        writes = self._build(self._take(_BATCH))
        events = [event for batch, _ in writes for event in batch]
        try:
            pages = self.log.append_now(events)
        except Exception:
            pages = None  # refused: the writer writes them one by one and reports it
        if pages is None:
            self._queue.extendleft(reversed(writes))
            self._wakeup.set()
            return
        self._settle_written(writes, events, {}, pages)
        self._settle_drained()
        if self.send is not None:
            await self.send(pipelined=True)

    def _next_turn(self) -> None:
        self._wrote_this_turn = False

    async def _linger(self, followed: bool) -> None:
        """Hold events nobody awaits while the process is busy, up to the linger's cap.

        A graph run makes its events in bursts, at each step; a log write costs
        the same fixed time whether it carries one event or many. So the writer
        waits while the process works (a step being computed: more events are
        coming) and writes as soon as it would otherwise wait (the nodes are
        waiting on a model or a tool): the write then costs the run nothing.
        Whether the process is busy is the linger's idle signal, asked by a timer
        callback (:class:`~sentient_graph.events.linger.IdleWatch`) rather than a
        waiting task. While someone follows a thread of the events, live delivery
        matters more than the run's cost: the cap is then
        :data:`~sentient_graph.events.linger.FOLLOWED_LINGER`.
        """
        deadline = self.linger.deadline(self._first_queued, followed=followed)
        if self.linger.clock.time() >= deadline:
            return
        self._wakeup.clear()
        watch = self.linger.watch(deadline, self._wakeup.set)
        self._lingering_long = not followed
        try:
            await self._wakeup.wait()
        finally:
            self._lingering_long = False
            watch.cancel()

    async def _write_loop(self) -> None:
        """Group commit: write what waits in one INSERT, then hand it on to live delivery."""
        while True:
            if not self._queue:
                self._settle_drained()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if all(fut is None for _, fut in self._queue):
                # Let a run queue what else it has ready (a LangGraph step yields
                # several chunks at once): fewer, larger INSERTs. A caller that
                # waits gets its write at once; a followed thread, soon.
                await self._linger(self._followed(self._queued_threads()))
            items = self._take(_BATCH)
            if not items:
                continue  # a publisher wrote them meanwhile (:meth:`_write_now`)
            async with self._lock:
                await self._write(items, at_once=True)

    async def _write(self, items: list[_Write], *, at_once: bool = False) -> None:
        """Write a group in as few INSERTs as pay, deliver what was written, settle each caller.

        The caller holds the lock: groups are written and delivered one after
        another, in the order they were queued. ``at_once``: see
        :meth:`EventLog.append_many` (the writer task, which yields when its
        queue is empty, passes it; a publisher's own task does not, so that a
        loop of awaited publishes still gives the loop its turns).
        """
        writes = self._build(items)
        events = [event for batch, _ in writes for event in batch]
        failed: dict[int, BaseException] = {}
        pages: list[WrittenPage] = []
        try:
            for group in insert_groups(events):
                try:
                    pages += await self.log.append_pages(group, at_once=at_once)
                except Exception as exc:
                    grouped = [event for page in group for event in page]
                    if len(grouped) == 1:
                        failed[id(grouped[0])] = exc
                        continue
                    # One refused event (a duplicate seq) must not sink its neighbours.
                    for event in grouped:
                        try:
                            pages += await self.log.append_many([event])
                        except Exception as one:
                            failed[id(event)] = one
        except asyncio.CancelledError:
            for _, fut in writes:
                if fut is not None and not fut.done():
                    fut.set_exception(
                        ConfigError("the EventBus closed before this event was written")
                    )
            raise
        self._settle_written(writes, events, failed, pages)
        if self.send is not None:
            await self.send()

    @staticmethod
    def _build(items: list[_Write]) -> list[_Built]:
        """Queued writes with their events: batches of events nobody awaits are built
        now, one after another."""
        return [
            (batch.take() if isinstance(batch, EventBatch) else batch, fut) for batch, fut in items
        ]

    def _settle_written(
        self,
        writes: list[_Built],
        events: list[Event],
        failed: dict[int, BaseException],
        pages: list[WrittenPage],
    ) -> None:
        """``events`` (those of ``writes``) are in the log but for ``failed``: deliver, settle callers."""
        for event in events if failed else ():
            if id(event) in failed:
                self.durable.refused(event, failed[id(event)])
        durable = [e for e in events if id(e) not in failed] if failed else events
        if durable:
            self.durable.written(durable)
            self._deliver(durable, pages)
        for batch, fut in writes:
            errors = [failed[id(e)] for e in batch if id(e) in failed] if failed else []
            if fut is not None:
                if not fut.done():
                    if errors:
                        fut.set_exception(errors[0])
                    else:
                        fut.set_result(None)
            elif errors:
                self._failure = errors[0]
                log.error(
                    "events.log_write_failed",
                    error=str(errors[0]),
                    events=[(e.run_id, e.seq) for e in batch if id(e) in failed],
                )
