"""What the sync and async SurrealDB savers share: schema, queries and (de)serialisation.

Owns every SurrealQL statement of the checkpointer (as module constants or
built from constant fragments), the append-only list of migrations, and the
pure logic that turns a LangGraph checkpoint into records and records back into
a :class:`CheckpointTuple`. Does no I/O: ``SurrealSaver`` and
``AsyncSurrealSaver`` only send what this module prepares.

Storage layout (array record ids, never joined strings, so no two keys can
collide whatever a thread id or namespace contains)::

    checkpoint:[thread_id, checkpoint_ns, checkpoint_id]
    checkpoint_blob:[thread_id, checkpoint_ns, channel, version]   one per channel version
    checkpoint_write:[thread_id, checkpoint_ns, checkpoint_id, task_id, idx]
    checkpoint_latest:[thread_id, checkpoint_ns]                    pointer, updated in the put transaction

A channel value is written once per version: an unchanged channel costs
nothing at the next step. The latest checkpoint of a thread is one pointer
read, the same cost with 10 or 100,000 checkpoints of history.
"""

from __future__ import annotations

import inspect
import json
import random
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from surrealdb import Null, RecordID

from sentient_graph.errors import SerializationFailed, StoreUnavailable

__all__ = [
    "MIGRATIONS",
    "BaseSurrealSaver",
    "PreparedQuery",
    "SaverMethods",
    "Steps",
    "explain_query_error",
]

R = TypeVar("R")
P = ParamSpec("P")

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# ---------------------------------------------------------------------------
# Schema: migrations are append-only; position in the list is the version.
# ---------------------------------------------------------------------------

MIGRATIONS_TABLE_SQL = """
DEFINE TABLE IF NOT EXISTS checkpoint_migration SCHEMALESS;
SELECT VALUE version FROM checkpoint_migration;
"""

MIGRATIONS: list[str] = [
    # v0: the four tables.
    """
    DEFINE TABLE IF NOT EXISTS checkpoint SCHEMALESS;
    DEFINE TABLE IF NOT EXISTS checkpoint_blob SCHEMALESS;
    DEFINE TABLE IF NOT EXISTS checkpoint_write SCHEMALESS;
    DEFINE TABLE IF NOT EXISTS checkpoint_latest SCHEMALESS;
    """,
    # v1: look-ups that are not record-id ranges: by run (delete_for_runs) and by
    # thread across all namespaces for listings without a thread.
    """
    DEFINE INDEX IF NOT EXISTS checkpoint_run_id ON checkpoint FIELDS run_id;
    DEFINE INDEX IF NOT EXISTS checkpoint_checkpoint_id ON checkpoint FIELDS checkpoint_id;
    """,
    # v2: listings. On core 3.2 a record-id range with ORDER BY ... LIMIT reads the
    # whole range (2 s for limit 10 of 100k); this index is scanned backwards and
    # stops at the limit (under 1 ms).
    """
    DEFINE INDEX IF NOT EXISTS checkpoint_thread_ns_id ON checkpoint FIELDS thread_id, checkpoint_ns, checkpoint_id;
    """,
    # v3: record links to a checkpoint's channel values, derived by the engine from
    # `blob_keys` at every write (reads FETCH them; the client never sends them).
    """
    DEFINE FIELD IF NOT EXISTS blobs ON checkpoint VALUE
        (blob_keys ?? []).map(|$k| type::record('checkpoint_blob', [thread_id, checkpoint_ns, $k[0], $k[1]]));
    UPDATE checkpoint SET blobs = NONE RETURN NONE;
    """,
    # v4: the client writes those links itself (the field's closure cost the engine
    # more than the client's encoding of them); rows written before keep theirs.
    """
    REMOVE FIELD IF EXISTS blobs ON checkpoint;
    """,
]

RECORD_MIGRATION_SQL = "UPSERT type::record('checkpoint_migration', $version) SET version = $version, applied_at = time::now() RETURN NONE;"


@dataclass(frozen=True)
class PreparedQuery:
    """A statement and its bound parameters."""

    sql: str
    vars: dict[str, Any]


# ---------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------

# The checkpoints, the channel values that changed (never overwritten: a version
# is immutable), task writes, and the latest pointers, which only move forward
# (checkpoint ids are time-ordered uuid6 strings) - in one transaction. Records
# arrive whole, ids and links included: every expression the engine evaluates per
# write (closures, IF) cost more than the client's encoding of the same values.
_PUT_CHECKPOINT = "UPSERT $checkpoint_{i} CONTENT $row_{i} RETURN NONE;"
_PUT_BLOBS = "INSERT IGNORE INTO checkpoint_blob $blobs RETURN NONE;"
_PUT_LATEST = """UPSERT $latest_{i} SET thread_id = $latest_thread_{i}, checkpoint_ns = $latest_ns_{i},
    checkpoint_id = $latest_id_{i} WHERE checkpoint_id = NONE OR checkpoint_id < $latest_id_{i} RETURN NONE;"""
