"""A run's input and config in the form stored with its claim.

Owns: :class:`RunInputCodec`, which serialises them with the checkpointer's
serializer (so they come back as the types they went in as). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from sentient_graph.runs.records import RunInput

__all__ = ["RunInputCodec"]


class RunInputCodec:
    """Turns a run's input and config into a :class:`RunInput` and back, with the
    checkpointer's serializer (so they come back as the types they went in as).

    Args:
        saver: The engine's checkpointer; its ``serde`` is used.
    """

    def __init__(self, saver: BaseCheckpointSaver[Any]) -> None:
        self.serde = saver.serde

    def encode(self, input: Any, config: RunnableConfig | None) -> RunInput:
        """The stored form of a run's input and extra config.

        Raises:
            TypeError: a value the serializer cannot write.
        """
        return RunInput(
            input=None if input is None else self.serde.dumps_typed(input),
            config=self.serde.dumps_typed(dict(config)) if config else None,
        )

    def decode(self, stored: RunInput) -> tuple[Any, RunnableConfig | None]:
        """``(input, config)`` as they were given to the run."""
        input = None if stored.input is None else self.serde.loads_typed(stored.input)
        config = None if stored.config is None else self.serde.loads_typed(stored.config)
        return input, config
