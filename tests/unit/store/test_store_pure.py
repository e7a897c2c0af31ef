"""The store's pure parts, without a database: filters, the vector index, listings, embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from langgraph.store.base import ListNamespacesOp, MatchCondition, PutOp, SearchOp
from surrealdb import Null

from sentient_graph.errors import ConfigError, InvalidInput
from sentient_graph.store import HashingEmbeddings, Hnsw
from sentient_graph.store.base import list_namespaces, validate
from sentient_graph.store.filters import filter_sql, to_stored
from sentient_graph.store.queries import items_under_sql, search_sql
from sentient_graph.store.vectors import VectorIndex, as_unit_bytes

# -- filters -------------------------------------------------------------------------


def test_a_filter_binds_every_name_and_value() -> None:
    built = filter_sql({"n": {"$gte": 1, "$lt": 4}, "meta": {"level": 2}, "s": None})
    assert "$f" in built.sql
    for literal in ("'n'", "'meta'", "'level'", " 4", " 2"):
        assert literal not in built.sql
    assert sorted(v for v in built.vars.values() if isinstance(v, str)) == [
        "level",
        "meta",
        "meta",
        "n",
        "n",
        "s",
    ]
    assert 4 in built.vars.values() and 2 in built.vars.values()


def test_no_filter_is_true() -> None:
    assert filter_sql(None).sql == "true"
    assert filter_sql({}).vars == {}


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ({"n": {"$near": 1}}, "unknown filter operator '\\$near'"),
        ({"n": {"$in": 1}}, "takes a list"),
        ({"n": {"$gt": [1]}}, "compares numbers or strings"),
        ({"n": {"$gt": True}}, "compares numbers or strings"),
    ],
)
def test_a_bad_filter_names_the_fix(filter: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        filter_sql(filter)


def test_stored_values_keep_none_and_refuse_huge_ints() -> None:
    assert to_stored({"a": None, "b": [None, 1], "c": (1, 2)}) == {
        "a": Null,
        "b": [Null, 1],
        "c": [1, 2],
    }
    with pytest.raises(InvalidInput, match="64 bits"):
        to_stored({"big": 2**70})


# -- statements ------------------------------------------------------------------------


def test_a_prefix_search_reads_two_id_ranges_not_the_table() -> None:
    assert items_under_sql(False) == "store_item"
    ranges = items_under_sql(True)
    assert "$prefix_low" in ranges and "$prefix_high" in ranges and "WHERE" not in ranges
    sql = search_sql(prefix=True, condition="true", live=True)
    assert "LIMIT $limit START $offset" in sql and "$now" in sql


def test_hnsw_parameters_must_be_positive_ints() -> None:
    assert "EFC 200 M 16" in Hnsw(efc=200, m=16).sql(384)
    with pytest.raises(ConfigError, match="positive int"):
        Hnsw(efc="150; REMOVE TABLE store_item")  # type: ignore[arg-type]


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        PutOp((), "k", {}),
        PutOp(("a.b",), "k", {}),
        PutOp(("a", 1), "k", {}),  # type: ignore[arg-type]
        SearchOp(("a.b",)),
        ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("x.y",)),)),
    ],
)
def test_bad_namespaces_are_refused(op: object) -> None:
    with pytest.raises(ValueError, match="namespace"):
        validate(op)  # type: ignore[arg-type]


# -- listings ------------------------------------------------------------------------------


def test_listing_with_wildcards_depth_and_paging() -> None:
    stored = ["a", "a.b", "a.b.c", "a.c", "ab.b", "x.b"]

    def listed(**kw: object) -> list[tuple[str, ...]]:
        conditions = []
        if "prefix" in kw:
            conditions.append(MatchCondition("prefix", kw.pop("prefix")))  # type: ignore[arg-type]
        if "suffix" in kw:
            conditions.append(MatchCondition("suffix", kw.pop("suffix")))  # type: ignore[arg-type]
        op = ListNamespacesOp(match_conditions=tuple(conditions), **kw)  # type: ignore[arg-type]
        return list_namespaces(op, stored)

    assert listed(prefix=("a",)) == [("a",), ("a", "b"), ("a", "b", "c"), ("a", "c")]
    assert listed(suffix=("b",)) == [("a", "b"), ("ab", "b"), ("x", "b")]
    assert listed(prefix=("*", "b")) == [("a", "b"), ("a", "b", "c"), ("ab", "b"), ("x", "b")]
    assert listed(max_depth=1) == [("a",), ("ab",), ("x",)]
    assert listed(limit=2, offset=1) == [("a", "b"), ("a", "b", "c")]


# -- the vector index ------------------------------------------------------------------------


def _unit(*values: float) -> bytes:
    return as_unit_bytes(list(values))


def test_items_rank_by_their_best_vector_within_the_prefix() -> None:
    index = VectorIndex(3)
    index.load(
        [
            ("a", "one", _unit(1, 0, 0)),
            ("a", "two", _unit(0, 1, 0)),
            ("a", "two", _unit(0.9, 0.1, 0)),  # its best row
            ("a.b", "three", _unit(0.5, 0.5, 0)),
            ("ab", "four", _unit(1, 0, 0)),  # not under "a"
        ],
        version=0,
    )
    (batch,) = list(index.ranked([1, 0, 0], "a"))
    assert [item for item, _ in batch] == [("a", "one"), ("a", "two"), ("a.b", "three")]
    assert batch[0][1] == pytest.approx(1.0)
    assert batch[1][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-6)


def test_rankings_come_in_growing_batches_that_never_go_back() -> None:
    rng = np.random.default_rng(0)
    index = VectorIndex(8)
    index.load([("ns", f"k{i}", as_unit_bytes(rng.standard_normal(8))) for i in range(500)], 0)
    batches = list(index.ranked(rng.standard_normal(8), "", first=10))
    assert len(batches) > 2 and len(batches[0]) == 10
    scores = [score for batch in batches for _, score in batch]
    assert scores == sorted(scores, reverse=True)
    assert len({item for batch in batches for item, _ in batch}) == 500


def test_the_index_follows_writes_and_drops_out_when_another_writer_came_between() -> None:
    index = VectorIndex(2)
    index.load([("a", "x", _unit(1, 0))], version=3)
    index.apply([("a", "x")], [("a", "y", _unit(0, 1))], version=4)
    assert [i for b in index.ranked([1, 0], "") for i, _ in b] == [("a", "y")]
    index.apply([], [("a", "z", _unit(1, 0))], version=6)  # 5 was someone else's
    assert not index.loaded


# -- embeddings --------------------------------------------------------------------------------


def test_hashing_embeddings_are_deterministic_and_close_for_shared_words() -> None:
    emb = HashingEmbeddings(128)
    a, b, c = emb.embed_documents(["river stones", "stones by the river", "quantum compiler"])
    assert emb.embed_query("river stones") == a
    assert len(a) == 128 and np.linalg.norm(a) == pytest.approx(1.0)
    assert np.dot(a, b) > 0.5 > abs(np.dot(a, c))


def test_from_enough_rows_a_graph_serves_searches_and_follows_writes() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((2000, 16))
    index = VectorIndex(16, approximate_from=100)
    index.load([("ns", f"k{i}", as_unit_bytes(v)) for i, v in enumerate(vectors)], version=0)
    query = rng.standard_normal(16)
    exact = [item for item, _ in next(index._exact(index._unit(query), "", 10, set()))][:10]
    next(index.ranked(query, ""))  # the first search starts the build
    assert index.wait_approximate(timeout=60)
    first = next(index.ranked(query, "", first=10))
    assert len({item for item, _ in first[:10]} & set(exact)) >= 9
    # Writes after the build reach the graph: a new best match, then its removal.
    index.apply([], [("ns", "new", as_unit_bytes(query))], version=1)
    assert next(index.ranked(query, ""))[0] == (("ns", "new"), pytest.approx(1.0, abs=1e-5))
    index.apply([("ns", "new")], [], version=2)
    assert ("ns", "new") not in {item for b in index.ranked(query, "", first=10) for item, _ in b}


def test_a_graph_that_misses_a_prefix_falls_back_to_the_exact_ranking() -> None:
    rng = np.random.default_rng(2)
    rows = [("big", f"k{i}", as_unit_bytes(rng.standard_normal(8))) for i in range(1000)]
    rows.append(("small", "only", as_unit_bytes(rng.standard_normal(8))))
    index = VectorIndex(8, approximate_from=10)
    index.load(rows, version=0)
    next(index.ranked([1.0] * 8, ""))
    assert index.wait_approximate(timeout=60)
    batches = list(index.ranked([1.0] * 8, "small", first=5))
    assert [item for b in batches for item, _ in b] == [("small", "only")]
