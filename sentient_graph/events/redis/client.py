"""Redis clients for the events: how they are made, bounded, and what their errors are.

Owns the client settings (fast failures: reconnecting is the callers' loops'
job), the bound on a command's time, the reconnect backoff, the errors that
count as "Redis is away", and the differences between the redis-py versions
the ``redis`` extra allows.

Must not: know the key layout (:mod:`~sentient_graph.events.redis.keys`) or
events.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.connection import AbstractConnection

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_START",
    "REDIS_TIMEOUT",
    "bounded",
    "new_redis_client",
    "no_script_error",
    "pool_connection",
    "redis_errors",
    "redis_module",
    "refused_error",
]

T = TypeVar("T")

#: Seconds a command may take before the connection counts as lost (redis-py's default).
REDIS_TIMEOUT = 5.0
#: First and longest wait (seconds) between reconnect attempts.
BACKOFF_START = 0.05
BACKOFF_MAX = 2.0


def redis_module() -> Any:
    """``redis.asyncio``, or an ``ImportError`` naming the extra to install."""
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            'Redis support is not installed: pip install "sentient-graph[redis]"'
        ) from exc
    return redis_asyncio


def redis_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean Redis is unreachable (wait, reconnect, try again)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError)


def no_script_error() -> type[BaseException]:
    """The reply of a Redis that does not know a script's SHA (restarted, flushed)."""
    from redis.exceptions import NoScriptError

    return NoScriptError


def refused_error() -> type[BaseException]:
    """An error reply: Redis got the command and refused it (out of memory, a read-only replica)."""
    from redis.exceptions import ResponseError

    return ResponseError


def new_redis_client(
    url: str, *, retries: int = 0, socket_timeout: float | None = REDIS_TIMEOUT
) -> Redis:
    """A client whose failures surface quickly: reconnecting is our loops' job.

    redis-py's own retries ride out short outages silently, which hides exactly
    the gaps a subscriber has to fill; so pub/sub clients get none. Command
    clients get a couple, enough to replace a pooled connection that a Redis
    restart left dead.

    ``socket_timeout=None`` is for the publishing client, whose calls are
    bounded by :func:`bounded` instead: with a socket timeout, redis-py (on
    Python 3.11) sends each command through ``asyncio.wait_for``, which starts
    a task for it, so the command leaves only at the event loop's next turn.
    """
    redis_asyncio = redis_module()
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff, NoBackoff

    return redis_asyncio.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), retries)
        if retries
        else Retry(NoBackoff(), 0),
        socket_connect_timeout=2.0,
        socket_timeout=socket_timeout,
        socket_keepalive=True,
        decode_responses=False,
    )


async def bounded(call: Awaitable[T]) -> T:
    """Await a command of a client made with ``socket_timeout=None``, at most
    :data:`REDIS_TIMEOUT` seconds (then ``TimeoutError``, an ``OSError``).

    ``asyncio.timeout`` cancels the call in its own task; redis-py then drops
    the connection, so no half-read reply is left on it.
    """
    async with asyncio.timeout(REDIS_TIMEOUT):
        return await call


_NAMED_GET_CONNECTION: dict[type[Any], bool] = {}


async def pool_connection(pool: ConnectionPool) -> AbstractConnection:
    """A connection of the caller's own from ``pool`` (give it back with ``pool.release``).

    redis-py 5.0-5.2 require a command name here (a plain pool ignores it);
    later versions take none and warn when given one.
    """
    kind = type(pool)
    named = _NAMED_GET_CONNECTION.get(kind)
    if named is None:
        parameter = inspect.signature(pool.get_connection).parameters.get("command_name")
        named = _NAMED_GET_CONNECTION[kind] = (
            parameter is not None and parameter.default is inspect.Parameter.empty
        )
    if named:
        return await pool.get_connection("EVALSHA")
    return await pool.get_connection()
