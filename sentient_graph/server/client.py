"""A client of a running server, for the CLI and scripts (httpx, blocking).

Owns: :class:`ServerClient` (one method per HTTP operation; events over SSE,
resumable by ``after``), :func:`find_server` (``SENTIENT_SERVER``, else the
``server.json`` next to the store) and turning error replies back into the
exceptions local mode raises, so the CLI keeps its messages and exit codes.

Must not: open the store or import the server's app (a client process needs
httpx only).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from sentient_graph.errors import (
    ConfigError,
    GraphLoadError,
    InvalidInput,
    RunNotActive,
    SentientError,
    StoreUnavailable,
    ThreadNotFound,
)

__all__ = ["ServerClient", "ServerError", "find_server"]

_NOTHING = object()


class ServerError(SentientError, RuntimeError):
    """The server answered with an error that has no local equivalent."""


_BY_CODE: dict[str, type[SentientError]] = {
    "thread_not_found": ThreadNotFound,
    "graph_not_registered": GraphLoadError,
    "graph_load_error": GraphLoadError,
    "invalid_input": InvalidInput,
    "invalid_request": InvalidInput,
    "run_not_active": RunNotActive,
    "store_unavailable": StoreUnavailable,
    "redis_unavailable": StoreUnavailable,
    "bad_request": ConfigError,
    "unauthorized": ConfigError,
}


def find_server(surreal_url: str | None = None) -> str | None:
    """The URL of the server to talk to: ``SENTIENT_SERVER``, else the one running on this store."""
    named = os.environ.get("SENTIENT_SERVER")
    if named:
        return named.rstrip("/")
    from sentient_graph.server.discovery import read_url_file

    info = read_url_file(surreal_url)
    return str(info["url"]) if info else None


class ServerClient:
    """Talks to ``sentient-graph serve``.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:8321``.
        token: Sent as ``Authorization: Bearer`` (default ``SENTIENT_TOKEN``).
        timeout: Seconds for each request (streams wait without limit between events).
        named_by: Where the URL came from (``--server``, ``SENTIENT_SERVER``, a
            ``server.json`` path), named by the error when the server does not answer.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        named_by: str = "SENTIENT_SERVER",
    ) -> None:
        token = token if token is not None else os.environ.get("SENTIENT_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self.named_by = named_by
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _unreachable(self, exc: Exception) -> StoreUnavailable:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StoreUnavailable(
            f"no server answers at {self.base_url} (from {self.named_by}): {detail} "
            f"(start `sentient-graph serve`, or point {self.named_by} at a running one)"
        )

    def probe(self, timeout: float = 5.0) -> None:
        """Check that something answers HTTP at the URL (any status counts).

        Raises:
            httpx.TransportError: nothing listens there, or it does not answer in time.
        """
        self._http.get("/health", timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.is_success:
            return response.json()
        raise _error_of(response)

    def start(
        self,
        graph: str,
        input: Any = None,
        thread_id: str | None = None,
        *,
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /runs``: ``{thread_id, run_id, status}``."""
        body = {"graph": graph, "input": input, "thread_id": thread_id}
        if correlation_id is not None:
            body["correlation_id"] = correlation_id
        if metadata is not None:
            body["metadata"] = metadata
        return dict(self._call("POST", "/runs", json=body))

    def run_wait(
        self, graph: str, input: Any = None, thread_id: str | None = None
    ) -> dict[str, Any]:
        """``POST /runs/wait``: ``{thread_id, run_id, status, values, ...}`` once the run ended."""
        body = {"graph": graph, "input": input, "thread_id": thread_id}
        return dict(self._call("POST", "/runs/wait", json=body, timeout=None))

    def threads(self, status: str | None = None) -> list[dict[str, Any]]:
        """``GET /threads``: run records, most recently updated first."""
        return list(self._call("GET", "/threads", params={"status": status} if status else None))

    def get(self, thread_id: str) -> dict[str, Any]:
        """``GET /threads/{id}``: ``{record, state}``."""
        return dict(self._call("GET", f"/threads/{thread_id}"))

    def history(self, thread_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """``GET /threads/{id}/history``: checkpoints, newest first."""
        return list(
            self._call(
                "GET", f"/threads/{thread_id}/history", params={"limit": limit} if limit else None
            )
        )

    def resume(self, thread_id: str, value: Any = _NOTHING) -> dict[str, Any]:
        """``POST /threads/{id}/resume``; ``value`` answers a pending interrupt."""
        body = {} if value is _NOTHING else {"value": value}
        return dict(self._call("POST", f"/threads/{thread_id}/resume", json=body))

    def cancel(self, thread_id: str) -> dict[str, Any]:
        """``POST /threads/{id}/cancel``: the run record."""
        return dict(self._call("POST", f"/threads/{thread_id}/cancel"))

    def fork(
        self,
        thread_id: str,
        checkpoint_id: str,
        values: dict[str, Any] | None = None,
        new_thread_id: str | None = None,
        *,
        as_node: str | None = None,
    ) -> dict[str, Any]:
        """``POST /threads/{id}/fork``: ``{thread_id, ...}`` of the new thread."""
        body = {"checkpoint_id": checkpoint_id, "values": values, "new_thread_id": new_thread_id}
        if as_node is not None:
            body["as_node"] = as_node
        return dict(self._call("POST", f"/threads/{thread_id}/fork", json=body))

    def graphs(self) -> list[dict[str, Any]]:
        """``GET /graphs``."""
        return list(self._call("GET", "/graphs"))

    def health(self) -> dict[str, Any]:
        """``GET /health`` (also when degraded)."""
        response = self._http.get("/health")
        return dict(response.json())

    def events(
        self,
        thread_id: str,
        *,
        after: str | int | None = None,
        follow: bool = False,
        types: list[str] | None = None,
        until_terminal: bool = True,
        raw: bool = False,
    ) -> Iterator[Any]:
        """Events of a thread as dicts, over SSE.

        Args:
            thread_id: The thread.
            after: A seq (every run, after it) or ``RUN_ID:SEQ`` (right after that event).
            follow: Keep going with live events.
            types: Only these event types.
            until_terminal: When following, stop after a run ends (completed,
                failed, cancelled) or is interrupted.
            raw: Yield each event's JSON text (``Event.to_json``'s, as the server
                sent it) instead of a dict.
        """
        params: dict[str, str] = {"follow": "true" if follow else "false"}
        if after is not None:
            params["after_seq"] = str(after)
        if types:
            params["types"] = ",".join(types)
        terminal = {"run_completed", "run_failed", "run_cancelled", "interrupted"}
        try:
            stream = self._http.stream(
                "GET",
                f"/threads/{thread_id}/events",
                params=params,
                timeout=httpx.Timeout(30.0, read=None),
            )
            response = stream.__enter__()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        with contextlib.ExitStack() as leave:
            leave.push(stream)
            if not response.is_success:
                response.read()
                raise _error_of(response)
            data: list[str] = []
            for line in _lines(response):
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    text = "\n".join(data)
                    data = []
                    event = json.loads(text)
                    yield text if raw else event
                    if follow and until_terminal and event.get("type") in terminal:
                        return


def _lines(response: httpx.Response) -> Iterator[str]:
    """The lines of a stream; a server that goes away mid-stream is ``StoreUnavailable``."""
    try:
        yield from response.iter_lines()
    except httpx.HTTPError as exc:
        raise StoreUnavailable(
            f"the server at {response.request.url.copy_with(path='/', query=None)} "
            f"stopped answering: {str(exc) or type(exc).__name__} (is it still running?)"
        ) from None


def _error_of(response: httpx.Response) -> SentientError:
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", f"HTTP {response.status_code} from the server"
    if code == "unauthorized":
        message = f"{message.split(' (')[0]} (set SENTIENT_TOKEN or --token to the server's token)"
    return _BY_CODE.get(code, ServerError)(message)
