"""Letting the SDK's async embedded engine finish with Python before Python finishes.

Owns: :class:`Calls` (the calls of one offloaded connection still running on the
engine's threads; awaiting one through it never cancels it) and
:func:`wait_for_foreign_threads` (until no thread the interpreter did not start
is inside asyncio, handing an answer over).

Why: the SDK's async engine hands every answer back from a thread of its own
(pyo3-async-runtimes), which enters the interpreter to schedule the answer on
the caller's loop, and lets go of the GIL inside that call for a moment
(``call_soon_threadsafe`` writes to the loop's self-pipe). The caller can see
the answer in that moment, finish, and let the interpreter shut down; the
thread then asks for the GIL back, CPython ends it with ``pthread_exit``, and
the unwinding through the engine's Rust code aborts the process (SIGABRT,
"panic in a function that cannot unwind"). A call cancelled on the Python side
is worse: its thread comes to schedule the answer whenever the engine is done.
So an offloaded connection is closed only when none of its calls runs (no call
is cancelled on the engine's side: the caller stops waiting, the call goes
on), and after the engine's last answer, the close's own, once no foreign
thread is inside the interpreter any more.

Must not: open or close connections (``connection.py`` does) or wait on a clock
where there is something to observe.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable
from types import FrameType
from typing import Any, TypeVar

__all__ = ["Calls", "foreign_threads", "wait_for_foreign_threads"]

T = TypeVar("T")

#: How long a close waits for a foreign thread to leave the interpreter (it takes
#: a GIL switch or two: the bound is for a thread that never leaves).
FOREIGN_THREAD_WAIT = 2.0


class Calls:
    """The SDK calls of one connection that have not answered yet, from any thread or loop."""

    def __init__(self) -> None:
        self._running = 0
        self._idle = threading.Condition()

    @property
    def running(self) -> int:
        return self._running

    def hold(self, future: Awaitable[T]) -> Awaitable[T]:
        """``future`` (the SDK's), counted until it is done; cancelling the
        awaiter leaves it running, so it answers before the connection closes."""
        fut: asyncio.Future[T] = asyncio.ensure_future(future)
        with self._idle:
            self._running += 1
        fut.add_done_callback(self._done)
        return asyncio.shield(fut)

    def _done(self, _: Any) -> None:
        with self._idle:
            self._running -= 1
            if self._running == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no call runs (their loops must keep running); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)


_ASYNCIO = os.path.dirname(asyncio.__file__) + os.sep


def _in_asyncio(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(_ASYNCIO):
            return True
        frame = frame.f_back
    return False


def foreign_threads() -> list[int]:
    """Idents of threads the interpreter did not start that are inside asyncio
    (handing an answer to a loop: ``call_soon_threadsafe``), as the engine's are."""
    known = {t.ident for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}
    return [
        ident
        for ident, frame in sys._current_frames().items()
        if ident not in known and _in_asyncio(frame)
    ]


def wait_for_foreign_threads(timeout: float = FOREIGN_THREAD_WAIT) -> bool:
    """Block until no foreign thread is inside the interpreter; False on timeout.

    A foreign thread that is inside lets go of the GIL only to wait for it back
    (the moment that aborts a shutting-down process), and leaves as soon as it
    has it: each check gives it the GIL.
    """
    deadline = time.monotonic() + timeout
    while foreign_threads():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.0005)
    return True
