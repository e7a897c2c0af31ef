"""The shared migrator on the real embedded engine (``mem://``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sentient_graph.surreal import Migrations, SyncConnection, connect_sync, migrate, migrate_sync
from sentient_graph.surreal.connection import connect

V1 = "DEFINE TABLE IF NOT EXISTS widget SCHEMALESS;"
V2 = "DEFINE INDEX IF NOT EXISTS widget_name ON widget FIELDS name;"
V3 = "UPDATE widget SET size = 1 WHERE size = NONE RETURN NONE;"


@pytest.fixture
def conn() -> Iterator[SyncConnection]:
    with connect_sync("mem://", namespace="m", database=uuid.uuid4().hex) as conn:
        yield conn


def version(conn: SyncConnection, component: str) -> object:
    return conn.query("RETURN type::record('migration', [$c]).version", {"c": component})[0]


def test_steps_apply_in_order_once_and_are_recorded_per_component(conn: SyncConnection) -> None:
    assert migrate_sync(conn, Migrations("widget", (V1, V2))) == 2
    conn.query("CREATE widget:a SET name = 'a'")
    # A new release appends a step: only that one runs.
    assert migrate_sync(conn, Migrations("widget", (V1, V2, V3))) == 3
    assert migrate_sync(conn, Migrations("widget", (V1, V2, V3))) == 3
    assert conn.query("SELECT VALUE size FROM widget")[0] == [1]
    assert "widget_name" in conn.query("INFO FOR TABLE widget")[0]["indexes"]
    assert version(conn, "widget") == 3
    # Another component has its own row in the same table.
    migrate_sync(conn, Migrations("gadget", ("DEFINE TABLE IF NOT EXISTS gadget SCHEMALESS;",)))
    assert version(conn, "gadget") == 1 and version(conn, "widget") == 3


def test_a_failing_step_records_nothing(conn: SyncConnection) -> None:
    with pytest.raises(Exception, match="boom"):
        migrate_sync(conn, Migrations("broken", (V1, "THROW 'boom';")))
    assert version(conn, "broken") == 1


def test_an_older_release_does_not_take_the_version_back(conn: SyncConnection) -> None:
    migrate_sync(conn, Migrations("widget", (V1, V2, V3)))
    assert migrate_sync(conn, Migrations("widget", (V1,))) == 3
    assert version(conn, "widget") == 3


def test_versions_of_a_legacy_table_are_adopted(conn: SyncConnection) -> None:
    # Before the shared migrator, a component numbered its steps from 1 in a table of its own.
    conn.query("DEFINE TABLE IF NOT EXISTS widget_migration SCHEMALESS;" + V1)
    conn.query("UPSERT widget_migration:1 SET version = 1;")
    conn.query("CREATE widget:a SET name = 'a', size = 7")
    schema = Migrations("widget", (V1, V2, V3), legacy_table="widget_migration", legacy_first=1)
    assert migrate_sync(conn, schema) == 3
    assert conn.query("SELECT VALUE size FROM widget")[0] == [7]  # V3 ran once, on no NONE


async def test_the_async_driver_runs_the_same_steps() -> None:
    conn = await connect("mem://", namespace="m", database=uuid.uuid4().hex)
    try:
        assert await migrate(conn, Migrations("widget", (V1, V2))) == 2
        assert await migrate(conn, Migrations("widget", (V1, V2))) == 2
    finally:
        await conn.aclose()


def test_a_legacy_table_name_is_checked() -> None:
    with pytest.raises(ValueError, match="table name"):
        Migrations("x", (V1,), legacy_table="x; DELETE widget")
