"""The connection factory's policies, on the real embedded engine."""

from __future__ import annotations

from typing import Any

import pytest
from surrealdb import Surreal

from sentient_graph.db import QueryFailed, wrap_sync

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
