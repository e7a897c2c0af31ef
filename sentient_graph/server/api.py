"""The HTTP routes: runs, threads, events (SSE), graphs, health, metrics, the dashboard.

Owns: the URL layout, status codes and the JSON error shape
``{"error": {"code", "message", "fields"?}}``: 404 with a did-you-mean for an
unknown thread, 403 for a graph that is not registered, 409 for a run in the
wrong state, 422 naming the field for invalid input, 503 when the store is
down; never a stack trace.

Must not: do an operation's work (``operations``) or read the token (``auth``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sentient_graph.errors import SentientError
from sentient_graph.server.app import STATIC, state_of
from sentient_graph.server.metrics import CONTENT_TYPE_LATEST
from sentient_graph.server.models import ForkRequest, ResumeRequest, StartRun, validation_message
from sentient_graph.server.operations import error_reply
from sentient_graph.server.sse import Cursor, follow_events, sse_comment, sse_frame

__all__ = ["install"]


def error_json(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The one error shape of every route."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


async def _on_error(request: Request, exc: Exception) -> JSONResponse:
    status, code, message = error_reply(exc)
    return error_json(status, code, message)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, fields = validation_message(list(exc.errors()))
    return error_json(422, "invalid_request", message, fields=fields)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_json(exc.status_code, "http_error", str(exc.detail))


def install(app: FastAPI) -> None:
    """Add the HTTP routes and error handlers to ``app``."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    # Errors raised on purpose are answered by the exception middleware; the
    # catch-all below is Starlette's server-error handler, which also logs.
    app.add_exception_handler(SentientError, _on_error)
    app.add_exception_handler(Exception, _on_error)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.post("/runs", status_code=201, tags=["runs"])
    async def start_run(request: Request, body: StartRun) -> dict[str, Any]:
        """Start a run of a registered graph; answers once its input is durable."""
        return await state_of(request.app).ops.start(
            body.graph, body.input, body.thread_id, body.correlation_id, body.metadata
        )

    @app.post("/runs/wait", tags=["runs"])
    async def start_run_and_wait(request: Request, body: StartRun) -> dict[str, Any]:
        """Start a run and answer when it ended (completed, interrupted, failed or
        cancelled) with its final state; leaving early does not stop the run."""
        return await state_of(request.app).ops.start_and_wait(
            body.graph, body.input, body.thread_id, body.correlation_id, body.metadata
        )

    @app.get("/threads", tags=["threads"])
    async def list_threads(
        request: Request, status: Annotated[str | None, Query(max_length=32)] = None
    ) -> list[dict[str, Any]]:
        """Every thread's current run, most recently updated first."""
        return await state_of(request.app).ops.threads(status)

    @app.get("/threads/{thread_id}", tags=["threads"])
    async def get_thread(request: Request, thread_id: str) -> dict[str, Any]:
        """The run record, current state and pending interrupts."""
        return await state_of(request.app).ops.get(thread_id)

    @app.get("/threads/{thread_id}/history", tags=["threads"])
    async def thread_history(
        request: Request,
        thread_id: str,
        limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    ) -> list[dict[str, Any]]:
        """The thread's checkpoints, newest first."""
        return await state_of(request.app).ops.history(thread_id, limit)

    @app.post("/threads/{thread_id}/resume", tags=["threads"])
    async def resume_thread(
        request: Request, thread_id: str, body: Annotated[ResumeRequest | None, Body()] = None
    ) -> dict[str, Any]:
        """Resume from the last checkpoint; ``value`` answers a pending interrupt."""
        answer = body is not None and "value" in body.model_fields_set
        return await state_of(request.app).ops.resume(
            thread_id, body.value if body else None, answer=answer
        )

    @app.post("/threads/{thread_id}/cancel", tags=["threads"])
    async def cancel_thread(request: Request, thread_id: str) -> dict[str, Any]:
        """Cancel the run (recorded ``cancelled``; resume still works)."""
        return await state_of(request.app).ops.cancel(thread_id)

    @app.post("/threads/{thread_id}/fork", status_code=201, tags=["threads"])
    async def fork_thread(request: Request, thread_id: str, body: ForkRequest) -> dict[str, Any]:
        """Branch a new thread at a past checkpoint (its run is ``pending``: resume it)."""
        return await state_of(request.app).ops.fork(
            thread_id, body.checkpoint_id, body.values, body.new_thread_id, body.as_node
        )

    @app.get("/threads/{thread_id}/events", tags=["events"], response_class=StreamingResponse)
    async def thread_events(
        request: Request,
        thread_id: str,
        after_seq: Annotated[str | None, Query(max_length=300)] = None,
        types: Annotated[str | None, Query(max_length=1000)] = None,
        source: Annotated[str | None, Query(max_length=1000)] = None,
        min_priority: Annotated[str | None, Query(max_length=16)] = None,
        follow: bool = False,
        last_event_id: Annotated[str | None, Header(max_length=300)] = None,
    ) -> Response:
        """Server-Sent Events: ``id`` is ``RUN_ID:SEQ``; ``Last-Event-ID`` (or
        ``after_seq``, a seq or ``RUN_ID:SEQ``) resumes right after it."""
        server = state_of(request.app)
        try:
            cursor = Cursor.parse(last_event_id or after_seq)
        except ValueError:
            return error_json(
                422,
                "invalid_request",
                "after_seq: expected a seq or RUN_ID:SEQ",
                fields=["after_seq"],
            )
        type_list = [t for t in types.split(",") if t] if types else None
        try:
            # Validate filters before the stream starts (a bad one is a 422, not a broken stream).
            from sentient_graph.events import EventFilter

            EventFilter.build(thread_id, types=type_list, min_priority=min_priority)
        except ValueError as exc:
            return error_json(
                422, "invalid_request", f"types/min_priority: {exc}", fields=["types"]
            )
        if await server.engine.runs.get(thread_id) is None and not await server.engine.bus.replay(
            thread_id, after_seq=0
        ):
            await server.engine.get_run(thread_id)  # 404 with a did-you-mean
        events = follow_events(
            server.engine.bus,
            thread_id=thread_id,
            cursor=cursor,
            follow=follow,
            types=type_list,
            source=[s for s in source.split(",") if s] if source else None,
            min_priority=min_priority,
            stop=server.stopping,
        )

        async def stream() -> Any:
            server.metrics.live_subscriptions += 1
            try:
                yield sse_comment("sentient-graph events")
                async for event in events:
                    yield sse_frame(event)
            finally:
                server.metrics.live_subscriptions -= 1
                await events.aclose()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @app.get("/graphs", tags=["graphs"])
    async def list_graphs(request: Request) -> list[dict[str, Any]]:
        """The registered graphs with their nodes and edges."""
        return state_of(request.app).ops.graphs()

    @app.get("/health", tags=["health"])
    async def health(request: Request) -> JSONResponse:
        """Store, Redis, recovery and heartbeat; 503 when degraded."""
        server = state_of(request.app)
        engine = server.engine
        rtt = await server.metrics.probe_store(engine)
        heartbeat_ok = engine.heartbeat_running
        redis_url = engine.bus.redis_url
        redis: dict[str, Any] = {"configured": redis_url is not None}
        if redis_url is not None:
            redis["ok"] = bool(await engine.bus.ping_redis())
        checks = {
            "store": {
                "ok": rtt is not None,
                "rtt_ms": None if rtt is None else round(rtt * 1000, 3),
            },
            "redis": redis,
            "recovery": server.recovery,
            "heartbeat": {"ok": heartbeat_ok},
            "active_runs": len(engine.active_runs()),
            "subscribers": server.metrics.live_subscriptions,
            "time": time.time(),
        }
        ok = (
            rtt is not None
            and heartbeat_ok
            and redis.get("ok", True)
            and bool(server.recovery.get("ok"))
            and not server.stopping.is_set()
        )
        return JSONResponse(
            {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["health"])
    async def metrics(request: Request) -> Response:
        """Prometheus text format."""
        server = state_of(request.app)
        await server.metrics.refresh(server.engine)
        return Response(server.metrics.render(), media_type=CONTENT_TYPE_LATEST)
