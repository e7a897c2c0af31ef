"""An engine's health and metrics in one dict, for dashboards, ``/health`` and ``/metrics``.

Owns: what :meth:`Engine.metrics` returns. Reads only public parts of the
engine and one round trip to the store.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentient_graph.engine.engine import Engine

__all__ = ["collect"]


async def collect(engine: Engine) -> dict[str, Any]:
    """The engine's numbers now.

    Returns:
        ``runs`` (threads by their current run's status, ``stale`` counted
        apart from ``running``), ``active_runs`` (driven by this engine),
        ``events`` (emitted by this engine's runs since it opened, by type:
        ``node_failed``, ``node_retried``, ...), ``store_round_trip_ms``,
        ``redis`` (``None`` without Redis, else whether it answers) and
        ``heartbeat`` (whether the lease heartbeat runs).
    """
    started = time.perf_counter()
    await engine.runs.ping()
    round_trip = (time.perf_counter() - started) * 1000
    runs = await engine.runs.count_by_status()
    stale = len(await engine.stale_runs())
    if stale:
        runs["running"] = runs.get("running", 0) - stale
        runs["stale"] = stale
    return {
        "runs": runs,
        "active_runs": len(engine.active_runs()),
        "events": engine.event_counts(),
        "store_round_trip_ms": round(round_trip, 3),
        "redis": await engine.bus.ping_redis(),
        "heartbeat": engine.heartbeat_running,
    }
