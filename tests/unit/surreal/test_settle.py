"""Waiting for the SDK's async engine to be done with the interpreter (``surreal/settle.py``)."""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import Iterator

import pytest

from sentient_graph.surreal.settle import Calls, foreign_threads, wait_for_foreign_threads

_libc = ctypes.CDLL(None)
_ENTRY = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


@pytest.fixture
def foreign_thread() -> Iterator[threading.Event]:
    """A thread started by C, not by the interpreter, inside it until the event is set
    (what the SDK's engine thread is while it hands an answer over)."""
    inside, leave = threading.Event(), threading.Event()

    @_ENTRY
    def entry(_: object) -> None:
        inside.set()
        leave.wait()

    tid = ctypes.c_ulong()
    assert _libc.pthread_create(ctypes.byref(tid), None, entry, None) == 0
    inside.wait()
    try:
        yield leave
    finally:
        leave.set()
        _libc.pthread_join(tid, None)


def test_a_foreign_thread_inside_the_interpreter_is_seen_until_it_leaves(
    foreign_thread: threading.Event,
) -> None:
    assert len(foreign_threads()) == 1
    assert not wait_for_foreign_threads(timeout=0.01)  # it cannot leave yet
    foreign_thread.set()
    assert wait_for_foreign_threads(timeout=60)
    assert foreign_threads() == []


def test_threads_the_interpreter_started_are_not_foreign() -> None:
    leave = threading.Event()
    thread = threading.Thread(target=leave.wait)
    thread.start()
    try:
        assert foreign_threads() == []
        assert wait_for_foreign_threads(timeout=0)
    finally:
        leave.set()
        thread.join()


async def test_a_held_call_runs_on_when_its_awaiter_is_cancelled() -> None:
    calls = Calls()
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiter = asyncio.ensure_future(calls.hold(answer))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not answer.cancelled()
    assert calls.running == 1
    assert not calls.wait_idle(0)
    answer.set_result("done")
    await asyncio.sleep(0)  # its done-callback runs on the loop
    assert calls.running == 0
    assert calls.wait_idle(0)


async def test_waiting_for_calls_off_the_loop_ends_when_the_last_answers() -> None:
    calls = Calls()
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    held = [asyncio.ensure_future(calls.hold(f)) for f in (first, second)]
    idle = asyncio.ensure_future(asyncio.to_thread(calls.wait_idle, 60))
    first.set_result(1)
    await held[0]
    assert not idle.done()
    second.set_exception(RuntimeError("refused"))
    with pytest.raises(RuntimeError, match="refused"):
        await held[1]
    assert await idle
