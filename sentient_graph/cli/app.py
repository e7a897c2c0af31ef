"""The ``sentient-graph`` typer app: global options, ``--version``, the commands, ``main``.

Owns: the global options (``--surreal-url``, ``--redis-url``, namespace and
database, ``--server`` and ``--token``, ``--verbose``, ``--version``), the one place where commands and
command groups are registered (:func:`_register`), and :func:`main`, the
console script, which leaves with the command's exit code and quietly when
the reader of stdout went away.

Must not: implement a command (each lives in :mod:`sentient_graph.cli.commands`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from sentient_graph.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PIPE
from sentient_graph.cli.logs import configure_logging
from sentient_graph.cli.runtime import CliOptions, say

__all__ = ["app", "main", "run_cli"]

app = typer.Typer(
    name="sentient-graph",
    help="Run LangGraph workflows durably: watch every step, resume any run from its last checkpoint.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("sentient-graph")
    except Exception:
        from sentient_graph import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"sentient-graph {_version()}\n")
        raise typer.Exit(EXIT_OK)


def _source(ctx: typer.Context, param: str, option: str, variable: str) -> str:
    """How errors name a setting: the option when it was typed, else the variable."""
    source = ctx.get_parameter_source(param)
    # click's ParameterSource (vendored by recent typer): compare by name.
    return option if getattr(source, "name", "") == "COMMANDLINE" else variable


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
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="SENTIENT_SERVER",
            help="Talk to this `sentient-graph serve` (http://HOST:PORT) instead of opening the "
            "store; default: the server running on this store, if any.",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="SENTIENT_TOKEN", help="The server's token.", show_default=False
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what the engine does (stderr).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Run LangGraph workflows durably: watch every step, resume any run from its last checkpoint."""
    configure_logging(verbose=verbose)
    ctx.obj = CliOptions(
        surreal_url=surreal_url or None,
        redis_url=redis_url or None,
        namespace=namespace,
        database=database,
        verbose=verbose,
        surreal_url_from=_source(ctx, "surreal_url", "--surreal-url", "SURREALDB_URL"),
        redis_url_from=_source(ctx, "redis_url", "--redis-url", "REDIS_URL"),
        server=(server or "").strip().rstrip("/") or None,
        token=token or None,
        server_from=_source(ctx, "server", "--server", "SENTIENT_SERVER"),
    )
    # The engine and the checkpointer read the same choice from the environment.
    if surreal_url:
        os.environ["SURREALDB_URL"] = surreal_url


def _register() -> None:
    """Every command and command group, in the order ``--help`` lists them.

    A command group is a typer app of its own, added with one line:
    ``app.add_typer(memory_app, name="memory")``.
    """
    from sentient_graph.cli.commands import cancel, events, fork, runs, serve, threads
    from sentient_graph.cli.commands.memory import memory_app

    for command in (
        runs.run,
        runs.resume,
        runs.recover,
        cancel.cancel,
        threads.threads,
        threads.history,
        fork.fork,
        events.events,
        serve.serve,
    ):
        app.command(command.__name__)(command)
    # Command groups (sentient-graph GROUP COMMAND), one line each:
    app.add_typer(memory_app, name="memory")


_register()


def _usage_line(exc: Exception) -> str:
    """click's usage error as one line, naming the help to read."""
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "sentient-graph"
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    return f"error: {message} (see `{path} --help`)"


def run_cli(args: Sequence[str] | None = None) -> int:
    """Run one command line (default ``sys.argv[1:]``) and return its exit code.

    What :func:`main` does, without flushing or leaving the process: usage
    errors become one line, and every code is one of the table in
    :mod:`sentient_graph.cli`.
    """
    try:
        result = app(
            args=None if args is None else list(args),
            prog_name="sentient-graph",
            standalone_mode=False,
        )
        code = result if isinstance(result, int) else EXIT_OK
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or EXIT_OK
        else:
            say(str(exc.code))
            code = EXIT_FAILED
    except Exception as exc:
        # click's usage errors (bad option, missing argument): one line, exit 2.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if exc.format_message().strip():  # empty: the help was printed (no command given)
            say(_usage_line(exc))
        code = exc.exit_code
    except BaseException as exc:  # click's Abort (EOF at a prompt) is not an Exception
        if type(exc).__name__ != "Abort":
            raise
        code = EXIT_INTERRUPTED
    return code


def main() -> None:
    """Entry point of the ``sentient-graph`` script: run, flush, leave with the code."""
    code = run_cli()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_PIPE  # the reader left (`| head`): nothing to say, nobody to say it to
    try:
        sys.stderr.flush()
    except OSError:
        pass
    # Every store was closed and every line flushed by now: nothing is left for
    # the interpreter's teardown to do but take time, or fail in a native
    # extension after the work is done and turn a true exit code into a false one.
    os._exit(code)
