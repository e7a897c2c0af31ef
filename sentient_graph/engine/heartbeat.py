"""The owner's heartbeat: leases of the runs an engine owns, and cancel requests for them.

Owns: one background task per engine that extends the lease of every run it
owns and hands on the cancel requests other processes recorded for them.

Must not: decide which owners are dead (:mod:`sentient_graph.runs.liveness`)
or write SurrealQL (:class:`~sentient_graph.runs.RunStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from sentient_graph.engine.driver import one_line
from sentient_graph.runs import RunStore

__all__ = ["Heartbeat"]

log = structlog.get_logger(__name__)


class Heartbeat:
    """Keeps an owner's leases alive.

    Args:
        store: The run records.
        owner: The engine's owner id.
        lease_seconds: How long a lease lasts; the beat comes every third of it.
        on_cancel_requested: Called with ``(thread_id, run_id)`` of each owned run
            someone asked to cancel.
        clock: Epoch seconds (injectable for tests).
    """

    def __init__(
        self,
        store: RunStore,
        owner: str,
        lease_seconds: float,
        on_cancel_requested: Callable[[str, str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._on_cancel_requested = on_cancel_requested
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the heartbeat task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start beating (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="sentient-heartbeat")

    async def stop(self) -> None:
        """Stop beating."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def beat(self) -> None:
        """Extend every owned lease once and hand on cancel requests."""
        now = self._clock()
        rows = await self.store.heartbeat(self.owner, now, now + self.lease_seconds)
        for row in rows:
            if row.get("cancel_requested"):
                self._on_cancel_requested(str(row.get("thread_id")), str(row.get("run_id")))

    async def _loop(self) -> None:
        interval = max(0.5, self.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a missed beat must not stop the runs
                log.warning("engine.heartbeat_failed", error=one_line(exc))
