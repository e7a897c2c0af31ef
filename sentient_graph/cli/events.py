"""``sentient-graph events THREAD``: show (and follow) the events of a thread from any terminal.

Owns: where a terminal gets a thread's events without disturbing the run that
emits them, and how they are printed (one line per event, or JSON lines).

Where the events come from:

* a SurrealDB server (``ws://``, ``http://``): the event log, then Redis to
  follow live (or polling the log when there is no ``REDIS_URL``);
* the embedded store (``surrealkv://``, the default) with ``REDIS_URL``: the
  Redis stream of the thread, then Redis pub/sub; the store is not opened,
  because it admits one process and the run needs it (it is read, briefly,
  only when Redis holds nothing for the thread);
* the embedded store without ``REDIS_URL``: the log, read once and closed at
  once; following a run in another process is then impossible, and the
  command says what to set.

Must not: keep an embedded store open, or publish anything.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import structlog
import typer

from sentient_graph.db import AsyncConnection, connect, describe_url, is_embedded
from sentient_graph.errors import SentientError, StoreLocked
from sentient_graph.events import DEFAULT_PREFIX, Event, EventBus, EventType
from sentient_graph.settings import SurrealSettings, redis_url_from_env

__all__ = ["events"]

_POLL_SECONDS = 0.5


def _ensure_logging() -> None:
    # Library warnings (Redis lost, gaps) go to stderr so that --json stays parseable.
    if not structlog.is_configured():
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.dev.ConsoleRenderer(colors=False),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(30),
            # Looked up at each call: sys.stderr may be replaced (tests, notebooks).
            logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        )


def _summary(payload: dict[str, object]) -> str:
    parts = []
    for key, value in payload.items():
        if key in {"task_id", "node", "namespace"}:
            continue
        parts.append(f"{key}={value}")
    text = " ".join(parts)
    return text if len(text) <= 120 else text[:117] + "..."


class _Printer:
    def __init__(self, json_out: bool) -> None:
        self.json_out = json_out
        self.run_id: str | None = None
        self.count = 0

    def __call__(self, event: Event) -> None:
        self.count += 1
        if self.json_out:
            typer.echo(event.to_json())
            return
        if event.run_id != self.run_id:
            self.run_id = event.run_id
            typer.echo(f"run {event.run_id}")
        stamp = event.timestamp.strftime("%H:%M:%S.%f")[:-3]
        typer.echo(
            f"{event.seq:>5} {stamp} {event.type.value:<16} {event.source or '-':<20} "
            f"{_summary(event.payload)}".rstrip()
        )


async def _read_log_once(
    thread: str, run_id: str | None, after: int, types: list[EventType] | None
) -> list[Event]:
    """Open the store, read, close: an embedded store is held for milliseconds only."""
    conn = await connect()
    try:
        bus = await EventBus.open(conn)
        try:
            return await bus.replay(thread, run_id=run_id, after_seq=after, types=types)
        finally:
            await bus.aclose()
    finally:
        await conn.aclose()


async def _poll_log(
    conn: AsyncConnection,
    thread: str,
    run_id: str | None,
    after: int,
    types: list[EventType] | None,
    show: _Printer,
) -> None:
    """Follow through a SurrealDB server without Redis (live queries are not used)."""
    bus = await EventBus.open(conn, setup=False)
    seen: dict[str, int] = {}
    try:
        while True:
            events = await bus.replay(thread, run_id=run_id, after_seq=after)
            for event in events:
                if event.seq <= seen.get(event.run_id, after):
                    continue
                seen[event.run_id] = event.seq
                if types is None or event.type in types:
                    show(event)
            await asyncio.sleep(_POLL_SECONDS)  # polling interval, not synchronisation
    finally:
        await bus.aclose()


async def _tail(
    thread: str,
    *,
    follow: bool,
    types: list[EventType] | None,
    after: int,
    run_id: str | None,
    prefix: str,
    show: _Printer,
) -> None:
    settings = SurrealSettings.resolve()
    redis_url = redis_url_from_env()
    embedded = is_embedded(settings.url)

    if embedded and redis_url is None:
        for event in await _read_log_once(thread, run_id, after, types):
            show(event)
        if follow:
            raise SentientError(
                f"cannot follow {thread!r} live: the embedded store {describe_url(settings.url)} "
                "admits one process, so another terminal follows through Redis - set REDIS_URL "
                "for both the run and this command (or use a SurrealDB server, ws://HOST:PORT)"
            )
        return

    conn = None if embedded else await connect()
    try:
        bus = await EventBus.open(conn, redis_url=redis_url, prefix=prefix, setup=False)
        try:
            if not follow:
                history = await bus.replay(thread, run_id=run_id, after_seq=after, types=types)
                if not history and embedded:
                    history = await _read_log_if_free(thread, run_id, after, types, settings.url)
                for event in history:
                    show(event)
                return
            if redis_url is None:
                assert conn is not None
                await _poll_log(conn, thread, run_id, after, types, show)
                return
            async with bus.subscribe(thread, run_id=run_id, types=types, after_seq=after) as sub:
                async for event in sub:
                    show(event)
        finally:
            await bus.aclose()
    finally:
        if conn is not None:
            await conn.aclose()


async def _read_log_if_free(
    thread: str, run_id: str | None, after: int, types: list[EventType] | None, url: str
) -> list[Event]:
    try:
        return await _read_log_once(thread, run_id, after, types)
    except StoreLocked:
        typer.echo(
            f"(Redis holds no events for {thread!r}, and the store {describe_url(url)} "
            "is busy with a run; older history can be read once that run ends)",
            err=True,
        )
        return []


def events(
    thread: Annotated[str, typer.Argument(help="The thread id whose events to show.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    type: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only this event type (repeat for several)."),
    ] = None,
    after: Annotated[int, typer.Option("--after", help="Only events with seq greater than N.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    run: Annotated[str | None, typer.Option("--run", help="Only this run id.")] = None,
    prefix: Annotated[
        str,
        typer.Option("--prefix", envvar="SENTIENT_EVENTS_PREFIX", help="Redis key/channel prefix."),
    ] = DEFAULT_PREFIX,
) -> None:
    """Show the events of THREAD (history, then live with --follow).

    Reads SURREALDB_URL and REDIS_URL. With the embedded store, following a run
    that another process is executing needs REDIS_URL.
    """
    _ensure_logging()
    valid = {t.value for t in EventType}
    bad = [t for t in type or [] if t not in valid]
    if bad:
        raise typer.BadParameter(
            f"unknown event type {bad[0]!r} (choose from {', '.join(sorted(valid))})",
            param_hint="--type",
        )
    types = [EventType(t) for t in type] if type else None
    show = _Printer(json_out)
    try:
        asyncio.run(
            _tail(
                thread,
                follow=follow,
                types=types,
                after=after,
                run_id=run,
                prefix=prefix,
                show=show,
            )
        )
    except KeyboardInterrupt:
        return
    except SentientError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if not follow and show.count == 0 and not json_out:
        typer.echo(f"no events for thread {thread!r}", err=True)
