"""Who may talk to the server, and how much they may send.

Owns: the bind rule (loopback unless a token is set), checking a bearer token
(``Authorization: Bearer T``, or ``access_token=T`` in the query for clients
that cannot set headers: ``EventSource``, a browser WebSocket), and
:class:`Guard`, the ASGI middleware that answers 401 and 413 before a route runs.

Must not: log or echo a token, or read a request body beyond the limit.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from sentient_graph.errors import ConfigError

__all__ = ["Guard", "check_bind", "is_loopback", "token_matches"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths anyone may read: the dashboard's files, the API description and health.
PUBLIC_PREFIXES = ("/static/", "/docs", "/openapi.json", "/health")
PUBLIC_PATHS = frozenset({"/", "/favicon.ico"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a bind that would expose the engine without a token.

    Raises:
        ConfigError: ``host`` is not a loopback address and no token is set.
    """
    if not token and not is_loopback(host):
        raise ConfigError(
            f"refusing to bind {host} without a token "
            "(set --token or SENTIENT_TOKEN, or bind 127.0.0.1)"
        )


def token_matches(provided: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the server's."""
    return provided is not None and hmac.compare_digest(provided.encode(), token.encode())


def presented_token(scope: Scope) -> str | None:
    """The token a request carries: ``Authorization: Bearer`` first, then ``access_token``."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, credential = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer":
                return credential.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("access_token")
    return values[0] if values else None


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def _reply(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: the token on HTTP requests, and the request body limit.

    WebSocket connections pass through: :mod:`~sentient_graph.server.rpc`
    accepts the token in a header, the query or the first message.

    Args:
        app: The wrapped application.
        token: The token every non-public request must carry; ``None`` for none.
        max_body: The largest request body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token and not _is_public(scope["path"]):
            if not token_matches(presented_token(scope), self.token):
                await _reply(
                    send,
                    401,
                    "unauthorized",
                    "missing or wrong token (send Authorization: Bearer TOKEN)",
                )
                return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                await _reply(send, 413, "body_too_large", self._too_large())
                return
        # Bodies are small JSON: read all of it (up to the limit) before the route runs.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body:
                await _reply(send, 413, "body_too_large", self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return (
            f"request body larger than {self.max_body} bytes (send less, or raise serve --max-body)"
        )
