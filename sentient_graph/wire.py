"""Queries to the embedded engine, encoded in C instead of the SDK's pure-Python CBOR.

Owns: turning one ``query`` request into the CBOR frame the embedded engine
reads and its answer back into Python, with the same value mapping as the
``surrealdb`` SDK (``None`` goes out as NONE, :data:`surrealdb.Null` as NULL,
:class:`surrealdb.RecordID` as a record id; tags coming back are decoded by the
SDK's own ``tag_decoder``). Measured on this project's checkpoint reads and
writes, the SDK's encoder and decoder took as long as the engine itself; here
they take a tenth of it.

Must not: open, close or choose connections (``db.py`` does), or decide what a
failed statement means (``db.results_of`` does). A value this mapping does not
know makes :func:`encode_query` return ``None`` and the caller sends the query
through the SDK unchanged, so nothing the SDK accepts is refused here.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import cbor2
from surrealdb import RecordID
from surrealdb.data.cbor import tag_decoder
from surrealdb.data.types.null import Null, NullType

__all__ = ["decode_answer", "encode_query"]

_TAG_NONE = 6
_TAG_RECORD_ID = 8
_NONE = cbor2.CBORTag(_TAG_NONE, None)
# Encoded by cbor2 exactly as by the SDK (an aware datetime is tag 0, RFC 3339).
_PLAIN = frozenset({str, bytes, int, float, bool, datetime})
_ids = itertools.count(1)


class _Unsupported(Exception):
    """A value only the SDK's encoder knows."""


def _wire(value: Any) -> Any:
    """``value`` with ``None``, ``Null`` and record ids in SurrealDB's CBOR form."""
    kind = type(value)
    if kind in _PLAIN:  # most values: checked first
        return value
    if value is None:
        return _NONE
    if kind is dict:
        return {key: _wire(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_wire(item) for item in value]
    if kind is RecordID:
        return cbor2.CBORTag(_TAG_RECORD_ID, [value.table_name, _wire(value.id)])
    if kind is NullType:
        return None  # plain CBOR null is SurrealDB's NULL
    raise _Unsupported(kind.__name__)


def encode_query(sql: str, vars: dict[str, Any]) -> bytes | None:
    """The engine's request frame for ``sql`` with ``vars``; ``None`` if only the SDK can encode it."""
    try:
        params = _wire(vars)
        return cbor2.dumps({"id": str(next(_ids)), "method": "query", "params": [sql, params]})
    except (_Unsupported, cbor2.CBOREncodeError):  # e.g. a naive datetime: the SDK says why
        return None


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


def _tag(tag: cbor2.CBORTag, immutable: bool = False) -> Any:
    # cbor2 decodes arrays under a tag as tuples; the SDK gives lists.
    if tag.tag == _TAG_RECORD_ID and isinstance(tag.value, tuple):
        tag = cbor2.CBORTag(_TAG_RECORD_ID, _thaw(tag.value))
    return tag_decoder(None, tag)  # type: ignore[arg-type]


class _NoneMark:
    """Where a NONE was, while plain nulls are turned into ``Null``."""


_NONE_MARK = _NoneMark()


def _tag_marking_none(tag: cbor2.CBORTag, immutable: bool = False) -> Any:
    return _NONE_MARK if tag.tag == _TAG_NONE else _tag(tag, immutable)


def _nulls(value: Any) -> Any:
    if value is None:
        return Null
    if value is _NONE_MARK:
        return None
    kind = type(value)
    if kind is dict:
        return {key: _nulls(item) for key, item in value.items()}
    if kind is list:
        return [_nulls(item) for item in value]
    return value


def decode_answer(frame: bytes) -> dict[str, Any]:
    """The engine's answer as the SDK's ``query_raw`` returns it.

    cbor2 reads a plain null as ``None``; the SDK gives :data:`surrealdb.Null`
    (NULL) and keeps ``None`` for NONE. So NONE is marked while decoding and
    one walk tells the two apart - every answer needs it (each statement's
    envelope carries a null ``type``), at about 0.01 ms for a checkpoint read.
    """
    answer = _nulls(cbor2.loads(frame, tag_hook=_tag_marking_none))
    return answer if isinstance(answer, dict) else {}
