"""Webhook delivery against a real local HTTP server: retries, backoff, dead letters."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sentient_graph.db import AsyncConnection
from sentient_graph.events import Event, EventBus, EventType, RunEmitter, WebhookDelivery


class Receiver:
    """An HTTP endpoint whose answers the test scripts: ``/flaky`` fails twice, ``/gone`` always 410."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, object]]] = []
        self.calls: dict[str, int] = {}
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    n = receiver.calls[self.path] = receiver.calls.get(self.path, 0) + 1
                status = 200
                if self.path == "/flaky" and n % 3 != 0:
                    status = 503
                elif self.path == "/gone":
                    status = 410
                elif self.path == "/down":
                    status = 500
                if status == 200:
                    with receiver.lock:
                        receiver.received.append((self.path, json.loads(body)))
                        receiver.lock.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until ``count`` bodies arrived (run it in a thread)."""
        with self.lock:
            return self.lock.wait_for(lambda: len(self.received) >= count, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _event(seq: int) -> Event:
    return Event(type="node_completed", thread_id="t", run_id="r", seq=seq, source="a")


async def test_retries_then_delivers(conn: AsyncConnection, receiver: Receiver) -> None:
    async with WebhookDelivery(conn, receiver.url + "/flaky", backoff=0.01) as hook:
        await hook.setup()
        assert await hook.deliver(_event(1)) is True
        assert receiver.calls["/flaky"] == 3
        assert await hook.dead_letters() == []


async def test_gives_up_into_the_dead_letter_table(
    conn: AsyncConnection, receiver: Receiver
) -> None:
    async with WebhookDelivery(conn, receiver.url + "/down", max_attempts=3, backoff=0.01) as hook:
        await hook.setup()
        assert await hook.deliver(_event(1)) is False
        assert receiver.calls["/down"] == 3
        # A 4xx other than 429 is final: one attempt only.
        gone = WebhookDelivery(conn, receiver.url + "/gone", max_attempts=5, backoff=0.01)
        assert await gone.deliver(_event(2)) is False
        await gone.aclose()
        assert receiver.calls["/gone"] == 1
        letters = await hook.dead_letters()
        assert [(d.event.seq, d.attempts, d.status) for d in letters] == [(1, 3, 500), (2, 1, 410)]
        assert letters[0].error == "HTTP 500"
        # The endpoint recovers: redelivery empties this URL's part of the table.
        hook.callback_url = receiver.url + "/ok"
        assert await hook.redeliver_dead_letters() == 0  # other URL now, nothing of its own
        hook.callback_url = receiver.url + "/down"
        assert await hook.redeliver_dead_letters() == 0  # still failing: replaced, not duplicated
        assert len(await hook.dead_letters()) == 2


async def test_attached_to_a_bus_delivers_in_order(
    conn: AsyncConnection, receiver: Receiver
) -> None:
    bus = await EventBus.open(conn)
    hook = WebhookDelivery(conn, receiver.url + "/ok", backoff=0.01)
    try:
        await hook.attach(bus, "t", types=[EventType.NODE_COMPLETED, EventType.RUN_COMPLETED])
        emitter = RunEmitter(bus, thread_id="t", run_id="r")
        for node in ("a", "b", "c"):
            await emitter.emit(EventType.NODE_STARTED, source=node)
            await emitter.emit(EventType.NODE_COMPLETED, source=node)
        await emitter.emit(EventType.RUN_COMPLETED)
        assert await asyncio.to_thread(receiver.wait_for, 4, 10.0)
    finally:
        await hook.aclose()
        await bus.aclose()
    assert [(body["seq"], body["type"], body["source"]) for _, body in receiver.received] == [
        (2, "node_completed", "a"),
        (4, "node_completed", "b"),
        (6, "node_completed", "c"),
        (7, "run_completed", None),
    ]
