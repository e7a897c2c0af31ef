"""``threads`` and ``history``: what the store holds. Neither needs Redis.

Owns: the commands' arguments; :mod:`sentient_graph.cli.render` prints.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sentient_graph.cli.exits import EXIT_OK
from sentient_graph.cli.render import print_history, print_threads, stdout_console
from sentient_graph.cli.runtime import execute, open_engine, options, say
from sentient_graph.errors import InvalidInput

__all__ = ["STATUSES", "history", "threads"]

STATUSES = ("pending", "running", "completed", "failed", "interrupted", "cancelled", "stale")

AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per line, values whole.")]


def threads(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", "-s", help=f"Only this status: {', '.join(STATUSES)}.", show_default=False
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List threads with the status of their latest run (`stale`: its process died)."""
    opts = options(ctx)

    async def work() -> int:
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"unknown status {status!r} (use one of: {', '.join(STATUSES)})")
        async with open_engine(opts, redis=False) as engine:
            if status == "stale":  # recorded running, but its process died (recover takes it)
                running = await engine.threads("running")
                records = [r for r in running if getattr(r, "stale", False)]
            else:
                records = await engine.threads(status)
        if not records and not as_json:
            say("no threads" + (f" with status {status}" if status else ""))
        else:
            print_threads(records, stdout_console(), as_json=as_json)
        return EXIT_OK

    def through(client: Any) -> int:
        from sentient_graph.cli import remote

        if status is not None and status not in STATUSES:
            raise InvalidInput(f"unknown status {status!r} (use one of: {', '.join(STATUSES)})")
        return remote.threads(client, status, as_json)

    execute(opts, work, redis=False, remote=through)


def history(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread.", show_default=False)],
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="At most this many.", show_default=False)
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List a thread's checkpoints, newest first (fork from any of them)."""
    opts = options(ctx)

    async def work() -> int:
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        async with open_engine(opts, redis=False) as engine:
            items = await engine.history(thread, limit=limit)
        print_history(items, stdout_console(), as_json=as_json)
        return EXIT_OK

    def through(client: Any) -> int:
        from sentient_graph.cli import remote
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        return remote.history(client, thread, limit, as_json)

    execute(opts, work, redis=False, remote=through)
