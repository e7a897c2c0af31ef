"""One exit-code table for every command, checked by running every command over the same cases.

The table is the one in ``sentient_graph/cli/__init__.py`` and the README
(a test below holds the three together). Each case runs in its own copy of
one prepared store (a thread ``a1`` stopped at an ``interrupt()``), so none
sees another's writes. A command that must refuse something is also checked
to say so in one line.

The cases run the console script's own path (:func:`sentient_graph.cli.app.run_cli`,
which ``main`` calls before it leaves) in this process, one command line
after another, on the real embedded store and Redis: a process start costs
about a second, and there are some fifty command lines. What only a process
of its own shows (Ctrl-C, a store held by another process, the script
itself) runs as real subprocesses.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import structlog
import typer

from sentient_graph.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_STORE, EXIT_USAGE
from sentient_graph.cli.app import app, run_cli
from tests.e2e.conftest import APPROVAL, SOFTWARE_TEAM, Cli, Result, clean_env
from tests.services import SHARED_REDIS, need_redis

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CK = "{CK}"  # the checkpoint id of a1's latest checkpoint, filled in per case


@dataclass
class Step:
    """One command in a case, the code it must exit with, and a text its output must hold."""

    args: tuple[str, ...]
    code: int
    env: dict[str, str] = field(default_factory=dict)
    needle: str | None = None
    check: Callable[[Result, Path], str | None] | None = None


def step(*args: str, code: int, env: dict[str, str] | None = None, **kw: object) -> Step:
    return Step(args, code, env or {}, **kw)  # type: ignore[arg-type]


#: How each command is called on the prepared thread ``a1`` (``{CK}``: its checkpoint).
CALL = {
    "run": ("run", "approval", "--thread", "r1"),
    "resume": ("resume", "a1", "--value", '"yes"'),
    "recover": ("recover",),
    "cancel": ("cancel", "a1"),
    "threads": ("threads",),
    "history": ("history", "a1"),
    "fork": ("fork", "a1", CK),
    "events": ("events", "a1"),
    "memory": ("memory", "list"),
    "serve": ("serve", "--port", "0"),
}

BAD_SURREAL = {"SURREALDB_URL": "surreal://nowhere"}
BAD_SYNC = {"SURREALDB_URL": "surrealkv://.sentient/store?sync=sometimes"}
BAD_REDIS = {"REDIS_URL": "localhost:6379"}
DEAD_REDIS = {"REDIS_URL": "redis://127.0.0.1:9/0"}
FAIL_ONCE = {"SENTIENT_FAIL_ONCE": "planner", "SENTIENT_FAIL_ONCE_MARKER": "fail.marker"}


def _absent(thread: str) -> Callable[[Result, Path], str | None]:
    """The store holds no trace of ``thread`` (checked by a later ``threads --json``)."""

    def check(result: Result, _: Path) -> str | None:
        ids = [json.loads(line)["thread_id"] for line in result.stdout.splitlines()]
        return f"{thread!r} was written: {ids}" if thread in ids else None

    return check


#: case -> command -> the steps (``None``: the case cannot arise for that command, and why).
CASES: dict[str, dict[str, list[Step] | str]] = {
    "unknown thread": {
        "run": "run starts a new thread",
        "resume": [step("resume", "nosuch", code=EXIT_USAGE, needle="'nosuch'")],
        "recover": "recover names no thread",
        "cancel": [step("cancel", "nosuch", code=EXIT_USAGE, needle="'nosuch'")],
        "threads": "threads names no thread",
        "history": [step("history", "nosuch", code=EXIT_USAGE, needle="'nosuch'")],
        "fork": [step("fork", "nosuch", CK, code=EXIT_USAGE, needle="'nosuch'")],
        "events": [step("events", "nosuch", code=EXIT_USAGE, needle="'nosuch'")],
        "memory": "memory names no thread",
        "serve": "serve names no thread",
    },
    "empty thread id": {
        "run": [
            step("run", "approval", "--thread", "", code=EXIT_USAGE, needle="empty"),
            step("run", "approval", "--thread", " ", code=EXIT_USAGE, needle="empty"),
        ],
        "resume": [step("resume", "", code=EXIT_USAGE, needle="empty")],
        "recover": "recover names no thread",
        "cancel": [step("cancel", "", code=EXIT_USAGE, needle="empty")],
        "threads": "threads names no thread",
        "history": [step("history", "", code=EXIT_USAGE, needle="empty")],
        "fork": [
            step("fork", "", CK, code=EXIT_USAGE, needle="empty"),
            step("fork", "a1", CK, "--new-thread", "", code=EXIT_USAGE, needle="empty"),
        ],
        "events": [step("events", "", code=EXIT_USAGE, needle="empty")],
        "memory": "memory names no thread",
        "serve": "serve names no thread",
    },
    "bad input": {
        "run": [
            step(
                "run", "approval", "-t", "j1", "--input", "[1,2]", code=EXIT_USAGE, needle="a list"
            ),
            step(
                "run",
                "approval",
                "-t",
                "j2",
                "--input",
                '"hello"',
                code=EXIT_USAGE,
                needle="a string",
            ),
            step("run", "approval", "-t", "j3", "--input", "null", code=EXIT_USAGE, needle="null"),
            step(
                "run",
                "approval",
                "-t",
                "j4",
                "--input",
                '{"topc": 1}',
                code=EXIT_USAGE,
                needle="'topc'",
            ),
            step("run", "approval", "-t", "j5", "--input", "{no", code=EXIT_USAGE, needle="JSON"),
            step("run", "no_such_graph", code=EXIT_USAGE, needle="unknown graph 'no_such_graph'"),
            step("run", "./missing.py:graph", code=EXIT_USAGE, needle="does not exist"),
            step(
                "run",
                "approval",
                "--input",
                "@nope.json",
                code=EXIT_USAGE,
                needle="cannot read nope.json",
            ),
            step("threads", "--json", code=EXIT_OK, check=_absent("j1")),
        ],
        "resume": [
            step("resume", "a1", "--value", "{no", code=EXIT_USAGE, needle="JSON"),
            # a1 waits for an answer: resuming it without one is refused.
            step("resume", "a1", code=EXIT_USAGE, needle="--value"),
        ],
        "recover": "recover takes no input",
        "cancel": "cancel takes no input",
        "threads": [step("threads", "--status", "sleeping", code=EXIT_USAGE, needle="sleeping")],
        "history": [step("history", "a1", "--limit", "x", code=EXIT_USAGE, needle="--limit")],
        "fork": [step("fork", "a1", CK, "--values", "{no", code=EXIT_USAGE, needle="JSON")],
        "events": [step("events", "a1", "--type", "nonsense", code=EXIT_USAGE, needle="nonsense")],
        "memory": [
            step("memory", "put", "", "k", '{"a": 1}', code=EXIT_USAGE, needle="namespace"),
            step("memory", "put", "a.b", "k", "[1]", code=EXIT_USAGE, needle="JSON object"),
            step("memory", "get", "a.b", "nokey", code=EXIT_USAGE, needle="'nokey'"),
        ],
        "serve": [step("serve", "--host", "0.0.0.0", code=EXIT_USAGE, needle="token")],
    },
    "malformed SURREALDB_URL": {
        name: [
            step(*call, code=EXIT_USAGE, env=BAD_SURREAL, needle="SURREALDB_URL"),
            *(
                [step(*call, code=EXIT_USAGE, env=BAD_SYNC, needle="sync=")]
                if name in ("run", "threads")
                else []
            ),
        ]
        for name, call in CALL.items()
    },
    "malformed REDIS_URL": {
        # Only what publishes or follows events needs Redis; nothing is written first.
        "run": [
            step(*CALL["run"], code=EXIT_USAGE, env=BAD_REDIS, needle="REDIS_URL"),
            step("threads", "--json", code=EXIT_OK, check=_absent("r1")),
        ],
        "resume": [step(*CALL["resume"], code=EXIT_USAGE, env=BAD_REDIS, needle="REDIS_URL")],
        "recover": [step("recover", code=EXIT_USAGE, env=BAD_REDIS, needle="REDIS_URL")],
        "cancel": [step(*CALL["cancel"], code=EXIT_OK, env=BAD_REDIS)],
        "threads": [step("threads", code=EXIT_OK, env=BAD_REDIS)],
        "history": [step(*CALL["history"], code=EXIT_OK, env=BAD_REDIS)],
        "fork": [step(*CALL["fork"], code=EXIT_OK, env=BAD_REDIS)],
        "events": [
            step(*CALL["events"], code=EXIT_OK, env=BAD_REDIS),  # the store answers alone
            step("events", "a1", "--follow", code=EXIT_USAGE, env=BAD_REDIS, needle="REDIS_URL"),
        ],
        "memory": [step(*CALL["memory"], code=EXIT_OK, env=BAD_REDIS)],
        "serve": [step(*CALL["serve"], code=EXIT_USAGE, env=BAD_REDIS, needle="REDIS_URL")],
    },
    "Redis does not answer": {
        "run": [step(*CALL["run"], code=EXIT_STORE, env=DEAD_REDIS, needle="Redis")],
        "resume": [step(*CALL["resume"], code=EXIT_STORE, env=DEAD_REDIS, needle="Redis")],
        "recover": [step("recover", code=EXIT_STORE, env=DEAD_REDIS, needle="Redis")],
        "cancel": [step(*CALL["cancel"], code=EXIT_OK, env=DEAD_REDIS)],
        "threads": [step("threads", code=EXIT_OK, env=DEAD_REDIS)],
        "history": [step(*CALL["history"], code=EXIT_OK, env=DEAD_REDIS)],
        "fork": [step(*CALL["fork"], code=EXIT_OK, env=DEAD_REDIS)],
        "events": [
            step(*CALL["events"], code=EXIT_OK, env=DEAD_REDIS),
            step("events", "a1", "--follow", code=EXIT_STORE, env=DEAD_REDIS, needle="Redis"),
        ],
        "memory": [step(*CALL["memory"], code=EXIT_OK, env=DEAD_REDIS)],
        "serve": [step(*CALL["serve"], code=EXIT_STORE, env=DEAD_REDIS, needle="Redis")],
    },
    "interrupted run": {
        # a1 stopped at interrupt() (exit 0 when it was run); what each command makes of it.
        "run": [step("run", "approval", "--thread", "a1", "--input", "{}", code=EXIT_OK)],
        "resume": [
            step("resume", "a1", "--value", '"yes"', code=EXIT_OK),
            # Nothing waits for an answer any more: refused, not silently run.
            step("resume", "a1", "--value", '"yes"', code=EXIT_USAGE, needle="waits for no answer"),
            step("cancel", "a1", code=EXIT_USAGE, needle="completed"),
        ],
        "recover": [step("recover", code=EXIT_OK, needle="nothing to recover")],
        "cancel": [
            step("cancel", "a1", code=EXIT_OK),
            step("resume", "a1", "--value", '"yes"', code=EXIT_OK),
        ],
        "threads": [step("threads", "--status", "interrupted", code=EXIT_OK, needle=None)],
        "history": [step("history", "a1", code=EXIT_OK)],
        "fork": [step("fork", "a1", CK, "--new-thread", "a2", code=EXIT_OK)],
        "events": [step("events", "a1", code=EXIT_OK)],
        "memory": "memory runs nothing",
        "serve": "a server's runs: tests/integration/server",
    },
    "failed run": {
        "run": [
            step(
                "run",
                "software_team",
                "-t",
                "f1",
                "--input",
                '{"request": "an API"}',
                code=EXIT_FAILED,
                env=FAIL_ONCE,
                needle="resume f1",
            ),
            step("resume", "f1", code=EXIT_OK, env=FAIL_ONCE),
        ],
        "resume": "covered by run: a failed run exits 1, its resume 0",
        "recover": "a failed run is not recovered (its process did not die)",
        "cancel": "cancel ends no run here",
        "threads": "threads runs nothing",
        "history": "history runs nothing",
        "fork": "fork runs nothing",
        "events": "events runs nothing",
        "memory": "memory runs nothing",
        "serve": "a server's runs: tests/integration/server",
    },
}


def _registered_commands() -> set[str]:
    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_every_command_and_case_is_in_the_table() -> None:
    commands = _registered_commands()
    assert set(CALL) == commands, "add the new command to CALL and to every case"
    for case, row in CASES.items():
        assert set(row) == commands, f"case {case!r} misses {commands - set(row)}"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project whose store holds ``a1``, stopped at an interrupt(); and its checkpoint id."""
    base = tmp_path_factory.mktemp("exit-codes")
    (base / "langgraph.json").write_text(
        json.dumps({"graphs": {"software_team": SOFTWARE_TEAM, "approval": APPROVAL}})
    )
    cli = InProcess(base)
    asked = cli("run", "approval", "--thread", "a1", "--input", '{"topic": "x"}', "-q")
    assert asked.code == EXIT_OK, asked.stderr
    history = cli("history", "a1", "--json", "--limit", "1")
    assert history.code == EXIT_OK, history.stderr
    return base, json.loads(history.stdout)["checkpoint_id"]