# Regular writes are first-wins (a retried task must not overwrite what was
# recorded); special writes (errors, interrupts, resume values) are last-wins.
_PUT_REGULAR_WRITES = "INSERT IGNORE INTO checkpoint_write $regular RETURN NONE;"
_PUT_SPECIAL_WRITES = """INSERT INTO checkpoint_write $special ON DUPLICATE KEY UPDATE
    channel = $input.channel, type = $input.type, value = $input.value, task_path = $input.task_path
    RETURN NONE;"""


class WriteBatch:
    """Checkpoint puts and task writes stored in one transaction.

    One ``put`` or ``put_writes`` is a batch of one. The async saver merges
    the batches issued in the same event-loop tick (a superstep's parallel
    tasks finish together) into one commit: on ``surrealkv://`` each commit
    waits for a sync to disk. Merging keeps each operation's meaning: rows are
    applied in order (the first regular write and the last special write of a
    key win, as they would one by one) and each pointer moves to the newest id.
    """

    def __init__(self) -> None:
        self.checkpoints: list[tuple[RecordID, dict[str, Any]]] = []
        self.blobs: list[dict[str, Any]] = []
        self.regular: list[dict[str, Any]] = []
        self.special: list[dict[str, Any]] = []
        self.latest: dict[tuple[str, str], str] = {}

    @classmethod
    def merge(cls, batches: Sequence[WriteBatch]) -> WriteBatch:
        if len(batches) == 1:
            return batches[0]
        merged = cls()
        for batch in batches:
            merged.checkpoints += batch.checkpoints
            merged.blobs += batch.blobs
            merged.regular += batch.regular
            merged.special += batch.special
            for key, checkpoint_id in batch.latest.items():
                merged.latest[key] = max(checkpoint_id, merged.latest.get(key, checkpoint_id))
        return merged

    def query(self) -> PreparedQuery:
        statements: list[str] = []
        params: dict[str, Any] = {}
        for i, (record, row) in enumerate(self.checkpoints):
            statements.append(_PUT_CHECKPOINT.format(i=i))
            params[f"checkpoint_{i}"], params[f"row_{i}"] = record, row
        for name, rows, sql in (
            ("blobs", self.blobs, _PUT_BLOBS),
            ("regular", self.regular, _PUT_REGULAR_WRITES),
            ("special", self.special, _PUT_SPECIAL_WRITES),
        ):
            if rows:
                statements.append(sql)
                params[name] = rows
        for i, ((thread_id, checkpoint_ns), checkpoint_id) in enumerate(self.latest.items()):
            statements.append(_PUT_LATEST.format(i=i))
            params[f"latest_{i}"] = RecordID("checkpoint_latest", [thread_id, checkpoint_ns])
            params[f"latest_thread_{i}"] = thread_id
            params[f"latest_ns_{i}"] = checkpoint_ns
            params[f"latest_id_{i}"] = checkpoint_id
        return PreparedQuery(_atomic(statements), params)

    # A batch is sent like any prepared query: drivers need not know it. It is
    # complete once yielded, so its query is built once.
    @cached_property
    def _prepared(self) -> PreparedQuery:
        return self.query()

    @property
    def sql(self) -> str:
        return self._prepared.sql

    @property
    def vars(self) -> dict[str, Any]:
        return self._prepared.vars


#: An operation: yields queries (or write batches), receives each one's
#: per-statement results, returns R.
Steps = Generator["PreparedQuery | WriteBatch", list[Any], R]


def _atomic(statements: list[str]) -> str:
    """One statement is atomic by itself; several get a transaction around them.

    Leaving out statements with nothing to do matters: each one costs the
    engine time and a result to decode.
    """
    if len(statements) <= 1:
        return "".join(statements) or "RETURN NONE;"
    return "\n".join(["BEGIN TRANSACTION;", *statements, "COMMIT TRANSACTION;"])


# ---------------------------------------------------------------------------
# Reads: one round trip returns checkpoints with their blobs and writes.
# ---------------------------------------------------------------------------

# Rows travel as arrays, not objects: the SDK decodes CBOR in Python, and
# field names repeated in every row were a third of the decoding time.
PAGE_FIELDS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, "
    "metadata_type, metadata_value, blob_keys"
)
BLOB_FIELDS = "thread_id, checkpoint_ns, channel, version, type, value"
WRITE_FIELDS = (
    "thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value"
)

# One checkpoint with its channel values (followed through the `blobs` record
# links) and its writes, in one round trip. Plain `SELECT *` with FETCH costs the
# engine a third of an array projection plus a closure over the blob keys.
_GET_TAIL_SQL = """
SELECT * OMIT metadata, blob_keys FROM checkpoint:[$thread_id, $checkpoint_ns, $checkpoint_id] FETCH blobs;
SELECT task_id, task_path, idx, channel, type, value
    FROM checkpoint_write:[$thread_id, $checkpoint_ns, $checkpoint_id, NONE]..[$thread_id, $checkpoint_ns, $checkpoint_id, ..];
"""

