"""``sentient-graph serve``: run the engine as a service.

Owns: the command's options, its one-line refusals (exit 2) and its one-line
report of a start that failed (the exit-code table's code). Registered in
:mod:`sentient_graph.cli.app`.

Must not: open the engine itself (:mod:`sentient_graph.server` does).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any

import typer

__all__ = ["serve"]


def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8321,
    token: Annotated[
        str | None,
        typer.Option(
            help="Token every client must send (default SENTIENT_TOKEN).", envvar="SENTIENT_TOKEN"
        ),
    ] = None,
    graph: Annotated[
        list[str] | None,
        typer.Option(
            "--graph",
            help="Also serve this graph: NAME=path.py:graph, path.py:graph or module:graph.",
        ),
    ] = None,
    surreal_url: Annotated[
        str | None,
        typer.Option(help="Store URL (default SURREALDB_URL or surrealkv://.sentient/store)."),
    ] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL (default REDIS_URL).")] = None,
    max_body: Annotated[int, typer.Option(help="Largest request body in bytes.")] = 1024 * 1024,
) -> None:
    """Serve the engine over HTTP, SSE and WebSocket JSON-RPC, with a dashboard at /."""
    from sentient_graph.cli.exits import exit_code_for
    from sentient_graph.cli.runtime import check_redis_url, check_surreal_url
    from sentient_graph.errors import ConfigError, SentientError
    from sentient_graph.server import ServerConfig
    from sentient_graph.server.runner import build_server

    try:
        check_surreal_url(surreal_url, "--surreal-url")
        check_surreal_url(None if surreal_url else os.environ.get("SURREALDB_URL"))
        check_redis_url(redis_url, "--redis-url")
        check_redis_url(None if redis_url else os.environ.get("REDIS_URL") or None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    config = ServerConfig(
        host=host,
        port=port,
        token=token or None,
        graphs=list(graph or []),
        surreal_url=surreal_url or os.environ.get("SURREALDB_URL") or None,
        redis_url=redis_url,
        max_body=max_body,
    )
    try:
        server = build_server(config, log_level="warning")
    except SentientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    server.on_started = lambda: print(
        f"serving on {config.url} (dashboard {config.url}/, API {config.url}/docs)", file=sys.stderr
    )
    # A store or Redis that fails the start is reported below in one line, not as uvicorn's traceback.
    quiet = _QuietStartupFailure(app_of(server))
    logging.getLogger("uvicorn.error").addFilter(quiet)
    import asyncio

    try:
        asyncio.run(server.serve())
    except SystemExit:
        pass  # uvicorn leaves this way when the start fails; said below in one line
    except SentientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if not server.started:
        failure = getattr(getattr(app_of(server), "state", None), "startup_error", None)
        if failure is not None:
            print(f"error: {failure}", file=sys.stderr)
            raise typer.Exit(exit_code_for(failure))
        # uvicorn logged why (the port is taken, ...).
        raise typer.Exit(3)


class _QuietStartupFailure(logging.Filter):
    """Drops uvicorn's error records once the app recorded why it could not start."""

    def __init__(self, app: object) -> None:
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        state = getattr(self.app, "state", None)
        return record.levelno < logging.ERROR or getattr(state, "startup_error", None) is None


def app_of(server: object) -> object:
    """The ASGI app a :class:`~sentient_graph.server.runner.Server` serves, unwrapped."""
    app: Any = getattr(server, "_guarded", None)
    while app is not None and hasattr(app, "app") and not hasattr(app, "state"):
        app = app.app
    return app
