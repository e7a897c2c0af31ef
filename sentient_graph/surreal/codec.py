"""The only module that touches the ``surrealdb`` SDK's internals.

Owns: turning one ``query`` request into the CBOR frame the embedded engine
reads and its answer back into Python (in C, through ``cbor2``, instead of the
SDK's pure-Python CBOR: see BENCHMARKS.md), with the same value mapping as the
SDK (``None`` goes out as NONE, :data:`surrealdb.Null` as NULL,
:class:`surrealdb.RecordID` as a record id; tags coming back are decoded by the
SDK's own ``tag_decoder``); sending a request straight to an embedded engine
(:func:`execute`, :func:`aexecute`); and the SDK's request ids, which must not draw from
:func:`uuid.uuid4` (:func:`quiet_request_ids`).

Must not: open, close or choose connections (``connection.py`` does), or
decide what a failed statement means (``answers.results_of`` does). A value
this mapping does not know makes :func:`encode_query` return ``None`` and the
caller sends the query through the SDK unchanged, so nothing the SDK accepts
is refused here.
"""

from __future__ import annotations

import decimal
import email.message
import fractions
import importlib
import ipaddress
import itertools
import os
import re
import types
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import cbor2
from surrealdb import RecordID
from surrealdb.connections.utils_mixin import mapped_engine_errors
from surrealdb.data.cbor import tag_decoder
from surrealdb.data.types.datetime import PreciseDatetime
from surrealdb.data.types.null import Null, NullType
from surrealdb.data.types.set import SurrealSet

__all__ = [
    "decode_answer",
    "embedded_engine",
    "encode_query",
    "encode_request",
    "execute",
    "quiet_request_ids",
]

_TAG_NONE = 6
_TAG_RECORD_ID = 8
_ids = itertools.count(1)


class _Unsupported(Exception):
    """A value only the SDK's encoder knows."""


#: CBOR head of a record id: tag 8 (0xc8), then an array of two items (0x82).
_RECORD_ID_HEAD = bytes([0xC0 | _TAG_RECORD_ID, 0x82])


def _none(encoder: cbor2.CBOREncoder, _value: None) -> None:
    encoder.write(b"\xc6\xf6")  # tag 6 around null: SurrealDB's NONE


def _null(encoder: cbor2.CBOREncoder, _value: NullType) -> None:
    encoder.write(b"\xf6")  # plain CBOR null is SurrealDB's NULL


def _record_id(encoder: cbor2.CBOREncoder, value: RecordID) -> None:
    # Tag 8 around [table, id], its head written here: what encoding
    # CBORTag(8, [table, id]) writes, without building one per record id.
    encoder.write(_RECORD_ID_HEAD)
    encoder.encode(value.table_name)
    encoder.encode(value.id)


def _refuse(_encoder: cbor2.CBOREncoder, value: Any) -> None:
    raise _Unsupported(type(value).__name__)


# cbor2 encodes these natively, but not as the SDK does (its own tags, its own
# classes): they go to the SDK. So does any type cbor2 does not know (``default``),
# and a naive datetime, which cbor2 refuses and the SDK reads as UTC.
_SDK_ONLY: tuple[type, ...] = (
    uuid.UUID,
    decimal.Decimal,
    fractions.Fraction,
    complex,
    date,
    set,
    frozenset,
    bytearray,
    re.Pattern,
    email.message.Message,
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    SurrealSet,
    PreciseDatetime,
)

#: Consulted by cbor2's C encoder for these types only: every other value (str,
#: bytes, int, float, bool, aware datetime, list, tuple, dict) is encoded in C
#: without a Python call - no walk over the request first.
_ENCODERS: dict[type, Any] = {
    type(None): _none,
    NullType: _null,
    RecordID: _record_id,
    **dict.fromkeys(_SDK_ONLY, _refuse),
}


def encode_request(method: str, params: list[Any]) -> bytes:
    """The engine's request frame for an RPC ``method`` (``use``, ``query``...) with ``params``.

    Raises:
        _Unsupported: a parameter only the SDK's encoder knows.
        cbor2.CBOREncodeError: a parameter CBOR cannot carry.
    """
    request = {"id": str(next(_ids)), "method": method, "params": params}
    return cbor2.dumps(request, encoders=_ENCODERS, default=_refuse)


def encode_query(sql: str, vars: dict[str, Any]) -> bytes | None:
    """The engine's request frame for ``sql`` with ``vars``; ``None`` if only the SDK can encode it."""
    try:
        return encode_request("query", [sql, vars])
    except (_Unsupported, cbor2.CBOREncodeError):  # e.g. a naive datetime: the SDK says why
        return None


def embedded_engine(sdk: Any) -> Any | None:
    """The engine handle of an embedded SDK connection (it takes frames), else ``None``."""
    engine = getattr(sdk, "_db", None)
    return engine if hasattr(engine, "execute") else None


def execute(engine: Any, frame: bytes, what: str = "query") -> dict[str, Any]:
    """Send one request frame to an embedded engine and decode its answer.

    Raises:
        surrealdb.errors.SurrealError: the engine refused the frame (the SDK's mapping).
    """
    with mapped_engine_errors(what):
        answer = engine.execute(frame)
    return decode_answer(answer)


