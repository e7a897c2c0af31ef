"""The one connection factory for SurrealDB, sync and async.

Owns: turning settings (a URL parsed by ``url.py``, namespace, database,
credentials) into an open SDK connection; running SurrealQL with bound
parameters, with the one retry policy of ``answers.py`` applied to the
"can be retried" transaction conflicts; sharing one handle per embedded store
inside a process (the engine admits one connection per store, even within a
process); closing what is left open at exit.

Must not: know any table or query of the checkpointer, the event log or the
runner; touch SDK internals (``codec.py`` does); decide what an answer means
(``answers.py`` does). It never formats a value into SurrealQL; callers pass
``vars``.

A little over 500 lines: the sync and the async connection class are kept side
by side so that their (deliberately identical) retry and close paths can be
read against each other.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surrealdb import AsyncSurreal, Surreal
from surrealdb.errors import SurrealError

from sentient_graph.errors import ConfigError, StoreUnavailable
from sentient_graph.settings import SurrealSettings
from sentient_graph.surreal import codec
from sentient_graph.surreal.answers import (
    MAX_RETRIES,
    QueryFailed,
    is_retryable,
    results_of,
    retry_delay,
)
from sentient_graph.surreal.bridge import LoopThread
from sentient_graph.surreal.settle import Calls, wait_for_foreign_threads
from sentient_graph.surreal.store_lock import clear_owner, locked_error, write_owner
from sentient_graph.surreal.url import SurrealUrl, describe_url, parse_url, sdk_url

__all__ = [
    "MAX_RETRIES",
    "AsyncConnection",
    "QueryFailed",
    "SyncConnection",
    "connect",
    "connect_sync",
    "is_retryable",
    "results_of",
    "retry_delay",
    "wrap_async",
    "wrap_sync",
]

#: How long closing an offloaded connection waits for its calls still running.
CLOSE_WAIT = 30.0


# ---------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------


@dataclass
class _Shared:
    """One SDK connection and everyone who holds it.

    ``kind`` is ``"blocking"`` for the embedded engine called on the caller's
    thread, whose one blocking SDK connection serves sync and async callers
    alike; ``"offload"`` for the embedded engine's async connection, whose
    queries run on the engine's threads (sync callers reach it through a
    :class:`~sentient_graph.surreal.bridge.LoopThread`); ``"async"`` /
    ``"sync"`` for a server.
    """

    sdk: Any
    settings: SurrealSettings
    path: Path | None
    kind: str
    refs: int = 0
    key: tuple[str, str] | None = None
    owned: bool = True
    # Serialises calls into the SDK connection, which is not safe to share
    # between threads.
    lock: threading.Lock = field(default_factory=threading.Lock)
    # For sync callers of an "offload" connection.
    bridge: LoopThread = field(default_factory=LoopThread)
    # An "offload" connection's calls still on the engine's threads (settle.py).
    calls: Calls = field(default_factory=Calls)

    def query_locked(self, sql: str, vars: dict[str, Any]) -> dict[str, Any]:
        """Run one request; the caller holds :attr:`lock`."""
        # The SDK's own embedded path, minus its pure-Python CBOR (codec.py): the
        # engine handle the SDK sends its frames to. Without one (another SDK
        # version, a server), or for a value only the SDK encodes, the SDK does it all.
        engine = codec.embedded_engine(self.sdk) if self.kind == "blocking" else None
        frame = codec.encode_query(sql, vars) if engine is not None else None
        if frame is None:
            return self.sdk.query_raw(sql, vars)  # type: ignore[no-any-return]
        return codec.execute(engine, frame)

    async def query_offloaded(self, sql: str, vars: dict[str, Any]) -> dict[str, Any]:
        """Run one request on an ``"offload"`` connection (the engine's threads, no GIL)."""
        engine = codec.embedded_engine(self.sdk)
        frame = codec.encode_query(sql, vars) if engine is not None else None
        if frame is None:
            return await self.calls.hold(self.sdk.query_raw(sql, vars))  # type: ignore[no-any-return]
        return await codec.aexecute(engine, frame, hold=self.calls.hold)

    def query_blocking(self, sql: str, vars: dict[str, Any]) -> dict[str, Any]:
        if self.kind == "offload":
            return self.bridge.run(self.query_offloaded(sql, vars))
        with self.lock:
            return self.query_locked(sql, vars)

    def close_blocking(self, wait: float = CLOSE_WAIT) -> None:
        """Close the SDK connection from a thread that may block.

        An offloaded connection first waits (up to ``wait`` seconds) for its
        calls still running, then closes on the bridge's loop, then waits for
        the engine's threads to leave the interpreter (``settle.py``).
        """
        if self.kind == "offload":
            # Calls answer on their loops: none can while this thread's own waits.
            self.calls.wait_idle(0.0 if _on_a_loop() else wait)
            with contextlib.suppress(Exception):
                self.bridge.run(self.sdk.close())
            self.bridge.stop()
            wait_for_foreign_threads()
            return
        with contextlib.suppress(Exception), self.lock:
            self.sdk.close()

    async def aclose_sdk(self) -> None:
        """Close the SDK connection from async code (off the loop, which keeps
        answering an offloaded connection's calls meanwhile)."""
        if self.kind == "async":
            with contextlib.suppress(Exception):
                await self.sdk.close()
            return
        await asyncio.to_thread(self.close_blocking)


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_REGISTRY: dict[tuple[str, str], _Shared] = {}
_REGISTRY_LOCK = threading.Lock()
#: Every SDK connection still open, shared or private, for the exit hook.
_OPEN: list[_Shared] = []


def _forget(shared: _Shared) -> None:
    """Drop a closed connection from the registries (caller holds the lock)."""
    if shared.key is not None and _REGISTRY.get(shared.key) is shared:
        del _REGISTRY[shared.key]
    if shared in _OPEN:
        _OPEN.remove(shared)


def _registry_key(path: Path | None) -> tuple[str, str] | None:
    return ("store", str(path)) if path is not None else None


def _release(shared: _Shared) -> bool:
    """Drop one holder; True when it was the last and the SDK connection must close."""
    with _REGISTRY_LOCK:
        shared.refs -= 1
        last = shared.refs <= 0 and shared.owned
        if last:
            _forget(shared)
    return last


def _after_close(shared: _Shared) -> None:
    if shared.path is not None:
        clear_owner(shared.path)
    # Let the engine's handle be freed now, while the interpreter is whole:
    # freed at interpreter exit, its worker threads can abort the process.
    shared.sdk = None


def _map_open_error(exc: BaseException, settings: SurrealSettings, path: Path | None) -> Exception:
    text = str(exc)
    if path is not None and "already locked" in text:
        return locked_error(settings.url, path)
    first = text.splitlines()[0] if text else type(exc).__name__
    return StoreUnavailable(f"cannot open SurrealDB at {describe_url(settings.url)}: {first}")


def _check_open(closed: bool, shared: _Shared) -> None:
    if closed or shared.sdk is None:
        raise StoreUnavailable(f"connection to {describe_url(shared.settings.url)} is closed")


def _raise_unless_retryable(exc: Exception, attempt: int, url: str) -> None:
    """The retry policy of both connection kinds: retry conflicts, raise the rest."""
    if isinstance(exc, QueryFailed):
        if not exc.retryable or attempt >= MAX_RETRIES:
            raise exc
        return
    if not is_retryable(str(exc)) or attempt >= MAX_RETRIES:
        raise StoreUnavailable(f"SurrealDB at {describe_url(url)}: {exc}") from exc


class _Handle:
    """What both connection classes are: a holder of the shared SDK connection."""

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared
        self._closed = False

    @property
    def settings(self) -> SurrealSettings:
        """Where this connection points (URL, namespace, database)."""
        return self._shared.settings

    @property
    def url(self) -> str:
        return self._shared.settings.url

    @property
    def sdk(self) -> Any:
        """The underlying ``surrealdb`` SDK connection."""
        return self._shared.sdk

    @property
    def offloaded(self) -> bool:
        """True when an embedded store's queries run on the engine's threads (``offload=True``)."""
        return self._shared.kind == "offload"


class AsyncConnection(_Handle):
    """An open SurrealDB connection for async code; close with :meth:`aclose`.

    On the embedded engine, queries run on the caller's thread when the
    connection is free (an embedded query is a function call: a hop to another
    thread would cost more than most queries) and on a worker thread when it
    is busy, so the event loop never waits on the lock. Opened with
    ``offload=True``, they run on the engine's own threads instead, without
    the GIL.
    """

    async def _once(self, sql: str, vars: dict[str, Any]) -> dict[str, Any]:
        shared = self._shared
        if shared.kind == "async":
            return await shared.sdk.query_raw(sql, vars)  # type: ignore[no-any-return]
        if shared.kind == "offload":
            return await shared.query_offloaded(sql, vars)
        if shared.lock.acquire(blocking=False):
            try:
                raw = shared.query_locked(sql, vars)
            finally:
                shared.lock.release()
            await asyncio.sleep(0)  # a yield point, as an awaited I/O call would be
            return raw
        return await asyncio.to_thread(shared.query_blocking, sql, vars)

    async def query(self, sql: str, vars: Mapping[str, Any] | None = None) -> list[Any]:
        """Run SurrealQL; return one result per statement; retry retryable conflicts."""
        _check_open(self._closed, self._shared)
        params = dict(vars or {})
        attempt = 0
        while True:
            try:
                return results_of(await self._once(sql, params))
            except (QueryFailed, SurrealError) as exc:
                _raise_unless_retryable(exc, attempt, self.url)
            attempt += 1
            await asyncio.sleep(retry_delay(attempt))

    def query_now(self, sql: str, vars: Mapping[str, Any] | None = None) -> list[Any] | None:
        """Run on the caller's thread if this is a free embedded connection; else ``None``.

        For callers that cannot await (an event-loop callback): ``None`` also
        when the engine answers with a conflict that can be retried, so the
        caller falls back to :meth:`query`, which retries with backoff.
        """
        shared = self._shared
        if self._closed or shared.kind != "blocking" or shared.sdk is None:
            return None
        if not shared.lock.acquire(blocking=False):
            return None
        try:
            return results_of(shared.query_locked(sql, dict(vars or {})))
        except (QueryFailed, SurrealError) as exc:
            _raise_unless_retryable(exc, 0, self.url)
            return None
        finally:
            shared.lock.release()

    async def aclose(self) -> None:
        """Release this handle; the SDK connection closes with its last holder."""
        if self._closed:
            return
        self._closed = True
        shared = self._shared
        if not _release(shared):
            return
        await shared.aclose_sdk()
        _after_close(shared)

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class SyncConnection(_Handle):
    """An open SurrealDB connection for blocking code; close with :meth:`close`."""

    def query(self, sql: str, vars: Mapping[str, Any] | None = None) -> list[Any]:
        """Run SurrealQL; return one result per statement; retry retryable conflicts."""
        _check_open(self._closed, self._shared)
        params = dict(vars or {})
        attempt = 0
        while True:
            try:
                return results_of(self._shared.query_blocking(sql, params))
            except (QueryFailed, SurrealError) as exc:
                _raise_unless_retryable(exc, attempt, self.url)
            attempt += 1
            time.sleep(retry_delay(attempt))

    def close(self) -> None:
        """Release this handle; the SDK connection closes with its last holder."""
        if self._closed:
            return
        self._closed = True
        shared = self._shared
        if _release(shared):
            shared.close_blocking()
            _after_close(shared)

    def __enter__(self) -> SyncConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _signin_vars(settings: SurrealSettings) -> dict[str, Any] | None:
    if not settings.username:
        return None
    return {"username": settings.username, "password": settings.password or ""}


def _share_or_none(
    settings: SurrealSettings, key: tuple[str, str] | None, kind: str
) -> _Shared | None:
    """The connection this process already has to an embedded store, if any."""
    if key is None:
        return None
    with _REGISTRY_LOCK:
        shared = _REGISTRY.get(key)
        if shared is None:
            return None
        if (shared.settings.namespace, shared.settings.database) != (
            settings.namespace,
            settings.database,
        ):
            raise ConfigError(
                f"the embedded store {settings.url} is open in this process with namespace "
                f"{shared.settings.namespace!r}/database {shared.settings.database!r}; one process "
                f"shares one connection per store, so it cannot also use "
                f"{settings.namespace!r}/{settings.database!r}"
            )
        shared.refs += 1
        return shared


def _parse(settings: SurrealSettings) -> SurrealUrl:
    return parse_url(settings.url, source=settings.url_source)


def _open_blocking(settings: SurrealSettings, url: SurrealUrl) -> Any:
    """Open a blocking SDK connection (the embedded engine, or a server for sync code)."""
    path = url.path
    try:
        sdk = Surreal(sdk_url(url))
        sdk.connect()
        creds = _signin_vars(settings)
        if creds and not url.embedded:
            sdk.signin(creds)
        sdk.use(settings.namespace, settings.database)
    except (SurrealError, OSError, RuntimeError) as exc:
        raise _map_open_error(exc, settings, path) from None
    return sdk


def _register(
    sdk: Any, settings: SurrealSettings, path: Path | None, kind: str, key: tuple[str, str] | None
) -> _Shared:
    shared = _Shared(sdk=sdk, settings=settings, path=path, kind=kind, refs=1, key=key)
    with _REGISTRY_LOCK:
        _OPEN.append(shared)
        if key is not None:
            _REGISTRY[key] = shared
    if path is not None:
        write_owner(path)
    return shared


def _prepare(
    url: str | None,
    namespace: str | None,
    database: str | None,
    username: str | None,
    password: str | None,
) -> tuple[SurrealSettings, SurrealUrl, tuple[str, str] | None]:
    """What :func:`connect` and :func:`connect_sync` both start from: the settings
    (arguments over ``SURREALDB_*``), the parsed URL and the store's registry key."""
    settings = SurrealSettings.resolve(
        url, namespace=namespace, database=database, username=username, password=password
    )
    parsed = _parse(settings)
    codec.quiet_request_ids()
    return settings, parsed, _registry_key(parsed.path)


async def connect(
    url: str | None = None,
    *,
    namespace: str | None = None,
    database: str | None = None,
    username: str | None = None,
    password: str | None = None,
    offload: bool = False,
) -> AsyncConnection:
    """Open (or share) an async connection.

    Arguments win over ``SURREALDB_URL``, ``SURREALDB_NAMESPACE``,
    ``SURREALDB_DATABASE``, ``SURREALDB_USERNAME`` and ``SURREALDB_PASSWORD``.
    Credentials are used for servers only: the embedded engine needs none.

    Args:
        offload: On an embedded store, run queries on the engine's own threads,
            which do not hold the GIL, instead of on the caller's: each query
            costs more (a hop to the engine's threads and back), but the
            store's work overlaps with Python's, which pays when many runs go
            at once. The first connection to a store in a process decides;
            later ones share it as it is. Closing waits for the engine's
            calls still running (a cancelled caller's too) and for the
            engine's threads to be done with the interpreter: the SDK's async
            engine can otherwise abort a process that exits right after
            (``surreal/settle.py``).

    Raises:
        ConfigError: the URL is malformed or names an unknown scheme.
        StoreLocked: an embedded store is held by another process.
        StoreUnavailable: the server cannot be reached or refused the sign-in.
    """
    settings, parsed, key = _prepare(url, namespace, database, username, password)
    path = parsed.path
    shared = _share_or_none(settings, key, "async")
    if shared is not None:
        return AsyncConnection(shared)
    if parsed.embedded and not offload:
        sdk = await asyncio.to_thread(_open_blocking, settings, parsed)
        return AsyncConnection(_register(sdk, settings, path, "blocking", key))
    try:
        sdk = AsyncSurreal(sdk_url(parsed))
        await sdk.connect()
        creds = _signin_vars(settings)
        if creds and not parsed.embedded:
            await sdk.signin(creds)
        await sdk.use(settings.namespace, settings.database)
    except (SurrealError, OSError, RuntimeError) as exc:
        raise _map_open_error(exc, settings, path) from None
    kind = "offload" if parsed.embedded else "async"
    return AsyncConnection(_register(sdk, settings, path, kind, key))


def connect_sync(
    url: str | None = None,
    *,
    namespace: str | None = None,
    database: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> SyncConnection:
    """Blocking twin of :func:`connect`; shares the embedded store's connection with it."""
    settings, parsed, key = _prepare(url, namespace, database, username, password)
    path = parsed.path
    shared = _share_or_none(settings, key, "sync")
    if shared is not None:
        return SyncConnection(shared)
    sdk = _open_blocking(settings, parsed)
    kind = "blocking" if parsed.embedded else "sync"
    return SyncConnection(_register(sdk, settings, path, kind, key))


def _unowned(sdk: Any, kind: str) -> _Shared:
    codec.quiet_request_ids()
    settings = SurrealSettings(
        url=getattr(getattr(sdk, "url", None), "raw_url", None) or "surrealdb",
        namespace=getattr(sdk, "namespace", None) or "?",
        database=getattr(sdk, "database", None) or "?",
    )
    return _Shared(sdk=sdk, settings=settings, path=None, kind=kind, refs=1, owned=False)


def wrap_async(sdk: Any) -> AsyncConnection:
    """Wrap an open SDK ``AsyncSurreal`` connection (namespace and database already chosen).

    Closing the wrapper leaves the SDK connection open: its owner closes it.
    """
    if isinstance(sdk, AsyncConnection):
        return sdk
    return AsyncConnection(_unowned(sdk, "async"))


def wrap_sync(sdk: Any) -> SyncConnection:
    """Wrap an open blocking SDK ``Surreal`` connection; closing the wrapper leaves it open."""
    if isinstance(sdk, SyncConnection):
        return sdk
    return SyncConnection(_unowned(sdk, "sync"))


@atexit.register
def _close_leftovers() -> None:
    """Close connections still open at exit: the engine can abort (exit 134) otherwise."""
    with _REGISTRY_LOCK:
        leftovers = list(_OPEN)
        _OPEN.clear()
        _REGISTRY.clear()
    for shared in leftovers:
        if shared.sdk is None:
            continue
        if shared.kind == "async":
            with contextlib.suppress(Exception):
                asyncio.run(shared.sdk.close())
        else:
            # An offloaded connection's calls left running belong to loops that
            # are gone: they cannot be waited for, only the engine's last answers.
            shared.close_blocking(wait=0.0)
        _after_close(shared)
