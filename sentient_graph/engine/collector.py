"""The garbage collector's thresholds while engines are open.

Owns: raising CPython's collection thresholds while at least one engine in the
process holds them (:func:`hold`), and putting back what was there when the
last one lets go (:func:`release`).

Why: runs that go on at once keep most of what they allocate alive for longer
than two young collections, so it is promoted to the oldest generation, and a
full collection (which walks every object of the process) follows whenever
those promotions reach a quarter of that generation. With a thousand runs at
once that was half the process's time, almost all of it finding nothing to
free: runs free their objects by reference counting. Young generations that
are collected less often let a run's objects die young instead. Measured in
BENCHMARKS.md ("Concurrent runs").

Must not: change thresholds the application set (anything but the
interpreter's defaults), touch a disabled collector, or run on interpreters
whose collector works otherwise (3.14's incremental collector).
"""

from __future__ import annotations

import gc
import sys
import threading

__all__ = ["TUNED", "hold", "release"]

#: Young collections every 10,000 net allocations, the middle one every 20th.
TUNED = (10_000, 20, 20)

#: CPython's own defaults before 3.14: only these are changed.
_DEFAULTS = frozenset({(700, 10, 10), (2000, 10, 10), (2000, 10, 0)})

_lock = threading.Lock()
_holders = 0
_saved: tuple[int, ...] | None = None


def _tunable() -> bool:
    return (
        sys.implementation.name == "cpython"
        and sys.version_info < (3, 14)
        and gc.isenabled()
        and gc.get_threshold() in _DEFAULTS
    )


def hold() -> None:
    """One more holder; the first raises the thresholds if they are the interpreter's."""
    global _holders, _saved
    with _lock:
        _holders += 1
        if _holders == 1 and _tunable():
            _saved = gc.get_threshold()
            gc.set_threshold(*TUNED)


def release() -> None:
    """One holder less; the last puts back the thresholds, unless someone changed them since."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0 and _saved is not None:
            if gc.get_threshold() == TUNED:
                gc.set_threshold(*_saved)
            _saved = None
