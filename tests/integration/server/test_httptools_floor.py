"""The lowest httptools the dependencies allow serves: a real ``serve`` process parses with it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.floors import declared_floor, floor_path, installed_floor
from tests.integration.server.conftest import (
    TEST_GRAPHS,
    new_thread,
    serve_process,
    wait_for_url_file,
)
from tests.services import free_port


@pytest.mark.slow
def test_the_lowest_httptools_allowed_serves_runs(tmp_path: Path) -> None:
    version = declared_floor("httptools")
    target = installed_floor("httptools", version)
    store = f"surrealkv://{tmp_path / '.sentient' / 'store'}"  # its URL file goes beside it
    graphs = [f"--graph={g}" for g in TEST_GRAPHS]
    proc = serve_process(
        "--port",
        str(free_port()),
        "--surreal-url",
        store,
        *graphs,
        cwd=tmp_path,
        env={"PYTHONPATH": floor_path(target)},
    )
    try:
        base = wait_for_url_file(proc, tmp_path / ".sentient" / "server.json")["url"]
        with httpx.Client(base_url=base, timeout=60) as client:
            answer = client.post(
                "/runs/wait", json={"graph": "chain", "input": {}, "thread_id": new_thread()}
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["values"]["steps"] == ["n1", "n2", "n3", "n4", "n5"]
        # uvicorn parses with httptools when it imports, and it imported the floor's.
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert str(target / "httptools") in maps
    finally:
        proc.terminate()
        proc.wait(30)
