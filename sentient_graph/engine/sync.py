"""The blocking facade: the async engine on a private event-loop thread, for scripts.

Owns: :class:`SyncEngine` and :class:`SyncRunHandle`, which forward every call
to :class:`~sentient_graph.engine.Engine` and :class:`~sentient_graph.engine.RunHandle`
on a loop of their own.

Must not: hold any logic of its own beyond waiting for the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot

from sentient_graph.engine.handle import RunHandle
from sentient_graph.engine.recovery import NOTHING
from sentient_graph.engine.timetravel import CheckpointInfo
from sentient_graph.runs import RunRecord

if TYPE_CHECKING:
    from sentient_graph.engine.engine import Engine
    from sentient_graph.events import Event

__all__ = ["SyncEngine", "SyncRunHandle"]

T = TypeVar("T")


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
        from sentient_graph.engine.engine import Engine

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

    def resume(self, thread_id: str, resume: Any = NOTHING, **kw: Any) -> SyncRunHandle:
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

    def metrics(self) -> dict[str, Any]:
        """See :meth:`Engine.metrics`."""
        return self._call(self.engine.metrics())

    def fork(self, thread_id: str, checkpoint_id: str, values: Any = None, **kw: Any) -> str:
        """See :meth:`Engine.fork`."""
        return self._call(self.engine.fork(thread_id, checkpoint_id, values, **kw))


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable
