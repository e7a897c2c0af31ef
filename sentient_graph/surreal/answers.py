"""What SurrealDB answered: per-statement results or one clear exception, and the retry policy.

Owns: :class:`QueryFailed`, turning a ``query_raw`` answer into one result per
statement (:func:`results_of`), telling the engine's transaction conflicts
apart (:func:`is_retryable`) and how long to wait before sending one again
(:func:`retry_delay`, at most :data:`MAX_RETRIES` times).

Must not: open, hold or close connections (``connection.py`` does); pure
functions of an answer, no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from sentient_graph.errors import StoreUnavailable

__all__ = ["MAX_RETRIES", "QueryFailed", "is_retryable", "results_of", "retry_delay"]

#: How often a "can be retried" conflict is retried before it is raised.
MAX_RETRIES = 12


class QueryFailed(StoreUnavailable):
    """A SurrealQL statement returned an error (the message is SurrealDB's)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


_RETRYABLE_MARKERS = ("can be retried", "transaction conflict", "write conflict", "resource busy")


def is_retryable(message: str) -> bool:
    """True for the engine's transaction conflicts, which succeed when sent again."""
    lowered = message.lower()
    return any(marker in lowered for marker in _RETRYABLE_MARKERS)


def results_of(raw: Mapping[str, Any]) -> list[Any]:
    """Per-statement results of a ``query_raw`` answer, or :class:`QueryFailed`.

    In a failed transaction every statement reports an error; the one that
    says *why* is the first that is not "not executed".
    """
    if raw.get("error"):
        err = raw["error"]
        message = err.get("message", str(err)) if isinstance(err, Mapping) else str(err)
        raise QueryFailed(message.strip(), retryable=is_retryable(message))
    statements = raw.get("result") or []
    errors = [s for s in statements if isinstance(s, Mapping) and s.get("status") == "ERR"]
    if errors:
        causes = [
            e
            for e in errors
            if (e.get("details") or {}).get("kind") != "NotExecuted"
            and "not executed" not in str(e.get("result", "")).lower()
            and "Cannot COMMIT" not in str(e.get("result", ""))
        ]
        first = (causes or errors)[0]
        message = str(first.get("result", "query failed"))
        retryable = any(is_retryable(str(e.get("result", ""))) for e in errors)
        raise QueryFailed(message, retryable=retryable)
    return [s.get("result") if isinstance(s, Mapping) else s for s in statements]


def retry_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (from 1): exponential, capped, jittered."""
    return min(0.2, 0.002 * (2**attempt)) * (0.5 + random.random())
