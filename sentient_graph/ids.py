"""Thread and run ids: making fresh ones, and the rule a caller's thread id must pass.

Owns: :func:`check_thread_id` (used by the engine, the CLI and the CLI's
client of a server, which must not load LangGraph), :func:`new_run_id` and
:func:`new_thread_id`. Imports nothing but the errors.
"""

from __future__ import annotations

import os
import re

from sentient_graph.errors import InvalidInput

__all__ = ["check_thread_id", "new_run_id", "new_thread_id"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_run_id() -> str:
    """A fresh run id (random, drawn from the OS, never from the ``uuid`` module:
    LangGraph's tests patch ``uuid.uuid4`` and expect nobody else to draw)."""
    return os.urandom(16).hex()


def new_thread_id() -> str:
    """A fresh thread id for a run started without one."""
    return os.urandom(6).hex()


def check_thread_id(thread_id: str | None) -> str | None:
    """Refuse a thread id that names no thread; ``None`` means "a new one".

    An empty or whitespace-only id would otherwise be replaced by a random one
    (or stored as a thread nobody can type); a control character (a newline,
    a NUL) breaks every one-line message and table that shows the id.

    Args:
        thread_id: The id given by the caller, or ``None``.

    Returns:
        ``thread_id`` unchanged.

    Raises:
        InvalidInput: the id is empty, only whitespace, or holds a control character.
    """
    if thread_id is None:
        return None
    if not isinstance(thread_id, str):
        raise InvalidInput(
            f"a thread id is a string, not {type(thread_id).__name__} (got {thread_id!r})"
        )
    if not thread_id.strip():
        raise InvalidInput(
            f"thread id {thread_id!r} is empty; give a name, or leave it out for a new thread"
        )
    if _CONTROL.search(thread_id):
        raise InvalidInput(
            f"thread id {thread_id!r} holds a control character (newline, tab, NUL); "
            "use printable characters"
        )
    return thread_id