class InProcess:
    """``sentient-graph ARGS`` through ``run_cli`` in this process, in ``cwd``, with a clean env."""

    KEYS = ("SURREALDB_", "REDIS_", "SENTIENT_")

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        saved = {k: v for k, v in os.environ.items() if k.startswith(self.KEYS)}
        here = os.getcwd()
        out, err = io.StringIO(), io.StringIO()
        try:
            for key in saved:
                del os.environ[key]
            os.environ.update({"SENTIENT_DEMO_DELAY": "0", **(env or {})})
            os.chdir(self.cwd)
            with redirect_stdout(out), redirect_stderr(err):
                code = run_cli(args)
        finally:
            os.chdir(here)
            for key in [k for k in os.environ if k.startswith(self.KEYS)]:
                del os.environ[key]
            os.environ.update(saved)
            structlog.reset_defaults()
        return Result(code, out.getvalue(), err.getvalue())


def _copy(base: Path, into: Path) -> Path:
    shutil.copytree(base, into)
    return into


def _judge(s: Step, result: Result, where: Path) -> str | None:
    shown = " ".join(s.args)
    if result.code != s.code:
        return f"`{shown}` {s.env or ''} exited {result.code}, not {s.code}: {result.stderr.strip()[-300:]}"
    if "Traceback" in result.stderr:
        return f"`{shown}` printed a traceback"
    if s.code in (EXIT_USAGE, EXIT_STORE):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"`{shown}` did not fail in one line: {result.stderr!r}"
    if s.needle is not None and s.needle not in result.stderr:
        return f"`{shown}`: {s.needle!r} not in {result.stderr.strip()!r}"
    if s.check is not None:
        return s.check(result, where)
    return None


