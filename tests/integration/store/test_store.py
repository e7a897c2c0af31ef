"""The store's behaviour beyond what InMemoryStore shows: bad input, TTL, vectors, graphs."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from langgraph.store.base import BaseStore, InvalidNamespaceError, PutOp
from typing_extensions import TypedDict

from sentient_graph.db import connect_sync
from sentient_graph.errors import ConfigError, InvalidInput, StoreUnavailable
from sentient_graph.store import AsyncSurrealStore, HashingEmbeddings, Hnsw, SurrealStore
from tests.integration.store.conftest import DIMS, Driver, FakeClock, index_config, open_store

NS = ("agents", "researcher", "long_term")


async def _keys(driver: Driver, prefix: tuple[str, ...] = (), **kw: Any) -> list[str]:
    kw.setdefault("refresh_ttl", False)
    return sorted(i.key for i in await driver.call("search", prefix, limit=100, **kw))


# -- bad input: one line, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "words"),
    [((), "cannot be empty"), (("a", "b.c"), "contains '.'"), (("a", ""), "non-empty")],
)
async def test_a_bad_namespace_is_refused_and_nothing_of_the_batch_is_written(
    driver: Driver, namespace: tuple[str, ...], words: str
) -> None:
    ops = [PutOp(("ok",), "k", {"text": "fine"}), PutOp(namespace, "k", {"text": "bad"})]
    with pytest.raises(InvalidNamespaceError, match=words) as caught:
        await driver.call("batch", ops)
    assert "\n" not in str(caught.value)
    assert await driver.call("get", ("ok",), "k") is None
    assert await driver.call("list_namespaces") == []


async def test_a_vector_of_the_wrong_dimension_is_refused_and_nothing_is_written(
    clock: FakeClock,
) -> None:
    def embed(texts: list[str]) -> list[list[float]]:
        return [[1.0] * (DIMS + 1) for _ in texts]

    with open_store("sync", index={"dims": DIMS, "embed": embed, "fields": ["text"]}) as store:
        store.setup()
        with pytest.raises(InvalidInput, match=f"{DIMS + 1} dimensions.*'dims'. is {DIMS}"):
            store.put(NS, "k", {"text": "hello"})
        assert store.get(NS, "k") is None
        assert store.list_namespaces() == []


async def test_other_bad_input_is_refused(driver: Driver) -> None:
    with pytest.raises(InvalidInput, match="must be a dict"):
        await driver.call("batch", [PutOp(NS, "k", ["not", "a", "dict"])])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="unknown filter operator '\\$near'"):
        await driver.call("search", NS, filter={"n": {"$near": 1}})
    with pytest.raises(InvalidNamespaceError, match="langgraph"):
        await driver.call("put", ("langgraph", "x"), "k", {"a": 1})


async def test_setup_refuses_another_embedding_size_on_the_same_database() -> None:
    database = uuid.uuid4().hex
    with connect_sync("mem://", namespace="test", database=database) as conn:
        SurrealStore(conn, index=index_config(DIMS)).setup()
        with pytest.raises(ConfigError, match=f"have {DIMS} dimensions, index\\['dims'\\] is 32"):
            SurrealStore(conn, index=index_config(32)).setup()


async def test_a_store_used_before_setup_names_the_fix() -> None:
    with SurrealStore.from_conn_string("mem://", database=uuid.uuid4().hex) as store:
        with pytest.raises(StoreUnavailable, match=r"call store.setup\(\) once first"):
            store.search(NS)


# -- filters beyond InMemoryStore's operators ---------------------------------------


async def test_in_and_nin_and_comparisons_of_mixed_kinds(driver: Driver) -> None:
    values = {
        "a": {"n": 1, "s": "x"},
        "b": {"n": 2.5, "s": "y"},
        "c": {"n": "3", "s": None},
        "d": {"s": "z"},
    }
    for key, value in values.items():
        await driver.call("put", NS, key, value)
    assert await _keys(driver, filter={"n": {"$in": [1, "3"]}}) == ["a", "c"]
    assert await _keys(driver, filter={"n": {"$nin": [1, "3"]}}) == ["b", "d"]
    assert await _keys(driver, filter={"s": {"$in": [None, "y"]}}) == ["b", "c"]
    # Numbers compare with numbers only: a string or a missing field is never "less".
    assert await _keys(driver, filter={"n": {"$lt": 10}}) == ["a", "b"]
    assert await _keys(driver, filter={"s": {"$gte": "y"}}) == ["b", "d"]
    assert await _keys(driver, filter={"s": None}) == ["c"]
    assert await _keys(driver, filter={"n": None}) == ["d"]


# -- vectors -------------------------------------------------------------------------


async def test_an_overwrite_replaces_the_vectors(driver: Driver) -> None:
    await driver.call("put", NS, "k", {"text": "surreal vector index", "title": "cats"})
    hits = await driver.call("search", NS, query="surreal vector index")
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    await driver.call("put", NS, "k", {"text": "surreal vector index", "title": "cats"}, ["title"])
    hits = await driver.call("search", NS, query="surreal vector index")
    assert hits[0].score < 0.5
    await driver.call("put", NS, "k", {"text": "surreal vector index"}, False)
    hits = await driver.call("search", NS, query="surreal vector index")
    assert [(h.key, h.score) for h in hits] == [("k", None)]  # listed, not scored


async def test_every_element_of_an_array_field_is_a_vector_and_the_best_one_scores(
    clock: FakeClock,
) -> None:
    with open_store("sync", index=index_config(fields=["notes[*]"]), clock=clock) as store:
        store.setup()
        store.put(NS, "many", {"notes": ["granite stone", "river delta", "cloud atlas"]})
        store.put(NS, "one", {"notes": ["river stone"]})
        hits = store.search(NS, query="river delta")
        assert [h.key for h in hits] == ["many", "one"]
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)


async def test_another_writer_of_the_same_database_is_seen_by_the_next_search() -> None:
    # Two stores on one connection stand in for two processes on one server:
    # each has its own in-process index.
    with connect_sync("mem://", namespace="test", database=uuid.uuid4().hex) as conn:
        mine, theirs = (SurrealStore(conn, index=index_config()) for _ in range(2))
        mine.setup()
        mine.put(NS, "a", {"text": "apples"})
        assert [h.key for h in mine.search(NS, query="pears")] == ["a"]
        theirs.put(NS, "b", {"text": "pears"})
        theirs.delete(NS, "a")
        hits = mine.search(NS, query="pears")
        assert [(h.key, round(h.score, 5)) for h in hits] == [("b", 1.0)]
        mine.put(NS, "c", {"text": "more pears"})
        assert [h.key for h in mine.search(NS, query="pears")] == ["b", "c"]


async def test_surrealdb_holds_the_vectors_in_an_hnsw_index() -> None:
    with connect_sync("mem://", namespace="test", database=uuid.uuid4().hex) as conn:
        store = SurrealStore(conn, index=index_config(), hnsw=Hnsw(efc=100, m=8))
        store.setup()
        store.put(NS, "a", {"text": "apples"})
        store.put(NS, "b", {"text": "granite"})
        (info,) = conn.query("INFO FOR TABLE store_vector;")
        assert "HNSW DIMENSION 64 DIST COSINE TYPE F32 EFC 100 M 8" in str(info["indexes"])
        query = HashingEmbeddings(DIMS).embed_query("apples")
        (rows,) = conn.query(
            "SELECT VALUE key FROM store_vector WHERE embedding <|1, 40|> $q;", {"q": query}
        )
        assert rows == ["a"]


# -- TTL -----------------------------------------------------------------------------


async def test_ttl_expires_items_by_the_store_clock_and_reads_refresh_it(
    driver: Driver, clock: FakeClock
) -> None:
    await driver.call("put", NS, "short", {"text": "a"}, ttl=10)
    await driver.call("put", NS, "read", {"text": "b"}, ttl=10)
    await driver.call("put", NS, "kept", {"text": "c"})
    clock.advance(8)
    assert await driver.call("get", NS, "read") is not None  # refreshed: expires at 18
    clock.advance(4)
    assert await driver.sweep() == 1
    assert await _keys(driver) == ["kept", "read"]
    await driver.call("get", NS, "read", refresh_ttl=False)
    clock.advance(7)
    assert await driver.sweep() == 1
    assert await _keys(driver) == ["kept"]
    assert [h.key for h in await driver.call("search", NS, query="b")] == ["kept"]


async def test_a_search_refreshes_the_ttl_of_what_it_returns(
    driver: Driver, clock: FakeClock
) -> None:
    await driver.call("put", NS, "found", {"text": "river"}, ttl=10)
    await driver.call("put", NS, "missed", {"text": "stone"}, ttl=10)
    clock.advance(8)
    hits = await driver.call("search", NS, query="river", limit=1)
    assert [h.key for h in hits] == ["found"]
    clock.advance(4)
    assert await driver.sweep() == 1
    assert await _keys(driver) == ["found"]


async def test_omit_expired_hides_expired_items_before_the_sweep(clock: FakeClock) -> None:
    ttl = {"default_ttl": 5, "omit_expired": True, "refresh_on_read": False}
    with open_store("sync", ttl=ttl, clock=clock) as store:
        store.setup()
        store.put(NS, "k", {"a": 1})
        store.put(NS, "forever", {"a": 2}, ttl=None)
        clock.advance(5)
        assert store.get(NS, "k") is None
        assert [i.key for i in store.search(NS)] == ["forever"]
        store.delete(NS, "forever")
        assert store.list_namespaces() == []


async def test_the_sync_sweeper_thread_deletes_expired_items(clock: FakeClock) -> None:
    with open_store("sync", ttl={"sweep_interval_minutes": 1}, clock=clock) as store:
        store.setup()
        store.put(NS, "k", {"a": 1}, ttl=1)
        clock.advance(2)
        swept = threading.Event()
        sweep = store.sweep_ttl

        def sweep_and_tell() -> int:
            count = sweep()
            if count:
                swept.set()
            return count

        store.sweep_ttl = sweep_and_tell  # type: ignore[method-assign]
        done = store.start_ttl_sweeper(sweep_interval_minutes=0.0005)
        assert swept.wait(timeout=30)
        assert store.get(NS, "k") is None
        assert store.stop_ttl_sweeper(timeout=10)
        assert done.result(timeout=10) is None


async def test_the_async_sweeper_task_deletes_expired_items(clock: FakeClock) -> None:
    async with open_store("async", clock=clock) as store:
        await store.setup()
        await store.aput(NS, "k", {"a": 1}, ttl=1)
        clock.advance(2)
        swept = asyncio.Event()
        sweep = store.sweep_ttl

        async def sweep_and_tell() -> int:
            count = await sweep()
            if count:
                swept.set()
            return count

        store.sweep_ttl = sweep_and_tell  # type: ignore[method-assign]
        task = await store.start_ttl_sweeper(sweep_interval_minutes=0.0005)
        async with asyncio.timeout(30):
            await swept.wait()
        assert await store.aget(NS, "k") is None
        assert await store.stop_ttl_sweeper()
        assert task.cancelled()


# -- in LangGraph --------------------------------------------------------------------


class State(TypedDict):
    topic: str
    recalled: list[str]


def _graph() -> Any:
    def remember(state: State, *, store: BaseStore) -> dict[str, Any]:
        store.put(NS, state["topic"], {"text": f"finding about {state['topic']}"})
        hits = store.search(NS, query=state["topic"], limit=2)
        return {"recalled": [h.key for h in hits]}

    async def aremember(state: State, *, store: BaseStore) -> dict[str, Any]:
        await store.aput(NS, state["topic"], {"text": f"finding about {state['topic']}"})
        hits = await store.asearch(NS, query=state["topic"], limit=2)
        return {"recalled": [h.key for h in hits]}

    return remember, aremember


async def test_graph_nodes_get_the_store(driver: Driver) -> None:
    remember, aremember = _graph()
    builder = StateGraph(State)
    builder.add_node("remember", remember if driver.kind == "sync" else aremember)
    builder.add_edge(START, "remember")
    graph = builder.compile(store=driver.store)
    for topic in ("rivers", "stones"):
        if driver.kind == "sync":
            out = await asyncio.to_thread(graph.invoke, {"topic": topic, "recalled": []})
        else:
            out = await graph.ainvoke({"topic": topic, "recalled": []})
        assert out["recalled"][0] == topic
    assert len(out["recalled"]) == 2


async def test_the_async_store_refuses_sync_calls_on_its_loop() -> None:
    async with AsyncSurrealStore.from_conn_string("mem://", database=uuid.uuid4().hex) as store:
        await store.setup()
        with pytest.raises(asyncio.InvalidStateError, match="cannot run on the event loop"):
            store.put(NS, "k", {"a": 1})
        await store.aput(NS, "k", {"a": 1})
        assert await asyncio.to_thread(store.get, NS, "k") is not None


async def test_a_sweep_keeps_the_in_process_index_in_step(clock: FakeClock) -> None:
    with open_store("sync", index=index_config(), clock=clock) as store:
        store.setup()
        store.put(NS, "old", {"text": "river"}, ttl=1)
        store.put(NS, "new", {"text": "river stones"})
        assert [h.key for h in store.search(NS, query="river")] == ["old", "new"]
        assert store.sweep_ttl() == 0
        clock.advance(2)
        assert store.sweep_ttl() == 1
        # Followed, not dropped: the index needs no reload from SurrealDB.
        assert store._vectors is not None and store._vectors.loaded
        assert [h.key for h in store.search(NS, query="river")] == ["new"]
