"""WebSocket ``/ws``: the same operations as JSON-RPC 2.0, and events as notifications.

Owns: the JSON-RPC framing (requests, responses, errors, notifications), the
method table (``runs.start``, ``runs.wait``, ``threads.list``, ``threads.get``,
``threads.history``, ``threads.resume``, ``threads.cancel``, ``threads.fork``,
``graphs.list``, ``events.subscribe``, ``events.unsubscribe``, ``auth``), one
writer per connection (so notifications of a run go out in seq order), and
the token check: ``Authorization`` header, ``access_token`` query, or an
``auth`` request as the first message.

Event notifications: ``{"jsonrpc": "2.0", "method": "events.event", "params":
{"subscription": ID, "event": EVENT}}``. Reconnect with ``after``
(``RUN_ID:SEQ`` of the last event seen) or ``after_seq``: no gap, no duplicate.

Must not: do an operation's work (``operations``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ValidationError

from sentient_graph.events import EventFilter
from sentient_graph.server.app import ServerState, state_of
from sentient_graph.server.auth import presented_token, token_matches
from sentient_graph.server.models import (
    EventsSubscribe,
    EventsUnsubscribe,
    ForkRequest,
    StartRun,
    ThreadParams,
    ThreadsQuery,
    validation_message,
)
from sentient_graph.server.operations import error_reply
from sentient_graph.server.sse import Cursor, follow_events

__all__ = ["install"]

log = structlog.get_logger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
#: Application errors: -32000 - (HTTP status - 400), so 404 is -32004.
SERVER_ERROR = -32000
UNAUTHORIZED = -32001


class _ThreadResume(BaseModel):
    model_config = {"extra": "forbid"}
    thread_id: str
    value: Any = None


class _ThreadFork(ForkRequest):
    thread_id: str


class _ThreadHistory(ThreadParams):
    limit: int | None = None


def _app_error(exc: BaseException) -> dict[str, Any]:
    status, code, message = error_reply(exc)
    return {
        "code": SERVER_ERROR - max(0, status - 400),
        "message": message,
        "data": {"status": status, "error": code},
    }


class _Connection:
    """One client's WebSocket: a reader, a writer and its subscriptions."""

    def __init__(self, ws: WebSocket, server: ServerState, token: str | None) -> None:
        self.ws = ws
        self.server = server
        self.token = token
        self.authed = token is None or token_matches(presented_token(ws.scope), token)
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=10_000)
        self.subscriptions: dict[str, asyncio.Task[None]] = {}
        ops = server.ops
        self.methods: dict[str, tuple[type[BaseModel] | None, Callable[[Any], Awaitable[Any]]]] = {
            "runs.start": (
                StartRun,
                lambda p: ops.start(p.graph, p.input, p.thread_id, p.correlation_id, p.metadata),
            ),
            "runs.wait": (
                StartRun,
                lambda p: ops.start_and_wait(
                    p.graph, p.input, p.thread_id, p.correlation_id, p.metadata
                ),
            ),
            "threads.list": (ThreadsQuery, lambda p: ops.threads(p.status)),
            "threads.get": (ThreadParams, lambda p: ops.get(p.thread_id)),
            "threads.history": (_ThreadHistory, lambda p: ops.history(p.thread_id, p.limit)),
            "threads.resume": (
                _ThreadResume,
                lambda p: ops.resume(p.thread_id, p.value, answer="value" in p.model_fields_set),
            ),
            "threads.cancel": (ThreadParams, lambda p: ops.cancel(p.thread_id)),
            "threads.fork": (
                _ThreadFork,
                lambda p: ops.fork(
                    p.thread_id, p.checkpoint_id, p.values, p.new_thread_id, p.as_node
                ),
            ),
            "graphs.list": (None, lambda p: _now(ops.graphs())),
            "events.subscribe": (EventsSubscribe, self.subscribe),
            "events.unsubscribe": (EventsUnsubscribe, self.unsubscribe),
        }

    async def send(self, message: dict[str, Any]) -> None:
        await self.outbox.put(json.dumps(message, default=str))

    async def writer(self) -> None:
        while True:
            text = await self.outbox.get()
            if text is None:
                return
            await self.ws.send_text(text)

    async def subscribe(self, p: EventsSubscribe) -> dict[str, Any]:
        try:
            EventFilter.build(p.thread_id, types=p.types, min_priority=p.min_priority)
            cursor = (
                Cursor.parse(p.after)
                if p.after
                else (Cursor(p.after_seq) if p.after_seq is not None else None)
            )
        except ValueError as exc:
            raise _InvalidParams(f"params: {exc}", ["params"]) from None
        if p.thread_id is None and cursor is not None and cursor.run_id is not None:
            raise _InvalidParams(
                "params.after: a RUN_ID:SEQ cursor needs thread_id", ["params.after"]
            )
        sid = os.urandom(6).hex()
        events = follow_events(
            self.server.engine.bus,
            thread_id=p.thread_id,
            cursor=cursor,
            follow=True,
            types=p.types,
            source=p.source,
            min_priority=p.min_priority,
            stop=self.server.stopping,
        )

        async def pump() -> None:
            self.server.metrics.live_subscriptions += 1
            try:
                async for event in events:
                    await self.outbox.put(
                        '{"jsonrpc":"2.0","method":"events.event","params":{"subscription":'
                        f'"{sid}","event":{event.to_json()}}}}}'
                    )
            finally:
                self.server.metrics.live_subscriptions -= 1
                await events.aclose()

        self.subscriptions[sid] = asyncio.create_task(pump(), name=f"sentient-rpc-sub-{sid}")
        return {"subscription": sid}

    async def unsubscribe(self, p: EventsUnsubscribe) -> dict[str, Any]:
        task = self.subscriptions.pop(p.subscription, None)
        if task is None:
            raise _InvalidParams(
                f"params.subscription: no subscription {p.subscription!r}", ["params.subscription"]
            )
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return {"unsubscribed": p.subscription}

    async def handle(self, text: str) -> dict[str, Any] | None:
        try:
            msg = json.loads(text)
        except ValueError:
            return _error(None, PARSE_ERROR, "parse error: not JSON")
        if (
            not isinstance(msg, dict)
            or msg.get("jsonrpc") != "2.0"
            or not isinstance(msg.get("method"), str)
        ):
            return _error(
                msg.get("id") if isinstance(msg, dict) else None,
                INVALID_REQUEST,
                'invalid request: expected {"jsonrpc": "2.0", "method": ..., "id": ...}',
            )
        rid = msg.get("id")
        method: str = msg["method"]
        params = msg.get("params") or {}
        if method == "auth":
            if self.token is None or token_matches(str(params.get("token", "")), self.token):
                self.authed = True
                return _result(rid, {"authenticated": True})
            return _error(rid, UNAUTHORIZED, "wrong token")
        if not self.authed:
            return _error(
                rid,
                UNAUTHORIZED,
                'unauthorized: send {"method": "auth", "params": {"token": ...}} first',
            )
        entry = self.methods.get(method)
        if entry is None:
            return _error(
                rid,
                METHOD_NOT_FOUND,
                f"method not found: {method} (methods: {', '.join(sorted(self.methods))})",
            )
        model, call = entry
        try:
            parsed = model.model_validate(params) if model is not None else None
        except ValidationError as exc:
            message, fields = validation_message(exc, "params.")
            return _error(rid, INVALID_PARAMS, message, {"fields": fields})
        try:
            value = await call(parsed)
        except _InvalidParams as exc:
            return _error(rid, INVALID_PARAMS, exc.args[0], {"fields": exc.args[1]})
        except Exception as exc:
            if rid is None:
                return None
            return {"jsonrpc": "2.0", "id": rid, "error": _app_error(exc)}
        return None if rid is None else _result(rid, value)

    async def aclose(self) -> None:
        for task in self.subscriptions.values():
            task.cancel()
        for task in self.subscriptions.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.subscriptions.clear()


class _InvalidParams(Exception):
    pass


async def _now(value: Any) -> Any:
    return value


def _result(rid: Any, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "result": value}


def _error(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": error}


def install(app: FastAPI, *, token: str | None) -> None:
    """Add ``/ws`` to ``app``."""

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        server = state_of(ws.app)
        await ws.accept()
        conn = _Connection(ws, server, token)
        writer = asyncio.create_task(conn.writer(), name="sentient-rpc-writer")
        stopping = asyncio.ensure_future(server.stopping.wait())
        try:
            while True:
                receive = asyncio.ensure_future(ws.receive_text())
                await asyncio.wait({receive, stopping, writer}, return_when=asyncio.FIRST_COMPLETED)
                if not receive.done():
                    receive.cancel()
                    break
                reply = await conn.handle(receive.result())
                if reply is not None:
                    await conn.send(reply)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            stopping.cancel()
            await conn.aclose()
            with contextlib.suppress(asyncio.QueueFull):
                conn.outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
            writer.cancel()
            with contextlib.suppress(Exception):
                await ws.close(1001 if server.stopping.is_set() else 1000)
