"""Blocking calls into a coroutine-only connection: an event loop on a thread of its own.

Owns: :class:`LoopThread`, which runs coroutines for callers that cannot
await (a sync checkpointer or store sharing an embedded store that an engine
opened with its queries offloaded, ``connection.connect(..., offload=True)``).

Must not: decide which connection needs it (``connection.py`` does) or hold
anything but its loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An event loop on a daemon thread, started at the first :meth:`run`.

    Any thread may call :meth:`run`, including one whose own loop is running
    (a sync saver called from async code): the coroutine runs on this loop,
    never on the caller's.
    """

    def __init__(self, name: str = "sentient-graph-bridge") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this thread's loop and return (or raise) what it does."""
        loop = self._started()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run called from its own loop: it would wait on itself")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def stop(self) -> None:
        """Stop the loop and wait for its thread; a later :meth:`run` starts another."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join()
        loop.close()
