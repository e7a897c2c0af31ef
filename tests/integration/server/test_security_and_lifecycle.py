"""Tokens, binds, and the server's life: server.json, recover on start, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from sentient_graph.engine import Engine
from sentient_graph.server import ServerConfig
from tests.integration.server.conftest import (
    REPO,
    TEST_GRAPHS,
    RunningServer,
    free_port,
    new_thread,
    serve_process,
    served,
    start_server,
    stop_server,
    wait_for_url_file,
)

TOKEN = "s3cret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def guarded() -> Iterator[RunningServer]:
    with served("server", token=TOKEN, graphs=TEST_GRAPHS) as running:
        yield running


def test_requests_without_the_token_are_401(guarded: RunningServer) -> None:
    with httpx.Client(base_url=guarded.url) as anonymous:
        assert anonymous.get("/threads").status_code == 401
        assert anonymous.post("/runs", json={"graph": "chain"}).status_code == 401
        wrong = anonymous.get("/threads", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and TOKEN not in wrong.text
        # The dashboard's files and health are public; they hold no data.
        assert anonymous.get("/").status_code == 200
        assert anonymous.get("/health").status_code == 200
    with guarded.client() as client:
        assert client.get("/threads").status_code == 200
        assert client.get("/threads", params={"access_token": TOKEN}).status_code == 200


def test_websocket_needs_the_token(guarded: RunningServer) -> None:
    with connect(guarded.ws_url) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "threads.list"}))
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == -32001
        ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 2, "method": "auth", "params": {"token": TOKEN}})
        )
        assert json.loads(ws.recv(timeout=10))["result"] == {"authenticated": True}
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "threads.list"}))
        assert "result" in json.loads(ws.recv(timeout=10))
    with connect(guarded.ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "threads.list"}))
        assert "result" in json.loads(ws.recv(timeout=10))


def test_a_public_bind_without_a_token_is_refused() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SENTIENT_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "sentient_graph", "serve", "--host", "0.0.0.0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "without a token" in lines[0] and "--token" in lines[0]


@pytest.mark.slow
def test_sigterm_cancels_runs_releases_the_store_and_removes_server_json(tmp_path: Path) -> None:
    store = tmp_path / ".sentient" / "store"
    url = f"surrealkv://{store}"
    port = free_port()
    proc = serve_process(
        "--port", str(port), "--surreal-url", url, *[f"--graph={g}" for g in TEST_GRAPHS]
    )
    url_file = tmp_path / ".sentient" / "server.json"
    try:
        base = f"http://127.0.0.1:{port}"
        info = wait_for_url_file(proc, url_file)
        assert info["url"] == base and info["pid"] == proc.pid
        with httpx.Client(base_url=base, timeout=30) as client:
            tid = new_thread()
            client.post(
                "/runs", json={"graph": "blocker", "input": {}, "thread_id": tid}
            ).raise_for_status()
            with client.stream(
                "GET", f"/threads/{tid}/events", params={"follow": "true"}
            ) as response:
                lines = response.iter_lines()
                for line in lines:
                    if line.startswith("event: node_started"):
                        break
                proc.send_signal(signal.SIGTERM)
                # The stream ends: the server stops it before draining connections.
                for _ in lines:
                    pass
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not url_file.exists()

    async def check() -> None:
        # The store is released: this process can open it.
        async with Engine.open(url) as engine:
            record = await engine.get_run(tid)
            assert record.status == "cancelled"

    asyncio.run(check())


def test_health_is_503_while_the_server_stops() -> None:
    config = ServerConfig(
        port=free_port(),
        surreal_url="mem://",
        write_url_file=False,
        engine_options={"namespace": f"t{uuid.uuid4().hex}", "database": "server"},
    )
    running, thread = start_server(config)
    try:
        with running.client() as client:
            assert client.get("/health").json()["recovery"]["ok"] is True
            running.server.stop_streams()  # what SIGTERM does first
            stopping = client.get("/health")
            assert stopping.status_code == 503 and stopping.json()["status"] == "degraded"
    finally:
        stop_server(running, thread)
