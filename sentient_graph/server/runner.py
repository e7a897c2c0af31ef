"""Run the server with uvicorn: bind, serve, and stop cleanly on SIGTERM or Ctrl-C.

Owns: :class:`Server` (uvicorn's server, whose exit signal first ends the
event streams so the graceful shutdown does not wait on them) and
:func:`run`, what ``sentient-graph serve`` calls.

Must not: parse command-line options (the CLI does) or configure logging.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from sentient_graph.server.app import ServerConfig, create_app
from sentient_graph.server.auth import check_bind

__all__ = ["Server", "build_server", "run"]


class Server(uvicorn.Server):
    """uvicorn's server; on an exit signal, event streams end before connections drain."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self._guarded = app
        #: Called once the app started and the socket is bound (``serve`` says where).
        self.on_started: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()

    def stop_streams(self) -> None:
        """End every SSE stream and WebSocket (the lifespan then cancels runs)."""
        inner = getattr(self._guarded, "app", None)
        server = getattr(getattr(inner, "state", None), "server", None)
        if server is not None:
            server.stopping.set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stop_streams()
        super().handle_exit(sig, frame)
        # SIGTERM is the way to stop a server: after the clean shutdown, exit 0
        # instead of dying by the signal again (Ctrl-C still ends as an interrupt).
        if sig == signal.SIGTERM:
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list) and sig in captured:
                captured.remove(sig)


def build_server(config: ServerConfig, **uvicorn_options: Any) -> Server:
    """A :class:`Server` for ``config``, not started.

    Raises:
        ConfigError: a non-loopback bind without a token.
        GraphLoadError: a registered graph does not load.
    """
    check_bind(config.host, config.token)
    app = create_app(config)
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": "warning",
        "lifespan": "on",
        "timeout_graceful_shutdown": 5,
        "ws_max_size": config.max_body,
    }
    options.update(uvicorn_options)
    return Server(uvicorn.Config(app, **options), app)


def run(config: ServerConfig, **uvicorn_options: Any) -> None:
    """Serve until SIGTERM or Ctrl-C; then stop accepting, cancel runs, release the store."""
    server = build_server(config, **uvicorn_options)
    asyncio.run(server.serve())
