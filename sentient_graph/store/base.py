"""What the sync and async SurrealDB stores share: the operations, written once.

Owns each ``BaseStore`` operation as a generator that yields what it needs - a
:class:`~sentient_graph.store.queries.PreparedQuery` to run or an
:class:`~sentient_graph.store.queries.EmbedTexts` to embed - and is sent back
the answer; the validation of operations; rows turned into ``Item``s. Does no
I/O: ``SurrealStore`` and ``AsyncSurrealStore`` only drive these generators.
Every statement it sends is in ``queries``. A little over 500 lines for the
same reason as the checkpointer's core: each operation once, for both stores.

Storage layout (array record ids; a namespace is its labels joined with ``.``,
which no label may contain, so two namespaces never share a text)::

    store_item:[namespace, key]            value, created_at, updated_at, expires_at, ttl_minutes
    store_vector:[namespace, key, path]    vector (float32 unit bytes), embedding (array, for HNSW)
    store_state:vectors                    version: bumped by every write that may change vectors
    store_state:index                      dims the vectors were written with

Items under a namespace prefix are two record-id ranges (the namespace itself,
and the texts between ``prefix + "."`` and ``prefix + "/"``), never a scan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.store.base import (
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
)
from surrealdb import Null, RecordID

from sentient_graph.errors import ConfigError, InvalidInput
from sentient_graph.store.filters import filter_sql, to_stored
from sentient_graph.store.queries import (
    BUMP_VERSION_SQL,
    CLEAR_VECTORS_SQL,
    DELETE_ITEMS_SQL,
    GET_SQL,
    INDEX_DIMS_SQL,
    LIVE_CONDITION,
    LOAD_VECTORS_SQL,
    MIGRATIONS,
    MIGRATIONS_TABLE_SQL,
    NAMESPACES_SQL,
    PUT_ITEMS_SQL,
    PUT_VECTORS_SQL,
    RECORD_MIGRATION_SQL,
    REFRESH_TTL_SQL,
    SET_INDEX_DIMS_SQL,
    SWEEP_SQL,
    EmbedTexts,
    Hnsw,
    PreparedQuery,
    Steps,
    candidates_sql,
    explain_query_error,
    prefix_vars,
    search_sql,
)
from sentient_graph.store.vectors import ItemKey, VectorIndex, as_unit_bytes

__all__ = [
    "MIGRATIONS",
    "BaseSurrealStore",
    "EmbedTexts",
    "Hnsw",
    "PreparedQuery",
    "Steps",
    "explain_query_error",
]


# ---------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------


def _namespace_text(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


def _check_labels(namespace: Sequence[Any], *, allow_empty: bool) -> None:
    if not isinstance(namespace, tuple | list):
        raise InvalidNamespaceError(f"a namespace is a tuple of strings, got {namespace!r}")
    if not namespace and not allow_empty:
        raise InvalidNamespaceError(
            "namespace cannot be empty: give at least one label, e.g. ('memories', 'user-1')"
        )
    for label in namespace:
        if not isinstance(label, str) or not label:
            raise InvalidNamespaceError(
                f"namespace label {label!r} in {tuple(namespace)!r} must be a non-empty string"
            )
        if "." in label or "\x00" in label:
            raise InvalidNamespaceError(
                f"namespace label {label!r} in {tuple(namespace)!r} contains '.' or NUL: "
                "use another character, e.g. '-' or '_'"
            )


def validate(op: Op) -> None:
    """Check one operation before anything of its batch runs (nothing is written on error)."""
    if isinstance(op, PutOp):
        _check_labels(op.namespace, allow_empty=False)
        if op.namespace[0] == "langgraph":
            raise InvalidNamespaceError(
                f"namespace {op.namespace!r}: the root label 'langgraph' is reserved"
            )
        if not isinstance(op.key, str):
            raise InvalidInput(f"item key must be a string, got {op.key!r}")
        if op.value is not None and not isinstance(op.value, Mapping):
            raise InvalidInput(
                f"item value must be a dict, got {type(op.value).__name__} (wrap it: {{'value': ...}})"
            )
        if op.ttl is not None and (isinstance(op.ttl, bool) or not isinstance(op.ttl, int | float)):
            raise InvalidInput(f"ttl is minutes as a number, got {op.ttl!r}")
    elif isinstance(op, GetOp):
        _check_labels(op.namespace, allow_empty=True)
    elif isinstance(op, SearchOp):
        _check_labels(op.namespace_prefix, allow_empty=True)
        filter_sql(op.filter)  # raises on unknown operators
    elif isinstance(op, ListNamespacesOp):
        for condition in op.match_conditions or ():
            _check_labels(condition.path, allow_empty=True)
    else:
        raise InvalidInput(f"unknown store operation {type(op).__name__}")


def _from_stored(value: Any) -> Any:
    if value is Null:
        return None
    if isinstance(value, dict):
        return {k: _from_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_stored(v) for v in value]
    return value


def _plain_time(value: datetime) -> datetime:
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo or UTC,
    )


def _item(row: Sequence[Any]) -> Item:
    prefix, key, value, created_at, updated_at = row[:5]
    return Item(
        namespace=tuple(prefix.split(".")),
        key=key,
        value=_from_stored(value) or {},
        created_at=_plain_time(created_at),
        updated_at=_plain_time(updated_at),
    )


def _search_item(row: Sequence[Any], score: float | None = None) -> SearchItem:
    prefix, key, value, created_at, updated_at = row[:5]
    return SearchItem(
        namespace=tuple(prefix.split(".")),
        key=key,
        value=_from_stored(value) or {},
        created_at=_plain_time(created_at),
        updated_at=_plain_time(updated_at),
        score=score,
    )


def _matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    part = namespace[: len(path)] if condition.match_type == "prefix" else namespace[-len(path) :]
    if not path:
        return True
    return all(p == "*" or p == n for p, n in zip(path, part, strict=True))


def list_namespaces(op: ListNamespacesOp, namespaces: Iterable[str]) -> list[tuple[str, ...]]:
    """Apply prefix/suffix conditions (``*`` matches one label), depth, order and paging."""
    found = [tuple(ns.split(".")) for ns in namespaces]
    if op.match_conditions:
        found = [ns for ns in found if all(_matches(c, ns) for c in op.match_conditions)]
    if op.max_depth is not None:
        found = list({ns[: op.max_depth] for ns in found})
    return sorted(found)[op.offset : op.offset + op.limit]


def _record(table: str, *key: str) -> RecordID:
    return RecordID(table, list(key))


# ---------------------------------------------------------------------------
# The store's logic
# ---------------------------------------------------------------------------


#: Vectors from which searches use the in-process HNSW graph (BENCHMARKS.md).
APPROXIMATE_FROM = 20_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BaseSurrealStore:
    """Configuration and the operations of :class:`SurrealStore` and :class:`AsyncSurrealStore`.

    Args:
        index: LangGraph's ``IndexConfig``: ``dims``, ``embed`` (LangChain
            ``Embeddings``, a function, or ``"provider:model"``) and ``fields``.
            Without it, ``query=`` is ignored and nothing is embedded.
        ttl: LangGraph's ``TTLConfig``: ``default_ttl`` (minutes),
            ``refresh_on_read``, ``sweep_interval_minutes``, ``omit_expired``.
        hnsw: Also keep SurrealDB's own HNSW index over the vectors (:class:`Hnsw`);
            ``None`` (the default) keeps none.
        approximate_from: Vectors from which searches take their candidates from
            an in-process HNSW graph (``usearch``), built in the background;
            ``None``: always exact search.
        clock: Returns the current time (timezone-aware); tests pass their own.
    """

    supports_ttl = True

    def __init__(
        self,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        hnsw: Hnsw | None = None,
        approximate_from: int | None = APPROXIMATE_FROM,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.ttl_config = ttl
        self.hnsw = hnsw
        self.clock = clock
        self.index_config: dict[str, Any] | None = None
        self.embeddings = None
        self._vectors: VectorIndex | None = None
        if index:
            dims = index.get("dims")
            if not isinstance(dims, int) or isinstance(dims, bool) or dims <= 0:
                raise ConfigError(f"index['dims'] must be a positive int, got {dims!r}")
            self.index_config = dict(index)
            self.embeddings = ensure_embeddings(index.get("embed"))
            self._fields = [
                (p, tokenize_path(p) if p != "$" else p) for p in (index.get("fields") or ["$"])
            ]
            self._vectors = VectorIndex(dims, approximate_from=approximate_from)

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait until an in-process HNSW graph being built is ready; True when searches use one."""
        return self._vectors is not None and self._vectors.wait_approximate(timeout)

    @property
    def _omit_expired(self) -> bool:
        return bool((self.ttl_config or {}).get("omit_expired", False))

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ConfigError("the store's clock must return timezone-aware datetimes")
        return now

    # -- setup -------------------------------------------------------------

    def _op_setup(self) -> Steps[None]:
        applied = set((yield PreparedQuery(MIGRATIONS_TABLE_SQL, {}))[-1] or [])
        for version, sql in enumerate(MIGRATIONS):
            if version not in applied:
                yield PreparedQuery(sql + RECORD_MIGRATION_SQL, {"version": version})
        if self._vectors is None:
            return
        dims = self._vectors.dims
        (stored,) = yield PreparedQuery(INDEX_DIMS_SQL, {})
        if stored not in (None, dims):
            raise ConfigError(
                f"this store's vectors have {stored} dimensions, index['dims'] is {dims}: "
                "use the same dims, or another SurrealDB database for the new embedding"
            )
        sql = SET_INDEX_DIMS_SQL + (self.hnsw.sql(dims) if self.hnsw else "")
        yield PreparedQuery(sql, {"dims": dims})

    # -- batch -------------------------------------------------------------

    def _op_batch(self, ops: Iterable[Op]) -> Steps[list[Result]]:
        ops = list(ops)
        for op in ops:
            validate(op)
        results: list[Result] = [None] * len(ops)
        now = self._now()
        gets = [(i, op) for i, op in enumerate(ops) if isinstance(op, GetOp)]
        if gets:
            found = yield from self._op_get_many([op for _, op in gets], now)
            for (i, _), item in zip(gets, found, strict=True):
                results[i] = item
        for i, op in enumerate(ops):
            if isinstance(op, SearchOp):
                results[i] = yield from self._op_search(op, now)
        listings = [(i, op) for i, op in enumerate(ops) if isinstance(op, ListNamespacesOp)]
        if listings:
            live = LIVE_CONDITION if self._omit_expired else "true"
            (prefixes,) = yield PreparedQuery(NAMESPACES_SQL.format(live=live), {"now": now})
            for i, op in listings:
                results[i] = list_namespaces(op, prefixes or [])
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                puts[(tuple(op.namespace), op.key)] = op  # last write of a key wins
        if puts:
            yield from self._op_put_many(list(puts.values()), now)
        return results

    # -- reads -------------------------------------------------------------

    def _op_get_many(self, ops: Sequence[GetOp], now: datetime) -> Steps[list[Item | None]]:
        ids = [_record("store_item", _namespace_text(op.namespace), op.key) for op in ops]
        live = LIVE_CONDITION if self._omit_expired else "true"
        (rows,) = yield PreparedQuery(GET_SQL.format(live=live), {"ids": ids, "now": now})
        by_key = {(row[0], row[1]): row for row in rows or []}
        wants = {(_namespace_text(op.namespace), op.key) for op in ops if self._refresh(op)}
        refresh = [
            _record("store_item", *key)
            for key, row in by_key.items()
            if row[5] is not None and key in wants
        ]
        if refresh:
            yield PreparedQuery(REFRESH_TTL_SQL, {"ids": refresh, "now": now})
        out: list[Item | None] = []
        for op in ops:
            row = by_key.get((_namespace_text(op.namespace), op.key))
            out.append(_item(row) if row else None)
        return out

    def _refresh(self, op: GetOp | SearchOp) -> bool:
        if op.refresh_ttl is not None and not op.refresh_ttl:
            return False
        return bool((self.ttl_config or {}).get("refresh_on_read", True))

    def _op_refresh(
        self, op: SearchOp, rows: Sequence[Sequence[Any]], now: datetime
    ) -> Steps[None]:
        ids = [_record("store_item", r[0], r[1]) for r in rows if r[5] is not None]
        if ids and self._refresh(op):
            yield PreparedQuery(REFRESH_TTL_SQL, {"ids": ids, "now": now})

    def _op_search(self, op: SearchOp, now: datetime) -> Steps[list[SearchItem]]:
        prefix = _namespace_text(tuple(op.namespace_prefix))
        condition = filter_sql(op.filter)
        live = self._omit_expired
        if not (op.query and self._vectors is not None):
            params = {**condition.vars, **prefix_vars(prefix), "now": now}
            params |= {"limit": op.limit, "offset": op.offset}
            sql = search_sql(prefix=bool(prefix), condition=condition.sql, live=live)
            (rows,) = yield PreparedQuery(sql, params)
            yield from self._op_refresh(op, rows or [], now)
            return [_search_item(row) for row in rows or []]
        (query_vector,) = yield EmbedTexts([op.query], query=True)
        self._check_dims([query_vector])
        wanted = op.offset + op.limit
        for attempt in range(3):
            if not self._vectors.loaded:
                yield from self._op_load_vectors()
            kept: list[tuple[Sequence[Any], float]] = []
            stale = False
            # With a filter, fewer candidates survive: start with more, to need one round trip.
            first = max(16 * wanted, 128) if op.filter else wanted
            for batch in self._vectors.ranked(query_vector, prefix, first=first):
                ids = [_record("store_item", *item) for item, _ in batch]
                params = {**condition.vars, "ids": ids, "now": now}
                rows, version = yield PreparedQuery(
                    candidates_sql(condition=condition.sql, live=live), params
                )
                if (version or 0) != self._vectors.version and attempt < 2:
                    # Another process wrote vectors: this ranking may be out of step.
                    self._vectors.invalidate()
                    stale = True
                    break
                by_key = {(row[0], row[1]): row for row in rows or []}
                kept += [(by_key[item], score) for item, score in batch if item in by_key]
                if len(kept) >= wanted:
                    break
            if not stale:
                break
        # A graph may have missed an item a later exact batch found: order by score.
        kept.sort(key=lambda found: -found[1])
        page = kept[op.offset : wanted]
        found = [_search_item(row, score) for row, score in page]
        if len(kept) < wanted and len(found) < op.limit:
            found += yield from self._op_unscored(op, prefix, condition, now, op.limit - len(found))
        yield from self._op_refresh(op, [row for row, _ in page], now)
        return found

    def _op_unscored(
        self, op: SearchOp, prefix: str, condition: Any, now: datetime, room: int
    ) -> Steps[list[SearchItem]]:
        """Items without vectors that a query search still lists (after the scored ones)."""
        params = {**condition.vars, **prefix_vars(prefix), "now": now, "limit": 2**31, "offset": 0}
        sql = search_sql(prefix=bool(prefix), condition=condition.sql, live=self._omit_expired)
        (rows,) = yield PreparedQuery(sql, params)
        assert self._vectors is not None
        unscored = [r for r in rows or [] if not self._vectors.has((r[0], r[1]))]
        return [_search_item(row) for row in unscored[:room]]

    def _op_load_vectors(self) -> Steps[None]:
        assert self._vectors is not None
        version, rows = yield PreparedQuery(LOAD_VECTORS_SQL, {})
        self._vectors.load(((r[0], r[1], r[2]) for r in rows or []), version or 0)

    # -- writes ------------------------------------------------------------

    def _texts_of(self, op: PutOp) -> list[tuple[str, str]]:
        """(path, text) pairs to embed for one put, as LangGraph's stores choose them."""
        if self._vectors is None or op.value is None or op.index is False:
            return []
        fields = (
            self._fields
            if op.index is None
            else [(p, tokenize_path(p) if p != "$" else p) for p in op.index]
        )
        pairs: list[tuple[str, str]] = []
        for path, tokens in fields:
            texts = get_text_at_path(op.value, tokens)
            if len(texts) > 1:
                pairs += [(f"{path}.{i}", text) for i, text in enumerate(texts)]
            elif texts:
                pairs.append((path, texts[0]))
        return pairs

    def _check_dims(self, vectors: Sequence[Sequence[float]]) -> None:
        assert self._vectors is not None
        dims = self._vectors.dims
        for vector in vectors:
            if len(vector) != dims:
                raise InvalidInput(
                    f"the embedding returned a vector of {len(vector)} dimensions, "
                    f"index['dims'] is {dims}: make them agree (nothing was written)"
                )

    def _op_put_many(self, ops: Sequence[PutOp], now: datetime) -> Steps[None]:
        wanted = {op_i: self._texts_of(op) for op_i, op in enumerate(ops)}
        unique = list(dict.fromkeys(text for pairs in wanted.values() for _, text in pairs))
        vectors_of: dict[str, Sequence[float]] = {}
        if unique:
            vectors = yield EmbedTexts(unique)
            if len(vectors) != len(unique):
                raise InvalidInput(
                    f"the embedding returned {len(vectors)} vectors for {len(unique)} texts"
                )
            self._check_dims(vectors)
            vectors_of = dict(zip(unique, vectors, strict=True))
        rows: list[dict[str, Any]] = []
        deleted: list[RecordID] = []
        touched: list[tuple[str, str, list[str]]] = []
        vector_rows: list[dict[str, Any]] = []
        added: list[tuple[str, str, bytes]] = []
        for op_i, op in enumerate(ops):
            prefix = _namespace_text(tuple(op.namespace))
            touched.append((prefix, op.key, [path for path, _ in wanted[op_i]]))
            if op.value is None:
                deleted.append(_record("store_item", prefix, op.key))
                continue
            row: dict[str, Any] = {
                "id": _record("store_item", prefix, op.key),
                "prefix": prefix,
                "key": op.key,
                "value": to_stored(dict(op.value)),
                "created_at": now,
                "updated_at": now,
            }
            if op.ttl is not None:
                row["ttl_minutes"] = float(op.ttl)
                row["expires_at"] = now + timedelta(minutes=op.ttl)
            rows.append(row)
            for path, text in wanted[op_i]:
                data = as_unit_bytes(vectors_of[text])
                vector_row: dict[str, Any] = {
                    "id": _record("store_vector", prefix, op.key, path),
                    "prefix": prefix,
                    "key": op.key,
                    "path": path,
                    "vector": data,
                }
                if self.hnsw is not None:
                    vector_row["embedding"] = [float(x) for x in vectors_of[text]]
                vector_rows.append(vector_row)
                added.append((prefix, op.key, data))
        statements: list[str] = []
        params: dict[str, Any] = {}
        if rows:
            statements.append(PUT_ITEMS_SQL)
            params["rows"] = rows
        if deleted:
            statements.append(DELETE_ITEMS_SQL)
            params["deleted"] = deleted
        if self._vectors is not None:
            statements.append(CLEAR_VECTORS_SQL)
            params["touched"] = [list(t) for t in touched]
            if vector_rows:
                statements.append(PUT_VECTORS_SQL)
                params["vectors"] = vector_rows
            statements.append(BUMP_VERSION_SQL)
        sql = "\n".join(["BEGIN TRANSACTION;", *statements, "COMMIT TRANSACTION;"])
        results = yield PreparedQuery(sql, params)
        if self._vectors is not None:
            # Results per statement: ..., the version bump, COMMIT.
            version = (results[-2] or [None])[0]
            removed: list[ItemKey] = [(p, k) for p, k, _ in touched]
            self._vectors.apply(removed, added, version=version)

    # -- TTL ---------------------------------------------------------------

    def _op_sweep(self) -> Steps[int]:
        results = yield PreparedQuery(SWEEP_SQL, {"now": self._now()})
        answer = results[-2]  # the RETURN before COMMIT
        gone = answer.get("gone") or []
        if gone and self._vectors is not None:
            self._vectors.apply([(p, k) for p, k in gone], [], version=answer.get("version"))
        return len(gone)
