"""What an event is: :class:`Event`, :class:`EventType`, :class:`Priority`, :class:`EventFilter`.

Owns: the fields of an event, their JSON form (in and out), the order of
priorities and the matching rules of subscription filters. Pure data: no I/O,
no connection, no knowledge of Redis or SurrealDB.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic_core import to_jsonable_python

__all__ = [
    "TERMINAL_TYPES",
    "Event",
    "EventFilter",
    "EventType",
    "Priority",
    "SubscriptionOptions",
    "events_from_json",
    "events_to_json",
    "jsonable",
]


#: The key that marks a LangGraph ``custom`` chunk as an agent's retry
#: (``node_retried``), not progress: written by :mod:`sentient_graph.agents`.
RETRY_MARK = "__sentient_retry__"


class EventType(StrEnum):
    """What happened. The string values are the wire format."""

    RUN_STARTED = "run_started"
    NODE_STARTED = "node_started"
    NODE_PROGRESS = "node_progress"
    NODE_COMPLETED = "node_completed"
    NODE_FAILED = "node_failed"
    NODE_RETRIED = "node_retried"
    INTERRUPTED = "interrupted"
    CHECKPOINT_SAVED = "checkpoint_saved"
    RUN_COMPLETED = "run_completed"
    RUN_FAILED = "run_failed"
    RUN_CANCELLED = "run_cancelled"
    CUSTOM = "custom"


#: Types after which a run emits nothing more.
TERMINAL_TYPES = frozenset({EventType.RUN_COMPLETED, EventType.RUN_FAILED, EventType.RUN_CANCELLED})

_PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "critical": 3}


class Priority(StrEnum):
    """How urgent an event is; ordered ``low < normal < high < critical``.

    A ``StrEnum`` so that it serialises as its name, with comparisons by rank
    (a plain ``str`` comparison would put ``"critical" < "high"``).
    """

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``low`` up to 3 for ``critical``."""
        return _PRIORITY_RANK[self.value]

    @staticmethod
    def _rank_of(other: object) -> int:
        if isinstance(other, str) and other in _PRIORITY_RANK:
            return _PRIORITY_RANK[other]
        raise TypeError(f"cannot compare Priority with {other!r}")

    def __lt__(self, other: object) -> bool:
        return self.rank < self._rank_of(other)

    def __le__(self, other: object) -> bool:
        return self.rank <= self._rank_of(other)

    def __gt__(self, other: object) -> bool:
        return self.rank > self._rank_of(other)

    def __ge__(self, other: object) -> bool:
        return self.rank >= self._rank_of(other)

    __hash__ = StrEnum.__hash__


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data; what JSON cannot hold becomes its ``repr``.

    Payloads come from user nodes (exceptions, pydantic models, sets, ...):
    an event must never fail to serialise because of them.
    """
    return to_jsonable_python(value, fallback=repr)


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One thing that happened in a run, in the order the run saw it.

    ``(thread_id, run_id, seq)`` identifies an event: ``seq`` counts the
    events of one run from 1 without gaps, which is what lets a subscriber
    that reconnects ask for "everything after seq n".
    """

    model_config = ConfigDict(frozen=True, use_enum_values=False)

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    type: EventType
    source: str | None = None
    target: str | None = None
    thread_id: str
    run_id: str
    seq: int = Field(default=0, ge=0, description="per-run sequence number, assigned by RunEmitter")
    priority: Priority = Priority.NORMAL
    correlation_id: str | None = None
    checkpoint_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime = Field(default_factory=_now)
    expires_at: datetime | None = None

    @field_validator("payload", "metadata", mode="before")
    @classmethod
    def _plain_json(cls, value: Any) -> Any:
        if value is None:
            return {}
        return jsonable(value)

    @field_validator("timestamp", "expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # Naive datetimes are taken as UTC so that comparisons never raise.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def key(self) -> tuple[str, int]:
        """``(run_id, seq)``: what subscribers deduplicate by."""
        return (self.run_id, self.seq)

    @cached_property
    def _wire(self) -> str:
        # An event is frozen: serialise it once for the log, Redis and webhooks.
        return self.model_dump_json()

    def to_json(self) -> str:
        """The wire form published on Redis and printed by ``events --json``."""
        return self._wire

    @classmethod
    def from_json(cls, data: str | bytes) -> Event:
        """Parse the wire form written by :meth:`to_json`."""
        return cls.model_validate_json(data)

    @classmethod
    def _assemble(cls, fields: dict[str, Any]) -> Event:
        """An event from a dict of every field, each already of its type: no validation.

        What :meth:`model_construct` makes, without its loop over the fields
        (a graph run pays for it at each transition, BENCHMARKS.md); ``fields``
        becomes the event's own. For the emitter, which makes every field
        itself; a test checks that its events equal validated ones.
        """
        if len(fields) != len(_FIELD_NAMES):
            raise TypeError(f"Event._assemble needs exactly the fields {sorted(_FIELD_NAMES)}")
        event = cls.__new__(cls)
        object.__setattr__(event, "__dict__", fields)
        object.__setattr__(event, "__pydantic_fields_set__", set(_FIELD_NAMES))
        object.__setattr__(event, "__pydantic_extra__", None)
        object.__setattr__(event, "__pydantic_private__", None)
        return event


_EVENT_LIST = TypeAdapter(list[Event])
_FIELD_NAMES = frozenset(Event.model_fields)


def events_to_json(events: Iterable[Event]) -> str:
    """Several events as one JSON array: a log page, one Redis message.

    Events not serialised yet are serialised in one call: a third cheaper than
    one call per event, and more so inside a graph run, where each call starts
    with cold caches.
    """
    items = list(events)
    if len(items) == 1 or all("_wire" in event.__dict__ for event in items):
        return "[" + ",".join(event.to_json() for event in items) + "]"
    return _EVENT_LIST.dump_json(items).decode()


def events_from_json(data: str | bytes) -> list[Event]:
    """Parse a batch from :func:`events_to_json`, or one event from :meth:`Event.to_json`."""
    head = data[:1]
    if head in ("[", b"["):
        return _EVENT_LIST.validate_json(data)
    return [Event.from_json(data)]


class SubscriptionOptions(TypedDict, total=False):
    """What may narrow a subscription besides the thread: the keywords of
    ``EventBus.subscribe``, passed through unchanged by ``add_handler`` and
    ``WebhookDelivery.attach``."""

    run_id: str | None
    types: Iterable[EventType | str] | EventType | str | None
    source: Iterable[str] | str | None
    min_priority: Priority | str | None
    after_seq: int | None


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants; ``None`` means "any".

    Attributes:
        thread_id: one thread, or every thread.
        run_id: one run, or every run.
        types: event types to keep.
        source: node/agent names to keep.
        min_priority: keep events at least this urgent.
    """

    thread_id: str | None = None
    run_id: str | None = None
    types: frozenset[EventType] | None = None
    source: frozenset[str] | None = None
    min_priority: Priority | None = None

    @classmethod
    def build(
        cls,
        thread_id: str | None = None,
        *,
        run_id: str | None = None,
        types: Iterable[EventType | str] | EventType | str | None = None,
        source: Iterable[str] | str | None = None,
        min_priority: Priority | str | None = None,
    ) -> EventFilter:
        """Normalise user-facing arguments (single values, strings) into a filter.

        Raises:
            ValueError: an unknown event type or priority name.
        """
        type_set: frozenset[EventType] | None = None
        if types is not None:
            items = [types] if isinstance(types, str) else list(types)
            type_set = frozenset(EventType(t) for t in items)
        source_set: frozenset[str] | None = None
        if source is not None:
            source_set = frozenset([source] if isinstance(source, str) else source)
        return cls(
            thread_id=thread_id,
            run_id=run_id,
            types=type_set,
            source=source_set,
            min_priority=Priority(min_priority) if min_priority is not None else None,
        )

    def wants_run(self, event: Event) -> bool:
        """Whether the event belongs to a thread/run this filter follows at all."""
        if self.thread_id is not None and event.thread_id != self.thread_id:
            return False
        return self.run_id is None or event.run_id == self.run_id

    def matches(self, event: Event) -> bool:
        """Whether a subscriber with this filter should receive ``event``."""
        if not self.wants_run(event):
            return False
        if self.types is not None and event.type not in self.types:
            return False
        if self.source is not None and event.source not in self.source:
            return False
        return self.min_priority is None or event.priority >= self.min_priority
