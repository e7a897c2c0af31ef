"""The engine: start, watch, resume, recover, cancel, list, inspect and fork runs.

:class:`Engine` is a facade over the parts in this package: ``graphs``
(references and the checkpointer attached to them), ``driver`` (one run's
stream to events and its record), ``handle`` (:class:`RunHandle`),
``recovery`` (what a claimed run resumes with, and the repair of its last
checkpoint), ``timetravel`` (history and forks), ``heartbeat`` (leases) and
``sync`` (the blocking facade); run records are :mod:`sentient_graph.runs`.
"""

from sentient_graph.engine.engine import Engine
from sentient_graph.engine.handle import RunHandle
from sentient_graph.engine.sync import SyncEngine, SyncRunHandle
from sentient_graph.engine.timetravel import CheckpointInfo
from sentient_graph.runs.records import RESUMABLE, RunRecord, RunStatus

__all__ = [
    "RESUMABLE",
    "CheckpointInfo",
    "Engine",
    "RunHandle",
    "RunRecord",
    "RunStatus",
    "SyncEngine",
    "SyncRunHandle",
]
