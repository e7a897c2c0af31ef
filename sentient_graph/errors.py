"""The exceptions users of sentient-graph catch.

One root, :class:`SentientError`; each leaf also inherits the built-in it
resembles, so ``except ValueError`` keeps working for code that does not know
us. Every message is one line that names the fix: the CLI prints ``str(exc)``
and nothing else.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "GraphLoadError",
    "RedisUnavailable",
    "RunNotActive",
    "SentientError",
    "SerializationFailed",
    "StoreLocked",
    "StoreUnavailable",
    "ThreadNotFound",
]


class SentientError(Exception):
    """Root of every error sentient-graph raises on purpose."""


class ConfigError(SentientError, ValueError):
    """A setting, URL or argument that cannot work (bad scheme, missing value)."""


class StoreUnavailable(SentientError, ConnectionError):
    """The SurrealDB store could not be reached or opened."""


class StoreLocked(StoreUnavailable):
    """An embedded ``surrealkv://`` store is held by another process (or connection)."""


class ThreadNotFound(SentientError, KeyError):
    """No checkpoints (or no run) exist for a thread id."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else "thread not found"


class GraphLoadError(SentientError, ImportError):
    """A graph reference (``path.py:attr``, ``module:attr`` or a langgraph.json name) did not load."""


class RunNotActive(SentientError, RuntimeError):
    """The run asked for is not in a state that allows the operation."""


class RedisUnavailable(SentientError, ConnectionError):
    """``REDIS_URL`` is set but no Redis server answers there."""


class SerializationFailed(SentientError, TypeError):
    """A value in the graph state could not be serialised for the checkpoint."""