def _run_case(base: Path, checkpoint: str, into: Path, steps: list[Step]) -> list[str]:
    where = _copy(base, into)
    cli = InProcess(where)
    problems = []
    for s in steps:
        args = tuple(checkpoint if a == CK else a for a in s.args)
        problem = _judge(s, cli(*args, env=s.env), where)
        if problem:
            problems.append(problem)
            break
    return problems


def test_exit_codes_of_every_command(prepared: tuple[Path, str], tmp_path: Path) -> None:
    base, checkpoint = prepared
    need_redis()  # "Redis does not answer" must differ from "no Redis at all"
    jobs = [
        (f"{case}/{command}", steps)
        for case, row in CASES.items()
        for command, steps in row.items()
        if isinstance(steps, list)
    ]
    problems = [
        f"{name}: {problem}"
        for name, steps in jobs
        for problem in _run_case(base, checkpoint, tmp_path / re.sub(r"\W", "_", name), steps)
    ]
    assert not problems, "\n".join(problems)


def test_a_held_store_is_exit_3_for_every_command(
    prepared: tuple[Path, str], tmp_path: Path
) -> None:
    base, checkpoint = prepared
    where = _copy(base, tmp_path / "held")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys\n"
            "from sentient_graph.db import connect\n"
            "async def main():\n"
            "    c = await connect('surrealkv://.sentient/store')\n"
            "    print('HELD', flush=True)\n"
            "    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)\n"
            "    await c.aclose()\n"
            "asyncio.run(main())\n",
        ],
        cwd=where,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**clean_env(), "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"HELD"
        cli = InProcess(where)
        calls = [tuple(checkpoint if a == CK else a for a in call) for call in CALL.values()]
        results = [(call, cli(*call)) for call in calls]
        # One as the console script, from a process of its own.
        results.append((("threads",), Cli(where, clean_env())("threads")))
        needle = f"process {holder.pid}"
        problems = [
            p
            for call, result in results
            if (p := _judge(Step(call, EXIT_STORE, needle=needle), result, where))
        ]
        assert not problems, "\n".join(problems)
    finally:
        assert holder.stdin is not None
        holder.stdin.write(b"\n")
        holder.stdin.close()
        holder.wait(timeout=15)


