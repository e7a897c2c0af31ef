"""A real uvicorn server on a free loopback port, in a background thread, on ``mem://``."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sentient_graph.server import ServerConfig
from sentient_graph.server.runner import Server, build_server

HERE = Path(__file__).parent
REPO = HERE.parents[2]
TEST_GRAPHS = [
    f"chain={HERE / 'graphs_for_tests.py'}:chain",
    f"blocker={HERE / 'graphs_for_tests.py'}:blocker",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    token: str | None
    server: Server

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {}
        tok = token if token is not None else self.token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"


def start_server(config: ServerConfig) -> tuple[RunningServer, threading.Thread]:
    server = build_server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return RunningServer(config.url, config.token, server), thread


def stop_server(running: RunningServer, thread: threading.Thread) -> None:
    running.server.stop_streams()
    running.server.should_exit = True
    thread.join(30)
    assert not thread.is_alive(), "the test server did not stop"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One server (no token) for the module, on its own ``mem://`` database."""
    config = ServerConfig(
        port=free_port(),
        graphs=TEST_GRAPHS,
        surreal_url="mem://",
        write_url_file=False,
        engine_options={"namespace": f"t{uuid.uuid4().hex}", "database": "server"},
    )
    running, thread = start_server(config)
    try:
        yield running
    finally:
        stop_server(running, thread)


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def new_thread() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"
