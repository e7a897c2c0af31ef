"""Old home of the Redis publishing side; kept so that existing imports work.

Everything here lives in :mod:`sentient_graph.events.redis` now (key layout in
``keys``, client settings in ``client``, :class:`RedisOutbox` in ``outbox``).
Must not: hold code of its own.
"""

from __future__ import annotations

from sentient_graph.events.redis.client import (
    BACKOFF_MAX,
    BACKOFF_START,
    REDIS_TIMEOUT,
    bounded,
    new_redis_client,
    no_script_error,
    redis_errors,
    redis_module,
    refused_error,
)
from sentient_graph.events.redis.keys import (
    PUBLISH_SCRIPT,
    channel_name,
    glob_escape,
    stream_name,
)
from sentient_graph.events.redis.outbox import RedisOutbox

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_START",
    "PUBLISH_SCRIPT",
    "REDIS_TIMEOUT",
    "RedisOutbox",
    "bounded",
    "channel_name",
    "glob_escape",
    "new_redis_client",
    "no_script_error",
    "redis_errors",
    "redis_module",
    "refused_error",
    "stream_name",
]
