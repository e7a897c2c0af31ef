"""``sentient-graph events THREAD``: a thread's events, from any terminal, without disturbing its run.

Owns: where the events come from and printing them (one line each, or JSON
lines), each event once even when two sources hold it.

Where they come from:

* **History**: the SurrealDB log (:meth:`~sentient_graph.events.log.EventLog.replay`)
  whenever the store can be opened, with or without ``REDIS_URL``: it is the
  truth, and the only place that holds runs made without Redis. An embedded
  store is opened for the read and closed at once.
* **An embedded store held by a live run** (it admits one process): with
  ``REDIS_URL``, what the Redis stream of the thread keeps, and one line
  saying the rest comes once the run ends; without it, exit 3 and one line
  saying how to watch a live run (``REDIS_URL`` for both processes, or a
  SurrealDB server).
* **Live** (``--follow``): Redis pub/sub when ``REDIS_URL`` is set (an
  embedded store is never held while following); polling the log of a
  SurrealDB server otherwise; impossible on an embedded store without Redis
  (exit 2, naming ``REDIS_URL``).

* **A running server** (:mod:`sentient_graph.cli.remote` finds it): its
  event stream (SSE), history then live with ``--follow``, from any
  terminal, no Redis needed.

Must not: keep an embedded store open while following, or publish anything.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated, Any

import structlog
import typer

from sentient_graph.cli.exits import EXIT_OK
from sentient_graph.cli.render import event_line
from sentient_graph.cli.runtime import (
    CliOptions,
    check_redis_url,
    execute,
    open_engine,
    options,
    say,
)
from sentient_graph.errors import ConfigError, InvalidInput, StoreLocked, ThreadNotFound

__all__ = ["events"]

_POLL_SECONDS = 0.5
_DEFAULT_PREFIX = "sentient"


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


class _Printer:
    """Prints each event once: per run, only seqs above the last one shown."""

    def __init__(self, json_out: bool) -> None:
        self.json_out = json_out
        self.run_id: str | None = None
        self.count = 0
        self._last: dict[str, int] = {}

    def __call__(self, event: Any) -> None:
        if event.seq <= self._last.get(event.run_id, 0):
            return
        self._last[event.run_id] = event.seq
        self.count += 1
        out = sys.stdout
        if self.json_out:
            out.write(event.to_json() + "\n")
        else:
            if event.run_id != self.run_id:
                self.run_id = event.run_id
                out.write(f"run {event.run_id}\n")
            out.write(event_line(event) + "\n")
        out.flush()


class _Query:
    """What the user asked for, as the log and the bus take it."""

    def __init__(self, thread: str, run_id: str | None, after: int, types: Any) -> None:
        self.thread = thread
        self.run_id = run_id
        self.after = after
        self.types = types

    @property
    def filtered(self) -> bool:
        return bool(self.run_id or self.after or self.types)


async def _read_log(opts: CliOptions, q: _Query) -> list[Any]:
    """Open the store, read the thread's events, close: an embedded store is held briefly.

    Raises:
        StoreLocked: a live process holds the embedded store.
        ThreadNotFound: the thread has no events, no run and no checkpoint.
    """
    from sentient_graph.db import connect
    from sentient_graph.events.log import EventLog

    conn = await connect(opts.surreal_url, namespace=opts.namespace, database=opts.database)
    try:
        log = EventLog(conn)
        await log.setup()
        found = await log.replay(q.thread, run_id=q.run_id, after_seq=q.after, types=q.types)
        known = bool(found) or bool(q.filtered and await log.replay(q.thread, limit=1))
    finally:
        await conn.aclose()
    if not known:
        await _check_thread_exists(opts, q.thread)
    return found


async def _check_thread_exists(opts: CliOptions, thread: str) -> None:
    """A thread with no events may still have a run or checkpoints (a fork not yet run)."""
    async with open_engine(opts, redis=False) as engine:
        try:
            await engine.get_run(thread)
        except ThreadNotFound as missing:
            try:
                await engine.history(thread, limit=1)
            except ThreadNotFound:
                raise missing from None


async def _follow_only_bus(redis_url: str, prefix: str, conn: Any = None) -> Any:
    from sentient_graph.events import EventBus

    return await EventBus.open(conn, redis_url=redis_url, prefix=prefix, setup=False)


async def _from_redis_while_held(
    held: StoreLocked, redis_url: str, prefix: str, q: _Query
) -> list[Any]:
    """History from the Redis stream while a live run holds the embedded store."""
    bus = await _follow_only_bus(redis_url, prefix)
    try:
        found = await bus.replay(q.thread, run_id=q.run_id, after_seq=q.after, types=q.types)
    finally:
        await bus.aclose()
    if not found:
        raise StoreLocked(
            f"{held}; Redis holds no events for thread {q.thread!r} either: "
            "its history can be read once that run ends"
        )
    say(
        f"note: a live run holds the store, so this is what Redis keeps for {q.thread!r} "
        "(its latest events); the whole history can be read once the run ends"
    )
    return found


async def _poll_log(opts: CliOptions, q: _Query, show: _Printer) -> None:
    """Follow through a SurrealDB server without Redis (live queries are not used)."""
    from sentient_graph.db import connect
    from sentient_graph.events.log import EventLog

    conn = await connect(opts.surreal_url, namespace=opts.namespace, database=opts.database)
    try:
        log = EventLog(conn)
        while True:
            for event in await log.replay(
                q.thread, run_id=q.run_id, after_seq=q.after, types=q.types
            ):
                show(event)
            await asyncio.sleep(_POLL_SECONDS)  # polling interval, not synchronisation
    finally:
        await conn.aclose()


async def _tail(opts: CliOptions, q: _Query, *, follow: bool, prefix: str, show: _Printer) -> int:
    from sentient_graph.db import is_embedded
    from sentient_graph.settings import SurrealSettings, redis_url_from_env

    url = SurrealSettings.resolve(opts.surreal_url).url
    embedded = is_embedded(url)
    redis_url = redis_url_from_env(opts.redis_url)
    hint = (
        "to watch a live run from another terminal, set REDIS_URL for both the run and "
        "this command (or share a SurrealDB server, ws://HOST:PORT)"
    )
    try:
        history = await _read_log(opts, q)
    except StoreLocked as held:
        if redis_url is None:
            raise StoreLocked(f"{held}; {hint}") from None
        check_redis_url(redis_url, opts.redis_url_from)
        history = await _from_redis_while_held(held, redis_url, prefix, q)
    for event in history:
        show(event)
    if not follow:
        if show.count == 0 and not show.json_out:
            say(f"no events for thread {q.thread!r}" + (" that match" if q.filtered else ""))
        return EXIT_OK
    if redis_url is None:
        if embedded:
            raise ConfigError(
                f"cannot follow {q.thread!r} live: the embedded store {url} admits one process; {hint}"
            )
        await _poll_log(opts, q, show)
        return EXIT_OK
    check_redis_url(redis_url, opts.redis_url_from)
    bus = await _follow_only_bus(redis_url, prefix)
    try:
        async with bus.subscribe(
            q.thread, run_id=q.run_id, types=q.types, after_seq=q.after
        ) as subscription:
            async for event in subscription:
                show(event)
    finally:
        await bus.aclose()
    return EXIT_OK


def events(
    ctx: typer.Context,
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
    ] = _DEFAULT_PREFIX,
) -> None:
    """Show the events of THREAD (history, then live with --follow).

    History comes from the store whenever it is free; while a live run holds
    the embedded store, from Redis (REDIS_URL). Following a run that another
    process executes needs REDIS_URL for both (or a SurrealDB server).
    """
    opts = options(ctx)
    if opts.redis_url is None and os.environ.get("REDIS_URL"):
        opts = CliOptions(**{**opts.__dict__, "redis_url": os.environ["REDIS_URL"]})
    _ensure_logging()
    show = _Printer(json_out)

    def checked() -> list[Any] | None:
        # The rule of sentient_graph.engine.inputs, without importing LangGraph.
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        if not type:
            return None
        from sentient_graph.events import EventType

        valid = {t.value for t in EventType}
        bad = [t for t in type or [] if t not in valid]
        if bad:
            raise InvalidInput(
                f"unknown event type {bad[0]!r} for --type (choose from {', '.join(sorted(valid))})"
            )
        return [EventType(t) for t in type]

    async def work() -> int:
        query = _Query(thread, run, after, checked())
        return await _tail(opts, query, follow=follow, prefix=prefix, show=show)

    def through(client: Any) -> int:
        from sentient_graph.cli import remote

        types = checked()
        return remote.events(
            client,
            thread,
            run_id=run,
            after=after,
            types=[t.value for t in types] if types else None,
            follow=follow,
            show=show,
        )

    # Redis is checked where it is needed: the store may answer alone.
    execute(opts, work, redis=False, remote=through)
