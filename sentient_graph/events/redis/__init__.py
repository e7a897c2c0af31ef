"""Redis for the events: key layout, clients, the outbox (publishing), the follower.

Owns everything that talks to Redis: :mod:`~sentient_graph.events.redis.keys`
(names, the publish script), :mod:`~sentient_graph.events.redis.client`
(client settings, bounds, errors, redis-py version differences),
:mod:`~sentient_graph.events.redis.outbox` (durable events to Redis, in order,
through outages) and :mod:`~sentient_graph.events.redis.follower` (live
messages and stream history for subscribers).

Must not: write the log or deliver events in-process (the bus's writer and
subscriptions do). Importing it does not import redis-py.
"""

from __future__ import annotations

from sentient_graph.events.redis.client import (
    BACKOFF_MAX,
    BACKOFF_START,
    REDIS_TIMEOUT,
    bounded,
    new_redis_client,
    no_script_error,
    pool_connection,
    redis_errors,
    redis_module,
    refused_error,
)
from sentient_graph.events.redis.follower import RedisFollower, read_streams
from sentient_graph.events.redis.keys import (
    PUBLISH_SCRIPT,
    channel_name,
    glob_escape,
    stream_name,
    stream_pattern,
    thread_pattern,
)
from sentient_graph.events.redis.outbox import RedisOutbox

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_START",
    "PUBLISH_SCRIPT",
    "REDIS_TIMEOUT",
    "RedisFollower",
    "RedisOutbox",
    "bounded",
    "channel_name",
    "glob_escape",
    "new_redis_client",
    "no_script_error",
    "pool_connection",
    "read_streams",
    "redis_errors",
    "redis_module",
    "refused_error",
    "stream_name",
    "stream_pattern",
    "thread_pattern",
]
