"""Where settings come from: arguments first, then the environment, then defaults.

Owns the names of the environment variables and the defaults; knows nothing of
connections. Credentials are read only from arguments or the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "DEFAULT_SURREALKV_SYNC",
    "DEFAULT_SURREAL_URL",
    "SurrealSettings",
    "redis_url_from_env",
]

#: The embedded default: a surrealkv store in ``./.sentient`` of the working directory.
DEFAULT_SURREAL_URL = "surrealkv://.sentient/store"

#: How often a ``surrealkv://`` store syncs to disk when its URL does not say
#: (``?sync=every``, ``?sync=never`` or an interval such as ``?sync=250ms``).
#: Every commit reaches the operating system before it returns, so a killed
#: process loses nothing; a power cut or kernel crash can lose the last second.
#: The engine's own default, ``every``, costs a sync per commit (measured in
#: BENCHMARKS.md) - LangGraph's default ``durability="async"`` already accepts
#: losing the last checkpoint to a crash.
DEFAULT_SURREALKV_SYNC = "1s"
DEFAULT_NAMESPACE = "sentient"
DEFAULT_DATABASE = "graph"


@dataclass(frozen=True)
class SurrealSettings:
    """Resolved connection settings for one SurrealDB store."""

    url: str
    namespace: str
    database: str
    username: str | None = None
    password: str | None = None
    #: The environment variable the URL was read from (``"SURREALDB_URL"``), or
    #: ``None`` when the caller passed it or it is the default; named in errors.
    url_source: str | None = None

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        *,
        namespace: str | None = None,
        database: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> SurrealSettings:
        """Fill what the caller left out from ``SURREALDB_*`` variables, then defaults."""
        env = os.environ
        from_env = not url and bool(env.get("SURREALDB_URL"))
        return cls(
            url=url or env.get("SURREALDB_URL") or DEFAULT_SURREAL_URL,
            namespace=namespace or env.get("SURREALDB_NAMESPACE") or DEFAULT_NAMESPACE,
            database=database or env.get("SURREALDB_DATABASE") or DEFAULT_DATABASE,
            username=username if username is not None else env.get("SURREALDB_USERNAME"),
            password=password if password is not None else env.get("SURREALDB_PASSWORD"),
            url_source="SURREALDB_URL" if from_env else None,
        )

    def __repr__(self) -> str:  # never print the password
        return (
            f"SurrealSettings(url={self.url!r}, namespace={self.namespace!r}, "
            f"database={self.database!r}, username={self.username!r})"
        )


def redis_url_from_env(redis_url: str | None = None) -> str | None:
    """The Redis URL to use, or ``None`` for the in-process bus."""
    return redis_url or os.environ.get("REDIS_URL") or None
