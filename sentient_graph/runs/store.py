"""The ``run`` table: every SurrealQL statement about run records, one method each.

Owns: the schema of ``run`` (one record per thread, ``run:[thread_id]``), the
compare-and-set claim that makes one engine the owner of a thread's run (and
stores the run's input in the same statement), finishing, heartbeats, cancel
requests and listings.

Must not: decide whether an owner is alive (:mod:`~sentient_graph.runs.liveness`),
run graphs, or build SurrealQL from values: every value is a bound ``$param``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sentient_graph.runs.records import RECORD_FIELDS, RunInput, RunRecord
from sentient_graph.surreal.migrations import Migrations, migrate

if TYPE_CHECKING:
    from sentient_graph.db import AsyncConnection

__all__ = ["RUN_SCHEMA", "RunStore"]

#: The ``run`` table's schema for the shared migrator: append-only, a step's
#: position is its version.
RUN_SCHEMA = Migrations(
    "run",
    (
        """
        DEFINE TABLE IF NOT EXISTS run SCHEMALESS;
        DEFINE INDEX IF NOT EXISTS run_status ON run FIELDS status;
        DEFINE INDEX IF NOT EXISTS run_owner ON run FIELDS owner;
        """,
    ),
)

#: Take a thread for a run: only if nobody runs it, we already own it, or we are
#: taking over from a named dead owner (compare-and-set on owner + run_id); and
#: only on the graph the thread was started with, unless the caller replaces it.
CLAIM_SQL = f"""
UPSERT run:[$thread_id] MERGE $fields
WHERE (status != 'running' OR owner = $owner OR (owner = $stale_owner AND run_id = $stale_run))
  AND ($replace_graph OR graph = NONE OR $graph = NONE OR graph = $graph)
RETURN {RECORD_FIELDS};
"""

#: A thread made by a fork: a ``pending`` run nobody owns, only if none exists.
CREATE_PENDING_SQL = "CREATE run:[$thread_id] CONTENT $fields RETURN NONE;"

#: Record how a run ended; a run that was taken over by someone else writes nothing.
FINISH_SQL = "UPDATE run:[$thread_id] MERGE $fields WHERE run_id = $run_id RETURN NONE;"

GET_SQL = f"SELECT {RECORD_FIELDS} FROM ONLY run:[$thread_id];"
GET_INPUT_SQL = "SELECT input, run_config FROM ONLY run:[$thread_id] WHERE run_id = $run_id;"
LIST_SQL = f"SELECT {RECORD_FIELDS} FROM run;"
LIST_BY_STATUS_SQL = f"SELECT {RECORD_FIELDS} FROM run WHERE status = $status;"
THREAD_IDS_SQL = "SELECT VALUE thread_id FROM run;"
COUNT_BY_STATUS_SQL = "SELECT status, count() AS runs FROM run GROUP BY status;"
PING_SQL = "RETURN 1;"
RUNNING_ELSEWHERE_SQL = (
    f"SELECT {RECORD_FIELDS} FROM run WHERE status = 'running' AND owner != $owner;"
)

HEARTBEAT_SQL = """
UPDATE run SET heartbeat_at = $now, lease_until = $until
WHERE owner = $owner AND status = 'running'
RETURN thread_id, run_id, cancel_requested;
"""

REQUEST_CANCEL_SQL = f"""
UPDATE run:[$thread_id] SET cancel_requested = true
WHERE run_id = $run_id AND status = 'running'
RETURN {RECORD_FIELDS};
"""


class RunStore:
    """Run records on one SurrealDB connection.

    Args:
        conn: The engine's connection (shared with the checkpointer and the log).
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def setup(self) -> None:
        """Create or upgrade the ``run`` table (idempotent; the shared migrator records it)."""
        await migrate(self.conn, RUN_SCHEMA)

    async def get(self, thread_id: str) -> RunRecord | None:
        """The thread's run record, or ``None``."""
        (row,) = await self.conn.query(GET_SQL, {"thread_id": thread_id})
        return RunRecord.from_row(row) if row else None

    async def get_input(self, thread_id: str, run_id: str) -> RunInput | None:
        """What run ``run_id`` of the thread was started with, or ``None`` if it is not
        the thread's current run."""
        (row,) = await self.conn.query(GET_INPUT_SQL, {"thread_id": thread_id, "run_id": run_id})
        return RunInput.from_row(row) if row else None

    async def claim(
        self,
        thread_id: str,
        fields: Mapping[str, Any],
        *,
        owner: str,
        stale: RunRecord | None = None,
        replace_graph: bool = False,
    ) -> RunRecord | None:
        """Make ``owner`` the owner of the thread's new run (``fields``), or ``None``
        when the thread runs elsewhere or was started with another graph."""
        (rows,) = await self.conn.query(
            CLAIM_SQL,
            {
                "thread_id": thread_id,
                "fields": dict(fields),
                "owner": owner,
                "stale_owner": stale.owner if stale else None,
                "stale_run": stale.run_id if stale else None,
                "graph": fields.get("graph"),
                "replace_graph": replace_graph,
            },
        )
        return RunRecord.from_row(rows[0]) if rows else None

    async def create_pending(self, thread_id: str, fields: Mapping[str, Any]) -> None:
        """Record a new thread's ``pending`` run (a fork); fails if the thread has one."""
        await self.conn.query(CREATE_PENDING_SQL, {"thread_id": thread_id, "fields": dict(fields)})

    async def finish(self, thread_id: str, run_id: str, fields: Mapping[str, Any]) -> None:
        """Record how run ``run_id`` ended; nothing if the thread has another run now."""
        await self.conn.query(
            FINISH_SQL, {"thread_id": thread_id, "run_id": run_id, "fields": dict(fields)}
        )

    async def heartbeat(self, owner: str, now: float, until: float) -> list[dict[str, Any]]:
        """Extend the lease of every run ``owner`` runs; rows say which were asked to cancel."""
        (rows,) = await self.conn.query(HEARTBEAT_SQL, {"now": now, "until": until, "owner": owner})
        return list(rows or ())

    async def request_cancel(self, thread_id: str, run_id: str) -> RunRecord | None:
        """Ask the owner of a running run to cancel it at its next heartbeat."""
        (rows,) = await self.conn.query(
            REQUEST_CANCEL_SQL, {"thread_id": thread_id, "run_id": run_id}
        )
        return RunRecord.from_row(rows[0]) if rows else None

    async def list_records(self, status: str | None = None) -> list[RunRecord]:
        """Every thread's run record, or those with ``status``."""
        if status is None:
            (rows,) = await self.conn.query(LIST_SQL)
        else:
            (rows,) = await self.conn.query(LIST_BY_STATUS_SQL, {"status": status})
        return [RunRecord.from_row(r) for r in rows or ()]

    async def thread_ids(self) -> list[str]:
        """Every thread id with a run record."""
        (ids,) = await self.conn.query(THREAD_IDS_SQL)
        return [str(i) for i in ids or ()]

    async def count_by_status(self) -> dict[str, int]:
        """How many threads' current runs have each status."""
        (rows,) = await self.conn.query(COUNT_BY_STATUS_SQL)
        return {str(r["status"]): int(r["runs"]) for r in rows or ()}

    async def ping(self) -> None:
        """One round trip to the store."""
        await self.conn.query(PING_SQL)

    async def running_elsewhere(self, owner: str) -> list[RunRecord]:
        """Runs recorded ``running`` by any owner but ``owner``."""
        (rows,) = await self.conn.query(RUNNING_ELSEWHERE_SQL, {"owner": owner})
        return [RunRecord.from_row(r) for r in rows or ()]
