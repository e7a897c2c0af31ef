"""Rows read from SurrealDB, named at the boundary, and turned into LangGraph tuples.

Owns: the shape of each row a read returns (:class:`PageRow`,
:class:`BlobRow`, :class:`WriteRow`, in the order of ``queries.PAGE_FIELDS``,
``BLOB_FIELDS`` and ``WRITE_FIELDS``), assembling them into
:class:`~langgraph.checkpoint.base.CheckpointTuple`, and the filterable copy of
metadata that ``list(filter=...)`` compares against.

Must not: do I/O, hold SurrealQL (``queries.py`` does), or choose a
serializer: callers pass ``load``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from langgraph.checkpoint.base import Checkpoint, CheckpointMetadata, CheckpointTuple
from surrealdb import Null, RecordID

__all__ = [
    "BlobRow",
    "PageRow",
    "WriteRow",
    "copy_rows",
    "delta_result",
    "filterable",
    "tuples_from",
    "walk_delta_history",
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

#: Deserialise one ``(type, bytes)`` pair with the saver's serializer.
Load = Callable[[str, "bytes | None"], Any]


class PageRow(NamedTuple):
    """One checkpoint as a listing reads it (``queries.PAGE_FIELDS``)."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    type: str
    checkpoint: bytes
    metadata_type: str
    metadata_value: bytes
    blob_keys: list[list[str]] | None
    #: ``[channel, version, type, value]`` of the values this checkpoint made
    #: (``None`` on rows written before they were kept inline).
    inline: list[list[Any]] | None


class BlobRow(NamedTuple):
    """One stored channel value (``queries.BLOB_FIELDS``)."""

    thread_id: str
    checkpoint_ns: str
    channel: str
    version: str
    type: str
    value: bytes | None


