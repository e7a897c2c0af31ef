"""Storage guarantees of the SurrealDB savers: safety of user input, layout,
migrations, locking, errors and the DeltaChannel history override."""

from __future__ import annotations

import asyncio
import operator
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.graph import START, StateGraph

from checkpointers.surrealdb import MIGRATIONS, AsyncSurrealSaver, SurrealSaver
from sentient_graph.errors import ConfigError, SerializationFailed
from tests.integration.checkpointers.conftest import Driver, thread

REPO = Path(__file__).resolve().parents[3]

HOSTILE = [
    'it\'s "quoted"',
    "ünïcødé — 線程 🚀",
    "SELECT * FROM checkpoint; DELETE checkpoint;",
    "$thread_id",
    "t|a",
    "a:b]..[",
    "x" * 1024,
]


def config(thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> dict[str, Any]:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint_with(values: dict[str, Any], versions: dict[str, Any]) -> dict[str, Any]:
    cp = empty_checkpoint()
    cp["channel_values"] = values
    cp["channel_versions"] = versions
    return cp


@pytest.mark.parametrize("thread_id", HOSTILE, ids=range(len(HOSTILE)))
def test_user_input_round_trips_as_bound_parameters(
    sync_saver: SurrealSaver, thread_id: str
) -> None:
    ns = f"ns|{thread_id[:40]}"
    cp = checkpoint_with({"v": thread_id}, {"v": 1})
    metadata = {"source": "input", "step": -1, thread_id[:64]: thread_id}
    stored = sync_saver.put(config(thread_id, ns), cp, metadata, {"v": 1})
    sync_saver.put_writes(stored, [("v", thread_id)], task_id=thread_id[:100])
    got = sync_saver.get_tuple(config(thread_id, ns))
    assert got is not None
    assert got.config["configurable"] == {
        "thread_id": thread_id,
        "checkpoint_ns": ns,
        "checkpoint_id": cp["id"],
    }
    assert got.checkpoint["channel_values"] == {"v": thread_id}
    assert got.metadata[thread_id[:64]] == thread_id
    assert got.pending_writes == [(thread_id[:100], "v", thread_id)]
    listed = list(sync_saver.list(None, filter={thread_id[:64]: thread_id}))
    assert [t.config["configurable"]["thread_id"] for t in listed] == [thread_id]
    sync_saver.delete_thread(thread_id)
    assert sync_saver.get_tuple(config(thread_id, ns)) is None


def test_joined_keys_do_not_collide(sync_saver: SurrealSaver) -> None:
    # "t|a" + "b" and "t" + "a|b" join to the same string; array ids keep them apart.
    one = checkpoint_with({"v": "one"}, {"v": 1})
    two = checkpoint_with({"v": "two"}, {"v": 1})
    sync_saver.put(config("t|a", "b"), one, {}, {"v": 1})
    sync_saver.put(config("t", "a|b"), two, {}, {"v": 1})
    a = sync_saver.get_tuple(config("t|a", "b"))
    b = sync_saver.get_tuple(config("t", "a|b"))
    assert a and b
    assert a.checkpoint["channel_values"] == {"v": "one"}
    assert b.checkpoint["channel_values"] == {"v": "two"}


def test_metadata_none_and_big_integers_survive_and_filter(sync_saver: SurrealSaver) -> None:
    big = 2**80 + 7
    cp = checkpoint_with({}, {})
    metadata = {"source": "loop", "step": 3, "owner": None, "big": big, "nested": {"k": None}}
    sync_saver.put(config("md"), cp, metadata, {})
    got = sync_saver.get_tuple(config("md"))
    assert got is not None
    assert got.metadata["owner"] is None and got.metadata["big"] == big
    assert got.metadata["nested"] == {"k": None}
    assert len(list(sync_saver.list(config("md"), filter={"owner": None}))) == 1
    assert len(list(sync_saver.list(config("md"), filter={"big": big}))) == 1
    assert list(sync_saver.list(config("md"), filter={"big": big + 1})) == []


def test_latest_pointer_only_moves_forward(sync_saver: SurrealSaver) -> None:
    first = checkpoint_with({"v": 1}, {"v": 1})
    second = checkpoint_with({"v": 2}, {"v": 2})
    assert first["id"] < second["id"]
    sync_saver.put(config("order"), second, {}, {"v": 2})
    sync_saver.put(config("order"), first, {}, {"v": 1})  # late arrival of an older checkpoint
    latest = sync_saver.get_tuple(config("order"))
    assert latest is not None and latest.checkpoint["id"] == second["id"]


def test_unchanged_channel_is_stored_once(sync_saver: SurrealSaver) -> None:
    class S(TypedDict, total=False):
        static: str
        steps: Annotated[list[int], operator.add]

    builder = StateGraph(S)
    previous = START
    for i in range(6):
        builder.add_node(f"n{i}", lambda s, i=i: {"steps": [i]})
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    graph = builder.compile(checkpointer=sync_saver)
    cfg = thread()
    graph.invoke({"static": "x" * 10_000, "steps": []}, cfg)
    thread_id = cfg["configurable"]["thread_id"]
    rows = sync_saver.conn.query(
        "SELECT channel, count() AS n FROM checkpoint_blob:[$t, NONE]..[$t, ..] GROUP BY channel",
        {"t": thread_id},
    )[0]
    counts = {r["channel"]: r["n"] for r in rows}
    assert counts["static"] == 1  # written at the first step, never again
    assert counts["steps"] == 7  # the input plus one new version per node
    assert len(list(sync_saver.list(cfg))) == 8


def test_setup_is_idempotent_and_upgrades_an_older_database(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    with SurrealSaver.from_conn_string(url, namespace="m", database="m") as saver:
        # An "old" database: only the first migration, and one checkpoint in it.
        saver.conn.query(
            "DEFINE TABLE IF NOT EXISTS checkpoint_migration SCHEMALESS;"
            + MIGRATIONS[0]
            + "UPSERT checkpoint_migration:0 SET version = 0;"
        )
        saver.put(config("old"), checkpoint_with({"v": 1}, {"v": 1}), {"step": 1}, {"v": 1})
    with SurrealSaver.from_conn_string(url, namespace="m", database="m") as saver:
        saver.setup()
        saver.setup()
        # The legacy table's v0 was adopted; the shared migrator applied the rest.
        recorded = saver.conn.query("RETURN migration:['checkpoint'].version")[0]
        assert recorded == len(MIGRATIONS)
        got = saver.get_tuple(config("old"))
        assert got is not None and got.checkpoint["channel_values"] == {"v": 1}
        indexes = saver.conn.query("INFO FOR TABLE checkpoint")[0]["indexes"]
        assert "checkpoint_run_id" in indexes


def test_checkpoints_written_before_v4_still_read_after_it(tmp_path: Path) -> None:
    # Up to v3 the engine derived each checkpoint's `blobs` links from `blob_keys`;
    # v4 drops that field definition and the client writes the links. Rows written
    # under v3 must keep theirs.
    url = f"surrealkv://{tmp_path / 'store'}"
    with SurrealSaver.from_conn_string(url, namespace="m", database="m") as saver:
        saver.conn.query("DEFINE TABLE IF NOT EXISTS checkpoint_migration SCHEMALESS;")
        for version in range(4):
            saver.conn.query(
                MIGRATIONS[version]
                + "UPSERT type::record('checkpoint_migration', $v) SET version = $v;",
                {"v": version},
            )
        saver.put(config("v3"), checkpoint_with({"v": "kept"}, {"v": 1}), {}, {"v": 1})
    with SurrealSaver.from_conn_string(url, namespace="m", database="m") as saver:
        saver.setup()
        assert "blobs" not in saver.conn.query("INFO FOR TABLE checkpoint")[0]["fields"]
        got = saver.get_tuple(config("v3"))
        assert got is not None and got.checkpoint["channel_values"] == {"v": "kept"}
        saver.put(config("v4"), checkpoint_with({"v": "new"}, {"v": 1}), {}, {"v": 1})
        got = saver.get_tuple(config("v4"))
        assert got is not None and got.checkpoint["channel_values"] == {"v": "new"}


def test_second_process_gets_a_one_line_error_naming_the_store(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    script = textwrap.dedent(
        f"""
        import sys
        from checkpointers.surrealdb import SurrealSaver
        from sentient_graph.errors import SentientError
        try:
            with SurrealSaver.from_conn_string({url!r}) as saver:
                saver.setup()
        except SentientError as exc:
            print(exc, file=sys.stderr)
            sys.exit(3)
        """
    )
    with SurrealSaver.from_conn_string(url) as saver:
        saver.setup()
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
        )
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(tmp_path / "store") in lines[0]
    assert "held by process" in lines[0] and "ws://" in lines[0]
    # Closed cleanly: the store opens again at once.
    with SurrealSaver.from_conn_string(url) as saver:
        saver.setup()


def test_savers_in_one_process_share_one_connection_to_a_store(tmp_path: Path) -> None:
    # The engine admits one connection per store even within a process: sync
    # and async savers on the same path share it.
    url = f"surrealkv://{tmp_path / 'store'}"

    async def read_async() -> Any:
        async with AsyncSurrealSaver.from_conn_string(url) as saver:
            return await saver.aget_tuple(config("shared"))

    with SurrealSaver.from_conn_string(url) as a, SurrealSaver.from_conn_string(url) as b:
        a.setup()
        a.put(config("shared"), checkpoint_with({"v": 1}, {"v": 1}), {}, {"v": 1})
        assert b.get_tuple(config("shared")) is not None
        got = asyncio.run(read_async())
        assert got is not None and got.checkpoint["channel_values"] == {"v": 1}
        with pytest.raises(ConfigError, match="namespace"):
            SurrealSaver.from_conn_string(url, namespace="other").__enter__()


def test_persistence_across_a_process_restart(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    script = textwrap.dedent(
        f"""
        from typing import TypedDict
        from langgraph.graph import START, StateGraph
        from langgraph.types import interrupt
        from checkpointers.surrealdb import SurrealSaver

        class S(TypedDict, total=False):
            draft: str
            decision: str

        builder = StateGraph(S)
        builder.add_node("draft", lambda s: {{"draft": "v1"}})
        builder.add_node("approve", lambda s: {{"decision": interrupt(s["draft"])}})
        builder.add_edge(START, "draft")
        builder.add_edge("draft", "approve")
        with SurrealSaver.from_conn_string({url!r}) as saver:
            saver.setup()
            builder.compile(checkpointer=saver).invoke({{}}, {{"configurable": {{"thread_id": "p"}}}})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    with SurrealSaver.from_conn_string(url) as saver:
        got = saver.get_tuple({"configurable": {"thread_id": "p"}})
        assert got is not None
        assert got.checkpoint["channel_values"]["draft"] == "v1"
        interrupts = [w for w in got.pending_writes if w[1] == "__interrupt__"]
        assert interrupts and interrupts[0][2][0].value == "v1"


def test_unserialisable_state_is_one_clear_error_and_loses_nothing(
    sync_saver: SurrealSaver,
) -> None:
    good = checkpoint_with({"v": 1}, {"v": 1})
    sync_saver.put(config("ser"), good, {}, {"v": 1})
    bad = checkpoint_with({"v": object()}, {"v": 2})
    with pytest.raises(SerializationFailed, match="channel 'v'"):
        sync_saver.put(config("ser"), bad, {}, {"v": 2})
    got = sync_saver.get_tuple(config("ser"))
    assert got is not None and got.checkpoint["id"] == good["id"]


@dataclass
class Secret:
    value: str


def test_deserialisation_matches_langgraph_default(sync_saver: SurrealSaver) -> None:
    # What InMemorySaver() revives, ours revives (with LangGraph's warning).
    cp = checkpoint_with({"v": Secret("x")}, {"v": 1})
    sync_saver.put(config("default"), cp, {}, {"v": 1})
    got = sync_saver.get_tuple(config("default"))
    assert got is not None and got.checkpoint["channel_values"]["v"] == Secret("x")


def test_strict_msgpack_env_is_honoured() -> None:
    # LangGraph reads LANGGRAPH_STRICT_MSGPACK once, at import: a fresh interpreter.
    script = textwrap.dedent(
        """
        from dataclasses import dataclass
        from langgraph.checkpoint.base import empty_checkpoint
        from langgraph.checkpoint.memory import InMemorySaver
        from checkpointers.surrealdb import SurrealSaver

        @dataclass
        class Secret:
            value: str

        def revived(saver):
            cp = empty_checkpoint()
            cp["channel_values"] = {"v": Secret("x")}
            cp["channel_versions"] = {"v": 1}
            config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            saver.put(config, cp, {}, {"v": 1})
            return isinstance(saver.get_tuple(config).checkpoint["channel_values"].get("v"), Secret)

        with SurrealSaver.from_conn_string("mem://", namespace="n", database="d") as ours:
            ours.setup()
            print(revived(InMemorySaver()), revived(ours))
        """
    )
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_strict_deserialisation_is_opt_in(sync_saver: SurrealSaver) -> None:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    strict = SurrealSaver(sync_saver.conn, serde=JsonPlusSerializer(allowed_msgpack_modules=None))
    strict.put(config("strict"), checkpoint_with({"v": Secret("x")}, {"v": 1}), {}, {"v": 1})
    got = strict.get_tuple(config("strict"))
    assert got is not None
    assert not isinstance(got.checkpoint["channel_values"].get("v"), Secret)
    allowed = strict.with_allowlist([(Secret.__module__, "Secret")])
    revived = allowed.get_tuple(config("strict"))
    assert revived is not None and revived.checkpoint["channel_values"]["v"] == Secret("x")


async def test_sync_methods_of_the_async_saver_refuse_the_event_loop(
    async_saver: AsyncSurrealSaver,
) -> None:
    with pytest.raises(asyncio.InvalidStateError, match="ainvoke"):
        async_saver.get_tuple(config("loop"))
    # From a worker thread they are served by the saver's loop.
    cp = checkpoint_with({"v": 1}, {"v": 1})
    await async_saver.aput(config("loop"), cp, {}, {"v": 1})
    got = await asyncio.to_thread(async_saver.get_tuple, config("loop"))
    assert got is not None and got.checkpoint["id"] == cp["id"]


def test_bad_url_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported SurrealDB URL scheme 'postgres'"):
        with SurrealSaver.from_conn_string("postgres://localhost/db"):
            pass
    with pytest.raises(ConfigError, match="not a SurrealDB URL"):
        with SurrealSaver.from_conn_string("localhost:8000"):
            pass


async def test_delta_channel_history_matches_the_reference_walk(driver: Driver) -> None:
    class S(TypedDict, total=False):
        log: Annotated[list[str], operator.add]
        other: str

    builder = StateGraph(S)
    previous = START
    for i in range(5):
        builder.add_node(f"n{i}", lambda s, i=i: {"log": [f"n{i}"], "other": str(i)})
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    graph = builder.compile(checkpointer=driver.saver)
    cfg = thread()
    await driver.invoke(graph, {"log": []}, cfg)
    history = await driver.history(graph, cfg)
    saver = driver.saver
    channels = ["log", "other", "nope"]
    checked = 0
    for snapshot in history:
        if driver.kind == "sync":
            ours = saver.get_delta_channel_history(config=snapshot.config, channels=channels)
            reference = BaseCheckpointSaver.get_delta_channel_history(
                saver, config=snapshot.config, channels=channels
            )
        else:
            ours = await saver.aget_delta_channel_history(config=snapshot.config, channels=channels)
            reference = await BaseCheckpointSaver.aget_delta_channel_history(
                saver, config=snapshot.config, channels=channels
            )
        assert ours == reference
        checked += bool(reference["log"]["writes"]) or "seed" in reference["log"]
    assert checked >= 4  # the comparison covered histories with seeds and writes


def test_a_killed_process_loses_no_committed_checkpoint(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    script = textwrap.dedent(
        f"""
        import os, signal
        from langgraph.checkpoint.base import empty_checkpoint
        from checkpointers.surrealdb import SurrealSaver

        saver_cm = SurrealSaver.from_conn_string({url!r})
        saver = saver_cm.__enter__()
        saver.setup()
        cfg = {{"configurable": {{"thread_id": "killed", "checkpoint_ns": ""}}}}
        for i in range(200):
            cp = empty_checkpoint()
            cp["channel_values"] = {{"i": i}}
            cp["channel_versions"] = {{"i": i + 1}}
            saver.put(cfg, cp, {{"step": i}}, {{"i": i + 1}})
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush, no atexit
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == -9, done.stderr
    # The lock died with the process: the store opens at once, with every commit.
    with SurrealSaver.from_conn_string(url) as saver:
        listed = list(saver.list({"configurable": {"thread_id": "killed"}}))
        assert len(listed) == 200
        latest = saver.get_tuple({"configurable": {"thread_id": "killed"}})
        assert latest is not None and latest.checkpoint["channel_values"] == {"i": 199}


def test_engine_options_in_the_url_do_not_change_the_store_path(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with SurrealSaver.from_conn_string(f"surrealkv://{store}") as saver:
        saver.setup()
        saver.put(config("opts"), checkpoint_with({"v": 1}, {"v": 1}), {}, {"v": 1})
    with SurrealSaver.from_conn_string(f"surrealkv://{store}?sync=never") as saver:
        assert saver.get_tuple(config("opts")) is not None
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["store"]


def test_keep_latest_refuses_threads_that_use_a_delta_channel(sync_saver: SurrealSaver) -> None:
    plain = checkpoint_with({"v": 1}, {"v": 1})
    sync_saver.put(config("plain"), plain, {"step": 1}, {"v": 1})
    sync_saver.put(config("plain"), checkpoint_with({"v": 2}, {"v": 2}), {"step": 2}, {"v": 2})
    delta = checkpoint_with({"v": 1}, {"v": 1})
    sync_saver.put(config("delta"), delta, {"counters_since_delta_snapshot": {"v": 3}}, {"v": 1})
    with pytest.raises(NotImplementedError, match=r"DeltaChannel.*: delta"):
        sync_saver.prune(["plain", "delta"], strategy="keep_latest")
    assert len(list(sync_saver.list(config("plain")))) == 2  # refused before touching anything
    sync_saver.prune(["plain"], strategy="keep_latest")
    assert len(list(sync_saver.list(config("plain")))) == 1
    sync_saver.prune(["delta"], strategy="delete")
    assert sync_saver.get_tuple(config("delta")) is None


async def test_rows_written_before_values_were_kept_inline_still_read(driver: Driver) -> None:
    saver = driver.saver
    sync = driver.kind == "sync"

    async def run(name: str, *args: Any) -> Any:
        if sync:
            return getattr(saver, name)(*args)
        return await getattr(saver, "a" + name)(*args)

    async def listed() -> list[Any]:
        if sync:
            return [t.checkpoint["channel_values"] for t in saver.list(config("old-rows"))]
        return [t.checkpoint["channel_values"] async for t in saver.alist(config("old-rows"))]

    first = checkpoint_with({"a": "one", "b": "kept"}, {"a": 1, "b": 1})
    second = checkpoint_with({"a": "two", "b": "kept"}, {"a": 2, "b": 1})
    cfg = await run("put", config("old-rows"), first, {"step": 1}, {"a": 1, "b": 1})
    await run("put", cfg, second, {"step": 2}, {"a": 2})
    expected = [{"a": "two", "b": "kept"}, {"a": "one", "b": "kept"}]
    assert await listed() == expected
    # As rows looked before: no inline values, every channel value linked.
    old_shape = (
        "UPDATE checkpoint SET inline = NONE, blobs = blob_keys.map(|$k| "
        "type::record('checkpoint_blob', [thread_id, checkpoint_ns, $k[0], $k[1]])) "
        "WHERE thread_id = 'old-rows' RETURN NONE"
    )
    if sync:
        saver.conn.query(old_shape)
    else:
        await saver.conn.query(old_shape)
    assert await listed() == expected
    latest = await run("get_tuple", config("old-rows"))
    assert latest is not None and latest.checkpoint["channel_values"] == expected[0]
