"""The shapes of request bodies and JSON-RPC params, validated with pydantic.

Owns: one model per operation that takes input, shared by HTTP and JSON-RPC,
and :func:`validation_message`, the one-line form of a validation error (it
names the field).

Must not: hold defaults that differ between HTTP and JSON-RPC.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CancelParams",
    "EventsSubscribe",
    "EventsUnsubscribe",
    "ForkRequest",
    "ResumeRequest",
    "StartRun",
    "ThreadParams",
    "ThreadsQuery",
    "validation_message",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartRun(_Strict):
    """``POST /runs``, ``runs.start``."""

    graph: str = Field(
        description="a registered graph name (GET /graphs)", min_length=1, max_length=256
    )
    input: Any = Field(default=None, description="the graph input")
    thread_id: str | None = Field(default=None, min_length=1, max_length=256)
    correlation_id: str | None = Field(default=None, max_length=256)
    metadata: dict[str, Any] | None = None


class ThreadsQuery(_Strict):
    """``threads.list``."""

    status: str | None = Field(default=None, max_length=32)


class ThreadParams(_Strict):
    """Methods that name one thread (``threads.get``, ``threads.cancel``)."""

    thread_id: str = Field(min_length=1, max_length=256)


CancelParams = ThreadParams


class ResumeRequest(_Strict):
    """``POST /threads/{id}/resume``; ``value`` answers a pending interrupt when present."""

    value: Any = None


class ForkRequest(_Strict):
    """``POST /threads/{id}/fork``."""

    checkpoint_id: str = Field(min_length=1, max_length=256)
    values: dict[str, Any] | None = None
    new_thread_id: str | None = Field(default=None, min_length=1, max_length=256)
    as_node: str | None = Field(default=None, max_length=256)


class EventsSubscribe(_Strict):
    """``events.subscribe``: ``after`` (``RUN_ID:SEQ``) or ``after_seq`` replays first."""

    thread_id: str | None = Field(default=None, min_length=1, max_length=256)
    types: list[str] | None = None
    source: list[str] | None = None
    min_priority: str | None = None
    after_seq: int | None = Field(default=None, ge=0)
    after: str | None = Field(default=None, max_length=300)


class EventsUnsubscribe(_Strict):
    """``events.unsubscribe``."""

    subscription: str = Field(min_length=1, max_length=256)


def validation_message(exc: ValidationError | list[Any], prefix: str = "") -> tuple[str, list[str]]:
    """``("body.graph: Field required; ...", ["body.graph", ...])`` for a validation error."""
    errors = exc.errors() if isinstance(exc, ValidationError) else exc
    fields: list[str] = []
    parts: list[str] = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(root)"
        fields.append(field)
        parts.append(f"{field}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request", fields
