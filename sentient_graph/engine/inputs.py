"""Checks on what a caller gives a run, made before anything is written.

Owns: refusing empty thread ids and input the graph cannot take, with one-line
:class:`~sentient_graph.errors.InvalidInput` errors. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any, is_typeddict

from langgraph.pregel import Pregel
from langgraph.types import Command

from sentient_graph.errors import InvalidInput

__all__ = ["check_input", "check_thread_id"]


def check_thread_id(thread_id: str | None) -> str | None:
    """``thread_id`` unchanged, or :class:`InvalidInput` when it is empty or blank."""
    if thread_id is not None and not str(thread_id).strip():
        raise InvalidInput("a thread id must not be empty (leave it out for a new thread)")
    return thread_id


def check_input(graph: Pregel, input: Any) -> None:
    """Refuse input a graph with a mapping state cannot take (a list, a string, null).

    A graph built from a ``StateGraph`` whose input schema is a ``TypedDict``, a
    pydantic model or a dataclass takes a dict (or an instance of that schema);
    a ``Command`` always passes; other graphs (functional ``@entrypoint``
    graphs) take anything, as LangGraph does.
    """
    if isinstance(input, Command):
        return
    builder = getattr(graph, "builder", None)
    schema = getattr(builder, "input_schema", None)
    if not isinstance(schema, type) or not _is_record_type(schema):
        return
    if isinstance(input, dict) or (not is_typeddict(schema) and isinstance(input, schema)):
        return
    fields = list(getattr(schema, "__annotations__", {}))[:2]
    example = "{" + ", ".join(f'"{name}": ...' for name in fields) + "}"
    raise InvalidInput(
        f"the graph's input must be a JSON object of its state fields, like {example}, "
        f"not {type(input).__name__}"
    )


def _is_record_type(schema: type) -> bool:
    if is_typeddict(schema) or dataclasses.is_dataclass(schema):
        return True
    return hasattr(schema, "model_fields")  # a pydantic model
