"""The one definition of ``search(filter=...)``: a LangGraph filter as a SurrealQL condition.

Owns the meaning of every filter operator (``$eq``, ``$ne``, ``$gt``, ``$gte``,
``$lt``, ``$lte``, ``$in``, ``$nin``) and of plain values (equality; a nested
mapping matches the fields it names, a list matches element by element), as
LangGraph's ``InMemoryStore`` defines them. Both search paths (by filter and by
meaning) run this condition in SurrealDB, so the two cannot disagree.

Must not: do I/O, or format any value into SurrealQL: field names and values
become ``$parameters``; only operator fragments are constant text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from surrealdb import Null

from sentient_graph.errors import InvalidInput

__all__ = ["OPERATORS", "FilterSQL", "filter_sql", "to_stored"]

#: The comparison operators a filter may use, and their SurrealQL.
_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", *_COMPARISONS})

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def to_stored(value: Any) -> Any:
    """``value`` as SurrealDB stores it: ``None`` as NULL (NONE would drop the field).

    Integers beyond 64 bits do not fit CBOR's integers: they are refused here
    with the fix named, before anything is written.
    """
    if value is None:
        return Null
    if isinstance(value, Mapping):
        return {str(k): to_stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_stored(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidInput(
                f"integer {value} does not fit in 64 bits; store it as a string instead"
            )
    return value


@dataclass
class FilterSQL:
    """A condition (``TRUE`` when there is none) and the parameters it binds."""

    sql: str = "true"
    vars: dict[str, Any] = field(default_factory=dict)


def filter_sql(filter: Mapping[str, Any] | None, *, prefix: str = "f") -> FilterSQL:
    """The SurrealQL condition on ``value`` that keeps the items ``filter`` matches.

    Raises:
        InvalidInput: an unknown operator, or a comparison with a value that is
            neither a number nor a string.
    """
    built = FilterSQL(vars={})
    parts: list[str] = []
    for name, wanted in (filter or {}).items():
        parts.append(_condition(built, [name], wanted, prefix))
    built.sql = " AND ".join(f"({p})" for p in parts) if parts else "true"
    return built


def _path(built: FilterSQL, path: list[str], prefix: str) -> str:
    """``value[$f0][$f1]...``: each field name a parameter."""
    names = []
    for part in path:
        param = f"{prefix}{len(built.vars)}"
        built.vars[param] = str(part)
        names.append(f"[${param}]")
    return "value" + "".join(names)


def _bind(built: FilterSQL, value: Any, prefix: str) -> str:
    param = f"{prefix}{len(built.vars)}"
    built.vars[param] = to_stored(value)
    return f"${param}"


def _condition(built: FilterSQL, path: list[str], wanted: Any, prefix: str) -> str:
    if isinstance(wanted, Mapping):
        if any(str(k).startswith("$") for k in wanted):
            return " AND ".join(
                _operator(built, path, str(op), operand, prefix) for op, operand in wanted.items()
            )
        # A nested mapping matches the fields it names (and needs an object there).
        target = _path(built, path, prefix)
        parts = [f"type::is_object({target})"]
        parts += [_condition(built, [*path, str(k)], v, prefix) for k, v in wanted.items()]
        return " AND ".join(parts)
    return _equals(built, path, wanted, prefix)


def _equals(built: FilterSQL, path: list[str], wanted: Any, prefix: str) -> str:
    target = _path(built, path, prefix)
    if wanted is None:  # a missing field reads as None too, as in LangGraph's stores
        return f"({target} = NONE OR {target} = NULL)"
    return f"{target} = {_bind(built, wanted, prefix)}"


def _operator(built: FilterSQL, path: list[str], op: str, operand: Any, prefix: str) -> str:
    if op == "$eq":
        return _equals(built, path, operand, prefix)
    if op == "$ne":
        return f"NOT ({_equals(built, path, operand, prefix)})"
    if op in ("$in", "$nin"):
        if not isinstance(operand, list | tuple | set | frozenset):
            raise InvalidInput(f"filter operator {op} takes a list, got {operand!r}")
        target = _path(built, path, prefix)
        found = f"{target} IN {_bind(built, list(operand), prefix)}"
        if None in operand:
            found = f"({found} OR {target} = NONE)"
        return found if op == "$in" else f"NOT ({found})"
    if op in _COMPARISONS:
        # Compared only with a value of the same kind: a missing field or a
        # string never counts as less than a number.
        if isinstance(operand, bool) or not isinstance(operand, int | float | str):
            raise InvalidInput(f"filter operator {op} compares numbers or strings, got {operand!r}")
        kind = "type::is_string" if isinstance(operand, str) else "type::is_number"
        target = _path(built, path, prefix)
        return f"{kind}({target}) AND {target} {_COMPARISONS[op]} {_bind(built, operand, prefix)}"
    raise InvalidInput(
        f"unknown filter operator {op!r} (use one of {', '.join(sorted(OPERATORS))})"
    )
