"""Run records: one row per thread in the ``run`` table, and who is alive to own them.

The engine claims, finishes, heartbeats and lists runs through
:class:`~sentient_graph.runs.store.RunStore`; whether an owner is alive is
decided in :mod:`sentient_graph.runs.liveness`.
"""

from sentient_graph.runs.records import RESUMABLE, RunInput, RunRecord, RunStatus
from sentient_graph.runs.store import RunStore

__all__ = ["RESUMABLE", "RunInput", "RunRecord", "RunStatus", "RunStore"]