def test_ctrl_c_is_130_and_the_run_can_be_resumed(
    prepared: tuple[Path, str], tmp_path: Path
) -> None:
    base, _ = prepared
    where = _copy(base, tmp_path / "ctrl-c")
    cli = Cli(where, clean_env())
    gate = where / "gate.open"
    graph = f"{Path(__file__).with_name('gate_graph.py')}:graph"
    thread = 'it\'s "q" x'
    run = cli.background("run", graph, "--thread", thread, env={"SENTIENT_GATE": str(gate)})
    run.wait_for_line("node_started    gate")  # held there until the gate opens
    run.proc.send_signal(signal.SIGINT)
    done = run.finish()
    assert done.code == EXIT_INTERRUPTED, done.stderr
    # The suggestion pastes into a shell as it is.
    assert "sentient-graph resume 'it'\"'\"'s \"q\" x'" in done.stderr
    listed = InProcess(where)("threads", "--json")
    status = {
        json.loads(line)["thread_id"]: json.loads(line)["status"]
        for line in listed.stdout.splitlines()
    }
    assert status[thread] == "cancelled"
    gate.touch()
    resumed = InProcess(where)("resume", thread, env={"SENTIENT_GATE": str(gate)})
    assert resumed.code == EXIT_OK, resumed.stderr
    assert json.loads(resumed.stdout)["trail"] == ["first", "gate", "last"]


