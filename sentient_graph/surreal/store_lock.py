"""Which process holds an embedded store: the owner file beside it, and the error naming it.

Owns: ``PATH.owner.json`` next to a ``surrealkv://PATH`` store (pid, host,
command, since), written by the process that opened the store and removed when
it closes it, and the one-line :class:`~sentient_graph.errors.StoreLocked`
that names the holder. The engine's own file lock is what excludes other
processes; this file only says who holds it.

Must not: open or lock anything itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from sentient_graph.errors import StoreLocked

__all__ = ["clear_owner", "lock_holder", "locked_error", "write_owner"]


def _owner_file(path: Path) -> Path:
    return path.with_name(path.name + ".owner.json")


def write_owner(path: Path) -> None:
    """Record this process as the holder of the store at ``path`` (best effort)."""
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv)[:300],
        "since": time.time(),
    }
    with contextlib.suppress(OSError):
        _owner_file(path).write_text(json.dumps(info))


def clear_owner(path: Path) -> None:
    """Remove the owner file of ``path`` if this process wrote it."""
    with contextlib.suppress(OSError, ValueError):
        owner = json.loads(_owner_file(path).read_text())
        if owner.get("pid") == os.getpid():
            _owner_file(path).unlink()


def lock_holder(path: Path) -> dict[str, Any] | None:
    """The owner record of an embedded store, if one was left by a live process."""
    try:
        owner = json.loads(_owner_file(path).read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def locked_error(url: str, path: Path) -> StoreLocked:
    """The one-line error for a store another process (or connection) holds."""
    owner = lock_holder(path)
    who = "another process"
    if owner and owner.get("pid") == os.getpid():
        who = (
            "another connection in this process (share one: sentient_graph.surreal.connect() does)"
        )
    elif owner:
        who = f"process {owner.get('pid')} ({owner.get('command') or '?'})"
    return StoreLocked(
        f"the embedded store {url} is held by {who}; it admits one process at a time - "
        "wait for it to finish, or point SURREALDB_URL at a SurrealDB server (ws://HOST:PORT) "
        "to share one store between processes"
    )