class WriteRow(NamedTuple):
    """One pending write of a task (``queries.WRITE_FIELDS``)."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    task_id: str
    task_path: str | None
    idx: int
    channel: str
    type: str
    value: bytes | None


def _config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> dict[str, Any]:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def tuples_from(
    page: Sequence[PageRow],
    blob_rows: Iterable[BlobRow],
    write_rows: Iterable[WriteRow],
    load: Load,
) -> list[CheckpointTuple]:
    """Assemble checkpoints with their channel values and writes, in page order."""
    blobs = {(b.thread_id, b.checkpoint_ns, b.channel, b.version): b for b in blob_rows}
    for row in page:
        for channel, version, type_, value in row.inline or []:
            key = (row.thread_id, row.checkpoint_ns, channel, version)
            blobs[key] = BlobRow(*key, type_, value)
    writes_by_cp: dict[tuple[str, str, str], list[WriteRow]] = {}
    for w in write_rows:
        writes_by_cp.setdefault((w.thread_id, w.checkpoint_ns, w.checkpoint_id), []).append(w)
    return [_tuple_from(row, blobs, writes_by_cp, load) for row in page]


def _tuple_from(
    row: PageRow,
    blobs: Mapping[tuple[str, str, str, str], BlobRow],
    writes_by_cp: Mapping[tuple[str, str, str], list[WriteRow]],
    load: Load,
) -> CheckpointTuple:
    thread_id, checkpoint_ns, checkpoint_id = row.thread_id, row.checkpoint_ns, row.checkpoint_id
    checkpoint = cast(Checkpoint, load(row.type, row.checkpoint))
    channel_values: dict[str, Any] = {}
    for channel, version in row.blob_keys or []:
        blob = blobs.get((thread_id, checkpoint_ns, channel, version))
        if blob is not None and blob.type != "empty":
            channel_values[channel] = load(blob.type, blob.value)
    # LangGraph's writes order: (task_path, task_id, idx).
    writes = sorted(
        writes_by_cp.get((thread_id, checkpoint_ns, checkpoint_id), []),
        key=lambda w: (w.task_path or "", w.task_id, w.idx),
    )
    parent = row.parent_checkpoint_id
    return CheckpointTuple(
        config=_config(thread_id, checkpoint_ns, checkpoint_id),  # type: ignore[arg-type]
        checkpoint={**checkpoint, "channel_values": channel_values},
        metadata=cast(CheckpointMetadata, load(row.metadata_type, row.metadata_value)),
        parent_config=_config(thread_id, checkpoint_ns, parent) if parent else None,  # type: ignore[arg-type]
        pending_writes=[(w.task_id, w.channel, load(w.type, w.value)) for w in writes],
    )


def filterable(value: Any) -> Any:
    """A copy of a metadata value that SurrealDB can store and compare.

    The serialised metadata is the source of truth; this copy only serves
    ``list(filter=...)``. CBOR cannot carry integers beyond 64 bits and drops
    ``None`` from objects, so those become strings / ``NULL`` here and in
    filter values alike.
    """
    if value is None:
        return Null
    if isinstance(value, bool | float | str):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, Mapping):
        return {str(k): filterable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [filterable(v) for v in value]
    return str(value)


def page_rows(rows: Sequence[Sequence[Any]] | None) -> list[PageRow]:
    """Name the array rows of a page query."""
    return [PageRow._make(r) for r in rows or []]


def blob_rows(rows: Sequence[Sequence[Any]] | None) -> list[BlobRow]:
    """Name the array rows of a blob query."""
    return [BlobRow._make(r) for r in rows or []]


def write_rows(rows: Sequence[Sequence[Any]] | None) -> list[WriteRow]:
    """Name the array rows of a write query."""
    return [WriteRow._make(r) for r in rows or []]


# ---------------------------------------------------------------------------
# Delta channel history and copies: rows read as objects (``SELECT *``)
# ---------------------------------------------------------------------------


def walk_delta_history(
    checkpoint_id: str, channels: Sequence[str], found: Mapping[str, Any]
) -> tuple[dict[str, list[Mapping[str, Any]]], dict[str, tuple[str, str]]]:
    """Walk the parent chain in memory: writes per channel (newest first) and seed keys."""
    checkpoints = {c["checkpoint_id"]: c for c in found.get("checkpoints") or []}
    present = {(b["channel"], b["version"]) for b in found.get("blobs") or []}
    writes_by_cp: dict[str, list[Mapping[str, Any]]] = {}
    for w in found.get("writes") or []:
        writes_by_cp.setdefault(w["checkpoint_id"], []).append(w)
    collected: dict[str, list[Mapping[str, Any]]] = {c: [] for c in channels}
    seeds: dict[str, tuple[str, str]] = {}
    remaining = set(channels)
    target = checkpoints.get(checkpoint_id)
    cursor = target.get("parent_checkpoint_id") if target else None
    while cursor is not None and remaining:
        row = checkpoints.get(cursor)
        if row is None:
            break
        ordered = sorted(
            writes_by_cp.get(cursor, []),
            key=lambda w: (w.get("task_path", ""), w["task_id"], w["idx"]),
        )
        for w in reversed(ordered):
            if w["channel"] in remaining:
                collected[w["channel"]].append(w)
        versions = dict(row.get("blob_keys") or [])
        for channel in list(remaining):
            version = versions.get(channel)
            if version is not None and (channel, version) in present:
                seeds[channel] = (channel, version)
                remaining.discard(channel)
        cursor = row.get("parent_checkpoint_id")
    return collected, seeds


def delta_result(
    channels: Sequence[str],
    collected: Mapping[str, list[Mapping[str, Any]]],
    seed_rows: Iterable[Mapping[str, Any]],
    load: Load,
) -> dict[str, Any]:
    """Per channel: its writes oldest first and, when one was stored, its seed value."""
    seeds = {b["channel"]: load(b["type"], b["value"]) for b in seed_rows}
    result: dict[str, Any] = {}
    for channel in channels:
        entry: dict[str, Any] = {
            "writes": [
                (w["task_id"], w["channel"], load(w["type"], w["value"]))
                for w in reversed(collected[channel])
            ]
        }
        if channel in seeds:
            entry["seed"] = seeds[channel]
        result[channel] = entry
    return result


def copy_rows(thread: Mapping[str, Any], target: str) -> dict[str, Any]:
    """Rewrite every record of a thread (from ``SELECT_THREAD_SQL``) for ``target``."""

    def relinked(link: Any) -> Any:
        key = _key(link)
        key[0] = target
        return RecordID("checkpoint_blob", key)

    def moved(row: Mapping[str, Any], table: str) -> dict[str, Any]:
        key = _key(row["id"])
        key[0] = target
        out = {**row, "id": RecordID(table, key), "thread_id": target}
        if "blobs" in row:
            out["blobs"] = [relinked(link) for link in row["blobs"] or []]
        return out

    return {
        "target": target,
        "checkpoints": [moved(r, "checkpoint") for r in thread.get("checkpoints") or []],
        "blobs": [moved(r, "checkpoint_blob") for r in thread.get("blobs") or []],
        "writes": [moved(r, "checkpoint_write") for r in thread.get("writes") or []],
        "latest": [moved(r, "checkpoint_latest") for r in thread.get("latest") or []],
    }


def _key(record: Any) -> list[Any]:
    """The key of a :class:`RecordID` as a list."""
    return list(record.id)
