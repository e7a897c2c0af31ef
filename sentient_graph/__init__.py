"""sentient-graph: a durable, event-driven workflow engine on LangGraph.

Public names are re-exported here and loaded lazily, so that importing the
checkpointer (``checkpointers.surrealdb``) does not pull in the engine, Redis or
the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sentient_graph.errors import (
    AgentTimeout,
    ConfigError,
    GraphLoadError,
    InvalidInput,
    RedisUnavailable,
    RunCancelled,
    RunFailed,
    RunNotActive,
    SentientError,
    SerializationFailed,
    StoreLocked,
    StoreUnavailable,
    ThreadNotFound,
)

__version__ = "0.1.0"

__all__ = [
    "AgentTimeout",
    "ConfigError",
    "Engine",
    "Event",
    "EventType",
    "GraphLoadError",
    "InvalidInput",
    "Priority",
    "RedisUnavailable",
    "RunCancelled",
    "RunFailed",
    "RunNotActive",
    "SentientError",
    "SerializationFailed",
    "StoreLocked",
    "StoreUnavailable",
    "SyncEngine",
    "ThreadNotFound",
    "__version__",
    "add_agent",
    "agent",
    "progress",
]

_LAZY = {
    "Engine": "sentient_graph.engine",
    "SyncEngine": "sentient_graph.engine",
    "Event": "sentient_graph.events",
    "EventType": "sentient_graph.events",
    "Priority": "sentient_graph.events",
    "agent": "sentient_graph.agents",
    "add_agent": "sentient_graph.agents",
    "progress": "sentient_graph.agents",
}

if TYPE_CHECKING:
    from sentient_graph.agents import add_agent, agent, progress
    from sentient_graph.engine import Engine, SyncEngine
    from sentient_graph.events import Event, EventType, Priority


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sentient_graph' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
