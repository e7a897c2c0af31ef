"""Waiting for the SDK's async engine to be done with the interpreter (``surreal/settle.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator

import pytest

from sentient_graph.surreal.settle import Calls, foreign_threads, wait_for_foreign_threads

_libc = ctypes.CDLL(None)
_ENTRY = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


def _foreign(target: Callable[[], object]) -> Callable[[], None]:
    """Run ``target`` on a thread started by C, not by the interpreter; returns its join."""

    @_ENTRY
    def entry(_: object) -> None:
        target()

    tid = ctypes.c_ulong()
    assert _libc.pthread_create(ctypes.byref(tid), None, entry, None) == 0

    def join() -> None:
        _libc.pthread_join(tid, None)
        entry  # noqa: B018 - the callback must outlive the thread

    return join


@contextlib.contextmanager
def _held_foreign(run: Callable[[Callable[[], None]], object]) -> Iterator[threading.Event]:
    """A C-started thread calling ``run(hold)``: ``hold`` blocks it, inside the
    interpreter, until the event this yields is set."""
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        leave.wait()

    join = _foreign(lambda: run(hold))
    inside.wait()
    try:
        yield leave
    finally:
        leave.set()
        join()


def test_a_foreign_thread_handing_an_answer_over_is_waited_for_until_it_leaves() -> None:
    # Held where the SDK's engine thread lets go of the GIL: in
    # ``loop.call_soon_threadsafe``, writing to the loop's self-pipe.
    loop = asyncio.new_event_loop()

    def hand_over(hold: Callable[[], None]) -> None:
        loop._write_to_self = hold  # type: ignore[method-assign]
        loop.call_soon_threadsafe(print)

    try:
        with _held_foreign(hand_over) as leave:
            assert len(foreign_threads()) == 1
            assert not wait_for_foreign_threads(timeout=0.01)  # it cannot leave yet
            leave.set()
            assert wait_for_foreign_threads(timeout=60)
            assert foreign_threads() == []
    finally:
        loop.close()


def test_a_foreign_thread_doing_anything_else_is_not_waited_for() -> None:
    with _held_foreign(lambda hold: hold()):
        assert foreign_threads() == []
        assert wait_for_foreign_threads(timeout=0)


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
    await asyncio.sleep(0)  # one loop turn: the done-callback was queued before it
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
