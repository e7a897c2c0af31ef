"""The CLI through a running server: every command, a second process, the same output and codes.

One real ``sentient-graph serve`` owns the embedded store of a project
directory (found by the CLI through ``.sentient/server.json``); the CLI runs
as other processes in that directory. The embedded store admits one
process, so each command that works here worked through the server: local
mode would have exited 3 (store held).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sentient_graph.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_STORE, EXIT_USAGE
from tests.e2e.conftest import APPROVAL, Background, Cli, clean_env
from tests.integration.server.conftest import wait_for_url_file
from tests.services import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GATE = f"{REPO}/tests/e2e/gate_graph.py:graph"


class Project:
    """A project directory whose store a server owns, and the CLI in it."""

    def __init__(self, root: Path, cli: Cli, url: str, server: subprocess.Popen[str]) -> None:
        self.root = root
        self.cli = cli
        self.url = url
        self.server = server
        self.gate = root / "gate.open"

    def stop(self) -> None:
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("through-server")
    (root / "langgraph.json").write_text(
        json.dumps({"graphs": {"approval": APPROVAL, "gate": GATE}})
    )
    env = clean_env()
    port = free_port()
    server = subprocess.Popen(
        [Cli(root, env).exe, "serve", "--port", str(port)],
        cwd=root,
        env={**env, "SENTIENT_GATE": str(root / "gate.open")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url_file = root / ".sentient" / "server.json"
    try:
        url = wait_for_url_file(server, url_file)["url"]
        assert url == f"http://127.0.0.1:{port}"
        project = Project(root, Cli(root, env), url, server)
        yield project
    finally:
        Project(root, Cli(root, env), "", server).stop()


def wait_for(bg: Background, test: Callable[[str], bool], what: str, timeout: float = 60) -> None:
    """Block until a stderr line of ``bg`` passes ``test``."""
    deadline = time.monotonic() + timeout
    with bg._cond:
        while not any(test(line) for line in bg.lines):
            assert bg.proc.poll() is None or (bg._reader and bg._reader.is_alive()), (
                f"exited ({bg.proc.returncode}) before {what}:\n" + "\n".join(bg.lines)
            )
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {what} within {timeout}s:\n" + "\n".join(bg.lines)
            bg._cond.wait(min(remaining, 0.5))


def node_started(node: str) -> Callable[[str], bool]:
    return lambda line: re.search(rf"\bnode_started\s+{node}\b", line) is not None


class _Swapped:
    """A process seen by :class:`Background` through its stdout (it reads ``.stderr``)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.stderr = proc.stdout
        self._proc = proc

    def poll(self) -> int | None:
        return self._proc.poll()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode


