"""The connection factory's policies, on the real embedded engine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from surrealdb import Duration, Null, RecordID, Surreal

from sentient_graph import wire
from sentient_graph.db import (
    QueryFailed,
    _sdk_url,
    _Shared,
    connect_sync,
    results_of,
    wrap_sync,
)
from sentient_graph.settings import SurrealSettings

CONFLICT = {
    "result": [
        {
            "status": "ERR",
            "result": "Transaction conflict: Resource busy. This transaction can be retried",
        }
    ]
}


class Conflicting:
    """A real SDK connection whose first ``failures`` queries report a retryable conflict."""

    def __init__(self, failures: int) -> None:
        self.sdk = Surreal("mem://")
        self.sdk.connect()
        self.sdk.use("test", "db")
        self.failures = failures
        self.calls = 0

    def query_raw(self, sql: str, vars: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            return CONFLICT
        return self.sdk.query_raw(sql, vars)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sdk.close()


def test_retryable_conflicts_are_retried_until_they_pass() -> None:
    sdk = Conflicting(failures=3)
    try:
        conn = wrap_sync(sdk)
        assert conn.query("RETURN $x", {"x": 7}) == [7]
        assert sdk.calls == 4
    finally:
        sdk.close()


def test_a_conflict_that_never_clears_is_raised_with_its_message() -> None:
    sdk = Conflicting(failures=10_000)
    try:
        with pytest.raises(QueryFailed, match="can be retried") as raised:
            wrap_sync(sdk).query("RETURN 1")
        assert raised.value.retryable
        assert 1 < sdk.calls < 100  # bounded retries, not one attempt and not forever
    finally:
        sdk.close()


def test_other_errors_are_not_retried() -> None:
    sdk = Conflicting(failures=0)
    try:
        with pytest.raises(QueryFailed, match="boom"):
            wrap_sync(sdk).query("THROW 'boom'")
        assert sdk.calls == 1
    finally:
        sdk.close()


SAMPLE_VARS: dict[str, Any] = {
    "none": None,
    "null": Null,
    "bytes": b"\x00\xffbytes",
    "text": "quote ' \" $x unicode \u00e9\u2603",
    "big": 2**62,
    "float": 1.5,
    "flag": True,
    "when": datetime(2026, 11, 25, 23, 0, 0, 123456, tzinfo=UTC),
    "nested": {"list": [1, None, ("tuple", 2)], "record": RecordID("t", ["a", 1])},
}

ROUND_TRIP_SQL = """RETURN [
    $none, type::is_none($none), $null, type::is_null($null), $bytes, $text,
    $big, $float, $flag, $nested, type::is_datetime($when), $when, type::is_record($nested.record)
];"""


def test_the_c_codec_answers_as_the_sdk_does() -> None:
    """Embedded queries skip the SDK's Python CBOR; values must map exactly as it maps them."""
    with connect_sync("mem://", namespace="wire", database="wire") as conn:
        fast = conn.query(ROUND_TRIP_SQL, SAMPLE_VARS)
        slow = results_of(conn.sdk.query_raw(ROUND_TRIP_SQL, SAMPLE_VARS))
    assert fast == slow
    none, is_none, null, is_null, *_rest, nested, is_datetime, _when, is_record = fast[0]
    assert (none, is_none, null, is_null, is_datetime, is_record) == (
        None,
        True,
        Null,
        True,
        True,
        True,
    )
    assert nested == {"list": [1, None, ["tuple", 2]], "record": RecordID("t", ["a", 1])}
    assert isinstance(nested["record"].id, list)


def test_values_only_the_sdk_encodes_still_reach_the_engine() -> None:
    assert wire.encode_query("RETURN $d", {"d": Duration.parse("1s")}) is None
    assert wire.encode_query("RETURN $d", {"d": datetime(2026, 1, 1)}) is None  # naive
    with connect_sync("mem://", namespace="wire", database="wire") as conn:
        assert conn.query("RETURN $d + 1s", {"d": Duration.parse("1s")}) == [Duration.parse("2s")]


def test_surrealkv_syncs_every_second_unless_the_url_says(tmp_path: Any) -> None:
    store = tmp_path / "store"
    assert _sdk_url(f"surrealkv://{store}") == f"surrealkv://{store}?sync=1s"
    assert _sdk_url(f"surrealkv://{store}?sync=every") == f"surrealkv://{store}?sync=every"
    assert (
        _sdk_url(f"surrealkv://{store}?versioned=true")
        == f"surrealkv://{store}?versioned=true&sync=1s"
    )
    assert _sdk_url("mem://") == "mem://"


def test_an_sdk_without_the_engine_handle_still_answers_through_the_sdk() -> None:
    class SdkOnly:
        """A real embedded SDK connection that hides the engine handle the C path uses."""

        def __init__(self) -> None:
            self.inner = Surreal("mem://")
            self.inner.connect()
            self.inner.use("test", "db")

        def query_raw(self, sql: str, vars: dict[str, Any]) -> dict[str, Any]:
            return self.inner.query_raw(sql, vars)  # type: ignore[no-any-return]

    sdk = SdkOnly()
    try:
        shared = _Shared(
            sdk=sdk, settings=SurrealSettings("mem://", "test", "db"), path=None, kind="blocking"
        )
        assert results_of(shared.query_blocking("RETURN $x + 1", {"x": 1})) == [2]
    finally:
        sdk.inner.close()


def test_the_old_module_paths_still_export_the_driver_layer() -> None:
    from sentient_graph import db, surreal
    from sentient_graph.surreal import codec

    for name in db.__all__:
        assert getattr(db, name) is getattr(surreal, name), name
    assert wire.encode_query is codec.encode_query and wire.decode_answer is codec.decode_answer
    assert db.lock_holder is surreal.lock_holder and db.results_of is surreal.results_of
