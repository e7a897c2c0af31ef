"""The writer's linger: how long events nobody awaits wait to share one log write.

Owns the policy (:class:`Linger`: the cap, the cap for followed threads), the
watch that ends a linger once the process idles (:class:`IdleWatch`), and the
two things it depends on, both injectable: the idle signal
(:class:`IdleSignal`; in production :class:`CpuIdleSignal`) and the clock
(:class:`Clock`; in production the running event loop).

Must not: hold or write events (:mod:`sentient_graph.events.writer` does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from sentient_graph.errors import ConfigError

__all__ = [
    "DEFAULT_LINGER",
    "FOLLOWED_LINGER",
    "Clock",
    "CpuIdleSignal",
    "IdleSignal",
    "IdleWatch",
    "Linger",
    "TimerHandle",
]

#: At most how long (seconds) an event nobody awaits (a graph's node transition)
#: waits to share one log write with the ones after it; the writer goes at once
#: when the process idles. A longer cap means fewer writes per run of busy graphs
#: and later live delivery; events that are awaited never linger. How the cap was
#: chosen: BENCHMARKS.md, "The writer's linger".
DEFAULT_LINGER = 0.050
#: The cap instead, while someone follows the event's thread (a subscription of
#: the bus, or a subscriber on Redis): live delivery comes first then, and the
#: events go at the writer's next turn, with whatever else the run queued by then;
#: a node start goes sooner still, from the emitter's own task
#: (:meth:`~sentient_graph.events.bus.EventBus.defer`). BENCHMARKS.md, "Events:
#: where the time goes", compares caps.
FOLLOWED_LINGER = 0.0

#: How soon an idle watch first looks (an event loop's timer wakes an idle loop
#: no sooner than epoll's resolution, a millisecond); each look that finds the
#: process busy doubles the wait, up to ``_LONGEST_LOOK``.
_FIRST_LOOK = 0.001
_LONGEST_LOOK = 0.004
#: Idle: the process used less CPU time than this share of the wall time.
_IDLE_SHARE = 0.3


class TimerHandle(Protocol):
    """A scheduled call that can be cancelled (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time for the linger: the running event loop, or a test's hand-driven clock."""

    def time(self) -> float:
        """Now, in seconds, on this clock's own scale."""
        ...

    def call_at(self, when: float, callback: Callable[[], None], /) -> TimerHandle:
        """Call ``callback`` once this clock reaches ``when``."""
        ...


class IdleSignal(Protocol):
    """Whether the process has been idle: the other processes' work may go first.

    :meth:`mark` starts a window; :meth:`idle` answers for the ``waited``
    seconds (on the linger's clock) since.
    """

    def mark(self) -> None: ...

    def idle(self, waited: float) -> bool: ...


class CpuIdleSignal:
    """Idle when the process (all its threads: nodes run in worker threads) used
    less CPU time than a share of the wall time since :meth:`mark`.

    Cheap enough to ask every millisecond from a timer callback; right on a
    machine whose cores the process has to itself, and apt to say "busy" when
    other processes load them (the linger then waits up to its cap: a later
    write, never a lost one).
    """

    __slots__ = ("_cpu", "_cpu_time", "_share")

    def __init__(
        self, share: float = _IDLE_SHARE, *, cpu_time: Callable[[], float] = time.process_time
    ) -> None:
        self._share = share
        self._cpu_time = cpu_time
        self._cpu = cpu_time()

    def mark(self) -> None:
        self._cpu = self._cpu_time()

    def idle(self, waited: float) -> bool:
        return self._cpu_time() - self._cpu < waited * self._share


class IdleWatch:
    """Calls ``wake`` once the process idles or at ``deadline``, whichever comes first.

    A timer callback asks ``signal`` whether the process idled since the last
    look. The first look comes :data:`_FIRST_LOOK` seconds after the start;
    while the process stays busy each next one waits twice as long, up to
    :data:`_LONGEST_LOOK`: a write is free only in a wait longer than itself,
    so the short waits of a busy run are better let pass (BENCHMARKS.md), and
    a busy stretch costs fewer looks.
    """

    __slots__ = ("_clock", "_deadline", "_handle", "_interval", "_signal", "_start", "_wake")

    def __init__(
        self,
        clock: Clock,
        signal: IdleSignal,
        deadline: float,
        wake: Callable[[], None],
    ) -> None:
        self._clock = clock
        self._signal = signal
        self._deadline = deadline
        self._wake = wake
        self._interval = _FIRST_LOOK
        self._handle: TimerHandle | None = None
        self._arm(clock.time())

    def _arm(self, now: float) -> None:
        self._start = now
        self._signal.mark()
        self._handle = self._clock.call_at(min(self._deadline, now + self._interval), self._look)

    def _look(self) -> None:
        now = self._clock.time()
        if now >= self._deadline or self._signal.idle(now - self._start):
            self._handle = None
            self._wake()
            return
        self._interval = min(self._interval * 2, _LONGEST_LOOK)
        self._arm(now)

    def cancel(self) -> None:
        """Stop looking; ``wake`` is not called."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class Linger:
    """The linger policy of one bus's writer.

    Args:
        cap: at most how many seconds events nobody awaits wait while the
            process is busy (:data:`DEFAULT_LINGER`).
        idle: tells when the process idles; default :class:`CpuIdleSignal`.
        clock: default the running event loop.

    Raises:
        ConfigError: ``cap`` is negative.
    """

    __slots__ = ("_clock", "cap", "idle")

    def __init__(
        self,
        cap: float = DEFAULT_LINGER,
        *,
        idle: IdleSignal | None = None,
        clock: Clock | None = None,
    ) -> None:
        if cap < 0:
            raise ConfigError(f"linger must be 0 or more seconds, not {cap}")
        self.cap = cap
        self.idle = idle if idle is not None else CpuIdleSignal()
        self._clock = clock

    @property
    def clock(self) -> Clock:
        """The injected clock, else the running event loop."""
        return self._clock if self._clock is not None else asyncio.get_running_loop()

    def deadline(self, first_queued: float, *, followed: bool) -> float:
        """When events whose oldest was queued at ``first_queued`` must be written."""
        return first_queued + (min(self.cap, FOLLOWED_LINGER) if followed else self.cap)

    def watch(self, deadline: float, wake: Callable[[], None]) -> IdleWatch:
        """Call ``wake`` once the process idles, or at ``deadline``."""
        return IdleWatch(self.clock, self.idle, deadline, wake)
