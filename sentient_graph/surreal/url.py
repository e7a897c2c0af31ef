"""SurrealDB URLs: which engine a URL names, where its store lives, how it syncs.

Owns: parsing and validating a URL (``mem://``, ``surrealkv://PATH``,
``file://PATH``, ``ws(s)://HOST:PORT``, ``http(s)://HOST:PORT``), telling
embedded from remote, the ``sync=`` parameter of ``surrealkv://`` stores and
its default, the URL handed to the SDK, and the URL as shown to users
(credentials stripped). A URL that cannot work raises
:class:`~sentient_graph.errors.ConfigError` with one line that names where the
URL came from (``SURREALDB_URL`` when it was read from the environment).

Must not: open anything or touch the SDK (``connection.py`` does); the only
side effect is :func:`sdk_url` creating the parent folder of a store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from sentient_graph.errors import ConfigError
from sentient_graph.settings import DEFAULT_SURREALKV_SYNC

__all__ = [
    "EMBEDDED_SCHEMES",
    "REMOTE_SCHEMES",
    "SurrealUrl",
    "describe_url",
    "is_embedded",
    "parse_url",
    "sdk_url",
]

EMBEDDED_SCHEMES = frozenset({"mem", "memory", "surrealkv", "surrealkv+versioned", "file"})
REMOTE_SCHEMES = frozenset({"ws", "wss", "http", "https"})
PERSISTENT_EMBEDDED = frozenset({"surrealkv", "surrealkv+versioned", "file"})
SURREALKV_SCHEMES = frozenset({"surrealkv", "surrealkv+versioned"})

_USE = "use mem://, surrealkv://PATH, ws(s)://HOST:PORT or http(s)://HOST:PORT"
# What the engine's `sync` option means: at every commit, never (the engine
# decides), or an interval. The engine itself accepts any text and silently
# falls back, so a typo would quietly change durability: refuse it here.
_SYNC_WORDS = frozenset({"every", "never"})
_SYNC_INTERVAL = re.compile(r"(?:\d+(?:ns|us|µs|ms|s|m|h|d|w|y))+")


@dataclass(frozen=True)
class SurrealUrl:
    """A parsed, valid SurrealDB URL.

    Attributes:
        url: The URL as given.
        scheme: ``mem`` for every in-memory spelling, else the URL's scheme.
        path: The store's absolute path for ``surrealkv://`` and ``file://``, else ``None``.
        query: The URL's query string (engine options such as ``sync=every``), possibly empty.
    """

    url: str
    scheme: str
    path: Path | None
    query: str

    @property
    def embedded(self) -> bool:
        """True for the in-process engines (``mem://``, ``surrealkv://``, ``file://``)."""
        return self.scheme in EMBEDDED_SCHEMES

    @property
    def sync(self) -> str | None:
        """How a ``surrealkv://`` store syncs to disk (the default when the URL does not say)."""
        if self.scheme not in SURREALKV_SCHEMES:
            return None
        given = parse_qs(self.query).get("sync")
        return given[-1] if given else DEFAULT_SURREALKV_SYNC


def _where(url: str, source: str | None) -> str:
    return f"{source}={url!r}" if source else repr(url)


def parse_url(url: str, *, source: str | None = None) -> SurrealUrl:
    """Parse and validate ``url``.

    Args:
        url: A SurrealDB URL.
        source: Where the URL came from when not from the caller, e.g.
            ``"SURREALDB_URL"``; named in the error so the user knows what to fix.

    Raises:
        ConfigError: the URL is malformed, names an unknown scheme, names no
            path for an on-disk store, or has an unknown ``sync=`` value.
    """
    if url in ("mem://", "memory", "memory://"):
        return SurrealUrl(url, "mem", None, "")
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if "://" not in url or not scheme:
        raise ConfigError(f"not a SurrealDB URL: {_where(url, source)} ({_USE})")
    if scheme not in EMBEDDED_SCHEMES | REMOTE_SCHEMES:
        raise ConfigError(
            f"unsupported SurrealDB URL scheme {scheme!r} in {_where(url, source)} ({_USE})"
        )
    if scheme in ("mem", "memory"):
        return SurrealUrl(url, "mem", None, "")
    if scheme in REMOTE_SCHEMES:
        return SurrealUrl(url, scheme, None, parsed.query)
    raw, _, query = url.split("://", 1)[1].partition("?")
    if not raw:
        raise ConfigError(f"{_where(url, source)} names no path (try surrealkv://.sentient/store)")
    for value in parse_qs(query, keep_blank_values=True).get("sync", []):
        if value.lower() not in _SYNC_WORDS and not _SYNC_INTERVAL.fullmatch(value):
            raise ConfigError(
                f"unknown sync={value!r} in {_where(url, source)} "
                "(use sync=every, sync=never or an interval such as sync=1s)"
            )
    return SurrealUrl(url, scheme, Path(raw).expanduser().resolve(), query)


def is_embedded(url: str) -> bool:
    """True for the in-process engines (``mem://``, ``surrealkv://``, ``file://``).

    Raises:
        ConfigError: ``url`` is not a valid SurrealDB URL.
    """
    return parse_url(url).embedded


def sdk_url(url: SurrealUrl) -> str:
    """The URL handed to the SDK; creates the parent folder of an on-disk store.

    A ``surrealkv://`` URL that does not say how to sync gets the default
    (``sync=1s``, see :data:`sentient_graph.settings.DEFAULT_SURREALKV_SYNC`).
    """
    if url.path is not None:
        url.path.parent.mkdir(parents=True, exist_ok=True)
        query = url.query
        if url.scheme in SURREALKV_SCHEMES and "sync" not in parse_qs(query):
            query = "&".join(filter(None, [query, f"sync={DEFAULT_SURREALKV_SYNC}"]))
        return f"{url.scheme}://{url.path}" + (f"?{query}" if query else "")
    if url.scheme == "mem":
        return "mem://"
    return url.url


def describe_url(url: str) -> str:
    """The URL as users see it in messages (credentials stripped)."""
    parsed = urlparse(url)
    if parsed.password or parsed.username:
        return url.replace(f"{parsed.username}:{parsed.password}@", "").replace(
            f"{parsed.username}@", ""
        )
    return url
