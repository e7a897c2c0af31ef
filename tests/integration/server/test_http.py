"""The HTTP API against a real uvicorn server: runs, threads, interrupts, cancel, fork, SSE."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.server.conftest import HERE, RunningServer, new_thread


def sse_events(response: httpx.Response, stop_after: int | None = None) -> Iterator[dict]:
    """Parse an SSE stream into ``{"id", "event", "data"}`` dicts."""
    current: dict = {}
    seen = 0
    for line in response.iter_lines():
        if not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                yield current
                seen += 1
                if stop_after is not None and seen >= stop_after:
                    return
            current = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        current[key] = value[1:] if value.startswith(" ") else value


def follow_until(http: httpx.Client, thread_id: str, last_type: str, **params: str) -> list[dict]:
    """Every SSE event of a thread up to the first of type ``last_type``."""
    got = []
    with http.stream(
        "GET", f"/threads/{thread_id}/events", params={"follow": "true", **params}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for item in sse_events(response):
            got.append(item)
            if item["event"] == last_type:
                return got
    raise AssertionError(f"stream ended before {last_type}")


def test_start_list_get_history(http: httpx.Client) -> None:
    tid = new_thread()
    r = http.post("/runs", json={"graph": "chain", "input": {"steps": []}, "thread_id": tid})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["thread_id"] == tid and body["run_id"] and body["status"] == "running"
    events = follow_until(http, tid, "run_completed")
    seqs = [e["data"]["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [e["id"] for e in events] == [f"{body['run_id']}:{s}" for s in seqs]
    listed = http.get("/threads", params={"status": "completed"}).json()
    assert tid in [t["thread_id"] for t in listed]
    got = http.get(f"/threads/{tid}").json()
    assert got["record"]["status"] == "completed"
    assert got["state"]["values"]["steps"] == ["n1", "n2", "n3", "n4", "n5"]
    history = http.get(f"/threads/{tid}/history").json()
    assert len(history) >= 6 and history[0]["values"]["steps"][-1] == "n5"


def test_interrupt_resume_and_fork(http: httpx.Client) -> None:
    tid = new_thread()
    r = http.post("/runs", json={"graph": "approval", "input": {"topic": "x"}, "thread_id": tid})
    assert r.status_code == 201, r.text
    follow_until(http, tid, "interrupted")
    got = http.get(f"/threads/{tid}").json()
    assert got["record"]["status"] == "interrupted"
    assert got["state"]["interrupts"][0]["value"]["question"] == "Publish this draft?"
    # Resuming without an answer is refused: the run waits for one.
    assert http.post(f"/threads/{tid}/resume", json={}).status_code == 409
    r = http.post(f"/threads/{tid}/resume", json={"value": "approve"})
    assert r.status_code == 200, r.text
    second_run = r.json()["run_id"]
    events = follow_until(http, tid, "run_completed")
    assert events[-1]["data"]["run_id"] == second_run
    assert http.get(f"/threads/{tid}").json()["state"]["values"]["published"] is True
    history = http.get(f"/threads/{tid}/history").json()
    draft_done = next(h for h in history if h["next"] == ["approval"])
    fork = http.post(f"/threads/{tid}/fork", json={"checkpoint_id": draft_done["checkpoint_id"]})
    assert fork.status_code == 201, fork.text
    new_id = fork.json()["thread_id"]
    assert http.get(f"/threads/{new_id}").json()["record"]["status"] == "pending"


def test_cancel_a_running_run(http: httpx.Client) -> None:
    tid = new_thread()
    assert (
        http.post("/runs", json={"graph": "blocker", "input": {}, "thread_id": tid}).status_code
        == 201
    )
    follow_until(http, tid, "node_started")
    r = http.post(f"/threads/{tid}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    events = follow_until(http, tid, "run_cancelled")
    assert events[-1]["event"] == "run_cancelled"
    # Cancelled runs stay resumable.
    assert http.get("/threads", params={"status": "cancelled"}).json()[0]["thread_id"] == tid


def test_reconnect_with_last_event_id_has_no_gap_and_no_duplicate(http: httpx.Client) -> None:
    tid = new_thread()
    http.post("/runs", json={"graph": "chain", "input": {}, "thread_id": tid}).raise_for_status()
    with http.stream("GET", f"/threads/{tid}/events", params={"follow": "true"}) as response:
        first = list(sse_events(response, stop_after=3))
    # Reconnect where the first connection stopped, as an EventSource does.
    with http.stream(
        "GET",
        f"/threads/{tid}/events",
        params={"follow": "true"},
        headers={"Last-Event-ID": first[-1]["id"]},
    ) as response:
        rest = []
        for item in sse_events(response):
            rest.append(item)
            if item["event"] == "run_completed":
                break
    seqs = [e["data"]["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    # A bare after_seq works too, without following.
    tail = http.get(f"/threads/{tid}/events", params={"after_seq": str(seqs[-2])})
    assert [
        json.loads(line[6:])["seq"] for line in tail.text.splitlines() if line.startswith("data: ")
    ] == [seqs[-1]]


def test_last_event_id_across_runs_of_a_thread(http: httpx.Client) -> None:
    tid = new_thread()
    http.post("/runs", json={"graph": "approval", "input": {}, "thread_id": tid}).raise_for_status()
    first_run = follow_until(http, tid, "interrupted")
    http.post(f"/threads/{tid}/resume", json={"value": "yes"}).raise_for_status()
    everything = follow_until(http, tid, "run_completed")
    # Picking up inside the first run replays its tail, then the whole second run, once.
    cut = first_run[2]["id"]
    with http.stream("GET", f"/threads/{tid}/events", headers={"Last-Event-ID": cut}) as response:
        after = list(sse_events(response))
    ids = [e["id"] for e in everything]
    assert [e["id"] for e in after] == ids[ids.index(cut) + 1 :]


def test_unknown_thread_is_404_with_a_hint(http: httpx.Client) -> None:
    tid = new_thread()
    http.post("/runs", json={"graph": "chain", "input": {}, "thread_id": tid}).raise_for_status()
    follow_until(http, tid, "run_completed")
    r = http.get(f"/threads/{tid}x")
    assert r.status_code == 404
    assert f"did you mean '{tid}'" in r.json()["error"]["message"]
    assert http.get(f"/threads/{tid}x/events").status_code == 404
    assert http.post(f"/threads/{tid}x/resume", json={}).status_code == 404


def test_bad_body_is_422_naming_the_field(http: httpx.Client) -> None:
    r = http.post("/runs", json={"input": {}})
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == ["body.graph"]
    assert "body.graph" in r.json()["error"]["message"]
    r = http.post("/runs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "Traceback" not in r.text
    r = http.post("/runs", json={"graph": "chain", "input": {}, "thread_id": ""})
    assert r.status_code == 422 and r.json()["error"]["fields"] == ["body.thread_id"]


def test_a_10_mb_body_is_refused(http: httpx.Client) -> None:
    r = http.post(
        "/runs", content=b"x" * (10 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


@pytest.mark.parametrize(
    "ref",
    [
        str(HERE / "marker_graph.py") + ":graph",
        "tests.integration.server.marker_graph:graph",
        "marker_graph",
    ],
)
def test_an_unregistered_graph_is_refused_before_import(
    http: httpx.Client, tmp_path: Path, ref: str
) -> None:
    marker = tmp_path / "imported"
    os.environ["SENTIENT_TEST_MARKER"] = str(marker)
    try:
        r = http.post("/runs", json={"graph": ref, "input": {}})
    finally:
        del os.environ["SENTIENT_TEST_MARKER"]
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "graph_not_registered"
    assert "registered: approval, blocker, chain, software_team" in r.json()["error"]["message"]
    assert not marker.exists()


def test_graphs_health_metrics_docs(http: httpx.Client) -> None:
    graphs = {g["name"]: g for g in http.get("/graphs").json()}
    assert {"approval", "software_team", "chain"} <= set(graphs)
    assert graphs["chain"]["nodes"] == ["__start__", "n1", "n2", "n3", "n4", "n5", "__end__"]
    assert {"source": "n1", "target": "n2", "conditional": False} in graphs["chain"]["edges"]
    health = http.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = http.get("/metrics").text
    assert "sentient_store_rtt_seconds" in metrics and "sentient_runs{" in metrics
    assert http.get("/docs").status_code == 200
    assert "/threads/{thread_id}/events" in http.get("/openapi.json").json()["paths"]


def test_no_stack_trace_reaches_a_client(http: httpx.Client) -> None:
    r = http.get("/threads/x/history", params={"limit": "many"})
    assert r.status_code == 422 and "Traceback" not in r.text


def test_metrics_count_node_durations(server: RunningServer, http: httpx.Client) -> None:
    tid = new_thread()
    http.post("/runs", json={"graph": "chain", "input": {}, "thread_id": tid}).raise_for_status()
    follow_until(http, tid, "run_completed")
    text = http.get("/metrics").text
    assert 'sentient_node_duration_seconds_count{node="n5"}' in text
    assert 'sentient_runs_ended_total{status="completed"}' in text
