"""LangGraph's official conformance suite, run against our savers.

The suite calls the async methods. ``AsyncSurrealSaver`` runs on ``mem://``
and on ``surrealkv://``; ``SurrealSaver`` runs through ``SyncServed``, an
adapter whose async methods call the saver's *sync* methods, so the suite
exercises the synchronous code path.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES

from checkpointers.surrealdb import AsyncSurrealSaver, SurrealSaver


class SyncServed(SurrealSaver):
    """Serves the suite's async calls with SurrealSaver's sync methods, inline."""

    async def aget_tuple(self, config):  # type: ignore[no-untyped-def]
        return self.get_tuple(config)

    async def alist(self, config, *, filter=None, before=None, limit=None):  # type: ignore[no-untyped-def]
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config, checkpoint, metadata, new_versions):  # type: ignore[no-untyped-def]
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config, writes, task_id, task_path=""):  # type: ignore[no-untyped-def]
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.delete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.copy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.prune(thread_ids, strategy=strategy)


def _registered(kind: str, tmp_path: Path) -> Any:
    def url() -> str:
        if kind.endswith("mem"):
            return "mem://"
        return f"surrealkv://{tmp_path / uuid.uuid4().hex}"

    if kind.startswith("async"):

        @checkpointer_test(name=f"AsyncSurrealSaver[{kind}]")
        async def factory() -> AsyncIterator[AsyncSurrealSaver]:
            async with AsyncSurrealSaver.from_conn_string(
                url(), namespace="conformance", database=uuid.uuid4().hex
            ) as saver:
                await saver.setup()
                yield saver

        return factory

    @checkpointer_test(name=f"SurrealSaver[{kind}]")
    async def sync_factory() -> AsyncIterator[SurrealSaver]:
        with SyncServed.from_conn_string(
            url(), namespace="conformance", database=uuid.uuid4().hex
        ) as saver:
            saver.setup()
            yield saver

    return sync_factory


@pytest.mark.parametrize("kind", ["async-mem", "async-surrealkv", "sync-mem", "sync-surrealkv"])
async def test_conformance_suite(kind: str, tmp_path: Path) -> None:
    report = await validate(_registered(kind, tmp_path))
    detected = {name for name, result in report.results.items() if result.detected}
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    passed = sum(r.tests_passed for r in report.results.values())
    failed = sum(r.tests_failed for r in report.results.values())
    assert detected == {c.value for c in ALL_CAPABILITIES}, detected
    assert failed == 0, failures
    assert passed == 81