def test_ctrl_c_while_following_events_is_130(prepared: tuple[Path, str], tmp_path: Path) -> None:
    need_redis()
    base, _ = prepared
    where = _copy(base, tmp_path / "follow")
    cli = Cli(where, clean_env())
    follow = cli.background(
        "events",
        "a1",
        "--follow",
        env={"REDIS_URL": SHARED_REDIS, "SENTIENT_EVENTS_PREFIX": f"exit-{os.getpid()}"},
    )
    assert follow.proc.stdout is not None
    assert follow.proc.stdout.readline().startswith("run ")  # the history came from the store
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish().code == EXIT_INTERRUPTED


def test_bad_input_never_opens_the_store(tmp_path: Path) -> None:
    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": {"approval": APPROVAL}}))
    result = InProcess(tmp_path)("run", "approval", "--input", "[1,2]")
    assert result.code == EXIT_USAGE
    assert not (tmp_path / ".sentient").exists()


def test_the_table_is_the_same_in_the_readme_and_the_docstring() -> None:
    import sentient_graph.cli as cli_module

    codes = {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STORE, EXIT_INTERRUPTED, 141}
    doc = cli_module.__doc__ or ""
    in_doc = {int(m) for m in re.findall(r"^    (\d+)\s{2,}", doc, re.MULTILINE)}
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    in_readme = {int(m) for m in re.findall(r"^\| `?(\d+)`? \|", section, re.MULTILINE)}
    assert in_doc == codes and in_readme == codes
