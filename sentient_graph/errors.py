"""The exceptions users of sentient-graph catch.

One root, :class:`SentientError`; each leaf also inherits the built-in it
resembles, so ``except ValueError`` keeps working for code that does not know
us. Every message is one line that names the fix: the CLI prints ``str(exc)``
and nothing else.
"""

from __future__ import annotations

__all__ = [
    "AgentTimeout",
    "ConfigError",
    "GraphLoadError",
    "InvalidInput",
    "RedisUnavailable",
    "RunCancelled",
    "RunFailed",
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


class InvalidInput(SentientError, ValueError):
    """Input that a run cannot take: an empty thread id, input of the wrong shape
    for the graph, another graph on an existing thread. Raised before anything
    is written."""


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


class AgentTimeout(SentientError, TimeoutError):
    """An agent (a node made with ``@agent``) ran longer than its ``timeout``.

    Attributes:
        agent: The agent's name, which is also its node name.
        timeout: The limit, in seconds, that was exceeded.
    """

    def __init__(self, agent: str, timeout: float) -> None:
        self.agent = agent
        self.timeout = timeout
        # One argument only: OSError (TimeoutError's base) reads two as (errno, strerror).
        super().__init__(
            f"agent {agent!r} timed out after {timeout:g}s "
            f"(raise @agent({agent!r}, timeout=...) or make the agent faster)"
        )

    def __reduce__(self) -> tuple[type[AgentTimeout], tuple[str, float]]:
        # Checkpoint writes and process pools pickle errors; rebuild from our fields.
        return (type(self), (self.agent, self.timeout))


class RunFailed(SentientError, RuntimeError):
    """A run ended with an exception; the original is the ``__cause__``.

    Attributes:
        thread_id: The thread of the run; resume it with ``resume(thread_id)``.
        run_id: The run that failed.
        node: The node that raised, when known.
    """

    def __init__(
        self, message: str, *, thread_id: str, run_id: str, node: str | None = None
    ) -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self.run_id = run_id
        self.node = node

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_run_error, (type(self), str(self), self.thread_id, self.run_id, self.node))


class RunCancelled(RunFailed):
    """A run was cancelled before it finished; its last checkpoint is kept for ``resume``."""


def _rebuild_run_error(
    cls: type[RunFailed], message: str, thread_id: str, run_id: str, node: str | None
) -> RunFailed:
    return cls(message, thread_id=thread_id, run_id=run_id, node=node)
