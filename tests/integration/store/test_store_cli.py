"""``sentient-graph memory``: the typer app as a user calls it, on an embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentient_graph.cli.commands.memory import memory_app
from sentient_graph.db import connect_sync


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SURREALDB_URL", f"surrealkv://{tmp_path / 'store'}")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(memory_app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_put_search_list_get_delete(run) -> None:  # type: ignore[no-untyped-def]
    run("put", "agents.researcher.long_term", "f1", '{"text": "SurrealDB HNSW vector index"}')
    run("put", "agents.researcher.long_term", "f2", '{"text": "checkpoint every step", "n": 2}')
    run("put", "agents.writer.long_term", "s1", '{"text": "short sentences", "n": 5}')

    by_meaning = run("search", "agents", "--query", "vector index", "--json").splitlines()
    found = [json.loads(line) for line in by_meaning]
    assert found[0]["key"] == "f1"
    assert found[0]["score"] > found[1]["score"]

    filtered = run("search", "--filter", '{"n": {"$gte": 3}}').splitlines()
    assert len(filtered) == 1 and "s1" in filtered[0]

    assert run("list").splitlines() == ["agents.researcher.long_term", "agents.writer.long_term"]
    assert run("list", "--max-depth", "2").splitlines() == ["agents.researcher", "agents.writer"]
    assert run("list", "--suffix", "*.long_term", "--prefix", "agents.writer").splitlines() == [
        "agents.writer.long_term"
    ]

    got = json.loads(run("get", "agents.researcher.long_term", "f2", "--json"))
    assert got["value"] == {"text": "checkpoint every step", "n": 2}
    run("delete", "agents.researcher.long_term", "f2")
    run("get", "agents.researcher.long_term", "f2", code=2)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("put", "a.b", "k", "[1]"), "VALUE must be a JSON object"),
        (("put", "a.b", "k", "{nope"), "VALUE is not valid JSON"),
        (("put", "", "k", "{}"), "give a namespace"),
        (("put", "langgraph.x", "k", "{}"), "langgraph"),
        (("search", "-f", '{"n": {"$near": 1}}'), "unknown filter operator"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run, args: tuple[str, ...], words: str) -> None:  # type: ignore[no-untyped-def]
    output = run(*args, code=2)
    assert words in output
    assert output.count("\n") == 1
    assert run("list") == ""


def test_a_store_held_by_another_process_is_exit_3(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    with connect_sync(url):
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from sentient_graph.cli.commands.memory import memory_app; memory_app()",
                "list",
            ],
            env={**os.environ, "SURREALDB_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 3, done.stderr
    assert "held by" in done.stderr and done.stderr.count("\n") == 1
