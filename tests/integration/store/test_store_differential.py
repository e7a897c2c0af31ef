"""The same operations on our store and on LangGraph's ``InMemoryStore`` give the same answers.

A seeded random sequence (puts, overwrites, deletes, gets, searches by filter
with every operator ``InMemoryStore`` knows and by meaning, nested namespaces,
listings with prefix/suffix/wildcards/depth, TTL expiry on the injected clock)
runs against both; every answer is compared. ``InMemoryStore`` has no TTL, so
the reference here keeps expiry times itself and deletes what a sweep would.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from langgraph.store.base import Item
from langgraph.store.memory import InMemoryStore

from tests.integration.store.conftest import Driver, FakeClock, index_config

NAMESPACES = [
    ("users",),
    ("users", "u1"),
    ("users", "u1", "notes"),
    ("users", "u2"),
    ("users", "u2", "notes"),
    ("docs", "u1"),
    ("docs", "shared", "notes"),
    ("usersx",),  # a sibling whose text starts like ("users",)
]
KEYS = ["k1", "k2", "k3", "k4"]
WORDS = ["apple", "pear", "graph", "vector", "memory", "agent", "tea", "river", "stone", "cloud"]
TOL = 1e-5


class Reference:
    """``InMemoryStore`` plus the TTL bookkeeping it lacks (same clock as ours)."""

    def __init__(self, clock: FakeClock) -> None:
        self.store = InMemoryStore(index=index_config())
        self.clock = clock
        self.ttl: dict[tuple[tuple[str, ...], str], tuple[float, datetime]] = {}

    def put(self, ns: tuple[str, ...], key: str, value: dict[str, Any], **kw: Any) -> None:
        ttl = kw.pop("ttl", None)
        self.store.put(ns, key, value, **kw)
        if ttl is None:
            self.ttl.pop((ns, key), None)
        else:
            self.ttl[(ns, key)] = (ttl, self.clock() + timedelta(minutes=ttl))

    def delete(self, ns: tuple[str, ...], key: str) -> None:
        self.store.delete(ns, key)
        self.ttl.pop((ns, key), None)

    def _refresh(self, items: list[Item]) -> None:
        for item in items:
            found = self.ttl.get((item.namespace, item.key))
            if found:
                self.ttl[(item.namespace, item.key)] = (
                    found[0],
                    self.clock() + timedelta(minutes=found[0]),
                )

    def get(self, ns: tuple[str, ...], key: str) -> Item | None:
        item = self.store.get(ns, key)
        self._refresh([item] if item else [])
        return item

    def search(self, prefix: tuple[str, ...], **kw: Any) -> list[Any]:
        found = self.store.search(prefix, **kw)
        self._refresh(found)
        return found

    def list_namespaces(self, **kw: Any) -> list[tuple[str, ...]]:
        # InMemoryStore keeps a namespace whose items are gone (and one a get
        # asked for); a store lists namespaces that hold items.
        for ns in [ns for ns, items in self.store._data.items() if not items]:
            del self.store._data[ns]
        return self.store.list_namespaces(**kw)

    def sweep(self) -> int:
        gone = [k for k, (_, at) in self.ttl.items() if at <= self.clock()]
        for ns, key in gone:
            self.delete(ns, key)
        return len(gone)


def _shape(item: Any) -> Any:
    if item is None:
        return None
    return (tuple(item.namespace), item.key, item.value)


def _same_ranking(ours: list[Any], theirs: list[Any], everything: list[Any]) -> None:
    """Same scores in the same order, and at each place an item with that score.

    ``everything`` is the reference's whole ranking: the hashing embedding
    makes exact ties, and tied items may come in either order (also across
    the page's edge).
    """
    assert len(ours) == len(theirs)
    assert len({(tuple(a.namespace), a.key) for a in ours}) == len(ours)
    for a, b in zip(ours, theirs, strict=True):
        if b.score is None:
            assert a.score is None and _shape(a) == _shape(b)
            continue
        assert a.score == pytest.approx(b.score, abs=TOL)
        tied = [
            _shape(c) for c in everything if c.score is not None and abs(c.score - b.score) < TOL
        ]
        assert _shape(a) in tied


def _random_filter(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(6)
    if kind == 0:
        op = rng.choice(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])
        return {"n": {op: rng.randrange(6)}}
    if kind == 1:
        return {"n": {"$gte": 1, "$lt": 4}}
    if kind == 2:
        return {"color": rng.choice(["red", "blue", "green"])}
    if kind == 3:
        return {"meta": {"level": rng.randrange(3)}}
    if kind == 4:
        return {"tags": rng.choice([["a"], ["a", "b"], ["b", "a"]])}
    return {"n": rng.randrange(6), "color": {"$ne": "red"}}


def _random_value(rng: random.Random, serial: int) -> dict[str, Any]:
    words = " ".join(rng.sample(WORDS, 3))
    value: dict[str, Any] = {
        "text": f"{words} note{serial}",  # distinct texts: no two scores tie
        "title": f"title {rng.choice(WORDS)} t{serial}",
        "n": rng.randrange(6),
        "color": rng.choice(["red", "blue", "green"]),
        "meta": {"level": rng.randrange(3), "extra": rng.choice([None, "x"])},
        "tags": rng.choice([["a"], ["a", "b"], ["b", "a"], []]),
    }
    if rng.random() < 0.2:
        value["maybe"] = None
    return value


async def _run_sequence(driver: Driver, clock: FakeClock, seed: int, steps: int) -> dict[str, int]:
    rng = random.Random(seed)
    ref = Reference(clock)
    counts: dict[str, int] = {}
    for serial in range(steps):
        action = rng.choices(
            ["put", "delete", "get", "search", "query", "list", "time"],
            weights=[8, 2, 3, 3, 4, 2, 1],
        )[0]
        counts[action] = counts.get(action, 0) + 1
        ns, key = rng.choice(NAMESPACES), rng.choice(KEYS)
        if action == "put":
            value = _random_value(rng, serial)
            kw: dict[str, Any] = {}
            if key == "k4":
                # Always the same fields for a key: InMemoryStore (and PostgresStore) keep
                # the vectors of fields an overwrite no longer embeds; ours drops them
                # (test_store.py::test_an_overwrite_replaces_the_vectors).
                kw["index"] = ["title"]
            if rng.random() < 0.25:
                kw["ttl"] = rng.choice([1, 5, 30])
            await driver.call("put", ns, key, value, **kw)
            ref.put(ns, key, value, **kw)
        elif action == "delete":
            await driver.call("delete", ns, key)
            ref.delete(ns, key)
        elif action == "get":
            assert _shape(await driver.call("get", ns, key)) == _shape(ref.get(ns, key))
        elif action == "search":
            prefix = rng.choice([(), ("users",), ("users", "u1"), ("docs",), ("nothing",)])
            kw = {"filter": _random_filter(rng) if rng.random() < 0.8 else None, "limit": 100}
            ours = await driver.call("search", prefix, **kw)
            theirs = ref.search(prefix, **kw)
            assert sorted(map(_shape, ours), key=repr) == sorted(map(_shape, theirs), key=repr)
        elif action == "query":
            prefix = rng.choice([(), ("users",), ("users", "u2"), ("docs",)])
            kw = {
                "query": " ".join(rng.sample(WORDS, 2)),
                "filter": _random_filter(rng) if rng.random() < 0.5 else None,
                "limit": rng.randrange(1, 6),
                "offset": rng.randrange(3),
            }
            everything = ref.store.search(prefix, **{**kw, "limit": 1000, "offset": 0})
            ours, theirs = await driver.call("search", prefix, **kw), ref.search(prefix, **kw)
            _same_ranking(ours, theirs, everything)
        elif action == "list":
            kw = rng.choice(
                [
                    {},
                    {"prefix": ("users",)},
                    {"prefix": ("users", "*")},
                    {"suffix": ("notes",)},
                    {"prefix": ("*", "u1")},
                    {"suffix": ("*", "notes")},
                    {"max_depth": 1},
                    {"max_depth": 2, "prefix": ("users",)},
                    {"limit": 3, "offset": 1},
                ]
            )
            assert await driver.call("list_namespaces", **kw) == ref.list_namespaces(**kw)
        else:
            clock.advance(rng.choice([0.5, 2, 10]))
            swept = await driver.sweep()
            assert swept == ref.sweep()
            counts["swept"] = counts.get("swept", 0) + swept
    return counts


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_sequences_match_in_memory_store(
    driver: Driver, clock: FakeClock, seed: int
) -> None:
    counts = await _run_sequence(driver, clock, seed, steps=250)
    # The sequence exercised every kind of step (not a vacuous comparison).
    assert set(counts) == {"put", "delete", "get", "search", "query", "list", "time", "swept"}
    assert counts["swept"] > 0  # some items expired and were swept


async def test_a_written_sequence_matches_in_memory_store(driver: Driver, clock: FakeClock) -> None:
    ref = Reference(clock)
    puts = [
        (("a",), "1", {"text": "red apples and green pears", "n": 1, "o": {"x": 1}}),
        (("a", "b"), "2", {"text": "vector databases index embeddings", "n": 2}),
        (("a", "b", "c"), "3", {"text": "apples in the river", "n": 3, "o": {"x": 2}}),
        (("ab",), "4", {"text": "graph of agents", "n": 4}),
        (("a", "b"), "2", {"text": "overwritten: apples everywhere", "n": 5}),
    ]
    for ns, key, value in puts:
        await driver.call("put", ns, key, value)
        ref.put(ns, key, value)
    for prefix in [(), ("a",), ("a", "b"), ("ab",)]:
        for filter in [None, {"n": {"$gt": 1}}, {"o": {"x": 2}}, {"n": {"$ne": 5}}]:
            kw = {"query": "apples", "filter": filter, "limit": 10}
            theirs = ref.search(prefix, **kw)
            _same_ranking(await driver.call("search", prefix, **kw), theirs, theirs)
    await driver.call("delete", ("a", "b", "c"), "3")
    ref.delete(("a", "b", "c"), "3")
    kw = {"query": "apples", "limit": 10}
    theirs = ref.search((), **kw)
    _same_ranking(await driver.call("search", (), **kw), theirs, theirs)
    for kw in [{}, {"prefix": ("a",)}, {"max_depth": 1}, {"suffix": ("b",)}]:
        assert await driver.call("list_namespaces", **kw) == ref.list_namespaces(**kw)


async def test_with_the_approximate_graph_on_from_one_vector(clock: FakeClock) -> None:
    # On a few dozen items the graph finds what exact search finds: answers are the same.
    from tests.integration.store.conftest import open_store

    kwargs = {"index": index_config(), "ttl": {"refresh_on_read": True}, "clock": clock}
    with open_store("sync", approximate_from=1, **kwargs) as store:
        store.setup()
        counts = await _run_sequence(Driver("sync", store), clock, seed=4, steps=250)
    assert counts["query"] > 10
