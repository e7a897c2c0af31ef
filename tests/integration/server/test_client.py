"""The httpx client the CLI uses when a server runs."""

from __future__ import annotations

import pytest

from sentient_graph.errors import GraphLoadError, RunNotActive, ThreadNotFound
from sentient_graph.server.client import ServerClient
from tests.integration.server.conftest import RunningServer, new_thread


def test_client_round_trip(server: RunningServer) -> None:
    with ServerClient(server.url) as client:
        tid = new_thread()
        run = client.start("approval", {"topic": "client"}, tid)
        events = list(client.events(tid, follow=True))
        assert events[-1]["type"] == "interrupted"
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        with pytest.raises(RunNotActive):
            client.resume(tid)
        resumed = client.resume(tid, "approve")
        assert resumed["run_id"] != run["run_id"]
        tail = list(
            client.events(tid, follow=True, after=f"{events[-1]['run_id']}:{events[-1]['seq']}")
        )
        assert tail[-1]["type"] == "run_completed" and {e["run_id"] for e in tail} == {
            resumed["run_id"]
        }
        assert client.get(tid)["record"]["status"] == "completed"
        assert tid in [t["thread_id"] for t in client.threads("completed")]
        history = client.history(tid)
        forked = client.fork(tid, history[-1]["checkpoint_id"])
        assert client.get(forked["thread_id"])["record"]["status"] == "pending"
        with pytest.raises(ThreadNotFound, match="did you mean"):
            client.get(tid + "x")
        with pytest.raises(GraphLoadError, match="not registered"):
            client.start("./graphs/approval.py:graph", {})
        assert client.health()["status"] == "ok"


def test_run_wait_answers_with_the_final_state(server: RunningServer) -> None:
    with ServerClient(server.url) as client:
        done = client.run_wait("chain", {}, new_thread())
        assert done["status"] == "completed"
        assert done["values"]["steps"] == ["n1", "n2", "n3", "n4", "n5"]
        paused = client.run_wait("approval", {})
        assert paused["status"] == "interrupted" and paused["interrupts"]
