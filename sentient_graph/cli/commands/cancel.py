"""``cancel``: stop a thread's run, or mark it so that ``recover`` leaves it alone.

Owns: the command's arguments and what it says; the engine does the work.
Needs no Redis.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sentient_graph.cli.exits import EXIT_OK
from sentient_graph.cli.runtime import execute, open_engine, options, say

__all__ = ["cancel"]


def cancel(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread to cancel.", show_default=False)],
) -> None:
    """Cancel a thread's run (it can still be resumed later)."""
    opts = options(ctx)

    async def work() -> int:
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        async with open_engine(opts, redis=False) as engine:
            record = await engine.cancel(thread)
        if record.status == "running":
            say(
                f"asked process {record.pid} on {record.host} to cancel thread {thread!r}; "
                "it stops at its next heartbeat"
            )
        else:
            say(f"cancelled thread {thread!r}")
        return EXIT_OK

    def through(client: Any) -> int:
        from sentient_graph.cli import remote
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        return remote.cancel(client, thread)

    execute(opts, work, redis=False, remote=through)
