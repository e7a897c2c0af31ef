"""The exit codes of every ``sentient-graph`` command, and which error gets which.

Owns: the numbers (the table is in :mod:`sentient_graph.cli`'s docstring and
the README, and a test holds the three together) and :func:`exit_code_for`.

Must not: print anything or import the engine.
"""

from __future__ import annotations

from sentient_graph.errors import (
    ConfigError,
    GraphLoadError,
    InvalidInput,
    RedisUnavailable,
    RunFailed,
    RunNotActive,
    SerializationFailed,
    StoreUnavailable,
    ThreadNotFound,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_STORE",
    "EXIT_USAGE",
    "exit_code_for",
]

#: Done; also a run that stopped at an ``interrupt()`` and waits for an answer.
EXIT_OK = 0
#: The run failed or was cancelled (resume it), or an unexpected error.
EXIT_FAILED = 1
#: Bad usage or input: nothing was written.
EXIT_USAGE = 2
#: The store or Redis is unavailable (held by another process, unreachable).
EXIT_STORE = 3
#: Ctrl-C (SIGINT); a run is recorded ``cancelled`` and can be resumed.
EXIT_INTERRUPTED = 130
#: The reader of stdout went away (``| head``): 128 + SIGPIPE, as ``yes | head`` gives.
EXIT_PIPE = 141


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error (see the table in :mod:`sentient_graph.cli`)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return EXIT_PIPE
    if isinstance(exc, RunFailed):  # RunCancelled too
        return EXIT_FAILED
    if isinstance(exc, StoreUnavailable | RedisUnavailable):
        return EXIT_STORE
    if isinstance(
        exc,
        ConfigError
        | InvalidInput
        | GraphLoadError
        | ThreadNotFound
        | RunNotActive
        | SerializationFailed
        | ValueError,
    ):
        return EXIT_USAGE
    return EXIT_FAILED
