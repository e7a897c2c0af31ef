"""``fork``: branch a new thread from a past checkpoint ("time travel"). Needs no Redis.

Owns: the command's arguments and what it prints (the new thread id on
stdout, the command that runs it on stderr, shell-quoted).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from sentient_graph.cli.exits import EXIT_OK
from sentient_graph.cli.runtime import execute, open_engine, options, parse_json, say
from sentient_graph.shell import command

__all__ = ["fork"]


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
    opts = options(ctx)

    async def work() -> int:
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        check_thread_id(new_thread)
        update = parse_json(values, "--values") if values is not None else None
        async with open_engine(opts, redis=False) as engine:
            new_id = await engine.fork(
                thread, checkpoint, update, as_node=as_node, new_thread_id=new_thread
            )
        sys.stdout.write(new_id + "\n")
        sys.stdout.flush()
        say(f"forked {thread}@{checkpoint} -> {new_id}; run it with `{command('resume', new_id)}`")
        return EXIT_OK

    def through(client: Any) -> int:
        from sentient_graph.cli import remote
        from sentient_graph.ids import check_thread_id

        check_thread_id(thread)
        check_thread_id(new_thread)
        update = parse_json(values, "--values") if values is not None else None
        return remote.fork(client, thread, checkpoint, update, as_node, new_thread)

    execute(opts, work, redis=False, remote=through)
