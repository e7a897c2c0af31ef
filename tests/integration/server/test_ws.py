"""WebSocket JSON-RPC 2.0 against a real uvicorn server."""

from __future__ import annotations

import itertools
import json
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.integration.server.conftest import RunningServer, new_thread

_ids = itertools.count(1)


def call(ws: ClientConnection, method: str, params: Any = None) -> dict[str, Any]:
    """Send a request; return its response (notifications before it are kept in ``ws.pending``)."""
    rid = next(_ids)
    ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}))
    while True:
        msg = json.loads(ws.recv(timeout=30))
        if msg.get("id") == rid:
            return msg
        ws.pending.append(msg)  # type: ignore[attr-defined]


def open_ws(server: RunningServer, **kwargs: Any) -> ClientConnection:
    ws = connect(server.ws_url, **kwargs)
    ws.pending = []  # type: ignore[attr-defined]
    return ws


def events_until(ws: ClientConnection, last_type: str, limit: int | None = None) -> list[dict]:
    got = []
    pending: list = ws.pending  # type: ignore[attr-defined]
    while True:
        msg = pending.pop(0) if pending else json.loads(ws.recv(timeout=30))
        if msg.get("method") != "events.event":
            continue
        event = msg["params"]["event"]
        got.append(event)
        if event["type"] == last_type or (limit is not None and len(got) >= limit):
            return got


def test_operations_over_json_rpc(server: RunningServer) -> None:
    with open_ws(server) as ws:
        tid = new_thread()
        sub = call(ws, "events.subscribe", {"thread_id": tid})
        assert "subscription" in sub["result"]
        started = call(ws, "runs.start", {"graph": "approval", "input": {}, "thread_id": tid})
        assert started["result"]["status"] == "running"
        events = events_until(ws, "interrupted")
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        got = call(ws, "threads.get", {"thread_id": tid})
        assert got["result"]["record"]["status"] == "interrupted"
        listed = call(ws, "threads.list", {"status": "interrupted"})
        assert tid in [t["thread_id"] for t in listed["result"]]
        resumed = call(ws, "threads.resume", {"thread_id": tid, "value": "approve"})
        assert resumed["result"]["run_id"] != started["result"]["run_id"]
        second = events_until(ws, "run_completed")
        assert {e["run_id"] for e in second} == {resumed["result"]["run_id"]}
        history = call(ws, "threads.history", {"thread_id": tid})["result"]
        forked = call(
            ws,
            "threads.fork",
            {"thread_id": tid, "checkpoint_id": history[-1]["checkpoint_id"]},
        )
        assert forked["result"]["forked_from"] == tid
        assert call(ws, "events.unsubscribe", sub["result"])["result"]


def test_cancel_and_errors(server: RunningServer) -> None:
    with open_ws(server) as ws:
        tid = new_thread()
        call(ws, "events.subscribe", {"thread_id": tid, "types": ["node_started", "run_cancelled"]})
        call(ws, "runs.start", {"graph": "blocker", "input": {}, "thread_id": tid})
        assert events_until(ws, "node_started")[-1]["source"] == "wait"
        assert call(ws, "threads.cancel", {"thread_id": tid})["result"]["status"] == "cancelled"
        assert events_until(ws, "run_cancelled")[-1]["type"] == "run_cancelled"
        missing = call(ws, "threads.get", {"thread_id": tid + "x"})["error"]
        assert missing["data"]["status"] == 404 and "did you mean" in missing["message"]
        bad = call(ws, "runs.start", {"input": {}})["error"]
        assert bad["code"] == -32602 and bad["data"]["fields"] == ["params.graph"]
        assert call(ws, "no.such", {})["error"]["code"] == -32601
        refused = call(ws, "runs.start", {"graph": "./graphs/approval.py:graph", "input": {}})
        assert refused["error"]["data"]["status"] == 403
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=30))["error"]["code"] == -32700


def test_reconnect_with_after_has_no_gap_and_no_duplicate(server: RunningServer) -> None:
    tid = new_thread()
    with open_ws(server) as ws:
        call(ws, "events.subscribe", {"thread_id": tid})
        call(ws, "runs.start", {"graph": "chain", "input": {}, "thread_id": tid})
        first = events_until(ws, "run_completed", limit=4)
    # Disconnected mid-run; pick up after the last event seen.
    with open_ws(server) as ws:
        last = first[-1]
        call(ws, "events.subscribe", {"thread_id": tid, "after": f"{last['run_id']}:{last['seq']}"})
        rest = events_until(ws, "run_completed")
    with open_ws(server) as ws:
        call(ws, "events.subscribe", {"thread_id": tid, "after_seq": 2})
        tail = events_until(ws, "run_completed")
    seqs = [e["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [e["seq"] for e in tail] == seqs[2:]