GET_LATEST_SQL = (
    "LET $checkpoint_id = checkpoint_latest:[$thread_id, $checkpoint_ns].checkpoint_id;"
    + _GET_TAIL_SQL
)

GET_BY_ID_SQL = _GET_TAIL_SQL


def list_sql(
    *,
    thread: bool,
    namespace: bool,
    checkpoint: bool,
    before: bool,
    filter_count: int,
    limit: bool,
) -> str:
    """Build the page query of a listing from constant fragments; values stay parameters."""
    where: list[str] = []
    if thread:
        where.append("thread_id = $thread_id")
    if namespace:
        where.append("checkpoint_ns = $checkpoint_ns")
    if before:
        where.append("checkpoint_id < $before")
    if checkpoint:
        where.append("checkpoint_id = $checkpoint_id")
    for i in range(filter_count):
        where.append(f"metadata[$filter_key_{i}] = $filter_value_{i}")
    sql = f"SELECT VALUE [{PAGE_FIELDS}] FROM checkpoint"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY checkpoint_id DESC"
    if limit:
        sql += " LIMIT $limit"
    return sql + ";"


def page_details_sql(groups: int) -> str:
    """Channel values of a page (by record id) and its writes (one id range per thread/namespace).

    A page is a contiguous run of checkpoint ids within each (thread,
    namespace), so one range per group covers its writes without a query per
    checkpoint; writes of checkpoints a filter left out are dropped in Python.
    """
    # Keys travel as plain arrays and become record ids in the engine: encoding
    # RecordID objects in the SDK's Python CBOR cost 2.5x as much.
    statements = [
        f"SELECT VALUE [{BLOB_FIELDS}] FROM $blob_keys.map(|$k| type::record('checkpoint_blob', $k));"
    ]
    for i in range(groups):
        statements.append(
            f"SELECT VALUE [{WRITE_FIELDS}] FROM "
            f"checkpoint_write:[$thread_{i}, $ns_{i}, $low_{i}]..[$thread_{i}, $ns_{i}, $high_{i}, ..];"
        )
    return "\n".join(statements)


# The parent chain of one checkpoint for the requested channels: checkpoint
# links, the writes to those channels, and which versions of them hold values.
DELTA_HISTORY_SQL = """
RETURN {
    checkpoints: (SELECT checkpoint_id, parent_checkpoint_id, blob_keys
                  FROM checkpoint:[$thread_id, $checkpoint_ns, NONE]..=[$thread_id, $checkpoint_ns, $checkpoint_id]),
    writes: (SELECT * FROM checkpoint_write:[$thread_id, $checkpoint_ns, NONE]..[$thread_id, $checkpoint_ns, $checkpoint_id, ..]
             WHERE channel IN $channels),
    blobs: (SELECT channel, version, type FROM checkpoint_blob:[$thread_id, $checkpoint_ns, NONE]..[$thread_id, $checkpoint_ns, ..]
            WHERE channel IN $channels AND type != 'empty')
};
"""

SELECT_BLOBS_SQL = "SELECT * FROM $ids;"

# ---------------------------------------------------------------------------
# Deletes, copies, pruning
# ---------------------------------------------------------------------------

DELETE_THREAD_SQL = """
BEGIN TRANSACTION;
DELETE checkpoint:[$thread_id, NONE]..[$thread_id, ..];
DELETE checkpoint_blob:[$thread_id, NONE]..[$thread_id, ..];
DELETE checkpoint_write:[$thread_id, NONE]..[$thread_id, ..];
DELETE checkpoint_latest:[$thread_id, NONE]..[$thread_id, ..];
COMMIT TRANSACTION;
"""

SELECT_RUN_CHECKPOINTS_SQL = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoint WHERE run_id IN $run_ids;"
)

SELECT_THREAD_SQL = """
RETURN {
    checkpoints: (SELECT * FROM checkpoint:[$thread_id, NONE]..[$thread_id, ..]),
    blobs: (SELECT * FROM checkpoint_blob:[$thread_id, NONE]..[$thread_id, ..]),
    writes: (SELECT * FROM checkpoint_write:[$thread_id, NONE]..[$thread_id, ..]),
    latest: (SELECT * FROM checkpoint_latest:[$thread_id, NONE]..[$thread_id, ..])
};
"""