async def aexecute(
    engine: Any,
    frame: bytes,
    what: str = "query",
    *,
    hold: Callable[[Awaitable[Any]], Awaitable[Any]] | None = None,
) -> dict[str, Any]:
    """:func:`execute` for an engine whose ``execute`` is a coroutine (the SDK's
    async embedded engine: it runs on the engine's own threads, without the GIL).

    ``hold`` wraps the engine's future before it is awaited (the connection
    counts it and keeps it running if the awaiter is cancelled).

    Raises:
        surrealdb.errors.SurrealError: the engine refused the frame (the SDK's mapping).
    """
    with mapped_engine_errors(what):
        call = engine.execute(frame)
        answer = await (hold(call) if hold is not None else call)
    return decode_answer(answer)


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


def _tag(tag: cbor2.CBORTag, immutable: bool = False, parts: Callable[[Any], Any] = _thaw) -> Any:
    # cbor2 decodes arrays under a tag as tuples; the SDK gives lists (``parts``
    # makes them, and tells nulls apart too where the caller needs that).
    if tag.tag == _TAG_RECORD_ID and isinstance(tag.value, tuple):
        tag = cbor2.CBORTag(_TAG_RECORD_ID, parts(tag.value))
    return tag_decoder(None, tag)  # type: ignore[arg-type]


class _NoneMark:
    """Where a NONE was, while plain nulls are turned into ``Null``."""


_NONE_MARK = _NoneMark()


def _tag_marking_none(tag: cbor2.CBORTag, immutable: bool = False) -> Any:
    if tag.tag == _TAG_NONE:
        return _NONE_MARK
    # The walk does not enter record ids: their nulls are told apart here.
    return _tag(tag, immutable, _thaw_telling_nulls)


def _thaw_telling_nulls(value: Any) -> Any:
    return _nulls(_thaw(value))


def _nulls(value: Any) -> Any:
    if value is None:
        return Null
    if value is _NONE_MARK:
        return None
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _LEAVES else _nulls(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _LEAVES else _nulls(v) for v in value]
    return value


#: Decoded values that hold no null: returned as they are, without a call.
_LEAVES = frozenset({str, bytes, int, float, bool})


#: CBOR's null, and NONE: tag 6 around null.
_NULL_BYTE = b"\xf6"
_NONE_BYTES = b"\xc6\xf6"


def decode_answer(frame: bytes) -> dict[str, Any]:
    """The engine's answer as the SDK's ``query_raw`` returns it.

    cbor2 reads a plain null as ``None``; the SDK gives :data:`surrealdb.Null`
    (NULL) and keeps ``None`` for NONE. Most answers hold NONEs (every
    statement's envelope has some) and no plain null: when every null byte of
    the frame turns out to be a NONE's, NONE read as ``None`` is the answer.
    Otherwise (a null byte outside ``tag 6, null``, or one that only looked
    like it) NONE is marked while decoding and one walk tells the two apart.
    """
    answer: Any = _NOT_SURE
    null_bytes = frame.count(_NULL_BYTE)
    if null_bytes == frame.count(_NONE_BYTES):
        answer = _decode_without_plain_nulls(frame, null_bytes)
    if answer is _NOT_SURE:
        answer = _nulls(cbor2.loads(frame, tag_hook=_tag_marking_none))
    return answer if isinstance(answer, dict) else {}


_NOT_SURE = object()


def _decode_without_plain_nulls(frame: bytes, null_bytes: int) -> Any:
    """``frame`` decoded with NONE as ``None``, if each of its ``null_bytes``
    null bytes was a NONE's (so no plain null was read as ``None``); else
    :data:`_NOT_SURE` (a null byte was data, or a plain null after a data byte
    that looked like tag 6)."""
    nones = 0

    def tag(tag: cbor2.CBORTag, immutable: bool = False) -> Any:
        nonlocal nones
        if tag.tag == _TAG_NONE and tag.value is None:
            nones += 1
            return None
        return _tag(tag, immutable)

    answer = cbor2.loads(frame, tag_hook=tag)
    return answer if nones == null_bytes else _NOT_SURE


# ---------------------------------------------------------------------------
# Request ids
# ---------------------------------------------------------------------------
# The SDK names each connection and each request with ``uuid.uuid4()``.
# LangGraph's own tests patch ``uuid.uuid4`` to get deterministic ids, and a
# checkpointer that draws from it shifts them. The SDK's modules get a ``uuid``
# whose ``uuid4`` takes its 16 random bytes from ``os.urandom`` directly - what
# ``uuid.uuid4`` itself does - and forwards every other name to ``uuid``.

_SDK_MODULES_DRAWING_IDS = (
    "surrealdb.request_message.message",
    "surrealdb.connections.blocking_ws",
    "surrealdb.connections.blocking_http",
    "surrealdb.connections.async_ws",
    "surrealdb.connections.async_http",
    "surrealdb.connections.async_embedded",
)


def _random_uuid() -> uuid.UUID:
    return uuid.UUID(bytes=os.urandom(16), version=4)


class _QuietUuid(types.ModuleType):
    """``uuid`` with a ``uuid4`` that a patched ``uuid.uuid4`` does not see."""

    uuid4 = staticmethod(_random_uuid)

    def __getattr__(self, name: str) -> Any:
        return getattr(uuid, name)


_quieted = False


def quiet_request_ids() -> None:
    """Give the SDK's modules request ids that do not draw from ``uuid.uuid4``; idempotent.

    Called by the connection factory before it opens or wraps an SDK
    connection, so that importing this module changes nothing.
    """
    global _quieted
    if _quieted:
        return
    _quieted = True
    quiet = _QuietUuid("uuid")
    for name in _SDK_MODULES_DRAWING_IDS:
        try:
            module = importlib.import_module(name)
        except ImportError:  # another SDK version: nothing to quiet there
            continue
        if getattr(module, "uuid", None) is uuid:
            module.uuid = quiet  # type: ignore[attr-defined]
