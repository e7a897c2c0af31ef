"""Group commit of the async saver: writes issued in one event-loop tick share a commit.

Each test checks what a caller can see (what is stored, what each call
returns or raises); the commit count is read from a saver that counts the
requests it sends, over the real engine.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import WRITES_IDX_MAP

from checkpointers.surrealdb import AsyncSurrealSaver
from checkpointers.surrealdb.queries import BATCHES_PER_TRANSACTION
from sentient_graph.db import connect
from sentient_graph.errors import StoreUnavailable
from tests.integration.checkpointers.conftest import open_async_saver
from tests.integration.checkpointers.test_saver import checkpoint_with, config


class CountingSaver(AsyncSurrealSaver):
    """The real saver on a real connection; it also counts the write requests sent."""

    commits = 0

    def __init__(self, conn: Any, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        query, query_now = self.conn.query, self.conn.query_now

        def counted(sql: str) -> None:
            if "INSERT" in sql or "UPSERT" in sql:
                self.commits += 1

        async def query_counted(sql: str, vars: Any = None, **kw: Any) -> list[Any]:
            counted(sql)
            return await query(sql, vars, **kw)

        def query_now_counted(sql: str, vars: Any = None) -> list[Any] | None:
            result = query_now(sql, vars)
            if result is not None:
                counted(sql)
            return result

        self.conn.query = query_counted  # type: ignore[method-assign]
        self.conn.query_now = query_now_counted  # type: ignore[method-assign]


@pytest.fixture
async def saver() -> AsyncIterator[CountingSaver]:
    async with open_async_saver(CountingSaver) as opened:
        opened.commits = 0
        yield opened


async def put_parent(saver: AsyncSurrealSaver, thread_id: str) -> dict[str, Any]:
    cp = checkpoint_with({"v": 0}, {"v": 1})
    return await saver.aput(config(thread_id), cp, {}, {"v": 1})  # type: ignore[arg-type]


async def test_parallel_task_writes_share_one_commit(saver: CountingSaver) -> None:
    parent = await put_parent(saver, "fan-out")
    saver.commits = 0
    await asyncio.gather(
        *(saver.aput_writes(parent, [("v", i)], f"task-{i}") for i in range(3))  # type: ignore[arg-type]
    )
    assert saver.commits == 1
    stored = await saver.aget_tuple(parent)  # type: ignore[arg-type]
    assert stored is not None
    assert sorted((w[0], w[2]) for w in stored.pending_writes or []) == [
        ("task-0", 0),
        ("task-1", 1),
        ("task-2", 2),
    ]


async def test_merged_writes_keep_first_wins_and_last_wins(saver: CountingSaver) -> None:
    parent = await put_parent(saver, "merge")
    error = next(iter(WRITES_IDX_MAP))
    await asyncio.gather(
        saver.aput_writes(parent, [("v", "first"), (error, "one")], "task"),  # type: ignore[arg-type]
        saver.aput_writes(parent, [("v", "second"), (error, "two")], "task"),  # type: ignore[arg-type]
    )
    stored = await saver.aget_tuple(parent)  # type: ignore[arg-type]
    assert stored is not None
    by_channel = {channel: value for _task, channel, value in stored.pending_writes or []}
    assert by_channel == {"v": "first", error: "two"}  # regular first-wins, special last-wins


async def test_the_latest_pointer_takes_the_newest_of_a_group(saver: CountingSaver) -> None:
    older = checkpoint_with({"v": 1}, {"v": 1})
    newer = checkpoint_with({"v": 2}, {"v": 2})
    assert older["id"] < newer["id"]
    await asyncio.gather(
        saver.aput(config("pointer"), newer, {}, {"v": 2}),  # type: ignore[arg-type]
        saver.aput(config("pointer"), older, {}, {"v": 1}),  # type: ignore[arg-type]
    )
    assert saver.commits == 1
    latest = await saver.aget_tuple(config("pointer"))  # type: ignore[arg-type]
    assert latest is not None and latest.checkpoint["id"] == newer["id"]


async def test_a_large_group_is_one_request_of_several_transactions(
    saver: CountingSaver,
) -> None:
    # More writers than one transaction holds: still one request, every write
    # stored, and merging stays per key across the transactions' boundaries.
    parent = await put_parent(saver, "large")
    error = next(iter(WRITES_IDX_MAP))
    writers = 2 * BATCHES_PER_TRANSACTION + 3
    cps = sorted(
        (checkpoint_with({"v": i}, {"v": i + 2}) for i in range(writers)), key=lambda c: c["id"]
    )
    saver.commits = 0
    sent: list[str] = []
    query_now = saver.conn.query_now

    def recorded(sql: str, vars: Any = None) -> list[Any] | None:
        sent.append(sql)
        return query_now(sql, vars)

    saver.conn.query_now = recorded  # type: ignore[method-assign]
    await asyncio.gather(
        # The newest checkpoint first: the pointer must still end on it.
        *(saver.aput(config("large"), cp, {}, {"v": 1}) for cp in reversed(cps)),  # type: ignore[arg-type]
        *(
            saver.aput_writes(parent, [("v", f"w{i}"), (error, f"e{i}")], "same-task")  # type: ignore[arg-type]
            for i in range(writers)
        ),
        *(saver.aput(config(f"large-{i}"), cp, {}, {"v": 1}) for i, cp in enumerate(cps)),  # type: ignore[arg-type]
    )
    assert saver.commits == 1
    assert sent[-1].count("BEGIN TRANSACTION;") > 1
    latest = await saver.aget_tuple(config("large"))  # type: ignore[arg-type]
    assert latest is not None and latest.checkpoint["id"] == cps[-1]["id"]
    for i, cp in enumerate(cps):
        stored = await saver.aget_tuple(config(f"large-{i}"))  # type: ignore[arg-type]
        assert stored is not None and stored.checkpoint["id"] == cp["id"]
    with_writes = await saver.aget_tuple(parent)  # type: ignore[arg-type]
    assert with_writes is not None
    by_channel = {channel: value for _task, channel, value in with_writes.pending_writes or []}
    last = f"e{writers - 1}"
    assert by_channel == {"v": "w0", error: last}  # first-wins and last-wins across transactions


async def test_a_read_sees_writes_issued_before_it(saver: CountingSaver) -> None:
    cp = checkpoint_with({"v": 7}, {"v": 1})
    pending = asyncio.ensure_future(saver.aput(config("ryw"), cp, {}, {"v": 1}))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the put is issued and waits for its commit
    assert not pending.done()
    seen = await saver.aget_tuple(config("ryw"))  # type: ignore[arg-type]
    assert seen is not None and seen.checkpoint["id"] == cp["id"]
    await pending


async def test_a_cancelled_writer_does_not_lose_the_others(saver: CountingSaver) -> None:
    parent = await put_parent(saver, "cancel")
    tasks = [
        asyncio.ensure_future(saver.aput_writes(parent, [("v", i)], f"task-{i}"))  # type: ignore[arg-type]
        for i in range(3)
    ]
    await asyncio.sleep(0)  # all three wait in the same group
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert done[0] is None and done[2] is None
    stored = await saver.aget_tuple(parent)  # type: ignore[arg-type]
    assert stored is not None
    assert {w[0] for w in stored.pending_writes or []} >= {"task-0", "task-2"}


async def test_a_failed_commit_is_raised_to_every_writer_of_the_group() -> None:
    async with AsyncSurrealSaver.from_conn_string(
        "mem://", namespace="test", database=uuid.uuid4().hex
    ) as saver:
        await saver.setup()
        # A schema that refuses the value makes the shared commit fail.
        await saver.conn.query(
            "DEFINE TABLE OVERWRITE checkpoint SCHEMAFULL;"
            "DEFINE FIELD checkpoint ON checkpoint TYPE int;"
        )
        results = await asyncio.gather(
            *(
                saver.aput(
                    config(f"refused-{i}"), checkpoint_with({"v": i}, {"v": 1}), {}, {"v": 1}
                )  # type: ignore[arg-type]
                for i in range(2)
            ),
            return_exceptions=True,
        )
    assert all(isinstance(r, StoreUnavailable) for r in results), results
    assert str(results[0]) == str(results[1])


async def test_closing_the_saver_waits_for_issued_writes(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    cp = checkpoint_with({"v": 1}, {"v": 1})
    async with AsyncSurrealSaver.from_conn_string(url, namespace="t", database="t") as saver:
        await saver.setup()
        issued = asyncio.ensure_future(saver.aput(config("close"), cp, {}, {"v": 1}))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        assert not issued.done()
    assert issued.done() and issued.exception() is None
    async with AsyncSurrealSaver.from_conn_string(url, namespace="t", database="t") as reopened:
        stored = await reopened.aget_tuple(config("close"))  # type: ignore[arg-type]
    assert stored is not None and stored.checkpoint["id"] == cp["id"]


def test_a_write_abandoned_with_its_event_loop_does_not_stall_another_loop() -> None:
    # The sync methods of the async saver can run on loops of their own; a loop that
    # stops before its commit starts must not leave its group behind for the next one.
    first = asyncio.new_event_loop()
    saver = first.run_until_complete(_open_saver())
    task = first.create_task(
        saver.aput(config("abandoned"), checkpoint_with({"v": 1}, {"v": 1}), {}, {"v": 1})
    )  # type: ignore[arg-type]
    first.call_soon(first.stop)
    first.run_forever()  # one tick: the put waits for a commit that never starts
    assert not task.done()
    task.cancel()
    first.close()

    async def put_on_a_new_loop() -> None:
        cp = checkpoint_with({"v": 2}, {"v": 2})
        await asyncio.wait_for(saver.aput(config("next-loop"), cp, {}, {"v": 2}), 10)  # type: ignore[arg-type]
        stored = await saver.aget_tuple(config("next-loop"))  # type: ignore[arg-type]
        assert stored is not None and stored.checkpoint["id"] == cp["id"]
        await saver.conn.aclose()

    asyncio.run(put_on_a_new_loop())


async def _open_saver() -> AsyncSurrealSaver:
    conn = await connect("mem://", namespace="test", database=uuid.uuid4().hex)
    saver = AsyncSurrealSaver(conn)
    await saver.setup()
    return saver
