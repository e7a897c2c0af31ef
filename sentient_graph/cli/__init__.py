"""The ``sentient-graph`` command: run, watch, resume, recover, cancel and inspect workflows.

Owns: the typer app and :func:`main`, the global options (``--surreal-url``,
``--redis-url``, namespace/database, ``--verbose``), parsing JSON arguments,
the exit codes, and turning every error we raise on purpose into one line on
stderr. Each command opens the engine, does its work and closes it at once:
the embedded store admits one process at a time, so no command holds it
longer than it needs to.

Must not: know SurrealQL, the checkpointer or how events are built; it talks
to :class:`~sentient_graph.runner.Engine` only. The ``events`` command lives
in :mod:`sentient_graph.cli.events` and is registered here.

Exit codes:
    0 success (also a run that stopped at an ``interrupt()`` and waits for input),
    1 the run failed or was cancelled,
    2 bad usage or input (bad JSON, unknown graph or thread, not resumable),
    3 the store (or Redis) is unavailable, e.g. the embedded store is held by
    another process, 130 interrupted with Ctrl-C (the run is recorded
    ``cancelled`` and can be resumed).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from sentient_graph.cli.logs import configure_logging
from sentient_graph.cli.progress import RunView, print_history, print_json, print_threads
from sentient_graph.errors import (
    ConfigError,
    GraphLoadError,
    RedisUnavailable,
    RunCancelled,
    RunFailed,
    RunNotActive,
    SentientError,
    StoreLocked,
    StoreUnavailable,
    ThreadNotFound,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_USAGE",
    "app",
    "exit_code_for",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STORE = 3
EXIT_INTERRUPTED = 130

STATUSES = ("pending", "running", "completed", "failed", "interrupted", "cancelled")

app = typer.Typer(
    name="sentient-graph",
    help="Run LangGraph workflows durably: watch every step, resume any run from its last checkpoint.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass(frozen=True)
class CliOptions:
    """The global options, handed to every command through ``ctx.obj``."""

    surreal_url: str | None
    redis_url: str | None
    namespace: str | None
    database: str | None
    verbose: bool


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error (see the module docstring)."""
    if isinstance(exc, RunFailed):
        return EXIT_FAILED
    if isinstance(exc, StoreUnavailable | RedisUnavailable):
        return EXIT_STORE
    if isinstance(exc, ConfigError | GraphLoadError | ThreadNotFound | RunNotActive):
        return EXIT_USAGE
    return EXIT_FAILED


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout() -> Console:
    """Tables on stdout; unlimited width in a pipe, so no row is cut or folded."""
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=True, width=10_000)
    return console


def _say(message: str) -> None:
    """One plain line on stderr (status, hints); stdout carries results only."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _fail(message: str, code: int) -> NoReturn:
    _say(f"error: {message}")
    raise typer.Exit(code)


def _store_hint(exc: StoreUnavailable) -> str:
    text = str(exc)
    if isinstance(exc, StoreLocked) and "--surreal-url" not in text:
        text += " (--surreal-url ws://HOST:PORT)"
    return text


def _execute(opts: CliOptions, work: Callable[[], Coroutine[Any, Any, int]]) -> NoReturn:
    """Run one command's coroutine; map errors to one line and an exit code."""
    try:
        code = asyncio.run(work())
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except StoreUnavailable as exc:
        _fail(_store_hint(exc), EXIT_STORE)
    except SentientError as exc:
        _fail(str(exc), exit_code_for(exc))
    except Exception as exc:
        if opts.verbose:
            traceback.print_exc()
        detail = str(exc).strip().splitlines()
        _fail(
            f"unexpected {type(exc).__name__}: {detail[0] if detail else ''} "
            "(run with --verbose for the traceback)",
            EXIT_FAILED,
        )
    raise typer.Exit(code)


def _parse_json(text: str, option: str) -> Any:
    """``text`` as JSON; ``@path`` reads a file, ``@-`` stdin."""
    source = option
    if text.startswith("@"):
        path = text[1:]
        source = f"{option} file {path}"
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text()
        except OSError as exc:
            _fail(
                f"cannot read {path}: {exc.strerror or exc} (check the path after '@')", EXIT_USAGE
            )
    try:
        return json.loads(text)
    except ValueError as exc:
        _fail(
            f"{source} is not valid JSON: {exc} "
            f'(example: {option} \'{{"request": "todo app"}}\', strings quoted: {option} \'"yes"\', or {option} @file.json)',
            EXIT_USAGE,
        )


def _engine(opts: CliOptions) -> Any:
    from sentient_graph.runner import Engine

    return Engine.open(
        opts.surreal_url, opts.redis_url, namespace=opts.namespace, database=opts.database
    )