# After checkpoints were removed: point `latest` at what is left, and drop
# channel values no remaining checkpoint of the thread refers to.
REPAIR_THREAD_SQL = """
LET $left = (SELECT checkpoint_ns, checkpoint_id, blob_keys FROM checkpoint:[$thread_id, NONE]..[$thread_id, ..]);
DELETE checkpoint_latest:[$thread_id, NONE]..[$thread_id, ..];
LET $latest = (SELECT checkpoint_ns, array::max(array::group(checkpoint_id)) AS checkpoint_id FROM $left GROUP BY checkpoint_ns)
    .map(|$r| {
        id: type::record('checkpoint_latest', [$thread_id, $r.checkpoint_ns]),
        thread_id: $thread_id, checkpoint_ns: $r.checkpoint_ns, checkpoint_id: $r.checkpoint_id
    });
INSERT INTO checkpoint_latest $latest RETURN NONE;
LET $keep = array::distinct(array::flatten($left.map(|$c| ($c.blob_keys ?? []).map(|$k| [$c.checkpoint_ns, $k[0], $k[1]]))));
DELETE checkpoint_blob:[$thread_id, NONE]..[$thread_id, ..] WHERE [checkpoint_ns, channel, version] NOT IN $keep;
"""

PRUNE_KEEP_LATEST_SQL = """
BEGIN TRANSACTION;
LET $latest = (SELECT VALUE [id[1], checkpoint_id] FROM checkpoint_latest:[$thread_id, NONE]..[$thread_id, ..]);
DELETE checkpoint:[$thread_id, NONE]..[$thread_id, ..] WHERE [checkpoint_ns, checkpoint_id] NOT IN $latest;
DELETE checkpoint_write:[$thread_id, NONE]..[$thread_id, ..] WHERE [checkpoint_ns, checkpoint_id] NOT IN $latest;
COMMIT TRANSACTION;
"""

PRUNE_STRATEGIES = frozenset({"keep_latest", "delete"})

# Threads whose checkpoints carry DeltaChannel bookkeeping: their latest
# checkpoint needs its ancestors' writes to rebuild the channel, so keep_latest
# would silently empty it.
DELTA_THREADS_SQL = """
SELECT VALUE thread_id FROM checkpoint
WHERE thread_id IN $thread_ids
    AND (metadata.counters_since_delta_snapshot != NONE OR metadata.delta_writes_versioned != NONE)
GROUP BY thread_id;
"""


def delete_checkpoints_sql(count: int) -> str:
    """Delete ``count`` checkpoints (``$key_i`` = [thread, ns, id]) and their writes, atomically."""
    statements = ["BEGIN TRANSACTION;"]
    for i in range(count):
        statements.append(
            f"DELETE type::record('checkpoint', $key_{i});"
            f" DELETE checkpoint_write:[$key_{i}[0], $key_{i}[1], $key_{i}[2], NONE]"
            f"..[$key_{i}[0], $key_{i}[1], $key_{i}[2], ..];"
        )
    statements.append("COMMIT TRANSACTION;")
    return "\n".join(statements)


COPY_THREAD_SQL = """
BEGIN TRANSACTION;
DELETE checkpoint:[$target, NONE]..[$target, ..];
DELETE checkpoint_blob:[$target, NONE]..[$target, ..];
DELETE checkpoint_write:[$target, NONE]..[$target, ..];
DELETE checkpoint_latest:[$target, NONE]..[$target, ..];
INSERT INTO checkpoint $checkpoints RETURN NONE;
INSERT INTO checkpoint_blob $blobs RETURN NONE;
INSERT INTO checkpoint_write $writes RETURN NONE;
INSERT INTO checkpoint_latest $latest RETURN NONE;
COMMIT TRANSACTION;
"""

# ---------------------------------------------------------------------------
# Pure logic
# ---------------------------------------------------------------------------


def explain_query_error(exc: Exception) -> Exception:
    """Name the fix for the errors users cause (schema not set up), pass others through."""
    message = str(exc)
    if "does not exist" in message and "checkpoint" in message:
        return StoreUnavailable(
            f"{message}: the checkpointer schema is missing - call saver.setup() once first"
        )
    return exc


def _filterable(value: Any) -> Any:
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
        return {str(k): _filterable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_filterable(v) for v in value]
    return str(value)


def _str_version(version: Any) -> str:
    return str(version)


