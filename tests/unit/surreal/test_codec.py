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


NONE = cbor2.CBORTag(6, None)

ANSWERS: dict[str, tuple[Any, Any]] = {
    # name: (what the engine sends, what the SDK's query_raw gives)
    "nones only": (
        {"result": [{"result": NONE, "status": "OK", "type": NONE}]},
        {"result": [{"result": None, "status": "OK", "type": None}]},
    ),
    "a plain null": ({"result": [None, NONE]}, {"result": [Null, None]}),
    "no null at all": ({"result": [1, "x", b"\x00"]}, {"result": [1, "x", b"\x00"]}),
    # A null byte inside data: the count of null bytes is no proof.
    "a null byte in bytes": ({"result": [b"\xf6", NONE]}, {"result": [b"\xf6", None]}),
    # Bytes that read like "tag 6, null" inside data, beside a real NONE.
    "tag-like bytes and a NONE": ({"result": [b"\xc6\xf6", NONE]}, {"result": [b"\xc6\xf6", None]}),
    # A data byte 0xc6 right before a plain null: the pair looks like a NONE.
    "0xc6 before a plain null": ({"result": [0x1C6, None]}, {"result": [0x1C6, Null]}),
    "bytes ending 0xc6, then null": ({"r": [b"\xc6", None]}, {"r": [b"\xc6", Null]}),
    "a record id with a NONE": (
        {"id": cbor2.CBORTag(8, ["t", ["x", NONE, 1]])},
        {"id": RecordID("t", ["x", None, 1])},
    ),
    "nested": (
        {"result": [{"a": [NONE, {"b": None}], "id": cbor2.CBORTag(8, ["t", ["x", NONE]])}]},
        {"result": [{"a": [None, {"b": Null}], "id": RecordID("t", ["x", None])}]},
    ),
}


@pytest.mark.parametrize("name", list(ANSWERS))
def test_an_answer_decodes_as_the_sdks_query_raw_gives_it(name: str) -> None:
    sent, expected = ANSWERS[name]
    answer = codec.decode_answer(cbor2.dumps(sent))
    assert answer == expected
    # Null and None compare as different values: check the kinds, not only equality.
    assert repr(answer) == repr(expected)


def test_an_answer_without_plain_nulls_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    def walked(value: Any) -> Any:
        raise AssertionError("walked an answer that holds no plain null")

    monkeypatch.setattr(codec, "_nulls", walked)
    sent, expected = ANSWERS["nones only"]
    assert codec.decode_answer(cbor2.dumps(sent)) == expected
    with pytest.raises(AssertionError, match="walked"):
        codec.decode_answer(cbor2.dumps(ANSWERS["a plain null"][0]))
