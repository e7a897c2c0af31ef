"""Prometheus metrics of one server, computed from the events it sees.

Owns: :class:`ServerMetrics`: a registry of its own, counters fed by one
subscription to every event of the engine (events by type, node durations per
agent, retries, failures, finished runs by status) and gauges refreshed when
scraped (runs by status, active runs, live subscribers, store round-trip).

Must not: touch the engine's internals to count (what the engine should count
itself is listed in the server's report), or fail a scrape because the store
is slow (a failed probe is reported as a metric).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter as Tally

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from sentient_graph.engine import Engine
from sentient_graph.events import Event, EventType

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

log = structlog.get_logger(__name__)

_RUN_END = {
    EventType.RUN_COMPLETED: "completed",
    EventType.RUN_FAILED: "failed",
    EventType.RUN_CANCELLED: "cancelled",
    EventType.INTERRUPTED: "interrupted",
}


class ServerMetrics:
    """The numbers ``GET /metrics`` and the dashboard show."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "sentient_events", "Events seen in the log, by type", ["type"], registry=r
        )
        self.node_seconds = Histogram(
            "sentient_node_duration_seconds",
            "Node (agent) run time, node_started to node_completed",
            ["node"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.retries = Counter("sentient_node_retries", "node_retried events", ["node"], registry=r)
        self.failures = Counter(
            "sentient_node_failures", "node_failed events", ["node"], registry=r
        )
        self.runs_ended = Counter(
            "sentient_runs_ended", "Runs that ended, by how", ["status"], registry=r
        )
        self.runs = Gauge(
            "sentient_runs", "Threads by the status of their run", ["status"], registry=r
        )
        self.active = Gauge("sentient_active_runs", "Runs this server drives now", registry=r)
        self.subscribers = Gauge(
            "sentient_subscribers", "Live SSE and WebSocket event subscriptions", registry=r
        )
        self.store_rtt = Gauge(
            "sentient_store_rtt_seconds", "Round trip of a trivial store query", registry=r
        )
        self.store_up = Gauge(
            "sentient_store_up", "1 when the store answered the probe", registry=r
        )
        self.live_subscriptions = 0
        self._started: dict[tuple[str, str | None], float] = {}
        self._task: asyncio.Task[None] | None = None

    def observe(self, event: Event) -> None:
        """Count one event."""
        self.events.labels(event.type.value).inc()
        key = (event.run_id, event.source)
        if event.type is EventType.NODE_STARTED:
            self._started[key] = event.timestamp.timestamp()
        elif event.type is EventType.NODE_COMPLETED:
            began = self._started.pop(key, None)
            if began is not None:
                self.node_seconds.labels(event.source or "?").observe(
                    max(0.0, event.timestamp.timestamp() - began)
                )
        elif event.type is EventType.NODE_FAILED:
            self._started.pop(key, None)
            self.failures.labels(event.source or "?").inc()
        elif event.type is EventType.NODE_RETRIED:
            self.retries.labels(event.source or "?").inc()
        ended = _RUN_END.get(event.type)
        if ended is not None:
            self.runs_ended.labels(ended).inc()
            if event.type is not EventType.INTERRUPTED:
                for k in [k for k in self._started if k[0] == event.run_id]:
                    self._started.pop(k, None)

    async def start(self, engine: Engine) -> None:
        """Follow every event of the engine until :meth:`aclose`."""
        # Counting can wait for the linger: following every thread promptly would
        # make every run's events go to the log one by one.
        sub = engine.bus.subscribe(None, prompt=False)
        await sub.start()

        async def consume() -> None:
            async with sub:
                async for event in sub:
                    self.observe(event)

        self._task = asyncio.create_task(consume(), name="sentient-server-metrics")

    async def aclose(self) -> None:
        """Stop following events."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def probe_store(self, engine: Engine) -> float | None:
        """Seconds one ``RETURN 1`` takes, or ``None`` when the store does not answer."""
        began = time.perf_counter()
        try:
            await asyncio.wait_for(engine.conn.query("RETURN 1"), 5.0)
        except Exception as exc:
            log.warning("server.store_probe_failed", error=str(exc).splitlines()[0:1])
            self.store_up.set(0)
            return None
        rtt = time.perf_counter() - began
        self.store_rtt.set(rtt)
        self.store_up.set(1)
        return rtt

    async def refresh(self, engine: Engine) -> None:
        """Update the gauges that are read, not counted."""
        await self.probe_store(engine)
        self.active.set(len(engine.active_runs()))
        self.subscribers.set(self.live_subscriptions)
        try:
            tally = Tally(r.status for r in await engine.threads())
        except Exception as exc:
            log.warning("server.runs_gauge_failed", error=str(exc).splitlines()[0:1])
            return
        for status in (
            "pending",
            "running",
            "completed",
            "failed",
            "interrupted",
            "cancelled",
            "lost",
        ):
            self.runs.labels(status).set(tally.get(status, 0))

    def render(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
