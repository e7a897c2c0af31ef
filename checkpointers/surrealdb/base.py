"""The sans-IO core the sync and async SurrealDB savers share.

Owns: the serializer default, channel versions, turning a checkpoint and its
writes into records (write batches), and every saver operation written once as
a generator (``_op_*``) that yields the queries it needs and receives their
per-statement results. ``SurrealSaver`` and ``AsyncSurrealSaver`` drive each
operation once, with blocking or awaited I/O (``_run`` / ``_arun``); their
public methods are written out in ``methods.py``.

Must not: do I/O, hold SurrealQL (``queries.py``), or know row positions
(``rows.py``).

A little over 500 lines: every operation of both savers is here once, which is
what keeps the sync and async savers from being two hand-kept copies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

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
from surrealdb import RecordID

from checkpointers.surrealdb.queries import (
    COPY_THREAD_SQL,
    DELETE_THREAD_SQL,
    DELTA_HISTORY_SQL,
    DELTA_THREADS_SQL,
    GET_BY_ID_SQL,
    GET_LATEST_SQL,
    MIGRATIONS,
    PRUNE_KEEP_LATEST_SQL,
    PRUNE_STRATEGIES,
    REPAIR_THREAD_SQL,
    SCHEMA,
    SELECT_BLOBS_SQL,
    SELECT_RUN_CHECKPOINTS_SQL,
    SELECT_THREAD_SQL,
    PreparedQuery,
    Steps,
    WriteBatch,
    delete_checkpoints_sql,
    list_sql,
    page_details_sql,
)
from checkpointers.surrealdb.rows import (
    BlobRow,
    PageRow,
    WriteRow,
    blob_rows,
    copy_rows,
    delta_result,
    filterable,
    page_rows,
    tuples_from,
    walk_delta_history,
    write_rows,
)
from sentient_graph.errors import SerializationFailed
from sentient_graph.surreal.migrations import migration_steps
from sentient_graph.surreal.steps import explain_missing_schema

__all__ = [
    "MIGRATIONS",
    "BaseSurrealSaver",
    "PreparedQuery",
    "Steps",
    "WriteBatch",
    "explain_query_error",
]


def explain_query_error(exc: Exception) -> Exception:
    """Name the fix for the errors users cause (schema not set up), pass others through."""
    return explain_missing_schema(exc, "checkpoint", "saver.setup()")


def _str_version(version: Any) -> str:
    return str(version)


class BaseSurrealSaver(BaseCheckpointSaver[str]):
    """Shared logic of :class:`SurrealSaver` and :class:`AsyncSurrealSaver`."""

    def __init__(self, *, serde: SerializerProtocol | None = None) -> None:
        """Use ``serde``, or LangGraph's default serializer, as ``InMemorySaver`` does.

        The default revives what LangGraph's own savers revive (warning about
        types outside its allowlist; strict under ``LANGGRAPH_STRICT_MSGPACK=true``).
        Pass ``JsonPlusSerializer(allowed_msgpack_modules=None)`` for the strict
        allowlist regardless of the environment.
        """
        super().__init__(serde=serde)

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
        inline: list[list[Any]] = []
        for channel, version in new_versions.items():
            ver = _str_version(version)
            if channel in values:
                type_, data = self._dump(values[channel], f"channel {channel!r}")
            else:
                type_, data = "empty", b""
            inline.append([channel, ver, type_, data])
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
        new_keys = {(entry[0], entry[1]) for entry in inline}
        row = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
            "parent_checkpoint_id": str(parent_id) if parent_id else None,
            "type": cp_type,
            "checkpoint": cp_data,
            "metadata_type": md_type,
            "metadata_value": md_data,
            "metadata": filterable(dict(full_metadata)),
            "run_id": str(run_id) if run_id is not None else None,
            "blob_keys": blob_keys,
            # The values this checkpoint made, also here: a read of this
            # checkpoint (or of a page holding it) finds them without a look-up.
            "inline": inline,
            # Links the reads FETCH: the checkpoint's other channel values.
            "blobs": [
                RecordID("checkpoint_blob", [thread_id, checkpoint_ns, *key])
                for key in blob_keys
                if (key[0], key[1]) not in new_keys
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
            params[f"filter_value_{i}"] = filterable(value)
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

    def _page_details(self, page: Sequence[PageRow]) -> PreparedQuery:
        inline = {
            (row.thread_id, row.checkpoint_ns, entry[0], entry[1])
            for row in page
            for entry in row.inline or []
        }
        blob_ids = {
            (row.thread_id, row.checkpoint_ns, channel, version)
            for row in page
            for channel, version in row.blob_keys or []
        } - inline
        groups: dict[tuple[str, str], list[str]] = {}
        for row in page:
            groups.setdefault((row.thread_id, row.checkpoint_ns), []).append(row.checkpoint_id)
        params: dict[str, Any] = {}
        if blob_ids:
            params["blob_ids"] = [
                RecordID("checkpoint_blob", list(key)) for key in sorted(blob_ids)
            ]
        for i, ((thread_id, ns), ids) in enumerate(groups.items()):
            params.update(
                {
                    f"thread_{i}": thread_id,
                    f"ns_{i}": ns,
                    f"low_{i}": min(ids),
                    f"high_{i}": max(ids),
                }
            )
        return PreparedQuery(page_details_sql(len(groups), blobs=bool(blob_ids)), params)

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

    # -- operations, written once without I/O ------------------------------------
    #
    # Each operation is a generator that yields the queries it needs and gets
    # back their per-statement results; ``SurrealSaver`` and
    # ``AsyncSurrealSaver`` only drive it (``_run`` / ``_arun``).

    def _op_setup(self) -> Steps[None]:
        steps = migration_steps(SCHEMA)
        try:
            sql, params = next(steps)
            while True:
                sql, params = steps.send((yield PreparedQuery(sql, params)))
        except StopIteration:
            return

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
        blob_list = [
            BlobRow(thread_id, checkpoint_ns, b["channel"], b["version"], b["type"], b["value"])
            for b in cp.get("blobs") or []
            if isinstance(b, Mapping)
        ]
        inline = cp.get("inline") or []
        row = PageRow(
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            cp.get("parent_checkpoint_id"),
            cp["type"],
            cp["checkpoint"],
            cp["metadata_type"],
            cp["metadata_value"],
            [[b.channel, b.version] for b in blob_list] + [entry[:2] for entry in inline],
            inline,
        )
        write_list = [
            WriteRow(
                thread_id,
                checkpoint_ns,
                checkpoint_id,
                w["task_id"],
                w.get("task_path", ""),
                w["idx"],
                w["channel"],
                w["type"],
                w["value"],
            )
            for w in writes or []
        ]
        return tuples_from([row], blob_list, write_list, self._load)[0]

    def _op_list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Steps[list[CheckpointTuple]]:
        page = page_rows((yield self._prepare_list(config, filter, before, limit))[-1])
        if not page:
            return []
        details = self._page_details(page)
        found = yield details
        fetched = "blob_ids" in details.vars
        blobs = blob_rows(found[0]) if fetched else []
        writes = [w for group in found[int(fetched) :] for w in write_rows(group)]
        return tuples_from(page, blobs, writes, self._load)

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
        yield PreparedQuery(COPY_THREAD_SQL, copy_rows(thread or {}, str(target_thread_id)))

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
        collected, seeds = walk_delta_history(str(get_checkpoint_id(config) or ""), channels, found)
        seed_rows: list[Mapping[str, Any]] = []
        if seeds:
            seed_rows = (yield self._prepare_seed_blobs(config, seeds))[-1] or []
        return delta_result(channels, collected, seed_rows, self._load)

    @staticmethod
    def _check_prune(thread_ids: Sequence[str], strategy: str) -> list[str]:
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread ids, not a str")
        if strategy not in PRUNE_STRATEGIES:
            raise ValueError(f"unknown prune strategy {strategy!r} (use 'keep_latest' or 'delete')")
        return [str(t) for t in thread_ids]
