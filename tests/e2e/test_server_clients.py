"""A server owns the embedded store; a second process lists and follows through it.

The embedded store admits one process: without a server, a second terminal
gets ``StoreLocked`` while a run goes on. With ``serve`` running, a client in
another process finds it through ``.sentient/server.json`` and works.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.server.conftest import free_port, wait_for_url_file

REPO = Path(__file__).resolve().parents[2]

CLIENT = """
import json, sys
from sentient_graph.server.client import ServerClient, find_server
url = find_server()
assert url, "no server.json found"
with ServerClient(url) as client:
    threads = client.threads()
    events = [e["type"] for e in client.events(sys.argv[1], follow=True)]
print(json.dumps({"url": url, "threads": [t["thread_id"] for t in threads], "events": events}))
"""


@pytest.mark.slow
def test_a_second_process_lists_and_follows_through_the_server(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SURREALDB_URL", "REDIS_URL", "SENTIENT_SERVER")
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sentient_graph",
            "serve",
            "--port",
            str(port),
            "--graph",
            f"software_team={REPO}/graphs/software_team.py:graph",
        ],
        cwd=tmp_path,
        env={**env, "SENTIENT_DEMO_DELAY": "0.2", "PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
        text=True,
    )
    url_file = tmp_path / ".sentient" / "server.json"
    try:
        base = wait_for_url_file(server, url_file)["url"]
        with httpx.Client(base_url=base, timeout=30) as http:
            run = http.post(
                "/runs",
                json={"graph": "software_team", "input": {"request": "A todo app with a REST API"}},
            ).json()
        # Another process, in the same directory, while the run goes on.
        client = subprocess.run(
            [sys.executable, "-c", CLIENT, run["thread_id"]],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert client.returncode == 0, client.stderr[-2000:]
        seen = json.loads(client.stdout)
        assert seen["url"] == base
        assert run["thread_id"] in seen["threads"]
        assert seen["events"][0] == "run_started" and seen["events"][-1] == "run_completed"
        assert "node_started" in seen["events"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert not url_file.exists()
