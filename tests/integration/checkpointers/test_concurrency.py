"""Concurrent writers on one embedded store: nothing lost, conflicts retried."""

from __future__ import annotations

import asyncio
from pathlib import Path

from langgraph.checkpoint.base import empty_checkpoint

from checkpointers.surrealdb import AsyncSurrealSaver


async def test_concurrent_puts_and_writes_to_one_thread_lose_nothing(tmp_path: Path) -> None:
    async with AsyncSurrealSaver.from_conn_string(f"surrealkv://{tmp_path / 'store'}") as saver:
        await saver.setup()
        base = {"configurable": {"thread_id": "busy", "checkpoint_ns": ""}}
        checkpoints = []
        for i in range(60):
            cp = empty_checkpoint()
            cp["channel_values"] = {"v": i}
            cp["channel_versions"] = {"v": i + 1}
            checkpoints.append(cp)

        async def put(i: int) -> None:
            stored = await saver.aput(base, checkpoints[i], {"step": i}, {"v": i + 1})
            await saver.aput_writes(stored, [("v", i), ("w", -i)], task_id=f"task-{i}")

        # Every put moves the same latest pointer: the engine reports conflicts
        # on it as retryable, and they must all land.
        await asyncio.gather(*(put(i) for i in range(60)))
        listed = [t async for t in saver.alist(base)]
        assert len(listed) == 60
        assert all(len(t.pending_writes) == 2 for t in listed)
        latest = await saver.aget_tuple(base)
        assert latest is not None
        assert latest.checkpoint["id"] == max(cp["id"] for cp in checkpoints)
