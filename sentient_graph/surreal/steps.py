"""Running a sans-IO operation: a generator that yields requests and is sent their answers.

Owns: :func:`drive` and :func:`adrive`, the one loop that runs every sans-IO
core here (the checkpointer's operations, the store's, the migrator's), and
:func:`explain_missing_schema`, the one-line error for a component whose
``setup()`` was never called. Each caller supplies how one request is answered.

Must not: know any request type or table; it only passes requests and answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from sentient_graph.errors import StoreUnavailable

__all__ = ["adrive", "drive", "explain_missing_schema"]

Q = TypeVar("Q")
R = TypeVar("R")


def drive(steps: Generator[Q, Any, R], answer: Callable[[Q], Any]) -> R:
    """Run ``steps`` to its end, answering each request it yields with ``answer``."""
    try:
        request = next(steps)
        while True:
            request = steps.send(answer(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def adrive(steps: Generator[Q, Any, R], answer: Callable[[Q], Awaitable[Any]]) -> R:
    """:func:`drive` with an awaited ``answer``."""
    try:
        request = next(steps)
        while True:
            request = steps.send(await answer(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def explain_missing_schema(exc: Exception, table_prefix: str, fix: str) -> Exception:
    """A "does not exist" error about one of a component's tables, naming the fix;
    any other error unchanged.

    Args:
        exc: The error SurrealDB answered with.
        table_prefix: What the component's table names start with (``"checkpoint"``).
        fix: What to call, e.g. ``"saver.setup()"``.
    """
    message = str(exc)
    if "does not exist" in message and table_prefix in message:
        return StoreUnavailable(f"{message}: the schema is missing - call {fix} once first")
    return exc
