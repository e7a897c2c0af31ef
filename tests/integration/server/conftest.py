"""A real uvicorn server on a free loopback port, in a background thread, on ``mem://``."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sentient_graph.server import ServerConfig
from sentient_graph.server.runner import Server, build_server
from tests.services import free_port

HERE = Path(__file__).parent
REPO = HERE.parents[2]
TEST_GRAPHS = [
    f"chain={HERE / 'graphs_for_tests.py'}:chain",
    f"blocker={HERE / 'graphs_for_tests.py'}:blocker",
]


def serve_process(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.Popen[str]:
    """``python -m sentient_graph serve ARGS`` in ``cwd``, this environment plus ``env``,
    its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "sentient_graph", "serve", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[arg-type]
    )


def wait_for_url_file(server: subprocess.Popen[str], url_file: Path, within: float = 60) -> dict:
    """What a ``serve`` process wrote to its URL file, once it has: it writes it as it
    starts serving (another process's state, so it is looked for, with a deadline)."""
    deadline = time.monotonic() + within
    while not url_file.exists():
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        assert time.monotonic() < deadline, f"{url_file} never appeared"
        time.sleep(0.05)
    return dict(json.loads(url_file.read_text()))


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
    bound = threading.Event()
    server.on_started = bound.set
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    # Set once the socket is bound; a server that cannot start ends its thread instead.
    deadline = time.monotonic() + 30
    while not bound.wait(0.05):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
    return RunningServer(config.url, config.token, server), thread


def stop_server(running: RunningServer, thread: threading.Thread) -> None:
    running.server.stop_streams()
    running.server.should_exit = True
    thread.join(30)
    assert not thread.is_alive(), "the test server did not stop"


@contextlib.contextmanager
def served(database: str, **options: Any) -> Iterator[RunningServer]:
    """A real server on a free loopback port, on a ``mem://`` database of its own."""
    config = ServerConfig(
        port=free_port(),
        surreal_url="mem://",
        write_url_file=False,
        engine_options={"namespace": f"t{uuid.uuid4().hex}", "database": database},
        **options,
    )
    running, thread = start_server(config)
    try:
        yield running
    finally:
        stop_server(running, thread)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One server (no token) for the module, on its own ``mem://`` database."""
    with served("server", graphs=TEST_GRAPHS) as running:
        yield running


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def new_thread() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"
