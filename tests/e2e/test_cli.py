"""The CLI as a subprocess, as the README tells users to run it.

Each test has its own working directory, so its own embedded store. Nothing
waits on a sleep: tests wait for a line the CLI prints (it prints one per
node transition, flushed, when stderr is not a terminal) with a timeout.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Cli

pytestmark = pytest.mark.slow

BOTH_PARTS = {"request": "Build a todo app with a web UI and a REST API"}
GATE_GRAPH = Path(__file__).with_name("gate_graph.py")


def _side_effects(path: Path) -> Counter[str]:
    return Counter(line for line in path.read_text().splitlines() if line.strip())


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def _assert_no_node_ran_twice(side_effects: Path, final: dict) -> None:
    # ``trail`` is the state's record of every node execution that was committed;
    # the side-effect file records every execution that happened. A node that
    # had finished and ran again after the resume would appear more often in
    # the file than in the trail.
    # (the trail names parallel researchers "researcher:<task>")
    assert _side_effects(side_effects) == Counter(step.split(":")[0] for step in final["trail"])


def _kill_mid_node(cli: Cli, thread: str, side: Path) -> None:
    """Start a slow run and SIGKILL it while ``research_architect`` sleeps mid-node."""
    run = cli.background(
        "run",
        "software_team",
        "--input",
        json.dumps(BOTH_PARTS),
        "--thread",
        thread,
        env={"SENTIENT_DEMO_DELAY": "0.5", "SENTIENT_SIDE_EFFECTS": str(side)},
    )
    # Printed after the previous superstep's checkpoint was written (durability=sync)
    # and before the node's half-way sleep ends.
    run.wait_for_line("node_started    research_architect")
    os.kill(run.proc.pid, signal.SIGKILL)
    return run  # type: ignore[return-value]


def test_recover_finishes_a_killed_run_without_rerunning_finished_nodes(
    cli: Cli, workdir: Path
) -> None:
    side = workdir / "side-effects.txt"
    run = _kill_mid_node(cli, "killed-1", side)
    done_before = _side_effects(side)
    assert done_before["planner"] == 1 and "research_architect" not in done_before

    # Recover right away: the dead owner is seen from its pid (not yet even reaped:
    # a zombie), without waiting out the 30 s lease.
    listed = cli("threads", "--status", "running", "--json")
    assert listed.code == 0, listed.stderr
    assert [json.loads(line)["thread_id"] for line in listed.stdout.splitlines()] == ["killed-1"]

    recovered = cli("recover", env={"SENTIENT_SIDE_EFFECTS": str(side)})
    run.proc.wait(10)
    assert recovered.code == 0, recovered.stderr
    assert "recovering thread killed-1" in recovered.stderr
    final = recovered.json()
    assert final["trail"][-1] == "reviewer" and set(final["deliverables"]) == {
        "frontend",
        "backend",
    }
    _assert_no_node_ran_twice(side, final)

    again = cli("recover")
    assert again.code == 0 and "nothing to recover" in again.stderr
    status = cli("threads", "--json")
    assert json.loads(status.stdout.splitlines()[0])["status"] == "completed"


def test_resume_finishes_a_killed_run(cli: Cli, workdir: Path) -> None:
    side = workdir / "side-effects.txt"
    run = _kill_mid_node(cli, "killed-2", side)
    run.proc.wait(10)

    resumed = cli("resume", "killed-2", env={"SENTIENT_SIDE_EFFECTS": str(side)})
    assert resumed.code == 0, resumed.stderr
    final = resumed.json()
    assert set(final["deliverables"]) == {"frontend", "backend"}
    _assert_no_node_ran_twice(side, final)


def test_a_node_that_fails_once_is_resumed_to_completion(cli: Cli, workdir: Path) -> None:
    side = workdir / "side-effects.txt"
    env = {
        # The injected failure comes at the start of backend_developer, while its
        # sibling frontend_developer is still inside this delay: LangGraph cancels
        # the sibling before it records a side effect. (With no delay the two race,
        # and a sibling that finished its work but not its commit runs again -
        # at-least-once, which the side-effect count below would flag.)
        "SENTIENT_DEMO_DELAY": "0.3",
        "SENTIENT_FAIL_ONCE": "backend_developer",
        "SENTIENT_FAIL_ONCE_MARKER": str(workdir / "fail-once.marker"),
        "SENTIENT_SIDE_EFFECTS": str(side),
    }
    failed = cli(
        "run", "software_team", "--input", json.dumps(BOTH_PARTS), "--thread", "f1", env=env
    )
    assert failed.code == 1, failed.stderr
    error = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and "backend_developer" in error[0] and "resume f1" in error[0]
    assert "Traceback" not in failed.stderr
    # frontend_developer ran beside the failing node and was cancelled mid-work.
    assert _side_effects(side)["frontend_developer"] == 0

    listed = cli("threads", "--status", "failed", "--json")
    assert json.loads(listed.stdout)["thread_id"] == "f1"

    resumed = cli("resume", "f1", env=env)
    assert resumed.code == 0, resumed.stderr
    final = resumed.json()
    assert set(final["deliverables"]) == {"frontend", "backend"}
    _assert_no_node_ran_twice(side, final)

    history = cli("history", "f1", "--json")
    assert history.code == 0, history.stderr
    steps = [json.loads(line)["step"] for line in history.stdout.splitlines()]
    assert steps == sorted(steps, reverse=True) and steps[-1] == -1


def test_an_interrupt_is_answered_with_resume_value(cli: Cli) -> None:
    asked = cli("run", "approval", "--input", '{"topic": "the 1.0 release"}', "--thread", "a1")
    assert asked.code == 0, asked.stderr
    assert "waits for input" in asked.stderr
    assert "sentient-graph resume a1 --value" in asked.stderr
    assert asked.json().get("published") is not True

    waiting = cli("threads", "--status", "interrupted", "--json")
    assert json.loads(waiting.stdout)["thread_id"] == "a1"

    without_value = cli("resume", "a1")
    assert without_value.code == 2
    assert "--value" in _one_line_error(without_value.stderr)

    answered = cli("resume", "a1", "--value", '"yes"')
    assert answered.code == 0, answered.stderr
    assert answered.json()["published"] is True


def test_a_second_process_gets_store_locked_and_the_run_loses_nothing(
    cli: Cli, workdir: Path
) -> None:
    gate = workdir / "gate.open"
    run = cli.background(
        "run", f"{GATE_GRAPH}:graph", "--thread", "held", env={"SENTIENT_GATE": str(gate)}
    )
    run.wait_for_line("node_started    gate")  # the run holds the store until the gate opens

    second = cli("threads")
    assert second.code == 3
    line = _one_line_error(second.stderr)
    assert f"process {run.proc.pid}" in line
    assert "ws://" in line  # a SurrealDB server lifts the one-process limit

    gate.touch()
    first = run.finish()
    assert first.code == 0, first.stderr
    assert first.json()["trail"] == ["first", "gate", "last"]
    listed = cli("threads", "--json")
    assert json.loads(listed.stdout)["status"] == "completed"
    events = cli("events", "held", "--json")
    assert events.code == 0, events.stderr
    seqs = [json.loads(line)["seq"] for line in events.stdout.splitlines()]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 10


# Every command's exit code over the same bad inputs: tests/e2e/test_cli_exit_codes.py.


def test_unknown_thread_suggests_a_close_one(cli: Cli) -> None:
    assert cli("run", "approval", "--thread", "release-42").code == 0
    result = cli("cancel", "release-24")
    assert result.code == 2
    assert "did you mean 'release-42'?" in _one_line_error(result.stderr)
