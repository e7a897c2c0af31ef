"""The request frames the embedded path sends are the frames the SDK would send."""

from __future__ import annotations

import decimal
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import cbor2
import pytest
from surrealdb import Duration, RecordID
from surrealdb.data.cbor import encode as sdk_encode
from surrealdb.data.types.null import Null
from surrealdb.data.types.set import SurrealSet

from sentient_graph.surreal import codec


class Colour(StrEnum):
    RED = "red"


SAME_AS_THE_SDK: dict[str, Any] = {
    "none": None,
    "null": Null,
    "nested none": {"a": [None, {"b": None}], "c": (None, 1)},
    "record": RecordID("checkpoint", ["thread", "", None, 3]),
    "records in rows": [{"id": RecordID("t", [i, "x"]), "v": None} for i in range(3)],
    "scalars": ["text ' \" $x \u2603", b"\x00\xff", 2**62, -(2**62), 1.5, True, False],
    "aware datetime": datetime(2026, 12, 7, 17, 0, 0, 123456, tzinfo=UTC),
    "tuple": ("a", ("b", None)),
    "dict subclass": OrderedDict(a=1, b=None),
    "str enum": Colour.RED,
    "empty": [{}, [], ""],
}


def _decoded(frame: bytes) -> Any:
    request = cbor2.loads(frame)
    request.pop("id")
    return request


@pytest.mark.parametrize("name", list(SAME_AS_THE_SDK))
def test_a_frame_decodes_as_the_sdks_own_frame(name: str) -> None:
    params = ["RETURN $v", {"v": SAME_AS_THE_SDK[name]}]
    ours = codec.encode_request("query", params)
    theirs = sdk_encode({"id": "1", "method": "query", "params": params})
    assert _decoded(ours) == _decoded(theirs)


@pytest.mark.parametrize(
    "value",
    [
        Duration.parse("1s"),
        datetime(2026, 1, 1),  # naive: the SDK reads it as UTC
        uuid.UUID(int=1),
        decimal.Decimal("1.5"),
        {1, 2},
        frozenset({1}),
        date(2026, 1, 1),
        bytearray(b"x"),
        SurrealSet([1]),
        object(),
    ],
    ids=lambda value: type(value).__name__,
)
def test_values_the_sdk_maps_its_own_way_are_left_to_it(value: Any) -> None:
    assert codec.encode_query("RETURN $v", {"v": value}) is None
    assert codec.encode_query("RETURN $v", {"v": [{"deep": value}]}) is None
