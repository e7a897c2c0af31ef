"""A run in progress: its status, final state, events and cancellation.

Owns: :class:`RunHandle`, what :meth:`Engine.start` and :meth:`Engine.resume`
return. Its events are read from the event bus after they are in the log, so a
caller never sees an event the log does not hold.

Must not: drive the run (:mod:`~sentient_graph.engine.driver` does) or touch
the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentient_graph.events import Event, EventBus

__all__ = ["RunHandle"]


class RunHandle:
    """One run in progress on an :class:`~sentient_graph.engine.Engine`.

    Attributes:
        thread_id: The thread the run works on.
        run_id: This run's id (events carry it).
        graph_ref: The graph reference stored with the run, if any.
        status: ``running``, then ``completed``, ``failed``, ``interrupted`` or
            ``cancelled``.
        values: The final state once done.
        interrupts: Pending ``interrupt()`` values once interrupted.
        error: The :class:`~sentient_graph.errors.RunFailed` of a run that did
            not complete.
    """

    def __init__(
        self, thread_id: str, run_id: str, graph_ref: str | None, bus: EventBus | None = None
    ) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.graph_ref = graph_ref
        self.status: str = "running"
        self.values: Any = None
        self.interrupts: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._bus = bus
        # The seq of the run's last event, once the run ended.
        self._last_seq: int | None = None
        self._ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RunHandle(thread_id={self.thread_id!r}, run_id={self.run_id!r}, status={self.status!r})"

    def _finish(self, last_seq: int) -> None:
        self._last_seq = last_seq
        self._ended.set()

    def done(self) -> bool:
        """True once the run completed, failed, was interrupted or cancelled."""
        return self._ended.is_set()

    async def events(self) -> AsyncGenerator[Event, None]:
        """Every event of this run from ``seq`` 1, each once it is in the log;
        ends after the last one.

        Several consumers may iterate at once; each sees every event. While
        someone iterates, the run's events are written without lingering.
        """
        if self._bus is None:
            raise RuntimeError("this RunHandle has no event bus")
        sub = self._bus.subscribe(self.thread_id, run_id=self.run_id, after_seq=0)
        seen = 0
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await sub.start()
            items = aiter(sub)
            while self._last_seq is None or seen < self._last_seq:
                step = asyncio.ensure_future(anext(items))
                await asyncio.wait({step, ended}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    if self._last_seq is not None and seen >= self._last_seq:
                        step.cancel()
                        break
                    # The run ended: its last events are durable, so they are on their way.
                    await asyncio.wait({step})
                try:
                    event = step.result()
                except StopAsyncIteration:
                    return
                seen = event.seq
                yield event
        finally:
            ended.cancel()
            await sub.aclose()

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
