"""Webhook delivery: POST events to a ``callback_url``, with retries and a dead-letter table.

Owns: the HTTP delivery of one event (JSON body, ``X-Sentient-*`` headers),
the retry policy (exponential backoff with jitter on connection errors,
timeouts, 429 and 5xx; none on other 4xx), and the SurrealDB table
``event_dead_letter`` where events that could not be delivered are kept for
inspection and redelivery.

Must not: decide which events exist (the emitter) or how they travel between
processes (the bus); it is one more subscriber.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Unpack

import httpx
import structlog

from sentient_graph.db import AsyncConnection
from sentient_graph.events.bus import EventBus, HandlerRegistration
from sentient_graph.events.model import Event, SubscriptionOptions
from sentient_graph.surreal.migrations import Migrations, migrate

__all__ = ["DeadLetter", "WebhookDelivery"]

log = structlog.get_logger(__name__)

#: The dead-letter table's schema for the shared migrator (append-only steps).
DEAD_LETTER_SCHEMA = Migrations(
    "event_dead_letter",
    (
        """
        DEFINE TABLE IF NOT EXISTS event_dead_letter SCHEMALESS;
        DEFINE INDEX IF NOT EXISTS event_dead_letter_time ON event_dead_letter FIELDS failed_at;
        """,
    ),
)
_DEAD_LETTER = "CREATE event_dead_letter CONTENT $doc RETURN NONE;"
_LIST_DEAD = (
    "SELECT meta::id(id) AS key, url, event, attempts, error, status, failed_at "
    "FROM event_dead_letter ORDER BY failed_at LIMIT $limit;"
)
_DELETE_DEAD = "DELETE type::record('event_dead_letter', $key);"


@dataclass(frozen=True)
class DeadLetter:
    """An event that could not be delivered to a webhook.

    Attributes:
        key: the record key (to delete it).
        url: where delivery was tried.
        event: the event.
        attempts: how many POSTs were made.
        error: why the last attempt failed.
        status: the last HTTP status, if a response came.
        failed_at: when delivery was given up.
    """

    key: str
    url: str
    event: Event
    attempts: int
    error: str
    status: int | None
    failed_at: datetime


class WebhookDelivery:
    """POSTs events to ``callback_url``; what fails after retries goes to the dead-letter table.

    Args:
        conn: the SurrealDB connection of the dead-letter table (``None``: failures
            are only logged).
        callback_url: the HTTP(S) endpoint.
        max_attempts: POSTs per event before it is dead-lettered.
        backoff: first delay between attempts, in seconds (doubled each time, with jitter).
        max_backoff: the longest delay between attempts.
        timeout: seconds for one POST.
        headers: extra headers (e.g. an authorization token from the environment).
    """

    def __init__(
        self,
        conn: AsyncConnection | None,
        callback_url: str,
        *,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.conn = conn
        self.callback_url = callback_url
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._client = httpx.AsyncClient(timeout=timeout, headers=dict(headers or {}))
        self._registrations: list[HandlerRegistration] = []

    async def setup(self) -> None:
        """Create the dead-letter table (idempotent)."""
        if self.conn is not None:
            await migrate(self.conn, DEAD_LETTER_SCHEMA)

    def _delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * (
            0.5 + random.random() / 2
        )

    async def deliver(self, event: Event) -> bool:
        """POST one event, retrying; ``False`` (and a dead letter) if it never got through."""
        body = event.to_json().encode()
        headers = {
            "content-type": "application/json",
            "x-sentient-event-id": event.event_id,
            "x-sentient-event-type": event.type.value,
        }
        error = ""
        status: int | None = None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = await self._client.post(self.callback_url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                error, status = f"{type(exc).__name__}: {exc}", None
            else:
                status = response.status_code
                if response.is_success:
                    return True
                error = f"HTTP {status}"
                if status != 429 and status < 500:
                    break  # the receiver refuses this event: retrying will not help
            if attempt < self.max_attempts:
                await asyncio.sleep(self._delay(attempt))  # retry backoff
        log.warning(
            "events.webhook_dead_letter",
            url=self.callback_url,
            event_id=event.event_id,
            attempts=attempt,
            error=error,
        )
        if self.conn is not None:
            await self.conn.query(
                _DEAD_LETTER,
                {
                    "doc": {
                        "url": self.callback_url,
                        "event": event.to_json(),
                        "event_id": event.event_id,
                        "thread_id": event.thread_id,
                        "run_id": event.run_id,
                        "seq": event.seq,
                        "attempts": attempt,
                        "error": error,
                        "status": status,
                        "failed_at": datetime.now(event.timestamp.tzinfo),
                    }
                },
            )
        return False

    async def attach(
        self,
        bus: EventBus,
        thread_id: str | None = None,
        **options: Unpack[SubscriptionOptions],
    ) -> HandlerRegistration:
        """Deliver every matching event of ``bus`` to the webhook, in order, until closed.

        ``options`` are those of :meth:`EventBus.subscribe`. Events are delivered
        one after another, so a slow or failing endpoint delays later events of
        this webhook (never the run).
        """
        registration = await bus.add_handler(self.deliver, thread_id, **options)
        self._registrations.append(registration)
        return registration

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters (of every webhook)."""
        if self.conn is None:
            return []
        rows = (await self.conn.query(_LIST_DEAD, {"limit": limit}))[0] or []
        return [
            DeadLetter(
                key=str(row["key"]),
                url=row["url"],
                event=Event.from_json(row["event"]),
                attempts=int(row["attempts"]),
                error=row["error"],
                status=row.get("status"),
                failed_at=row["failed_at"],
            )
            for row in rows
        ]

    async def redeliver_dead_letters(self, limit: int = 100) -> int:
        """Try the dead letters of this URL again; delete those delivered; return how many."""
        delivered = 0
        for letter in await self.dead_letters(limit):
            if letter.url != self.callback_url:
                continue
            ok = await self.deliver(letter.event)
            # A failed retry wrote a fresh dead letter; the old one goes either way.
            assert self.conn is not None
            await self.conn.query(_DELETE_DEAD, {"key": letter.key})
            delivered += ok
        return delivered

    async def aclose(self) -> None:
        """Stop attached subscriptions and close the HTTP client."""
        for registration in self._registrations:
            await registration.aclose()
        self._registrations.clear()
        await self._client.aclose()

    async def __aenter__(self) -> WebhookDelivery:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
