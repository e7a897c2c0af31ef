"""Whether the engine that owns a ``running`` run is still alive.

Owns: reading a process's state and start time from Linux ``/proc``, the set of
engines alive in this process, and the rule that decides an owner is dead
(same machine: its pid is gone, a zombie, or reused; another machine: its lease
expired). Pure functions over a record and a clock; no I/O but ``/proc`` and
``kill(pid, 0)``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from sentient_graph.runs.records import RunRecord

__all__ = ["HOST", "LIVE_OWNERS", "owner_dead", "pid_alive", "process_start"]

HOST = socket.gethostname()

#: Owners (engines) alive in this process; another engine here is not "dead".
LIVE_OWNERS: set[str] = set()


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """``(state, starttime)`` of a process from ``/proc``, or ``None`` if unknown."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields after the last ')'.
    rest = data.rsplit(")", 1)[-1].split()
    if len(rest) < 20:
        return None
    return rest[0], rest[19]


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), or ``None``."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def pid_alive(pid: int | None, start: str | None) -> bool:
    """Whether process ``pid`` (started at ``start``) still runs on this machine."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = _proc_stat(pid)
    if stat is not None:
        state, started = stat
        # A SIGKILLed child that its parent has not reaped yet is a zombie: dead.
        if state in ("Z", "X"):
            return False
        if start is not None and started != start:
            return False  # the pid was reused by another process
    return True


def owner_dead(record: RunRecord, now: float) -> bool:
    """Whether the owner of a ``running`` record is gone.

    Same machine: decided at once from the pid (and its start time). Another
    machine: only when the lease has expired.
    """
    if record.owner in LIVE_OWNERS:
        return False
    if record.host == HOST and record.pid:
        if record.pid == os.getpid():
            return True  # our process, but no live engine of ours owns it
        return not pid_alive(record.pid, record.pid_start)
    return record.lease_until is None or record.lease_until < now
