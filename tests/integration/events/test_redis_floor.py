"""The lowest redis-py the ``redis`` extra allows works: installed beside, run for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.floors import ROOT, declared_floor, floor_path, installed_floor
from tests.integration.events.events_testkit import SHARED_REDIS, need_redis

SCRIPT = Path(__file__).with_name("redis_floor_process.py")


@pytest.mark.slow
def test_the_lowest_redis_py_allowed_publishes_and_follows(prefix: str) -> None:
    need_redis()
    version = declared_floor("redis", extra="redis")
    target = installed_floor("redis", version)
    env = {**os.environ, "PYTHONPATH": floor_path(target)}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), SHARED_REDIS, prefix],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    lines = result.stdout.splitlines()
    assert lines[:1] == [f"redis-py {version}"], result.stdout + result.stderr
    assert result.returncode == 0 and lines[-1:] == ["OK"], result.stdout + result.stderr