def threads_json(project: Project) -> dict[str, dict[str, object]]:
    result = project.cli("threads", "--json")
    assert result.code == EXIT_OK, result.stderr
    return {row["thread_id"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_run_stops_at_the_interrupt_then_resume_history_and_fork(project: Project) -> None:
    cli = project.cli
    run = cli("run", "approval", "--input", '{"topic": "CLI via server"}', "--thread", "a1")
    assert run.code == EXIT_OK, run.stderr
    # The same lines local mode prints: progress from the server's event stream,
    # the state on stdout, the question and the command that answers it.
    assert json.loads(run.stdout)["draft"] == "Announcing CLI via server."
    assert "thread a1 (run " in run.stderr and ", graph approval)" in run.stderr
    assert re.search(r"\binterrupted\s+approval\b", run.stderr)
    assert "thread 'a1' waits for input:" in run.stderr
    assert "answer with: sentient-graph resume a1 --value JSON" in run.stderr

    assert threads_json(project)["a1"]["status"] == "interrupted"
    table = cli("threads")
    assert table.code == EXIT_OK
    assert re.search(r"^a1\s+interrupted\s+approval\.py:graph", table.stdout, re.M), table.stdout

    history = cli("history", "a1", "--json")
    assert history.code == EXIT_OK, history.stderr
    checkpoints = [json.loads(line) for line in history.stdout.splitlines()]
    assert checkpoints and checkpoints[0]["next"] == ["approval"]

    resumed = cli("resume", "a1", "--value", '"yes"')
    assert resumed.code == EXIT_OK, resumed.stderr
    assert json.loads(resumed.stdout)["published"] is True
    assert ", resumed)" in resumed.stderr and "completed thread 'a1' in " in resumed.stderr
    assert threads_json(project)["a1"]["status"] == "completed"

    # A completed thread has nothing to resume: the code local mode gives.
    again = cli("resume", "a1")
    assert again.code == EXIT_USAGE and len(again.stderr.strip().splitlines()) == 1

    forked = cli("fork", "a1", checkpoints[0]["checkpoint_id"], "--new-thread", "a1-fork")
    assert forked.code == EXIT_OK, forked.stderr
    assert forked.stdout == "a1-fork\n"
    assert "run it with `sentient-graph resume a1-fork`" in forked.stderr
    assert threads_json(project)["a1-fork"]["status"] == "pending"

    events = cli("events", "a1", "--json")
    assert events.code == EXIT_OK, events.stderr
    types = [json.loads(line)["type"] for line in events.stdout.splitlines()]
    assert types[0] == "run_started" and types[-1] == "run_completed"
    assert types.count("run_started") == 2  # the run and its resume


def test_events_follow_while_a_run_goes_on_then_cancel(project: Project) -> None:
    cli = project.cli
    run = cli.background("run", "gate", "--thread", "g1")
    try:
        wait_for(run, node_started("gate"), "the gate node")
        # A second process follows the live run (no Redis: the server streams it),
        # and shows the gate node before the gate opens.
        follow = subprocess.Popen(
            [cli.exe, "events", "g1", "--follow"],
            cwd=cli.cwd,
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        # The follower's stdout is read as a stream of lines: swap it in as "stderr".
        watcher = Background(_Swapped(follow))  # type: ignore[arg-type]
        watcher.start_reading()
        try:
            wait_for(watcher, node_started("gate"), "the gate node in events --follow")
            project.gate.touch()
            finished = run.finish()
            assert finished.code == EXIT_OK, finished.stderr
            assert json.loads(finished.stdout)["trail"] == ["first", "gate", "last"]
            assert "completed thread 'g1' in " in finished.stderr
            wait_for(watcher, lambda line: " run_completed " in line, "run_completed")
        finally:
            follow.send_signal(signal.SIGINT)
        code = follow.wait(60)
        assert code == EXIT_INTERRUPTED, follow.stderr.read() if follow.stderr else ""
        assert watcher._reader is not None
        watcher._reader.join(5)
        lines = list(watcher.lines)
        assert lines[0].startswith("run ")
        assert " run_started " in lines[1] and " run_completed " in lines[-1]
        seqs = [int(line.split()[0]) for line in lines[1:]]
        assert seqs == list(range(1, len(seqs) + 1))  # every event once, in order
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        project.gate.unlink(missing_ok=True)

    # cancel: a completed thread refuses (2); an interrupted one is cancelled (0).
    done = cli("cancel", "g1")
    assert done.code == EXIT_USAGE and "already completed" in done.stderr
    waiting = cli("run", "approval", "--input", '{"topic": "t"}', "--thread", "c1")
    assert waiting.code == EXIT_OK, waiting.stderr
    cancelled = cli("cancel", "c1")
    assert cancelled.code == EXIT_OK, cancelled.stderr
    assert cancelled.stderr.strip() == "cancelled thread 'c1'"
    assert threads_json(project)["c1"]["status"] == "cancelled"


def test_ctrl_c_during_a_run_cancels_it_on_the_server(project: Project) -> None:
    run = project.cli.background("run", "gate", "--thread", "k1")
    try:
        wait_for(run, node_started("gate"), "the gate node")
        run.proc.send_signal(signal.SIGINT)
        result = run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    assert result.code == EXIT_INTERRUPTED, result.stderr
    assert "cancelled thread 'k1'; continue it with `sentient-graph resume k1`" in result.stderr
    assert threads_json(project)["k1"]["status"] == "cancelled"


def test_errors_keep_local_codes_and_lines(project: Project) -> None:
    cli = project.cli
    missing = cli("history", "a1x")
    assert missing.code == EXIT_USAGE
    assert missing.stderr.count("\n") == 1 and "'a1x'" in missing.stderr
    assert "did you mean" in missing.stderr and "'a1'" in missing.stderr
    for args in (("events", "a1x"), ("cancel", "a1x"), ("resume", "a1x")):
        result = cli(*args)
        assert result.code == EXIT_USAGE, (args, result.stderr)

    # The server runs only the graphs it registered; a path is refused, never imported.
    path = cli("run", f"{REPO}/graphs/approval.py:graph", "--thread", "p1")
    assert path.code == EXIT_USAGE, path.stderr
    assert path.stderr.startswith("error: ") and path.stderr.count("\n") == 1
    assert "p1" not in threads_json(project)

    bad_input = cli("run", "approval", "--input", '{"nope": 1}')
    assert bad_input.code == EXIT_USAGE and bad_input.stderr.count("\n") == 1

    # What the server cannot do is refused in one line, before anything is sent.
    for args in (
        ("run", "approval", "--replace-graph", "--thread", "p2"),
        ("resume", "a1", "--graph", "approval"),
    ):
        result = cli(*args)
        assert result.code == EXIT_USAGE, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and project.url in result.stderr
    assert "p2" not in threads_json(project)


def test_a_server_that_does_not_answer_is_exit_3_naming_it(project: Project) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for env in ({"SENTIENT_SERVER": dead}, None):
        args = ("threads",) if env else ("--server", dead, "threads")
        result = project.cli(*args, env=env)
        assert result.code == EXIT_STORE, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and dead in lines[0], lines
        assert ("SENTIENT_SERVER" if env else "--server") in lines[0]


def test_another_namespace_or_database_of_the_served_store_is_exit_3(project: Project) -> None:
    """The server holds the store for one namespace and database: asking for
    another one is refused in one line, not answered with the server's data."""
    served = json.loads((project.root / ".sentient" / "server.json").read_text())
    assert (served["namespace"], served["database"]) == ("sentient", "graph")
    for args, env in (
        (("--namespace", "other", "threads"), None),
        (("threads", "--json"), {"SURREALDB_DATABASE": "other"}),
        (("history", "a1"), {"SURREALDB_NAMESPACE": "other"}),
    ):
        result = project.cli(*args, env=env)
        assert result.code == EXIT_STORE, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and project.url in lines[0] and "'other'" in lines[0], lines
        assert result.stdout == ""
    same = project.cli("--namespace", "sentient", "--database", "graph", "threads")
    assert same.code == EXIT_OK, same.stderr


def test_a_stale_server_file_falls_back_to_local_mode(tmp_path: Path) -> None:
    """A ``server.json`` whose process is gone is removed; the command runs locally."""
    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": {"approval": APPROVAL}}))
    cli = Cli(tmp_path, clean_env())
    url_file = tmp_path / ".sentient" / "server.json"
    url_file.parent.mkdir()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    url_file.write_text(
        json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": int(gone.stdout)})
    )
    result = cli("threads")
    assert result.code == EXIT_OK, result.stderr
    assert result.stderr.strip() == "no threads"
    assert not url_file.exists()
    # A live process whose URL answers nothing (a reused pid): local mode, file kept.
    url_file.write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": os.getpid()}))
    result = cli("threads")
    assert result.code == EXIT_OK and result.stderr.strip() == "no threads", result.stderr
    assert url_file.exists()


def test_a_server_with_a_token_takes_it_from_the_option_or_the_variable(tmp_path: Path) -> None:
    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": {"approval": APPROVAL}}))
    env = clean_env()
    cli = Cli(tmp_path, env)
    server = subprocess.Popen(
        [cli.exe, "serve", "--port", str(free_port()), "--token", "s3cret"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    project = Project(tmp_path, cli, "", server)
    try:
        url_file = tmp_path / ".sentient" / "server.json"
        wait_for_url_file(server, url_file)
        refused = cli("threads")
        assert refused.code == EXIT_USAGE
        assert refused.stderr.count("\n") == 1 and "SENTIENT_TOKEN" in refused.stderr
        for args, extra in (
            (("--token", "s3cret", "threads"), None),
            (("threads",), {"SENTIENT_TOKEN": "s3cret"}),
        ):
            result = cli(*args, env=extra)
            assert result.code == EXIT_OK, result.stderr
            assert result.stderr.strip() == "no threads"
    finally:
        project.stop()


def test_zz_local_mode_prints_what_the_server_printed(project: Project) -> None:
    """Last in this module: stop the server, then the same commands open the store themselves."""
    commands = [
        ("threads",),
        ("threads", "--json"),
        ("threads", "--status", "cancelled"),
        ("history", "a1"),
        ("history", "a1", "--json"),
        ("events", "a1"),
        ("events", "a1", "--json"),
        ("events", "g1", "--type", "node_started", "--after", "3"),
    ]
    through = {args: project.cli(*args) for args in commands}
    project.stop()
    assert not (project.root / ".sentient" / "server.json").exists()
    for args in commands:
        local = project.cli(*args)
        assert (local.code, local.stdout) == (through[args].code, through[args].stdout), args
        assert local.code == EXIT_OK and local.stdout, (args, local.stderr)