def _opts(ctx: typer.Context) -> CliOptions:
    obj = ctx.obj
    if isinstance(obj, CliOptions):
        return obj
    return CliOptions(None, None, None, None, False)


@app.callback()
def _global_options(
    ctx: typer.Context,
    surreal_url: Annotated[
        str | None,
        typer.Option(
            "--surreal-url",
            envvar="SURREALDB_URL",
            help="SurrealDB: surrealkv://PATH (embedded, default surrealkv://.sentient/store), "
            "mem://, or ws://HOST:PORT for a server shared by many processes.",
            show_default=False,
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            envvar="REDIS_URL",
            help="Publish events on Redis (redis://HOST:PORT); without it events stay in-process.",
            show_default=False,
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", envvar="SURREALDB_NAMESPACE", help="SurrealDB namespace."),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", envvar="SURREALDB_DATABASE", help="SurrealDB database."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what the engine does (stderr).")
    ] = False,
) -> None:
    """Run LangGraph workflows durably: watch every step, resume any run from its last checkpoint."""
    configure_logging(verbose=verbose)
    ctx.obj = CliOptions(surreal_url, redis_url, namespace, database, verbose)
    # Commands registered from other modules (events) read the same choice from the environment.
    if surreal_url:
        os.environ["SURREALDB_URL"] = surreal_url
    if redis_url:
        os.environ["REDIS_URL"] = redis_url


async def _follow(handles: list[Any], *, quiet: bool) -> int:
    """Show the runs' events until they end, print each result; return the exit code."""
    console = _stderr()
    live = console.is_terminal and not quiet
    started = time.monotonic()

    async def watch(handle: Any, view: RunView) -> None:
        async for event in handle.events():
            if not quiet:
                view.update(event)

    try:
        with RunView(console, live=live, show_thread=len(handles) > 1) as view:
            await asyncio.gather(*(watch(h, view) for h in handles))
    except asyncio.CancelledError:
        for handle in handles:
            _say(
                f"cancelled thread {handle.thread_id!r}; continue it with "
                f"`sentient-graph resume {handle.thread_id}`"
            )
        raise
    code = EXIT_OK
    for handle in handles:
        elapsed = time.monotonic() - started
        try:
            values = await handle.wait()
        except RunCancelled as exc:
            _say(f"error: {exc}")
            code = EXIT_FAILED
            continue
        except RunFailed as exc:
            _say(f"error: {exc}")
            code = EXIT_FAILED
            continue
        state = values
        if isinstance(values, dict):
            state = {k: v for k, v in values.items() if k != "__interrupt__"}
        print_json(state, sys.stdout)
        if handle.status == "interrupted":
            question = handle.interrupts[0]["value"] if handle.interrupts else None
            _say(
                f"thread {handle.thread_id!r} waits for input: "
                f"{json.dumps(question, ensure_ascii=False, default=repr)}"
            )
            _say(f"answer with: sentient-graph resume {handle.thread_id} --value JSON")
        else:
            _say(f"completed thread {handle.thread_id!r} in {elapsed:.1f}s")
    return code


@app.command()
def run(
    ctx: typer.Context,
    graph: Annotated[
        str,
        typer.Argument(
            help="The graph: path/to/file.py:graph, package.module:graph, or a name in langgraph.json.",
            show_default=False,
        ),
    ],
    input: Annotated[
        str,
        typer.Option("--input", "-i", help="Graph input as JSON, or @file.json, or @- for stdin."),
    ] = "{}",
    thread: Annotated[
        str | None,
        typer.Option("--thread", "-t", help="Thread id (default: a new one).", show_default=False),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress view.")] = False,
) -> None:
    """Run a graph, showing node progress; prints the final state as JSON."""
    opts = _opts(ctx)
    payload = _parse_json(input, "--input")

    async def work() -> int:
        from sentient_graph.loader import load_graph

        # Load before opening the store: a bad reference fails without touching it.
        loaded = load_graph(graph)
        async with _engine(opts) as engine:
            handle = await engine.start(loaded.graph, payload, thread)
            _say(f"thread {handle.thread_id} (run {handle.run_id}, graph {loaded.name})")
            return await _follow([handle], quiet=quiet)

    _execute(opts, work)


@app.command()
def resume(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread to resume.", show_default=False)],
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="Answer to a pending interrupt() as JSON (e.g. '\"yes\"' or 'true'), or @file.json.",
            show_default=False,
        ),
    ] = None,
    graph: Annotated[
        str | None,
        typer.Option(
            "--graph",
            help="Graph reference, when the thread's run has none stored (graph defined in a notebook).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress view.")] = False,
) -> None:
    """Resume a failed, cancelled, interrupted or killed run from its last checkpoint."""
    opts = _opts(ctx)
    answer = (_parse_json(value, "--value"),) if value is not None else ()

    async def work() -> int:
        async with _engine(opts) as engine:
            # No --value is not an answer of None: only pass one when given.
            handle = await engine.resume(thread, *answer, graph=graph)
            _say(f"thread {handle.thread_id} (run {handle.run_id}, resumed)")
            return await _follow([handle], quiet=quiet)

    _execute(opts, work)


