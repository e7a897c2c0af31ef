"""``run``, ``resume`` and ``recover``: the commands that drive a run and show it.

Owns: checking a command's arguments and the graph input before the store
opens (so bad input writes nothing), starting or resuming runs on the engine,
showing their progress and printing each final state as JSON, with the
next command to type, shell-quoted.

Through a server (:mod:`sentient_graph.cli.remote`), ``run`` and ``resume``
check their arguments the same way and show the same progress; ``recover``
stays local (a server recovers its store when it starts).

Must not: know how a run is driven or recorded (the engine does).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import time
from typing import Annotated, Any

import typer

from sentient_graph.cli.exits import EXIT_FAILED, EXIT_OK
from sentient_graph.cli.progress import RunView
from sentient_graph.cli.render import print_json, stderr_console
from sentient_graph.cli.runtime import execute, open_engine, options, parse_json, say
from sentient_graph.errors import InvalidInput, RunCancelled, RunFailed
from sentient_graph.shell import command

__all__ = ["recover", "resume", "run"]

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress view.")]


async def follow(handles: list[Any], *, quiet: bool) -> int:
    """Show the runs' events until they end, print each result; return the exit code."""
    console = stderr_console()
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
            say(
                f"cancelled thread {handle.thread_id!r}; continue it with "
                f"`{command('resume', handle.thread_id)}`"
            )
        raise
    code = EXIT_OK
    for handle in handles:
        elapsed = time.monotonic() - started
        try:
            values = await handle.wait()
        except (RunCancelled, RunFailed) as exc:
            say(f"error: {exc}")
            code = EXIT_FAILED
            continue
        state = values
        if isinstance(values, dict):
            state = {k: v for k, v in values.items() if k != "__interrupt__"}
        print_json(state, sys.stdout)
        if handle.status == "interrupted":
            question = handle.interrupts[0]["value"] if handle.interrupts else None
            say(
                f"thread {handle.thread_id!r} waits for input: "
                f"{json.dumps(question, ensure_ascii=False, default=repr)}"
            )
            say(
                f"answer with: {command('resume', handle.thread_id, options=('--value', 'JSON'))}"
                " (JSON: your answer, e.g. '\"yes\"')"
            )
        else:
            say(f"completed thread {handle.thread_id!r} in {elapsed:.1f}s")
    return code


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
    replace_graph: Annotated[
        bool,
        typer.Option(
            "--replace-graph",
            help="Run this graph on an existing thread that was run with another one.",
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Run a graph, showing node progress; prints the final state as JSON."""
    opts = options(ctx)

    async def work() -> int:
        from sentient_graph.engine.inputs import check_input, check_thread_id
        from sentient_graph.loader import load_graph

        check_thread_id(thread)
        payload = parse_json(input, "--input")
        # Load and check before opening the store: bad input never touches it.
        loaded = load_graph(graph)
        check_input(loaded.graph, payload)
        async with open_engine(opts, redis=True) as engine:
            extra: dict[str, Any] = {}
            if replace_graph:
                # The engine takes replace_graph once it refuses another graph on a thread.
                if "replace_graph" in inspect.signature(engine.start).parameters:
                    extra["replace_graph"] = True
            handle = await engine.start(loaded.graph, payload, thread, **extra)
            say(f"thread {handle.thread_id} (run {handle.run_id}, graph {loaded.name})")
            return await follow([handle], quiet=quiet)

    def through(client: Any) -> int:
        from sentient_graph.cli import remote
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        payload = parse_json(input, "--input")
        if replace_graph:
            raise InvalidInput(
                f"--replace-graph is not available through the server at {client.base_url} "
                "(stop the server to run locally)"
            )
        # The server loads only the graphs it registered (and checks the input).
        return remote.run(client, graph, payload, thread, quiet)

    execute(opts, work, redis=True, remote=through)


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
    quiet: Quiet = False,
) -> None:
    """Resume a failed, cancelled, interrupted or killed run from its last checkpoint."""
    opts = options(ctx)

    async def work() -> int:
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        # No --value is not an answer of None: only pass one when given.
        answer = (parse_json(value, "--value"),) if value is not None else ()
        async with open_engine(opts, redis=True) as engine:
            handle = await engine.resume(thread, *answer, graph=graph)
            say(f"thread {handle.thread_id} (run {handle.run_id}, resumed)")
            return await follow([handle], quiet=quiet)

    def through(client: Any) -> int:
        from sentient_graph.cli import remote
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        answer = (parse_json(value, "--value"),) if value is not None else ()
        if graph is not None:
            raise InvalidInput(
                f"--graph is not available through the server at {client.base_url}: it "
                "resumes a thread with the graph it registered (stop the server to run locally)"
            )
        return remote.resume(client, thread, answer, quiet)

    execute(opts, work, redis=True, remote=through)


def recover(ctx: typer.Context, quiet: Quiet = False) -> None:
    """Resume every run whose process died (a live run is left alone)."""
    opts = options(ctx)

    async def work() -> int:
        async with open_engine(opts, redis=True) as engine:
            handles = await engine.recover()
            if not handles:
                say("nothing to recover")
                return EXIT_OK
            for handle in handles:
                say(f"recovering thread {handle.thread_id} (run {handle.run_id})")
            return await follow(handles, quiet=quiet)

    execute(opts, work, redis=True)
