"""Old home of the connection factory, kept so that existing imports keep working.

The driver layer lives in :mod:`sentient_graph.surreal` (``url``,
``connection``, ``store_lock``, ``codec``, ``migrations``); this module only
re-exports its names. New code imports from ``sentient_graph.surreal``.
"""

from __future__ import annotations

from sentient_graph.surreal.connection import (
    MAX_RETRIES,
    AsyncConnection,
    QueryFailed,
    SyncConnection,
    _Shared,
    connect,
    connect_sync,
    is_retryable,
    results_of,
    retry_delay,
    wrap_async,
    wrap_sync,
)
from sentient_graph.surreal.store_lock import lock_holder
from sentient_graph.surreal.url import (
    EMBEDDED_SCHEMES,
    REMOTE_SCHEMES,
    describe_url,
    is_embedded,
    parse_url,
    sdk_url,
)

__all__ = [
    "AsyncConnection",
    "QueryFailed",
    "SyncConnection",
    "connect",
    "connect_sync",
    "describe_url",
    "is_embedded",
    "wrap_async",
    "wrap_sync",
]

# Names that were importable from here before the move, outside ``__all__``.
_KEPT = (
    EMBEDDED_SCHEMES,
    MAX_RETRIES,
    REMOTE_SCHEMES,
    _Shared,
    is_retryable,
    lock_holder,
    results_of,
    retry_delay,
)


def _sdk_url(url: str) -> str:
    """The URL handed to the SDK for ``url`` (see :func:`sentient_graph.surreal.url.sdk_url`)."""
    return sdk_url(parse_url(url))
