"""The driver layer: SurrealDB URLs, connections, the wire codec and the migrator.

Knows no table of its own except the migrator's ``migration`` table. The
checkpointer (``checkpointers.surrealdb``), the event log and the run table
build on it; it imports none of them.

Modules:
    url: parse and validate URLs (``parse_url``, ``describe_url``, ``is_embedded``).
    connection: the one connection factory (``connect``, ``connect_sync``) and retry policy.
    store_lock: which process holds an embedded store.
    codec: the only module touching the SDK's internals.
    migrations: one migrator for every component's schema.
"""

from __future__ import annotations

from sentient_graph.surreal.connection import (
    AsyncConnection,
    QueryFailed,
    SyncConnection,
    connect,
    connect_sync,
    results_of,
    wrap_async,
    wrap_sync,
)
from sentient_graph.surreal.migrations import Migrations, migrate, migrate_sync, migration_steps
from sentient_graph.surreal.store_lock import lock_holder
from sentient_graph.surreal.url import SurrealUrl, describe_url, is_embedded, parse_url

__all__ = [
    "AsyncConnection",
    "Migrations",
    "QueryFailed",
    "SurrealUrl",
    "SyncConnection",
    "connect",
    "connect_sync",
    "describe_url",
    "is_embedded",
    "lock_holder",
    "migrate",
    "migrate_sync",
    "migration_steps",
    "parse_url",
    "results_of",
    "wrap_async",
    "wrap_sync",
]
