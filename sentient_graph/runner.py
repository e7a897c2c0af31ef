"""Where the engine lived before :mod:`sentient_graph.engine`; its names still import from here."""

from sentient_graph.engine import (
    RESUMABLE,
    CheckpointInfo,
    Engine,
    RunHandle,
    RunRecord,
    RunStatus,
    SyncEngine,
    SyncRunHandle,
)
from sentient_graph.engine.driver import STREAM_MODES

__all__ = [
    "RESUMABLE",
    "STREAM_MODES",
    "CheckpointInfo",
    "Engine",
    "RunHandle",
    "RunRecord",
    "RunStatus",
    "SyncEngine",
    "SyncRunHandle",
]
