"""What every ``sentient-graph`` command shares: options, checks, running, failing.

Owns: :class:`CliOptions` (the global options), checking ``SURREALDB_URL`` and
``REDIS_URL`` before anything opens, parsing JSON arguments, opening the
engine (with Redis only for commands that publish or follow events), running
a command's coroutine and turning every error into one line on stderr and an
exit code (:mod:`sentient_graph.cli.exits`), and leaving quietly when the
reader of stdout is gone.

Must not: print results (:mod:`sentient_graph.cli.render` does) or know
SurrealQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

import typer

from sentient_graph.cli.exits import EXIT_PIPE, EXIT_STORE, exit_code_for
from sentient_graph.errors import ConfigError, InvalidInput, StoreLocked, StoreUnavailable

__all__ = [
    "CliOptions",
    "check_redis_url",
    "check_surreal_url",
    "execute",
    "fail",
    "open_engine",
    "options",
    "parse_json",
    "say",
]

#: What a ``surrealkv://`` store's ``?sync=`` takes: a mode, or a SurrealDB duration.
_REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class CliOptions:
    """The global options, handed to every command through ``ctx.obj``.

    Attributes:
        surreal_url: ``--surreal-url`` or ``SURREALDB_URL``; ``None`` for the default.
        redis_url: ``--redis-url`` or ``REDIS_URL``; ``None`` for none.
        namespace: SurrealDB namespace, or ``None`` for the default.
        database: SurrealDB database, or ``None`` for the default.
        verbose: Log what the engine does, and show tracebacks of unexpected errors.
        surreal_url_from: Where ``surreal_url`` came from, as errors name it.
        redis_url_from: Where ``redis_url`` came from, as errors name it.
        server: ``--server`` or ``SENTIENT_SERVER``: talk to this server, never
            open the store (``None``: a server found beside the store, else local).
        token: ``--token`` or ``SENTIENT_TOKEN``, sent to the server.
        server_from: Where ``server`` came from, as errors name it.
    """

    surreal_url: str | None = None
    redis_url: str | None = None
    namespace: str | None = None
    database: str | None = None
    verbose: bool = False
    surreal_url_from: str = "SURREALDB_URL"
    redis_url_from: str = "REDIS_URL"
    server: str | None = None
    token: str | None = None
    server_from: str = "SENTIENT_SERVER"


def options(ctx: typer.Context) -> CliOptions:
    """The global options of this invocation."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliOptions) else CliOptions()


def say(message: str) -> None:
    """One plain line on stderr (status, hints); stdout carries results only."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr and leave with ``code``."""
    say(f"error: {message}")
    raise typer.Exit(code)


def check_surreal_url(url: str | None, name: str = "SURREALDB_URL") -> None:
    """Refuse a SurrealDB URL that cannot work, naming where it came from
    (the rules are :func:`sentient_graph.surreal.url.parse_url`'s).

    Raises:
        ConfigError: unknown scheme, no path, or a ``?sync=`` value that is
            not ``every``, ``never`` or a duration such as ``1s`` / ``100ms``.
    """
    if url is None:
        return
    from sentient_graph.surreal.url import parse_url

    try:
        parse_url(url)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def check_redis_url(url: str | None, name: str = "REDIS_URL") -> None:
    """Refuse a Redis URL that redis-py would not take, naming where it came from.

    Raises:
        ConfigError: not ``redis://``, ``rediss://`` or ``unix://``, a bad
            port or database number.
    """
    if url is None:
        return
    hint = "(use redis://HOST:PORT/DB, rediss://HOST:PORT/DB or unix:///PATH)"
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{name}={url!r} is not a Redis URL: {exc} {hint}") from None
    if parsed.scheme not in _REDIS_SCHEMES or "://" not in url:
        raise ConfigError(f"{name}={url!r} is not a Redis URL {hint}")
    db = parsed.path.lstrip("/")
    if parsed.scheme != "unix" and db and not db.isdigit():
        raise ConfigError(f"{name}={url!r} names database {db!r}; a Redis database is a number")


def parse_json(text: str, option: str) -> Any:
    """``text`` as JSON; ``@path`` reads a file, ``@-`` stdin.

    Raises:
        InvalidInput: the file cannot be read or the text is not JSON.
    """
    source = option
    if text.startswith("@"):
        path = text[1:]
        source = f"{option} file {path}"
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text()
        except OSError as exc:
            raise InvalidInput(
                f"cannot read {path}: {exc.strerror or exc} (check the path after '@')"
            ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(
            f"{source} is not valid JSON: {exc} "
            f'(example: {option} \'{{"request": "todo app"}}\', strings quoted: '
            f"{option} '\"yes\"', or {option} @file.json)"
        ) from None


def open_engine(opts: CliOptions, *, redis: bool) -> Any:
    """``Engine.open`` with the global options; Redis only when ``redis``.

    A command that neither publishes nor follows events (``threads``,
    ``history``, ``cancel``, ``fork``) must work whatever ``REDIS_URL`` holds,
    so it gets no Redis at all (the engine would otherwise read the variable).
    """
    from sentient_graph.engine import Engine

    return Engine.open(
        opts.surreal_url,
        opts.redis_url if redis else None,
        namespace=opts.namespace,
        database=opts.database,
        redis=redis,
    )


def _store_hint(exc: StoreUnavailable) -> str:
    text = str(exc)
    if isinstance(exc, StoreLocked) and "--surreal-url" not in text:
        text += " (--surreal-url ws://HOST:PORT)"
    return text


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: the reader left, and a last flush must not fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def execute(
    opts: CliOptions,
    work: Callable[[], Coroutine[Any, Any, int]],
    *,
    redis: bool,
    remote: Callable[[Any], int] | None = None,
) -> NoReturn:
    """Check the settings, run one command's coroutine, exit with its code.

    Args:
        opts: The global options.
        work: The command; returns its exit code or raises.
        redis: The command publishes or follows events, so ``REDIS_URL`` must
            be well-formed (a command that does not need Redis ignores it).
        remote: The command through a server (:mod:`sentient_graph.cli.remote`
            chooses it), given its client; returns the exit code or raises as
            ``work`` does. ``None``: the command always runs locally.
    """
    try:
        env = os.environ
        check_surreal_url(opts.surreal_url or env.get("SURREALDB_URL"), opts.surreal_url_from)
        if redis:
            check_redis_url(opts.redis_url or env.get("REDIS_URL"), opts.redis_url_from)
        client = None
        if remote is not None:
            from sentient_graph.cli.remote import connect

            client = connect(opts)
        if client is not None:
            # No event loop: Ctrl-C interrupts a blocking read at once.
            with client:
                code = remote(client)  # type: ignore[misc]
        else:
            code = asyncio.run(work())
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        code = exit_code_for(KeyboardInterrupt())
    except BrokenPipeError:
        _quiet_stdout()
        code = EXIT_PIPE
    except StoreUnavailable as exc:
        fail(_store_hint(exc), EXIT_STORE)
    except Exception as exc:
        code = exit_code_for(exc)
        from sentient_graph.errors import SentientError

        if isinstance(exc, SentientError):
            fail(str(exc), code)
        lines = str(exc).strip().splitlines()
        detail = lines[0] if lines else ""
        if opts.verbose:
            traceback.print_exc()
        if isinstance(exc, ValueError):
            fail(f"{detail or type(exc).__name__}", code)
        fail(
            f"unexpected {type(exc).__name__}: {detail} (run with --verbose for the traceback)",
            code,
        )
    raise typer.Exit(code)
