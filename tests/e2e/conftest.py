"""End-to-end fixtures: the ``sentient-graph`` command as a user runs it.

Each test gets its own working directory (so its own ``.sentient`` embedded
store) with a ``langgraph.json`` naming the reference graphs of this
repository, and a clean environment: no ``SURREALDB_URL`` or ``REDIS_URL``
leaks in from the developer's shell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOFTWARE_TEAM = f"{REPO}/graphs/software_team.py:graph"
APPROVAL = f"{REPO}/graphs/approval.py:graph"

#: Generous: a CLI start imports LangGraph and opens the store (~1-2 s on 2 cores).
CLI_TIMEOUT = 90.0


def _cli_path() -> str:
    beside = Path(sys.executable).with_name("sentient-graph")
    if beside.exists():
        return str(beside)
    found = shutil.which("sentient-graph")
    if found is None:
        pytest.fail("the sentient-graph script is not installed: pip install -e .")
    return found


@dataclass
class Result:
    """What a finished CLI process left."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


@dataclass
class Background:
    """A CLI process running in the background, its stderr read line by line."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None

    def start_reading(self) -> None:
        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                with self._cond:
                    self.lines.append(line.rstrip("\n"))
                    self._cond.notify_all()
            with self._cond:
                self._cond.notify_all()

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()

    def wait_for_line(self, needle: str, timeout: float = 60.0) -> str:
        """Block until a stderr line contains ``needle``; fail the test on timeout or exit."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if needle in line:
                        return line
                seen = len(self.lines)
                if (
                    self.proc.poll() is not None
                    and self._reader is not None
                    and not self._reader.is_alive()
                ):
                    pytest.fail(
                        f"CLI exited ({self.proc.returncode}) before printing {needle!r}:\n"
                        + "\n".join(self.lines)
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(
                        f"no line with {needle!r} within {timeout}s:\n" + "\n".join(self.lines)
                    )
                self._cond.wait(min(remaining, 0.5))

    def finish(self, timeout: float = CLI_TIMEOUT) -> Result:
        stdout = self.proc.stdout.read() if self.proc.stdout else ""
        self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return Result(self.proc.returncode, stdout, "\n".join(self.lines))


class Cli:
    """Runs ``sentient-graph`` in one working directory with one environment."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.exe = _cli_path()

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {**self.env, **(extra or {})}

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT
    ) -> Result:
        done = subprocess.run(
            [self.exe, *args],
            cwd=self.cwd,
            env=self._env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def background(self, *args: str, env: dict[str, str] | None = None) -> Background:
        proc = subprocess.Popen(
            [self.exe, *args],
            cwd=self.cwd,
            env=self._env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        bg = Background(proc)
        bg.start_reading()
        return bg


def clean_env() -> dict[str, str]:
    """This process's environment without any store, Redis or server settings:
    a CLI started with it uses the embedded default store of its directory."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SURREALDB_", "REDIS_", "SENTIENT_")) and k != "PYTHONPATH"
    }
    env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "SENTIENT_DEMO_DELAY": "0"})
    return env


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A user's project directory: a langgraph.json naming the reference graphs."""
    (tmp_path / "langgraph.json").write_text(
        json.dumps({"graphs": {"software_team": SOFTWARE_TEAM, "approval": APPROVAL}})
    )
    return tmp_path


@pytest.fixture
def cli(workdir: Path) -> Iterator[Cli]:
    """The CLI in ``workdir`` on the embedded default store (``./.sentient``)."""
    runner = Cli(workdir, clean_env())
    yield runner
