"""One migrator for every component's schema (checkpoints, events, runs, ...).

Owns: the ``migration`` table - one row per component, ``migration:[name]``
with ``component``, ``version`` (how many of its steps are applied) and
``applied_at`` - and the order in which steps are applied.

A component declares its schema as a :class:`Migrations`: an append-only list
of SurrealQL steps whose position (from 1) is the version. A step is never
edited or removed once released; a change is a new step at the end. Each step
runs in one transaction with the row that records it, so a step is applied
whole or not at all. Steps must be idempotent (``DEFINE ... IF NOT EXISTS``,
``UPDATE ... WHERE field = NONE``): two processes calling ``setup()`` at once
may both apply the same step, and both must succeed.

A component that recorded its versions in a table of its own before this
migrator (``checkpoint_migration``, ``event_migration``) names it as
``legacy_table``: its versions are adopted once, and its steps are not run again.

Must not: know any component's tables; it only runs the steps it is given.

Example:
    ```python
    from sentient_graph.surreal import Migrations, migrate

    RUN_SCHEMA = Migrations(
        "run",
        (
            "DEFINE TABLE IF NOT EXISTS run SCHEMALESS;"
            " DEFINE INDEX IF NOT EXISTS run_status ON run FIELDS status;",
        ),
    )
    await migrate(conn, RUN_SCHEMA)  # idempotent: at every start
    ```
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from sentient_graph.surreal.connection import AsyncConnection, SyncConnection
from sentient_graph.surreal.steps import adrive, drive

__all__ = [
    "MIGRATION_TABLE",
    "MigrationSteps",
    "Migrations",
    "migrate",
    "migrate_sync",
    "migration_steps",
]

#: The one table recording every component's schema version.
MIGRATION_TABLE = "migration"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_READ_VERSION_SQL = """
DEFINE TABLE IF NOT EXISTS migration SCHEMALESS;
RETURN type::record('migration', [$component]).version;
RETURN object::keys((INFO FOR DB).tables);
"""
_READ_LEGACY_SQL = "SELECT VALUE version FROM type::table($legacy_table);"
# The version only moves forward: a process that applied fewer steps (an older
# release, or one that lost a race) must not take it back.
_RECORD_SQL = """UPSERT type::record('migration', [$component])
    SET component = $component, version = $version, applied_at = time::now()
    WHERE version = NONE OR version < $version RETURN NONE;"""

#: A migration in progress: yields ``(sql, vars)``, receives each query's
#: per-statement results, returns the version reached.
MigrationSteps = Generator[tuple[str, dict[str, Any]], list[Any], int]


@dataclass(frozen=True)
class Migrations:
    """The schema of one component, as an append-only list of steps.

    Attributes:
        component: The component's name, its key in the ``migration`` table.
        steps: SurrealQL, one string per version (step ``i`` is version ``i + 1``);
            each idempotent, none with a transaction of its own.
        legacy_table: A table where this component recorded applied versions
            before this migrator (one row per version, field ``version``), or ``None``.
        legacy_first: The version number the first step had in ``legacy_table``.
    """

    component: str
    steps: Sequence[str]
    legacy_table: str | None = None
    legacy_first: int = 1

    def __post_init__(self) -> None:
        if not self.component:
            raise ValueError("a component needs a name")
        if self.legacy_table is not None and not _IDENTIFIER.fullmatch(self.legacy_table):
            raise ValueError(f"legacy_table {self.legacy_table!r} is not a table name")

    @property
    def version(self) -> int:
        """The version a store has once every step is applied."""
        return len(self.steps)


def _adopted(migrations: Migrations, legacy_versions: Sequence[Any]) -> int:
    """How many leading steps a legacy table says are applied."""
    applied = {v - migrations.legacy_first + 1 for v in legacy_versions if isinstance(v, int)}
    version = 0
    while version + 1 in applied and version < migrations.version:
        version += 1
    return version


def migration_steps(migrations: Migrations) -> MigrationSteps:
    """Bring one component's schema up to date, without I/O (the driver sends each query).

    Reads the component's version, adopts a legacy table's once, then applies
    each missing step in its own transaction together with its record.

    Returns:
        The version reached (``migrations.version``).
    """
    params: dict[str, Any] = {"component": migrations.component}
    _, recorded, tables = yield _READ_VERSION_SQL, params
    version = recorded if isinstance(recorded, int) else 0
    if recorded is None and migrations.legacy_table in (tables or []):
        legacy = (yield _READ_LEGACY_SQL, {"legacy_table": migrations.legacy_table})[-1]
        version = _adopted(migrations, legacy or [])
        if version:
            yield _RECORD_SQL, {**params, "version": version}
    for number in range(version + 1, migrations.version + 1):
        step = migrations.steps[number - 1].strip()
        sql = f"BEGIN TRANSACTION;\n{step}\n{_RECORD_SQL}\nCOMMIT TRANSACTION;"
        yield sql, {**params, "version": number}
    return max(version, migrations.version)


async def migrate(conn: AsyncConnection, migrations: Migrations) -> int:
    """Apply what is missing of ``migrations`` over an async connection; idempotent.

    Returns:
        The component's version afterwards.
    """
    return await adrive(migration_steps(migrations), lambda query: conn.query(*query))


def migrate_sync(conn: SyncConnection, migrations: Migrations) -> int:
    """Blocking twin of :func:`migrate`."""
    return drive(migration_steps(migrations), lambda query: conn.query(*query))
