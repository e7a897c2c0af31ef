"""How clients find a running server: ``server.json`` next to the store.

Owns: where that file lives for a store URL, writing it when a server starts,
removing it when it stops, and reading it back (ignoring a file whose server
process is gone).

Must not: hold the token (clients read ``SENTIENT_TOKEN``), or open the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from sentient_graph.settings import SurrealSettings

__all__ = ["URL_FILE", "read_url_file", "remove_url_file", "url_file_for", "write_url_file"]

URL_FILE = "server.json"


def url_file_for(surreal_url: str | None = None) -> Path | None:
    """``server.json`` beside an embedded store's directory; ``None`` for other stores.

    ``surrealkv://.sentient/store`` (the default) gives ``.sentient/server.json``.
    """
    url = SurrealSettings.resolve(surreal_url).url
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("surrealkv", "rocksdb", "file"):
        return None
    path = rest.split("?", 1)[0]
    if not path:
        return None
    return Path(path).expanduser().resolve().parent / URL_FILE


def write_url_file(
    path: Path,
    url: str,
    *,
    token_required: bool,
    store: str,
    namespace: str | None = None,
    database: str | None = None,
) -> None:
    """Write ``{"url", "pid", "store", "namespace", "database", "token_required",
    "started_at"}`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "url": url,
        "pid": os.getpid(),
        "store": store,
        "namespace": namespace,
        "database": database,
        "token_required": token_required,
        "started_at": time.time(),
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def remove_url_file(path: Path) -> None:
    """Remove the file if it is this process's."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_url_file(surreal_url: str | None = None) -> dict[str, Any] | None:
    """The running server's ``server.json`` for this store, or ``None``."""
    path = url_file_for(surreal_url)
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = int(data.get("pid", 0) or 0)
    if pid <= 0 or not _alive(pid):
        return None
    return data
