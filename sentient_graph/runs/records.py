"""What a run record holds, as the engine and its callers read it.

Owns: :class:`RunRecord` (one thread's current run, read from the ``run``
table), :class:`RunInput` (what a run needs to begin, stored with its claim),
and the run statuses. Pure data: no I/O, no SurrealQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from sentient_graph import ids

__all__ = ["RESUMABLE", "RunInput", "RunRecord", "RunStatus", "new_run_id", "new_thread_id"]

# Fresh ids are made in sentient_graph.ids; named here too, where run records are.
new_run_id = ids.new_run_id
new_thread_id = ids.new_thread_id

RunStatus = Literal["pending", "running", "completed", "failed", "interrupted", "cancelled", "lost"]
#: Statuses a run can be resumed from (``running`` only when its owner is dead).
RESUMABLE: frozenset[str] = frozenset({"pending", "failed", "interrupted", "cancelled", "lost"})


@dataclass(frozen=True)
class RunInput:
    """What a run needs to begin, serialised with the checkpointer's serializer.

    Stored in the run record by the same statement that claims the thread, so a
    process killed before the run's first checkpoint leaves enough to start it
    again.

    Attributes:
        input: ``(type, bytes)`` of the graph input or ``Command``; ``None`` when
            the run continues from the thread's last checkpoint.
        config: ``(type, bytes)`` of the caller's extra LangGraph config, or ``None``.
    """

    input: tuple[str, bytes] | None = None
    config: tuple[str, bytes] | None = None

    def to_row(self) -> dict[str, Any]:
        """The record fields that hold this input."""
        return {
            "input": list(self.input) if self.input is not None else None,
            "run_config": list(self.config) if self.config is not None else None,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunInput:
        """Read the input fields of a ``run`` row (missing fields: nothing stored)."""
        return cls(input=_typed(row.get("input")), config=_typed(row.get("run_config")))


def _typed(value: Any) -> tuple[str, bytes] | None:
    if not value:
        return None
    type_, data = value
    return str(type_), bytes(data)


@dataclass(frozen=True)
class RunRecord:
    """The current run of a thread, as stored in the ``run`` table.

    Attributes:
        thread_id: The thread (LangGraph's ``thread_id``).
        run_id: The latest run on the thread; every start or resume makes a new one.
        graph: The graph reference that loads the graph again, or ``None`` when
            the graph was defined in ``__main__`` or a notebook.
        status: ``pending``, ``running``, ``completed``, ``failed``,
            ``interrupted``, ``cancelled`` or ``lost`` (could not be recovered;
            ``error`` says why).
        owner: Which engine runs it (``host/pid/nonce``) while ``running``.
        pid: Owner process id.
        host: Owner host name.
        pid_start: Owner process start time (from ``/proc``), guards against pid reuse.
        started_at: Epoch seconds the run started.
        updated_at: Epoch seconds of the last change.
        heartbeat_at: Epoch seconds of the owner's last heartbeat.
        lease_until: Epoch seconds after which a silent owner counts as dead.
        error: One-line error of a failed or lost run.
        node: The node that failed, when known.
        cancel_requested: Someone asked the owner to cancel the run.
        correlation_id: Carried by every event of the run.
        stale: Not stored: ``running`` but its owner is gone, so :meth:`Engine.recover`
            would take it over.
    """

    thread_id: str
    run_id: str
    graph: str | None = None
    status: str = "pending"
    owner: str | None = None
    pid: int | None = None
    host: str | None = None
    pid_start: str | None = None
    started_at: float | None = None
    updated_at: float | None = None
    heartbeat_at: float | None = None
    lease_until: float | None = None
    error: str | None = None
    node: str | None = None
    cancel_requested: bool | None = None
    correlation_id: str | None = None
    metadata: dict[str, Any] | None = None
    stale: bool = field(default=False, compare=False)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRecord:
        """Build from a ``run`` row, ignoring fields this version does not know."""
        known = _STORED
        return cls(**{k: v for k, v in row.items() if k in known})

    def as_stale(self) -> RunRecord:
        """This record marked as taken over by nobody yet (its owner is gone)."""
        return replace(self, stale=True)


_STORED = frozenset(f.name for f in fields(RunRecord)) - {"stale"}
#: The stored fields a listing reads (never the input, which may be large).
RECORD_FIELDS = ", ".join(sorted(_STORED))
