"""The lowest redis-py the ``redis`` extra allows works: installed beside, run for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from tests.integration.events.events_testkit import SHARED_REDIS, need_redis

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("redis_floor_process.py")


def declared_floor() -> str:
    """The ``X`` of ``redis>=X`` in pyproject's ``redis`` extra."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["redis"]
    for requirement in extra:
        found = re.fullmatch(r"redis\s*>=\s*([0-9.]+)(,.*)?", requirement)
        if found:
            return found.group(1)
    raise AssertionError(f"no 'redis>=X' in the redis extra: {extra}")


def installed_floor(version: str) -> Path:
    """redis-py ``version`` in a directory of its own under the system temp dir (kept between runs)."""
    target = Path(tempfile.gettempdir()) / f"sentient-graph-redis-{version}"
    done = target / ".complete"
    if done.exists():
        return target
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--upgrade",
            "--target",
            str(target),
            f"redis=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    if result.returncode != 0:
        message = f"cannot install redis=={version}: {result.stderr.strip()[-500:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the floor must be tested)")
        pytest.skip(message)
    done.touch()
    return target


@pytest.mark.slow
def test_the_lowest_redis_py_allowed_publishes_and_follows(prefix: str) -> None:
    need_redis()
    version = declared_floor()
    target = installed_floor(version)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
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
