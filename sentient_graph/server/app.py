"""The ASGI application: one engine, its API, its dashboard, its lifetime.

Owns: :class:`ServerConfig`, :func:`create_app` (FastAPI with the HTTP routes
of :mod:`~sentient_graph.server.api`, the WebSocket of
:mod:`~sentient_graph.server.rpc`, the dashboard's static files and the
:class:`~sentient_graph.server.auth.Guard`), and the lifespan: open the
engine, ``recover``, follow events for metrics, write ``server.json``; on
shutdown end streams, cancel runs (recorded ``cancelled``, resumable), close
the engine and remove ``server.json``.

Must not: implement operations (``operations``) or serve anything outside
``static/`` as a file.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sentient_graph.engine import Engine
from sentient_graph.events.model import jsonable
from sentient_graph.server.auth import Guard
from sentient_graph.server.discovery import remove_url_file, url_file_for, write_url_file
from sentient_graph.server.graphs import GraphCatalog
from sentient_graph.server.metrics import ServerMetrics
from sentient_graph.server.operations import Operations

__all__ = ["DEFAULT_MAX_BODY", "ServerConfig", "ServerState", "create_app"]

log = structlog.get_logger(__name__)

DEFAULT_MAX_BODY = 1024 * 1024
STATIC = Path(__file__).parent / "static"


@dataclass
class ServerConfig:
    """What a server is started with.

    Attributes:
        host: Bind address (for the URL it advertises).
        port: Bind port.
        token: Required from every client when set.
        graphs: ``serve --graph`` values, besides ``langgraph.json``.
        surreal_url: The store (default ``SURREALDB_URL`` or the embedded one).
        redis_url: Publish events on Redis too (default ``REDIS_URL``).
        max_body: Largest request body, in bytes.
        write_url_file: Write ``server.json`` next to an embedded store.
        engine_options: More keywords for :meth:`Engine.open`.
    """

    host: str = "127.0.0.1"
    port: int = 8321
    token: str | None = None
    graphs: list[str] = field(default_factory=list)
    surreal_url: str | None = None
    redis_url: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    write_url_file: bool = True
    engine_options: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{self.port}"


@dataclass
class ServerState:
    """What the routes share while the server runs."""

    config: ServerConfig
    engine: Engine
    ops: Operations
    metrics: ServerMetrics
    stopping: asyncio.Event
    recovery: dict[str, Any]


def state_of(app: Any) -> ServerState:
    """The running server's state (set by the lifespan)."""
    state: ServerState = app.state.server
    return state


async def _recover(engine: Engine) -> dict[str, Any]:
    try:
        handles = await engine.recover()
    except Exception as exc:
        log.error("server.recover_failed", error=str(exc).splitlines()[0])
        return {"ok": False, "resumed": 0, "error": str(exc).splitlines()[0]}
    return {"ok": True, "resumed": len(handles), "threads": [h.thread_id for h in handles]}


def create_app(config: ServerConfig, *, catalog: GraphCatalog | None = None) -> Any:
    """The ASGI app for ``config`` (wrapped in the token and body-size guard).

    Args:
        config: How to run.
        catalog: The graphs clients may run (default: loaded from
            ``langgraph.json`` and ``config.graphs`` now, so a graph that does
            not load stops the server before it binds).
    """
    from sentient_graph.server import api, rpc

    graphs = catalog if catalog is not None else GraphCatalog.load(config.graphs)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            engine = await Engine.open(
                config.surreal_url, config.redis_url, **config.engine_options
            )
        except Exception as exc:
            # Kept for `serve`, which reports it in one line (uvicorn only logs it).
            app.state.startup_error = exc
            raise
        metrics = ServerMetrics()
        url_file = url_file_for(config.surreal_url) if config.write_url_file else None
        try:
            await metrics.start(engine)
            recovery = await _recover(engine)
            app.state.server = ServerState(
                config, engine, Operations(engine, graphs), metrics, asyncio.Event(), recovery
            )
            if url_file is not None:
                write_url_file(
                    url_file,
                    config.url,
                    token_required=bool(config.token),
                    store=engine.conn.url,
                    namespace=engine.conn.settings.namespace,
                    database=engine.conn.settings.database,
                )
            log.info("server.started", url=config.url, graphs=graphs.names(), **jsonable(recovery))
            yield
        finally:
            with contextlib.suppress(AttributeError):
                app.state.server.stopping.set()
            if url_file is not None:
                remove_url_file(url_file)
            await metrics.aclose()
            await engine.aclose()
            log.info("server.stopped")

    app = FastAPI(
        title="sentient-graph",
        summary="Durable LangGraph runs: start, watch, resume, cancel, fork.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    api.install(app)
    rpc.install(app, token=config.token)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return Guard(app, token=config.token, max_body=config.max_body)
