"""Events: every node transition of every run, durable in SurrealDB, live on Redis.

Owns the event model (:mod:`~sentient_graph.events.model`), the one
translation of LangGraph stream chunks into events
(:mod:`~sentient_graph.events.emitter`), the SurrealDB log
(:mod:`~sentient_graph.events.log`) and its writer
(:mod:`~sentient_graph.events.writer`, :mod:`~sentient_graph.events.linger`),
subscriptions (:mod:`~sentient_graph.events.subscription`) and their history
sources (:mod:`~sentient_graph.events.sources`), everything that talks to
Redis (:mod:`sentient_graph.events.redis`), the bus that puts them together
(:mod:`~sentient_graph.events.bus`) and webhook delivery
(:mod:`~sentient_graph.events.webhooks`).

Must not: run graphs, manage runs or checkpoints (that is the runner and the
checkpointer); it is told what happened and tells whoever listens.
"""

from __future__ import annotations

from sentient_graph.events.bus import (
    DEFAULT_LINGER,
    DEFAULT_PREFIX,
    FOLLOWED_LINGER,
    EventBus,
    EventHandler,
    HandlerRegistration,
    Subscription,
    channel_name,
    stream_name,
)
from sentient_graph.events.emitter import EventBatch, PendingEvent, RunEmitter
from sentient_graph.events.linger import Clock, CpuIdleSignal, IdleSignal
from sentient_graph.events.log import EventLog, WrittenPage
from sentient_graph.events.model import (
    TERMINAL_TYPES,
    Event,
    EventFilter,
    EventType,
    Priority,
    SubscriptionOptions,
)
from sentient_graph.events.webhooks import DeadLetter, WebhookDelivery

__all__ = [
    "DEFAULT_LINGER",
    "DEFAULT_PREFIX",
    "FOLLOWED_LINGER",
    "TERMINAL_TYPES",
    "Clock",
    "CpuIdleSignal",
    "DeadLetter",
    "Event",
    "EventBatch",
    "EventBus",
    "EventFilter",
    "EventHandler",
    "EventLog",
    "EventType",
    "HandlerRegistration",
    "IdleSignal",
    "PendingEvent",
    "Priority",
    "RunEmitter",
    "Subscription",
    "SubscriptionOptions",
    "WebhookDelivery",
    "WrittenPage",
    "channel_name",
    "stream_name",
]
