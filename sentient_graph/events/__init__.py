"""Events: every node transition of every run, durable in SurrealDB, live on Redis.

Owns the event model (:mod:`~sentient_graph.events.model`), the SurrealDB log
(:mod:`~sentient_graph.events.log`), the bus with its subscriptions
(:mod:`~sentient_graph.events.bus`), the Redis key layout and the outbox that
carries durable events to Redis (:mod:`~sentient_graph.events.outbox`), the one translation of LangGraph stream
chunks into events (:mod:`~sentient_graph.events.emitter`) and webhook
delivery (:mod:`~sentient_graph.events.webhooks`).

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
    "DeadLetter",
    "Event",
    "EventBatch",
    "EventBus",
    "EventFilter",
    "EventHandler",
    "EventLog",
    "EventType",
    "HandlerRegistration",
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
