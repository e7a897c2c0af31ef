"""What the CLI prints survives real terminals, closed pipes and copy-paste.

A 120-column pseudo-terminal (``script``), a pipe whose reader is gone before
the command writes, and the suggested commands pasted into a real shell.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Cli

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG_ID = "t" * 300


def _suggested(stderr: str, after: str) -> str:
    """The command in backticks (or to the end of the line) that follows ``after``."""
    line = next(line for line in stderr.splitlines() if after in line)
    rest = line.split(after, 1)[1].strip()
    if rest.startswith("`"):
        return rest[1:].split("`", 1)[0]
    return rest


def _shell(cli: Cli, command: str) -> subprocess.CompletedProcess[str]:
    """Run a pasted command line in a POSIX shell, with the CLI on PATH."""
    env = {**cli.env, "PATH": f"{Path(cli.exe).parent}{os.pathsep}{cli.env.get('PATH', '')}"}
    return subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cli.cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_threads_keeps_every_column_on_a_120_column_terminal(cli: Cli) -> None:
    if shutil.which("script") is None:
        message = "script (util-linux) is not installed: it gives the CLI a real terminal"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the terminal test must run)")
        pytest.skip(message)
    assert cli("run", "approval", "--thread", LONG_ID, "-q").code == 0
    assert cli("run", "approval", "--thread", "short", "-q").code == 0
    shown = subprocess.run(
        ["script", "-qc", f"stty cols 120; {shlex.quote(cli.exe)} threads", "/dev/null"],
        cwd=cli.cwd,
        env={**cli.env, "TERM": "xterm"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    lines = [ANSI.sub("", line).rstrip() for line in shown.stdout.replace("\r", "").splitlines()]
    rows = [line for line in lines if line.strip()]
    assert rows[0].split() == ["thread", "status", "graph", "updated", "run", "error"], rows
    assert len(rows) == 3, rows
    for row in rows:
        assert len(row) <= 120, row
    for row in rows[1:]:
        assert "interrupted" in row and "approval.py:graph" in row, row
        assert re.search(r"\b[0-9a-f]{8}\b", row), row  # the run column
    assert any(row.startswith("t" * 39 + "…") for row in rows), rows
    # --json keeps the id whole.
    listed = cli("threads", "--json")
    assert LONG_ID in {json.loads(line)["thread_id"] for line in listed.stdout.splitlines()}


def test_a_reader_that_left_gets_no_traceback(cli: Cli) -> None:
    assert cli("run", "approval", "--thread", "a1", "-q").code == 0
    for args in (("threads", "--json"), ("events", "a1", "--json"), ("history", "a1")):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the command writes a byte
        try:
            done = subprocess.run(
                [cli.exe, *args],
                cwd=cli.cwd,
                env=cli.env,
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(write)
        assert done.returncode == 141, (args, done.stderr)
        assert done.stderr == "", (args, done.stderr)


def test_version(cli: Cli) -> None:
    from sentient_graph import __version__

    done = cli("--version")
    assert done.code == 0 and done.stdout == f"sentient-graph {__version__}\n"


def test_suggested_commands_paste_into_a_shell(cli: Cli) -> None:
    odd = 'it\'s "q" x'
    asked = cli("run", "approval", "--thread", odd, "-q")
    assert asked.code == 0, asked.stderr
    answer = _suggested(asked.stderr, "answer with:").split(" (JSON:")[0]
    assert answer == f"sentient-graph resume {shlex.quote(odd)} --value JSON"
    pasted = _shell(cli, answer.replace("JSON", shlex.quote('"yes"')))
    assert pasted.returncode == 0, pasted.stderr
    assert json.loads(pasted.stdout)["published"] is True

    # An id that starts with '-' goes after `--`.
    history = cli("history", odd, "--json")
    first = json.loads(history.stdout.splitlines()[-1])["checkpoint_id"]
    forked = cli("fork", odd, first, "--new-thread", "-b c")
    assert forked.code == 0, forked.stderr
    resume = _suggested(forked.stderr, "run it with")
    assert resume == "sentient-graph resume -- '-b c'"
    pasted = _shell(cli, resume)
    assert pasted.returncode == 0, pasted.stderr
    assert "waits for input" in pasted.stderr
