"""Checks a run's thread id and input must pass before anything is written.

Owns: the rules that refuse a thread id or a graph input which would only
create a thread, record a failure and leave junk behind. Pure functions: no
store, no I/O; the engine calls them at the top of ``start`` and ``resume``,
the CLI before it opens the store.

Must not: open a connection, run the graph, or be stricter than LangGraph
about what a node receives (a value LangGraph hands to the graph unchanged
is let through).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.pregel import Pregel
from langgraph.types import Command

from sentient_graph.errors import InvalidInput

# The thread id rule lives with the ids (the CLI's server client reads it without LangGraph).
from sentient_graph.ids import check_thread_id

__all__ = ["check_input", "check_thread_id"]


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def _state_keys(graph: Pregel) -> tuple[str, list[str] | None] | None:
    """``(schema name, input keys)`` of a StateGraph, ``None`` for other graphs."""
    builder = getattr(graph, "builder", None)
    schema = getattr(builder, "input_schema", None)
    schemas = getattr(builder, "schemas", None)
    if schema is None or not isinstance(schemas, Mapping):
        return None
    channels = schemas.get(schema)
    keys = list(channels) if isinstance(channels, Mapping) else None
    return getattr(schema, "__name__", "state"), keys


def _has_annotated_keys(value: Any) -> bool:
    """An object LangGraph reads as a state update (a dataclass, a pydantic model...)."""
    return bool(getattr(type(value), "__annotations__", None)) and not isinstance(
        value, str | bytes | list | tuple
    )


def check_input(graph: Pregel, input: Any) -> None:
    """Refuse input the graph cannot start from, before a thread or run exists.

    The rule follows what LangGraph itself does with the input:

    * A ``Command`` (or a list holding one) always passes: it resumes or
      steers a thread, and LangGraph checks it.
    * ``None`` is refused: LangGraph reads it as "continue this thread from its
      checkpoint" (``EmptyInputError`` on a new thread); continuing is
      ``resume``'s job, not ``start``'s.
    * A graph built with ``StateGraph`` (a TypedDict, pydantic or dataclass
      state, or its ``input_schema``) takes a dict, or an object whose type
      has annotated fields (a dataclass or pydantic instance); a list, a
      string, a number is refused (LangGraph would fail the first step with
      ``InvalidUpdateError: Expected dict``). A dict key that is not in the
      input schema is refused too: LangGraph would drop it silently and run
      the graph without it (usually a typo). Values are not type-checked:
      LangGraph does not either.
    * Any other graph (a functional ``@entrypoint``, a bare ``Pregel``) with a
      single input channel takes any value that validates against
      ``graph.input_schema`` (the entrypoint's annotation; anything when it
      has none). When LangGraph cannot build that schema (e.g. a
      ``typing.TypedDict`` on Python 3.11), the value passes. A graph with
      several input channels takes a dict of them.

    Args:
        graph: The compiled graph the input is for.
        input: The input for ``start`` (a dict, a ``Command``, ...).

    Raises:
        InvalidInput: one line naming what the graph expects.
    """
    if isinstance(input, Command):
        return
    if isinstance(input, list | tuple) and any(isinstance(i, Command) for i in input):
        return
    if input is None:
        raise InvalidInput(
            "input is null: a run starts from input (e.g. {}); "
            "to continue a thread from its last checkpoint, resume it"
        )
    state = _state_keys(graph)
    if state is not None or not isinstance(graph.input_channels, str):
        name, keys = state if state is not None else ("input", list(graph.input_channels))
        if isinstance(input, dict):
            unknown = [k for k in input if keys is not None and k not in keys]
            if unknown:
                raise InvalidInput(
                    f"input key {unknown[0]!r} is not in the graph's {name} "
                    f"(keys: {', '.join(map(str, keys or ())) or 'none'})"
                )
            return
        if state is not None and _has_annotated_keys(input):
            return
        raise InvalidInput(
            f"input is {_describe(input)}, but the graph's {name} takes an object "
            '(JSON {"key": value}, e.g. {})'
        )
    try:
        schema = graph.input_schema
    except Exception:
        return  # LangGraph cannot describe the input: it takes it as it is.
    validate = getattr(schema, "model_validate", None)
    if validate is None:
        return
    try:
        validate(input)
    except Exception as exc:
        errors = getattr(exc, "errors", None)
        detail = ""
        if callable(errors):
            try:
                first = errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ()) if p != "root")
                detail = f": {first.get('msg', '')}" + (f" at {where}" if where else "")
            except Exception:
                detail = ""
        raise InvalidInput(
            f"input is {_describe(input)}, which the graph's input does not take{detail}"
        ) from None