@app.command()
def recover(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress view.")] = False,
) -> None:
    """Resume every run whose process died (a live run is left alone)."""
    opts = _opts(ctx)

    async def work() -> int:
        async with _engine(opts) as engine:
            handles = await engine.recover()
            if not handles:
                _say("nothing to recover")
                return EXIT_OK
            for handle in handles:
                _say(f"recovering thread {handle.thread_id} (run {handle.run_id})")
            return await _follow(handles, quiet=quiet)

    _execute(opts, work)


@app.command()
def cancel(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread to cancel.", show_default=False)],
) -> None:
    """Cancel a thread's run (it can still be resumed later)."""
    opts = _opts(ctx)

    async def work() -> int:
        async with _engine(opts) as engine:
            record = await engine.cancel(thread)
        if record.status == "running":
            _say(
                f"asked process {record.pid} on {record.host} to cancel thread {thread!r}; "
                "it stops at its next heartbeat"
            )
        else:
            _say(f"cancelled thread {thread!r}")
        return EXIT_OK

    _execute(opts, work)


@app.command()
def threads(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", "-s", help=f"Only this status: {', '.join(STATUSES)}.", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List threads with the status of their latest run."""
    opts = _opts(ctx)
    if status is not None and status not in STATUSES:
        _fail(f"unknown status {status!r} (use one of: {', '.join(STATUSES)})", EXIT_USAGE)

    async def work() -> int:
        async with _engine(opts) as engine:
            records = await engine.threads(status)
        if not records and not as_json:
            _say("no threads" + (f" with status {status}" if status else ""))
        else:
            print_threads(records, _stdout(), as_json=as_json)
        return EXIT_OK

    _execute(opts, work)


@app.command()
def history(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread.", show_default=False)],
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="At most this many.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List a thread's checkpoints, newest first (fork from any of them)."""
    opts = _opts(ctx)

    async def work() -> int:
        async with _engine(opts) as engine:
            items = await engine.history(thread, limit=limit)
        print_history(items, _stdout(), as_json=as_json)
        return EXIT_OK

    _execute(opts, work)


@app.command()
def fork(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread to branch from.", show_default=False)],
    checkpoint: Annotated[
        str, typer.Argument(help="Checkpoint id (see `history`).", show_default=False)
    ],
    values: Annotated[
        str | None,
        typer.Option(
            "--values", help="State update to apply on the fork, as JSON.", show_default=False
        ),
    ] = None,
    as_node: Annotated[
        str | None,
        typer.Option(
            "--as-node", help="Apply --values as if this node wrote them.", show_default=False
        ),
    ] = None,
    new_thread: Annotated[
        str | None,
        typer.Option(
            "--new-thread", help="Id of the new thread (default: a new one).", show_default=False
        ),
    ] = None,
) -> None:
    """Branch a new thread from a past checkpoint; run it with `resume`. Prints the new thread id."""
    opts = _opts(ctx)
    update = _parse_json(values, "--values") if values is not None else None

    async def work() -> int:
        async with _engine(opts) as engine:
            new_id = await engine.fork(
                thread, checkpoint, update, as_node=as_node, new_thread_id=new_thread
            )
        sys.stdout.write(new_id + "\n")
        _say(
            f"forked {thread}@{checkpoint} -> {new_id}; run it with `sentient-graph resume {new_id}`"
        )
        return EXIT_OK

    _execute(opts, work)


def _register_events() -> None:
    """Add the events helper's ``events`` command (sentient_graph/cli/events.py)."""
    from sentient_graph.cli.events import events

    app.command("events")(events)


_register_events()


def main() -> None:
    """Entry point of the ``sentient-graph`` script."""
    try:
        app(prog_name="sentient-graph")
        code = EXIT_OK
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or EXIT_OK
        else:
            _say(str(exc.code))
            code = EXIT_FAILED
    sys.stdout.flush()
    sys.stderr.flush()
    # Every store was closed and every line flushed by now. The embedded SurrealDB
    # engine aborts a few percent of processes (SIGABRT, a Rust panic in a tokio
    # worker) during interpreter shutdown even after its connection was closed;
    # leaving without that shutdown keeps exit codes true.
    os._exit(code)
