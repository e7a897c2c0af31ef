"""The Redis outbox on its own: calls that leave before earlier replies are read, and
what happens to them when the connection or the script is lost on the way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
import redis
import structlog

from sentient_graph.events import Event, EventBus, EventType
from sentient_graph.events.model import events_from_json
from sentient_graph.events.outbox import RedisOutbox, new_redis_client, stream_name
from tests.integration.events.events_testkit import (
    RedisServer,
    collect_until,
    new_thread_id,
    stream_seqs_while_the_loop_is_held,
)


def _events(thread: str, seqs: range) -> list[Event]:
    return [
        Event(type=EventType.CUSTOM, thread_id=thread, run_id="r", seq=seq, payload={"n": seq})
        for seq in seqs
    ]


@contextlib.asynccontextmanager
async def _idle_outbox(redis_url: str, prefix: str, thread: str) -> AsyncIterator[RedisOutbox]:
    """An outbox that has sent seq 1 (script loaded, connected) and waits for work."""
    client = new_redis_client(redis_url, socket_timeout=None)
    outbox = RedisOutbox(
        client, prefix=prefix, stream_maxlen=100, stream_ttl=60, max_outbox=1000, log=None
    )
    try:
        outbox.add(_events(thread, range(1, 2)), [])
        async with asyncio.timeout(10):
            await outbox.drained()
        yield outbox
    finally:
        await outbox.aclose(flush_timeout=1.0)
        await client.aclose()


async def _send_one_call_each(outbox: RedisOutbox, events: list[Event]) -> None:
    """One call per event, sent from this task without a turn of the event loop,
    so the outbox task reads no reply in between."""
    for event in events:
        outbox.add([event], [])
        await outbox.send_now(pipelined=True)


def _stream_seqs(client: redis.Redis, prefix: str, thread: str) -> list[int]:
    """Every event's seq in the thread's stream, entry by entry (an entry holds a call's events)."""
    return [
        event.seq
        for _, fields in client.xrange(stream_name(prefix, thread))
        for event in events_from_json(fields[b"e"])
    ]


async def test_calls_leave_while_earlier_ones_wait_for_their_replies(
    redis_url: str, prefix: str
) -> None:
    """Three calls sent one after another, before any reply is read: while this
    thread blocks the event loop, Redis has all three."""
    thread = new_thread_id()
    plain = redis.Redis.from_url(redis_url)
    try:
        async with _idle_outbox(redis_url, prefix, thread) as outbox:
            [(first, _)] = plain.xrange(stream_name(prefix, thread))
            await _send_one_call_each(outbox, _events(thread, range(2, 5)))
            stream = stream_name(prefix, thread)
            assert stream_seqs_while_the_loop_is_held(plain, stream, first, 3) == [2, 3, 4]
            async with asyncio.timeout(10):
                await outbox.drained()  # and the three replies are read, in order
        assert _stream_seqs(plain, prefix, thread) == [1, 2, 3, 4]
    finally:
        plain.close()


async def test_calls_on_the_wire_go_again_when_the_connection_is_lost(
    private_redis: RedisServer, prefix: str
) -> None:
    """Redis holds the outbox's three calls unanswered (``CLIENT PAUSE``) and then
    drops the connection (``CLIENT KILL``): all three go again, on a new connection;
    the follower gets every event once, and the stream holds each once."""
    thread = new_thread_id()
    plain = redis.Redis.from_url(private_redis.url)
    follower = await EventBus.open(None, redis_url=private_redis.url, prefix=prefix)
    try:
        async with (
            follower.subscribe(thread) as sub,
            _idle_outbox(private_redis.url, prefix, thread) as outbox,
        ):
            assert plain.client_pause(10_000, all=False)  # write commands wait
            await _send_one_call_each(outbox, _events(thread, range(2, 5)))
            assert plain.client_kill_filter(_type="normal") >= 1
            assert plain.client_unpause()
            outbox.add(_events(thread, range(5, 6)), [])
            async with asyncio.timeout(10):
                await outbox.drained()
            events = await collect_until(sub, lambda e: e.seq == 5)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert _stream_seqs(plain, prefix, thread) == [1, 2, 3, 4, 5]
    finally:
        plain.close()
        await follower.aclose()


async def test_calls_on_the_wire_that_meet_a_forgotten_script_go_again_once(
    private_redis: RedisServer, prefix: str
) -> None:
    """``SCRIPT FLUSH`` before three calls leave: each meets NOSCRIPT; the outbox
    loads the script again and sends the three events once more, once each."""
    thread = new_thread_id()
    plain = redis.Redis.from_url(private_redis.url)
    try:
        async with _idle_outbox(private_redis.url, prefix, thread) as outbox:
            assert plain.script_flush()
            await _send_one_call_each(outbox, _events(thread, range(2, 5)))
            async with asyncio.timeout(10):
                await outbox.drained()
            outbox.add(_events(thread, range(5, 6)), [])
            async with asyncio.timeout(10):
                await outbox.drained()
        assert _stream_seqs(plain, prefix, thread) == [1, 2, 3, 4, 5]
    finally:
        plain.close()


async def test_nobody_sends_on_the_connection_while_the_outbox_reconnects(
    private_redis: RedisServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox task reconnects after a dropped connection, and Redis does not
    answer the handshake (frozen as it starts). A followed node start's send in
    that window must wait: its bytes would go before the task's own call, and each
    call would be settled by the other's reply (the stream would hold 3 before 2)."""
    thread = new_thread_id()
    plain = redis.Redis.from_url(private_redis.url)
    try:
        async with _idle_outbox(private_redis.url, prefix, thread) as outbox:
            conn = outbox._conn
            assert conn is not None
            handshake = conn.on_connect_check_health
            handshaking = asyncio.Event()

            async def frozen_handshake(**kwargs: Any) -> None:
                monkeypatch.setattr(conn, "on_connect_check_health", handshake)  # once
                private_redis.freeze()
                handshaking.set()
                await handshake(**kwargs)

            monkeypatch.setattr(conn, "on_connect_check_health", frozen_handshake)
            assert plain.client_kill_filter(_type="normal") >= 1
            outbox.add(_events(thread, range(2, 3)), [])  # meets the dead socket, reconnects
            try:
                async with asyncio.timeout(10):
                    await handshaking.wait()
                await _send_one_call_each(outbox, _events(thread, range(3, 4)))
            finally:
                private_redis.thaw()
            async with asyncio.timeout(10):
                await outbox.drained()
        assert _stream_seqs(plain, prefix, thread) == [1, 2, 3]
    finally:
        plain.close()


@pytest.mark.usefixtures("default_structlog")
async def test_a_refused_call_is_waited_out_like_an_outage(
    private_redis: RedisServer, prefix: str
) -> None:
    """Redis refuses the script call with an error reply that is not NOSCRIPT (out
    of memory here): the outbox logs it, keeps the events and sends them once Redis
    takes them again."""
    thread = new_thread_id()
    plain = redis.Redis.from_url(private_redis.url)
    refused = asyncio.Event()

    def watch(_: Any, __: str, entry: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if entry.get("event") == "events.redis_publish_failed":
            refused.set()
        return entry

    try:
        async with _idle_outbox(private_redis.url, prefix, thread) as outbox:
            with structlog.testing.capture_logs(processors=[watch]) as logs:
                assert plain.config_set("maxmemory-policy", "noeviction")
                assert plain.config_set("maxmemory", 1)
                try:
                    outbox.add(_events(thread, range(2, 3)), [])
                    async with asyncio.timeout(10):
                        await refused.wait()
                finally:
                    assert plain.config_set("maxmemory", 0)
                async with asyncio.timeout(10):
                    await outbox.drained()
        assert "maxmemory" in logs[0]["error"]
        assert _stream_seqs(plain, prefix, thread) == [1, 2]
    finally:
        plain.close()


async def test_a_connection_of_its_own_from_every_redis_py_pool() -> None:
    """redis-py 5.0-5.2 want a command name for ``get_connection``; later ones take none."""
    from sentient_graph.events.redis.client import pool_connection

    class NamedPool:  # redis-py 5.0-5.2
        async def get_connection(self, command_name: str, *keys: Any, **options: Any) -> Any:
            return ("named", command_name)

    class PlainPool:  # redis-py 5.3 and later
        async def get_connection(self, command_name: Any = None, *keys: Any, **options: Any) -> Any:
            if command_name is not None:
                raise AssertionError("a command name is deprecated here")
            return ("plain",)

    assert await pool_connection(NamedPool()) == ("named", "EVALSHA")  # type: ignore[arg-type]
    assert await pool_connection(PlainPool()) == ("plain",)  # type: ignore[arg-type]
