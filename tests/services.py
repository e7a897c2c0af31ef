"""The services tests need, found or reported the same way everywhere.

A test that needs Redis calls :func:`need_redis`: it skips with a reason on a
developer machine without Redis and fails under ``CI=true``, where Redis is part
of the test environment (``.ci/run`` starts one).
"""

from __future__ import annotations

import os
import socket

import pytest
import redis

from sentient_graph.events.redis.keys import glob_escape

SHARED_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    """A loopback TCP port that nothing listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str = SHARED_REDIS) -> bool:
    """True when a Redis server answers PING at ``url``."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.exceptions.RedisError:
        return False


def need_redis(url: str = SHARED_REDIS) -> None:
    """Fail under CI (Redis is part of the test environment there), skip elsewhere."""
    if redis_answers(url):
        return
    message = f"no Redis server answers at {url}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: Redis is required)")
    pytest.skip(message)


def forget_prefix(prefix: str, url: str = SHARED_REDIS) -> None:
    """Remove the keys a test wrote under its own prefix (streams live a day otherwise)."""
    if not redis_answers(url):
        return
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        keys = list(client.scan_iter(match=glob_escape(prefix) + ":*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start : start + 500])
    finally:
        client.close()