class BaseSurrealSaver(BaseCheckpointSaver[str]):
    """Shared logic of :class:`SurrealSaver` and :class:`AsyncSurrealSaver`."""

    def __init__(self, *, serde: SerializerProtocol | None = None) -> None:
        # Strict by default: only LangGraph's safe types (plus what a graph's
        # state schema allows through `with_allowlist`) are revived.
        super().__init__(serde=serde or JsonPlusSerializer(allowed_msgpack_modules=None))

    # -- versions ----------------------------------------------------------

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Zero-padded counter plus a random tail: sortable as strings, unique per write."""
        if current is None:
            counter = 0
        elif isinstance(current, int | float):
            counter = int(current)
        else:
            counter = int(str(current).split(".", 1)[0])
        return f"{counter + 1:032}.{random.random():.16f}"[:50]

    # -- serialisation -----------------------------------------------------

    def _dump(self, value: Any, what: str) -> tuple[str, bytes]:
        try:
            return self.serde.dumps_typed(value)
        except Exception as exc:  # the serializer raises TypeError, ValueError, OverflowError...
            raise SerializationFailed(
                f"cannot serialise {what} ({type(value).__name__}): {exc}; "
                "store JSON-like values, pydantic models or dataclasses in graph state"
            ) from exc

    def _dump_metadata(self, metadata: Mapping[str, Any]) -> tuple[str, bytes]:
        # Metadata is JSON-like by contract, and may hold integers msgpack cannot
        # (beyond 64 bits); JSON carries those, and the serializer reads "json" back.
        try:
            return self.serde.dumps_typed(metadata)
        except Exception:
            try:
                return "json", json.dumps(metadata).encode()
            except (TypeError, ValueError) as exc:
                raise SerializationFailed(
                    f"cannot serialise checkpoint metadata: {exc}; keep metadata JSON-like"
                ) from exc

    def _load(self, type_: str, data: bytes | None) -> Any:
        return self.serde.loads_typed((type_, data if data is not None else b""))

    # -- put ---------------------------------------------------------------

    def _prepare_put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> tuple[WriteBatch, RunnableConfig]:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = str(configurable.get("checkpoint_ns") or "")
        checkpoint_id = str(checkpoint["id"])
        parent_id = configurable.get("checkpoint_id")

        stored: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values", None) or {}
        batch = WriteBatch()
        for channel, version in new_versions.items():
            ver = _str_version(version)
            if channel in values:
                type_, data = self._dump(values[channel], f"channel {channel!r}")
            else:
                type_, data = "empty", b""
            batch.blobs.append(
                {
                    "id": RecordID("checkpoint_blob", [thread_id, checkpoint_ns, channel, ver]),
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "channel": channel,
                    "version": ver,
                    "type": type_,
                    "value": data,
                }
            )
        cp_type, cp_data = self._dump(stored, "checkpoint")
        full_metadata = get_serializable_checkpoint_metadata(config, metadata)
        md_type, md_data = self._dump_metadata(full_metadata)
        run_id = full_metadata.get("run_id")
        blob_keys = [
            [channel, _str_version(version)]
            for channel, version in checkpoint["channel_versions"].items()
        ]
        row = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
            "parent_checkpoint_id": str(parent_id) if parent_id else None,
            "type": cp_type,
            "checkpoint": cp_data,
            "metadata_type": md_type,
            "metadata_value": md_data,
            "metadata": _filterable(dict(full_metadata)),
            "run_id": str(run_id) if run_id is not None else None,
            "blob_keys": blob_keys,
            # Links the reads FETCH: the checkpoint's channel values.
            "blobs": [
                RecordID("checkpoint_blob", [thread_id, checkpoint_ns, *key]) for key in blob_keys
            ],
        }
        # NONE fields are dropped by CBOR; keep the row free of them explicitly.
        row = {k: v for k, v in row.items() if v is not None}
        batch.checkpoints.append(
            (RecordID("checkpoint", [thread_id, checkpoint_ns, checkpoint_id]), row)
        )
        batch.latest[(thread_id, checkpoint_ns)] = checkpoint_id
        next_config: RunnableConfig = {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
            }
        }
        return batch, next_config

    def _prepare_put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> WriteBatch:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = str(configurable.get("checkpoint_ns") or "")
        checkpoint_id = str(configurable["checkpoint_id"])
        task_id = str(task_id)
        batch = WriteBatch()
        for idx, (channel, value) in enumerate(writes):
            slot = WRITES_IDX_MAP.get(channel, idx)
            type_, data = self._dump(value, f"write to channel {channel!r}")
            (batch.special if channel in WRITES_IDX_MAP else batch.regular).append(
                {
                    "id": RecordID(
                        "checkpoint_write", [thread_id, checkpoint_ns, checkpoint_id, task_id, slot]
                    ),
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": checkpoint_id,
                    "task_id": task_id,
                    "task_path": task_path,
                    "idx": slot,
                    "channel": channel,
                    "type": type_,
                    "value": data,
                }
            )
        return batch

    # -- get / list --------------------------------------------------------

    def _prepare_get(self, config: RunnableConfig) -> PreparedQuery:
        configurable = config["configurable"]
        params = {
            "thread_id": str(configurable["thread_id"]),
            "checkpoint_ns": str(configurable.get("checkpoint_ns") or ""),
        }
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id:
            params["checkpoint_id"] = str(checkpoint_id)
            return PreparedQuery(GET_BY_ID_SQL, params)
        return PreparedQuery(GET_LATEST_SQL, params)

    def _prepare_list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> PreparedQuery:
        params: dict[str, Any] = {}
        configurable = (config or {}).get("configurable") or {}
        thread = configurable.get("thread_id") is not None
        namespace = thread and configurable.get("checkpoint_ns") is not None
        checkpoint_id = get_checkpoint_id(config) if config else None
        if thread:
            params["thread_id"] = str(configurable["thread_id"])
        if namespace:
            params["checkpoint_ns"] = str(configurable["checkpoint_ns"])
        if checkpoint_id:
            params["checkpoint_id"] = str(checkpoint_id)
        before_id = get_checkpoint_id(before) if before else None
        if before_id:
            params["before"] = str(before_id)
        filters = list((filter or {}).items())
        for i, (key, value) in enumerate(filters):
            params[f"filter_key_{i}"] = str(key)
            params[f"filter_value_{i}"] = _filterable(value)
        if limit is not None:
            params["limit"] = max(int(limit), 0)
        sql = list_sql(
            thread=thread,
            namespace=namespace,
            checkpoint=bool(checkpoint_id),
            before=bool(before_id),
            filter_count=len(filters),
            limit=limit is not None,
        )
        return PreparedQuery(sql, params)

    def _page_details(self, page: Sequence[Sequence[Any]]) -> PreparedQuery:
        blob_ids = {
            (row[0], row[1], channel, version) for row in page for channel, version in row[8] or []
        }
        groups: dict[tuple[str, str], list[str]] = {}
        for row in page:
            groups.setdefault((row[0], row[1]), []).append(row[2])
        params: dict[str, Any] = {"blob_keys": [list(key) for key in sorted(blob_ids)]}
        for i, ((thread_id, ns), ids) in enumerate(groups.items()):
            params.update(
                {
                    f"thread_{i}": thread_id,
                    f"ns_{i}": ns,
                    f"low_{i}": min(ids),
                    f"high_{i}": max(ids),
                }
            )
        return PreparedQuery(page_details_sql(len(groups)), params)

    def _tuples_from(
        self,
        page: Sequence[Sequence[Any]],
        blob_rows: Iterable[Sequence[Any]],
        write_rows: Iterable[Sequence[Any]],
    ) -> list[CheckpointTuple]:
        """Turn page, blob and write rows (arrays in ``*_FIELDS`` order) into tuples, in page order."""
        blobs = {(b[0], b[1], b[2], b[3]): (b[4], b[5]) for b in blob_rows}
        writes_by_cp: dict[tuple[str, str, str], list[Sequence[Any]]] = {}
        for w in write_rows:
            writes_by_cp.setdefault((w[0], w[1], w[2]), []).append(w)
        return [self._tuple_from_row(row, blobs, writes_by_cp) for row in page]

    def _tuple_from_row(
        self,
        row: Sequence[Any],
        blobs: Mapping[tuple[str, str, str, str], tuple[str, bytes]],
        writes_by_cp: Mapping[tuple[str, str, str], list[Sequence[Any]]],
    ) -> CheckpointTuple:
        (
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            parent_id,
            cp_type,
            cp_data,
            md_type,
            md_data,
            blob_keys,
        ) = row
        checkpoint = cast(Checkpoint, self._load(cp_type, cp_data))
        channel_values: dict[str, Any] = {}
        for channel, version in blob_keys or []:
            blob = blobs.get((thread_id, checkpoint_ns, channel, version))
            if blob is not None and blob[0] != "empty":
                channel_values[channel] = self._load(*blob)
        checkpoint = {**checkpoint, "channel_values": channel_values}
        # writes_sort_key order: (task_path, task_id, idx)
        writes = sorted(
            writes_by_cp.get((thread_id, checkpoint_ns, checkpoint_id), []),
            key=lambda w: (w[4] or "", w[3], w[5]),
        )
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": checkpoint_id,
                }
            },
            checkpoint=checkpoint,
            metadata=cast(CheckpointMetadata, self._load(md_type, md_data)),
            parent_config=(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": checkpoint_ns,
                        "checkpoint_id": parent_id,
                    }
                }
                if parent_id
                else None
            ),
            pending_writes=[(w[3], w[6], self._load(w[7], w[8])) for w in writes],
        )

    # -- delta channel history ------------------------------------------------

    def _prepare_delta_history(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> PreparedQuery:
        configurable = config["configurable"]
        return PreparedQuery(
            DELTA_HISTORY_SQL,
            {
                "thread_id": str(configurable["thread_id"]),
                "checkpoint_ns": str(configurable.get("checkpoint_ns") or ""),
                "checkpoint_id": str(get_checkpoint_id(config) or ""),
                "channels": list(channels),
            },
        )

    def _walk_delta_history(
        self, config: RunnableConfig, channels: Sequence[str], found: Mapping[str, Any]
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
        target = checkpoints.get(str(get_checkpoint_id(config) or ""))
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

    def _prepare_seed_blobs(
        self, config: RunnableConfig, seeds: Mapping[str, tuple[str, str]]
    ) -> PreparedQuery:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = str(configurable.get("checkpoint_ns") or "")
        ids = [
            RecordID("checkpoint_blob", [thread_id, checkpoint_ns, channel, version])
            for channel, version in seeds.values()
        ]
        return PreparedQuery(SELECT_BLOBS_SQL, {"ids": ids})

    def _delta_result(
        self,
        channels: Sequence[str],
        collected: Mapping[str, list[Mapping[str, Any]]],
        seed_rows: Iterable[Mapping[str, Any]],
    ) -> dict[str, Any]:
        seeds = {b["channel"]: self._load(b["type"], b["value"]) for b in seed_rows}
        result: dict[str, Any] = {}
        for channel in channels:
            entry: dict[str, Any] = {
                "writes": [
                    (w["task_id"], w["channel"], self._load(w["type"], w["value"]))
                    for w in reversed(collected[channel])
                ]
            }
            if channel in seeds:
                entry["seed"] = seeds[channel]
            result[channel] = entry
        return result

    # -- copy ----------------------------------------------------------------

    @staticmethod
    def _copy_rows(thread: Mapping[str, Any], target: str) -> dict[str, Any]:
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

    # -- operations, written once without I/O ------------------------------------
    #
    # Each operation is a generator that yields the queries it needs and gets
    # back their per-statement results; ``SurrealSaver`` and
    # ``AsyncSurrealSaver`` only drive it (``_run`` / ``_arun``).

    def _op_setup(self) -> Steps[None]:
        applied = set((yield PreparedQuery(MIGRATIONS_TABLE_SQL, {}))[-1] or [])
        for version, sql in enumerate(MIGRATIONS):
            if version not in applied:
                yield PreparedQuery(sql + RECORD_MIGRATION_SQL, {"version": version})

    def _op_get_tuple(self, config: RunnableConfig) -> Steps[CheckpointTuple | None]:
        *_, found, writes = yield self._prepare_get(config)
        if not found:
            return None
        cp = found[0]
        thread_id, checkpoint_ns, checkpoint_id = (
            cp["thread_id"],
            cp["checkpoint_ns"],
            cp["checkpoint_id"],
        )
        # Missing blobs (a version whose value was never stored) fetch as NONE.
        blobs = [b for b in cp.get("blobs") or [] if isinstance(b, Mapping)]
        row = [
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            cp.get("parent_checkpoint_id"),
            cp["type"],
            cp["checkpoint"],
            cp["metadata_type"],
            cp["metadata_value"],
            [[b["channel"], b["version"]] for b in blobs],
        ]
        blob_rows = [
            [thread_id, checkpoint_ns, b["channel"], b["version"], b["type"], b["value"]]
            for b in blobs
        ]
        write_rows = [
            [
                thread_id,
                checkpoint_ns,
                checkpoint_id,
                w["task_id"],
                w.get("task_path", ""),
                w["idx"],
                w["channel"],
                w["type"],
                w["value"],
            ]
            for w in writes or []
        ]
        return self._tuples_from([row], blob_rows, write_rows)[0]

    def _op_list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Steps[list[CheckpointTuple]]:
        page = (yield self._prepare_list(config, filter, before, limit))[-1] or []
        if not page:
            return []
        blob_rows, *write_groups = yield self._page_details(page)
        writes = [w for group in write_groups for w in group]
        return self._tuples_from(page, blob_rows, writes)

    def _op_put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Steps[RunnableConfig]:
        query, next_config = self._prepare_put(config, checkpoint, metadata, new_versions)
        yield query
        return next_config

    def _op_put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> Steps[None]:
        if writes:
            yield self._prepare_put_writes(config, writes, task_id, task_path)

    def _op_delete_thread(self, thread_id: str) -> Steps[None]:
        yield PreparedQuery(DELETE_THREAD_SQL, {"thread_id": str(thread_id)})

    def _op_delete_for_runs(self, run_ids: Sequence[str]) -> Steps[None]:
        if isinstance(run_ids, str):
            raise TypeError("run_ids must be a sequence of run ids, not a str")
        if not run_ids:
            return
        rows = (
            yield PreparedQuery(SELECT_RUN_CHECKPOINTS_SQL, {"run_ids": [str(r) for r in run_ids]})
        )[-1] or []
        if not rows:
            return
        keys = [[r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"]] for r in rows]
        yield PreparedQuery(
            delete_checkpoints_sql(len(keys)), {f"key_{i}": key for i, key in enumerate(keys)}
        )
        for thread_id in sorted({k[0] for k in keys}):
            yield PreparedQuery(REPAIR_THREAD_SQL, {"thread_id": thread_id})

    def _op_copy_thread(self, source_thread_id: str, target_thread_id: str) -> Steps[None]:
        thread = (yield PreparedQuery(SELECT_THREAD_SQL, {"thread_id": str(source_thread_id)}))[-1]
        yield PreparedQuery(COPY_THREAD_SQL, self._copy_rows(thread or {}, str(target_thread_id)))

    def _op_prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> Steps[None]:
        threads = self._check_prune(thread_ids, strategy)
        if strategy == "keep_latest" and threads:
            delta = (yield PreparedQuery(DELTA_THREADS_SQL, {"thread_ids": threads}))[-1] or []
            if delta:
                raise NotImplementedError(
                    "keep_latest can't prune threads that use a DeltaChannel "
                    f"(their latest state is rebuilt from older writes): {', '.join(sorted(delta))}; "
                    "use strategy='delete' or leave them"
                )
        for thread_id in threads:
            if strategy == "delete":
                yield PreparedQuery(DELETE_THREAD_SQL, {"thread_id": thread_id})
            else:
                yield PreparedQuery(PRUNE_KEEP_LATEST_SQL, {"thread_id": thread_id})
                yield PreparedQuery(REPAIR_THREAD_SQL, {"thread_id": thread_id})

    def _op_get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Steps[dict[str, Any]]:
        if not channels:
            return {}
        found = (yield self._prepare_delta_history(config, channels))[-1] or {}
        collected, seeds = self._walk_delta_history(config, channels, found)
        seed_rows: list[Mapping[str, Any]] = []
        if seeds:
            seed_rows = (yield self._prepare_seed_blobs(config, seeds))[-1] or []
        return self._delta_result(channels, collected, seed_rows)

    @staticmethod
    def _check_prune(thread_ids: Sequence[str], strategy: str) -> list[str]:
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread ids, not a str")
        if strategy not in PRUNE_STRATEGIES:
            raise ValueError(f"unknown prune strategy {strategy!r} (use 'keep_latest' or 'delete')")
        return [str(t) for t in thread_ids]


def _key(record: Any) -> list[Any]:
    """The key of a :class:`RecordID` as a list."""
    return list(record.id)


def _both(
    op: Callable[Concatenate[Any, P], Steps[R]],
) -> tuple[Callable[Concatenate[Any, P], R], Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]]:
    """The sync and the async method of one operation, from its one definition.

    ``_op_get_tuple`` gives ``get_tuple`` and ``aget_tuple``: both take the
    operation's parameters; the sync one drives it with ``self._run``, the
    async one with ``await self._arun``.
    """

    def sync_method(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return cast(R, self._run(op(self, *args, **kwargs)))

    async def async_method(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return cast(R, await self._arun(op(self, *args, **kwargs)))

    name = op.__name__.removeprefix("_op_")
    signature = inspect.signature(op).replace(return_annotation=inspect.Signature.empty)
    method: Any
    for method, method_name in ((sync_method, name), (async_method, "a" + name)):
        method.__name__ = method_name
        method.__qualname__ = f"SaverMethods.{method_name}"
        method.__doc__ = op.__doc__
        method.__signature__ = signature
    return sync_method, async_method


class SaverMethods(BaseSurrealSaver):
    """LangGraph's saver methods, sync and async, each pair made from one operation.

    A subclass supplies the two drivers: ``_run`` (blocking I/O in
    ``SurrealSaver``, a hop to the event loop in ``AsyncSurrealSaver``) and
    ``_arun`` (awaited I/O in ``AsyncSurrealSaver``, the blocking driver in a
    worker thread in ``SurrealSaver``). The parameters of each method are its
    operation's (``BaseSurrealSaver._op_*``), so they are written once.
    """

    def _run(self, steps: Steps[R]) -> R:
        raise NotImplementedError

    async def _arun(self, steps: Steps[R]) -> R:
        raise NotImplementedError

    get_tuple, aget_tuple = _both(BaseSurrealSaver._op_get_tuple)
    put, aput = _both(BaseSurrealSaver._op_put)
    put_writes, aput_writes = _both(BaseSurrealSaver._op_put_writes)
    delete_thread, adelete_thread = _both(BaseSurrealSaver._op_delete_thread)
    delete_for_runs, adelete_for_runs = _both(BaseSurrealSaver._op_delete_for_runs)
    copy_thread, acopy_thread = _both(BaseSurrealSaver._op_copy_thread)
    prune, aprune = _both(BaseSurrealSaver._op_prune)
    get_delta_channel_history, aget_delta_channel_history = _both(
        BaseSurrealSaver._op_get_delta_channel_history
    )

    # Listing is an iterator on one side and an async iterator on the other.
    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._run(self._op_list(config, filter, before, limit))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        # The whole page is fetched before the first yield: a caller may call
        # aget_tuple inside the loop (LangGraph does), which must not wait on us.
        for item in await self._arun(self._op_list(config, filter, before, limit)):
            yield item
