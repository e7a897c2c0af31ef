"""Every SurrealQL statement of the checkpointer, as constants or built from constant fragments.

Owns: the statements, the pure builders that assemble statements from constant
fragments (values always stay ``$parameters``), and the schema's append-only
list of migration steps (:data:`SCHEMA`, applied by the shared migrator in
:mod:`sentient_graph.surreal.migrations`).

Must not: do I/O, or turn rows into LangGraph objects (``rows.py`` does).

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

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from surrealdb import RecordID

from sentient_graph.surreal.migrations import Migrations

R = TypeVar("R")

# ---------------------------------------------------------------------------
# Schema: append-only; a step's position is its version.
# ---------------------------------------------------------------------------

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
    # whole range; this index is scanned backwards and stops at the limit
    # (BENCHMARKS.md, "Latest checkpoint with a long history").
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


#: The checkpointer's schema for the shared migrator. Stores set up before it
#: recorded versions 0..n in ``checkpoint_migration``; they are adopted once.
SCHEMA = Migrations(
    "checkpoint", tuple(MIGRATIONS), legacy_table="checkpoint_migration", legacy_first=0
)

# ---------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------

# The checkpoints, the channel values that changed (never overwritten: a version
# is immutable), task writes, and the latest pointers, which only move forward
# (checkpoint ids are time-ordered uuid6 strings) - in one transaction. Records
# arrive whole, ids and links included: every expression the engine evaluates per
# write (closures, IF) cost more than the client's encoding of the same values.
PUT_CHECKPOINT = "UPSERT ${p}checkpoint_{i} CONTENT ${p}row_{i} RETURN NONE;"
PUT_BLOBS = "INSERT IGNORE INTO checkpoint_blob ${p}blobs RETURN NONE;"
PUT_LATEST = """UPSERT ${p}latest_{i} SET thread_id = ${p}latest_thread_{i}, checkpoint_ns = ${p}latest_ns_{i},
    checkpoint_id = ${p}latest_id_{i} WHERE checkpoint_id = NONE OR checkpoint_id < ${p}latest_id_{i} RETURN NONE;"""
# Regular writes are first-wins (a retried task must not overwrite what was
# recorded); special writes (errors, interrupts, resume values) are last-wins.
PUT_REGULAR_WRITES = "INSERT IGNORE INTO checkpoint_write ${p}regular RETURN NONE;"
PUT_SPECIAL_WRITES = """INSERT INTO checkpoint_write ${p}special ON DUPLICATE KEY UPDATE
    channel = $input.channel, type = $input.type, value = $input.value, task_path = $input.task_path
    RETURN NONE;"""

#: Most write batches one transaction of a group commit holds. The engine's cost
#: per write grows with the size of its transaction, so a large group is sent as
#: several transactions in one request (BENCHMARKS.md, "Concurrent runs").
BATCHES_PER_TRANSACTION = 16


@dataclass(frozen=True)
class PreparedQuery:
    """A statement and its bound parameters."""

    sql: str
    vars: dict[str, Any]


class WriteBatch:
    """Checkpoint puts and task writes stored in one transaction.

    One ``put`` or ``put_writes`` is a batch of one. The async saver merges
    the batches issued in the same event-loop tick (a superstep's parallel
    tasks finish together) into one request (:func:`group_commit`): on
    ``surrealkv://`` each commit may wait for a sync to disk. Merging keeps
    each operation's meaning: rows are applied in order (the first regular write and the last special write of a
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

    def query(self, prefix: str = "") -> PreparedQuery:
        """The batch as one statement or transaction; every parameter name starts with ``prefix``."""
        statements: list[str] = []
        params: dict[str, Any] = {}
        for i, (record, row) in enumerate(self.checkpoints):
            statements.append(PUT_CHECKPOINT.format(p=prefix, i=i))
            params[f"{prefix}checkpoint_{i}"], params[f"{prefix}row_{i}"] = record, row
        for name, rows, sql in (
            ("blobs", self.blobs, PUT_BLOBS),
            ("regular", self.regular, PUT_REGULAR_WRITES),
            ("special", self.special, PUT_SPECIAL_WRITES),
        ):
            if rows:
                statements.append(sql.format(p=prefix))
                params[prefix + name] = rows
        for i, ((thread_id, checkpoint_ns), checkpoint_id) in enumerate(self.latest.items()):
            statements.append(PUT_LATEST.format(p=prefix, i=i))
            params[f"{prefix}latest_{i}"] = RecordID(
                "checkpoint_latest", [thread_id, checkpoint_ns]
            )
            params[f"{prefix}latest_thread_{i}"] = thread_id
            params[f"{prefix}latest_ns_{i}"] = checkpoint_ns
            params[f"{prefix}latest_id_{i}"] = checkpoint_id
        return PreparedQuery(atomic(statements), params)

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


def group_commit(batches: Sequence[WriteBatch]) -> PreparedQuery:
    """One request storing ``batches`` (in the order given), each batch atomic.

    Up to :data:`BATCHES_PER_TRANSACTION` batches are merged into one
    transaction; more are sent as several transactions, one after another in
    the same request. Each batch stays whole inside one of them. Every
    statement is idempotent (upserts, ``INSERT IGNORE``, last-wins special
    writes, pointers that only move forward), so a request that failed part
    way may be sent again whole.
    """
    if len(batches) <= BATCHES_PER_TRANSACTION:
        return WriteBatch.merge(batches)._prepared
    parts = [
        WriteBatch.merge(batches[start : start + BATCHES_PER_TRANSACTION]).query(f"t{n}_")
        for n, start in enumerate(range(0, len(batches), BATCHES_PER_TRANSACTION))
    ]
    return PreparedQuery(
        "\n".join(part.sql for part in parts),
        {name: value for part in parts for name, value in part.vars.items()},
    )


#: An operation: yields queries (or write batches), receives each one's
#: per-statement results, returns R.
Steps = Generator["PreparedQuery | WriteBatch", list[Any], R]


def atomic(statements: list[str]) -> str:
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

# Rows travel as arrays, not objects (``rows.py`` names them): field names
# repeated in every row cost decoding time (BENCHMARKS.md, "Measurement history").
PAGE_FIELDS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, "
    "metadata_type, metadata_value, blob_keys, inline"
)
BLOB_FIELDS = "thread_id, checkpoint_ns, channel, version, type, value"
WRITE_FIELDS = (
    "thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value"
)

# One checkpoint with its channel values (followed through the `blobs` record
# links) and its writes, in one round trip. Plain `SELECT *` with FETCH cost the
# engine less than an array projection plus a closure over the blob keys, and
# `SELECT * OMIT` less than naming the fields kept (readers take fields by name).
_GET_TAIL_SQL = """
SELECT * OMIT id, metadata, blob_keys FROM checkpoint:[$thread_id, $checkpoint_ns, $checkpoint_id] FETCH blobs;
SELECT * OMIT id, thread_id, checkpoint_ns, checkpoint_id
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


def page_details_sql(groups: int, *, blobs: bool = True) -> str:
    """Channel values of a page (by record id) and its writes (one id range per thread/namespace).

    A page is a contiguous run of checkpoint ids within each (thread,
    namespace), so one range per group covers its writes without a query per
    checkpoint; writes of checkpoints a filter left out are dropped in Python.
    """
    statements = [f"SELECT VALUE [{BLOB_FIELDS}] FROM $blob_ids;"] if blobs else []
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
