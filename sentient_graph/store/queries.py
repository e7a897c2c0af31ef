"""Every SurrealQL statement of the store, and the requests its operations yield.

Owns the append-only list of migrations (position is the version), each
statement as a module constant or built by a pure function from constant
fragments, :class:`Hnsw` (SurrealDB's own vector index, opt-in), and the two
requests an operation yields to its driver: :class:`PreparedQuery` and
:class:`EmbedTexts`.

Must not: do I/O, or format a value into SurrealQL (values are ``$parameters``;
the only numbers in DDL are checked ints, as DDL takes no parameters).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from sentient_graph.errors import ConfigError
from sentient_graph.surreal.steps import explain_missing_schema

__all__ = [
    "LIVE_CONDITION",
    "MIGRATIONS",
    "EmbedTexts",
    "Hnsw",
    "PreparedQuery",
    "Steps",
    "candidates_sql",
    "explain_query_error",
    "items_under_sql",
    "prefix_vars",
    "search_sql",
]

R = TypeVar("R")

# ---------------------------------------------------------------------------
# Schema: migrations are append-only; position in the list is the version.
# ---------------------------------------------------------------------------

MIGRATIONS_TABLE_SQL = """
DEFINE TABLE IF NOT EXISTS store_migration SCHEMALESS;
SELECT VALUE version FROM store_migration;
"""

MIGRATIONS: list[str] = [
    # v0: items, their vectors, counters; expired items found through an index.
    """
    DEFINE TABLE IF NOT EXISTS store_item SCHEMALESS;
    DEFINE TABLE IF NOT EXISTS store_vector SCHEMALESS;
    DEFINE TABLE IF NOT EXISTS store_state SCHEMALESS;
    DEFINE INDEX IF NOT EXISTS store_item_expires_at ON store_item FIELDS expires_at;
    """,
]

RECORD_MIGRATION_SQL = "UPSERT type::record('store_migration', $version) SET version = $version, applied_at = time::now() RETURN NONE;"

INDEX_DIMS_SQL = "RETURN store_state:index.dims;"
SET_INDEX_DIMS_SQL = "UPSERT store_state:index SET dims = $dims RETURN NONE;"

# DDL takes no parameters: the numbers are checked ints (Hnsw.__post_init__).
_HNSW_SQL = (
    "DEFINE INDEX IF NOT EXISTS store_vector_hnsw ON store_vector FIELDS embedding "
    "HNSW DIMENSION {dims} DIST COSINE TYPE F32 EFC {efc} M {m};"
)


@dataclass(frozen=True)
class Hnsw:
    """SurrealDB's own HNSW index on ``store_vector.embedding`` (for SurrealQL ``<|k, ef|>`` queries).

    Off by default (``hnsw=None``): the store searches its in-process index,
    and keeping the engine's HNSW index up to date is most of the cost of a
    put (BENCHMARKS.md, "Long-term memory"). Pass ``hnsw=Hnsw(efc=..., m=...)``
    when other SurrealDB clients search the vectors with SurrealQL.
    """

    efc: int = 150
    m: int = 12

    def __post_init__(self) -> None:
        for name in ("efc", "m"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"Hnsw({name}=...) must be a positive int, got {value!r}")

    def sql(self, dims: int) -> str:
        return _HNSW_SQL.format(dims=int(dims), efc=int(self.efc), m=int(self.m))


@dataclass(frozen=True)
class PreparedQuery:
    """A statement and its bound parameters."""

    sql: str
    vars: dict[str, Any]


@dataclass(frozen=True)
class EmbedTexts:
    """Texts the driver must embed (as documents, or as one search query each)."""

    texts: list[str]
    query: bool = False


#: An operation: yields queries or texts to embed, receives the answers, returns R.
Steps = Generator["PreparedQuery | EmbedTexts", Any, R]

# ---------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------

_ITEM_FIELDS = "prefix, key, value, created_at, updated_at, ttl_minutes"
LIVE_CONDITION = "(expires_at = NONE OR expires_at > $now)"

GET_SQL = f"SELECT VALUE [{_ITEM_FIELDS}] FROM $ids WHERE {{live}};"

REFRESH_TTL_SQL = """UPDATE $ids SET expires_at = $now + duration::from_millis(math::round(ttl_minutes * 60000))
    WHERE ttl_minutes != NONE RETURN NONE;"""

PUT_ITEMS_SQL = """INSERT INTO store_item $rows ON DUPLICATE KEY UPDATE
    value = $input.value, updated_at = $input.updated_at,
    expires_at = $input.expires_at, ttl_minutes = $input.ttl_minutes RETURN NONE;"""
DELETE_ITEMS_SQL = "DELETE $deleted RETURN NONE;"
# An item's vectors that its new value no longer has ($k = [namespace, key, paths
# kept]); the kept ones are overwritten in place. Deleting a record and
# inserting it again in one transaction fails on this engine ("already exists").
CLEAR_VECTORS_SQL = """FOR $k IN $touched {
    DELETE store_vector:[$k[0], $k[1], NONE]..[$k[0], $k[1], ..] WHERE path NOT IN $k[2] RETURN NONE;
};"""
PUT_VECTORS_SQL = """INSERT INTO store_vector $vectors ON DUPLICATE KEY UPDATE
    vector = $input.vector, embedding = $input.embedding RETURN NONE;"""
BUMP_VERSION_SQL = "UPSERT store_state:vectors SET version += 1 RETURN VALUE version;"
VERSION_SQL = "RETURN store_state:vectors.version;"

# The version first: rows read after it are at least as new, so a write that
# lands in between shows as a newer version at the next search.
LOAD_VECTORS_SQL = VERSION_SQL + "\nSELECT VALUE [prefix, key, vector] FROM store_vector;"

NAMESPACES_SQL = "SELECT VALUE prefix FROM store_item WHERE {live} GROUP BY prefix;"

# The version moves only when something expired: a sweep that finds nothing
# must not make every other process reload its index.
SWEEP_SQL = """
BEGIN TRANSACTION;
LET $gone = (SELECT VALUE [prefix, key] FROM store_item WHERE expires_at != NONE AND expires_at <= $now);
FOR $k IN $gone {
    DELETE type::record('store_item', $k) RETURN NONE;
    DELETE store_vector:[$k[0], $k[1], NONE]..[$k[0], $k[1], ..] RETURN NONE;
};
IF array::len($gone) > 0 { UPSERT store_state:vectors SET version += 1 RETURN NONE; };
RETURN {gone: $gone, version: store_state:vectors.version};
COMMIT TRANSACTION;
"""


def items_under_sql(prefix: bool) -> str:
    """The FROM targets of the items under a namespace prefix: two id ranges, or the table."""
    if not prefix:
        return "store_item"
    return "store_item:[$prefix, NONE]..=[$prefix, ..], store_item:[$prefix_low, NONE]..[$prefix_high, NONE]"


def search_sql(*, prefix: bool, condition: str, live: bool) -> str:
    """Items under a prefix that match a condition, newest update first, one page."""
    where = condition + (f" AND {LIVE_CONDITION}" if live else "")
    return (
        f"SELECT VALUE [{_ITEM_FIELDS}] FROM {items_under_sql(prefix)} WHERE {where} "
        "ORDER BY updated_at DESC LIMIT $limit START $offset;"
    )


def candidates_sql(*, condition: str, live: bool) -> str:
    """Of the items ``$ids`` (a similarity ranking's next batch), those a condition keeps."""
    where = condition + (f" AND {LIVE_CONDITION}" if live else "")
    return f"SELECT VALUE [{_ITEM_FIELDS}] FROM $ids WHERE {where};\n{VERSION_SQL}"


def prefix_vars(prefix: str) -> dict[str, Any]:
    if not prefix:
        return {}
    return {"prefix": prefix, "prefix_low": prefix + ".", "prefix_high": prefix + "/"}


def explain_query_error(exc: Exception) -> Exception:
    """Name the fix for the errors users cause (schema not set up), pass others through."""
    return explain_missing_schema(exc, "store_", "store.setup()")
