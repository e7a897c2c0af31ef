"""The CLI through a running server: which server, and each command's work over HTTP.

Owns: choosing the server (:func:`connect`) and, for ``run``, ``resume``,
``cancel``, ``threads``, ``history``, ``fork`` and ``events``, doing the
command's work with a :class:`~sentient_graph.server.client.ServerClient`
and printing exactly what local mode prints (the same renderers, the same
lines, the same exit codes: the client turns error replies back into the
exceptions local mode raises).

Which server:

1. ``--server URL`` or ``SENTIENT_SERVER`` (token: ``--token`` or
   ``SENTIENT_TOKEN``): always that one. If it does not answer, the command
   fails with exit 3 and one line naming the URL.
2. Else the ``server.json`` a running ``sentient-graph serve`` wrote beside
   the store in use (``--surreal-url`` / ``SURREALDB_URL``), if it serves the
   namespace and database asked for (``--namespace``, ``--database``):
   another one of the same store is held by it, exit 3. A stale file,
   whose server is gone, never stops a command: when its process is dead the
   file is removed, and when nothing listens at its URL the command runs
   locally, saying nothing (if a server does hold the store after all, local
   mode says so: exit 3).
3. Else local mode: the command opens the store itself.

The work runs without an event loop, so Ctrl-C interrupts a blocking read at
once: during ``run`` or ``resume`` it cancels the run on the server (recorded
``cancelled``, resumable) and the command exits 130.

Must not: open the store, import the server's app, or load a graph (the
server runs only graphs it has registered and refuses the rest: exit 2).
Nor import the engine, the event bus or LangGraph: a command through a
server starts in a fraction of the time (so events and records are light
views of the server's JSON, printed by the same renderers).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sentient_graph.cli.exits import EXIT_FAILED, EXIT_OK
from sentient_graph.cli.render import print_history, print_json, print_threads, stdout_console
from sentient_graph.shell import command

if TYPE_CHECKING:
    from sentient_graph.cli.runtime import CliOptions
    from sentient_graph.server.client import ServerClient

__all__ = [
    "cancel",
    "connect",
    "events",
    "fork",
    "history",
    "resume",
    "run",
    "threads",
]

#: How long the check that a discovered server still listens may take.
_PROBE_SECONDS = 5.0


class _Type(str):
    """An event type as the renderers read it (``.value``), without the events package."""

    @property
    def value(self) -> str:
        return str(self)


class RemoteEvent:
    """An event from the server's stream: the attributes the renderers read.

    ``to_json`` gives back the text the server sent, which is the event's own
    ``Event.to_json``: ``events --json`` prints the same bytes as local mode.
    """

    def __init__(self, text: str) -> None:
        data = json.loads(text)
        self._text = text
        self.type = _Type(data["type"])
        self.source = data.get("source")
        self.thread_id = data["thread_id"]
        self.run_id = data["run_id"]
        self.seq = int(data.get("seq") or 0)
        self.payload = data.get("payload") or {}
        self.timestamp = datetime.fromisoformat(data["timestamp"])

    def to_json(self) -> str:
        return self._text


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def connect(opts: CliOptions) -> ServerClient | None:
    """The client of the server this command talks to, or ``None`` for local mode."""
    import httpx

    from sentient_graph.server.client import ServerClient

    if opts.server:
        return ServerClient(opts.server, opts.token, named_by=opts.server_from)
    from sentient_graph.server.discovery import read_url_file, url_file_for

    path = url_file_for(opts.surreal_url)
    if path is None or not path.is_file():
        return None
    info = read_url_file(opts.surreal_url)
    if info is None:  # its process is gone (killed): the file is stale
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    client = ServerClient(str(info["url"]), opts.token, named_by=str(path))
    try:
        client.probe(_PROBE_SECONDS)
    except httpx.TransportError:
        client.close()  # nothing listens there (starting, stopping, or a reused pid)
        return None
    try:
        _check_served(info, opts)
    except BaseException:
        client.close()
        raise
    return client


def _check_served(info: dict[str, Any], opts: CliOptions) -> None:
    """Refuse a discovered server that serves another namespace or database of the store."""
    from sentient_graph.errors import StoreUnavailable
    from sentient_graph.settings import SurrealSettings

    wanted = SurrealSettings.resolve(
        opts.surreal_url, namespace=opts.namespace, database=opts.database
    )
    served = (info.get("namespace"), info.get("database"))
    if None in served or served == (wanted.namespace, wanted.database):
        return  # a file from before it said (or the same database)
    raise StoreUnavailable(
        f"the server at {info['url']} serves namespace {served[0]!r}, database "
        f"{served[1]!r} of this store, not namespace {wanted.namespace!r}, database "
        f"{wanted.database!r}; stop that server to open them here, or ask for its own"
    )


def _record(row: dict[str, Any]) -> Any:
    """A run record (``RunRecord`` as JSON) as the renderers read it."""
    return SimpleNamespace(**{"stale": False, "graph": None, "error": None, **row})


def threads(client: ServerClient, status: str | None, as_json: bool) -> int:
    """``threads`` through the server."""
    if status == "stale":  # recorded running, but its process died (recover takes it)
        rows = [r for r in client.threads("running") if r.get("stale")]
    else:
        rows = client.threads(status)
    if not rows and not as_json:
        _say("no threads" + (f" with status {status}" if status else ""))
    elif as_json:
        # The server sends each record as local mode prints it (every field, whole).
        print_threads(rows, stdout_console(), as_json=True)  # type: ignore[arg-type]
    else:
        print_threads([_record(r) for r in rows], stdout_console(), as_json=False)
    return EXIT_OK


def history(client: ServerClient, thread: str, limit: int | None, as_json: bool) -> int:
    """``history`` through the server."""
    rows = client.history(thread, limit=limit)
    if as_json:
        print_history(rows, stdout_console(), as_json=True)  # type: ignore[arg-type]
    else:
        items = [SimpleNamespace(**{"next": (), "source": None, **r}) for r in rows]
        print_history(items, stdout_console(), as_json=False)  # type: ignore[arg-type]
    return EXIT_OK


def cancel(client: ServerClient, thread: str) -> int:
    """``cancel`` through the server."""
    record = _record(client.cancel(thread))
    if record.status == "running":
        _say(
            f"asked process {record.pid} on {record.host} to cancel thread {thread!r}; "
            "it stops at its next heartbeat"
        )
    else:
        _say(f"cancelled thread {thread!r}")
    return EXIT_OK


def fork(
    client: ServerClient,
    thread: str,
    checkpoint: str,
    update: Any,
    as_node: str | None,
    new_thread: str | None,
) -> int:
    """``fork`` through the server."""
    reply = client.fork(thread, checkpoint, update, new_thread, as_node=as_node)
    new_id = str(reply["thread_id"])
    sys.stdout.write(new_id + "\n")
    sys.stdout.flush()
    _say(f"forked {thread}@{checkpoint} -> {new_id}; run it with `{command('resume', new_id)}`")
    return EXIT_OK


def _as_events(texts: Iterable[str]) -> Iterable[RemoteEvent]:
    for text in texts:
        yield RemoteEvent(text)


def events(
    client: ServerClient,
    thread: str,
    *,
    run_id: str | None,
    after: int,
    types: list[str] | None,
    follow: bool,
    show: Any,
) -> int:
    """``events`` through the server: history, then live ones with ``follow`` (until Ctrl-C)."""
    rows = client.events(
        thread, after=after or None, follow=follow, types=types, until_terminal=False, raw=True
    )
    for event in _as_events(rows):
        if run_id is None or event.run_id == run_id:
            show(event)
    if show.count == 0 and not show.json_out:
        filtered = bool(run_id or after or types)
        _say(f"no events for thread {thread!r}" + (" that match" if filtered else ""))
    return EXIT_OK


def run(client: ServerClient, graph: str, payload: Any, thread: str | None, quiet: bool) -> int:
    """``run`` through the server: start, then show its events as local mode does."""
    started = time.monotonic()
    reply = client.start(graph, payload, thread)
    thread_id, run_id = str(reply["thread_id"]), str(reply["run_id"])
    _say(f"thread {thread_id} (run {run_id}, graph {graph})")
    return _follow(client, thread_id, run_id, quiet=quiet, started=started)


def resume(client: ServerClient, thread: str, answer: tuple[Any, ...], quiet: bool) -> int:
    """``resume`` through the server; ``answer`` is ``()`` or ``(value,)``."""
    started = time.monotonic()
    reply = client.resume(thread, *answer)
    thread_id, run_id = str(reply["thread_id"]), str(reply["run_id"])
    _say(f"thread {thread_id} (run {run_id}, resumed)")
    return _follow(client, thread_id, run_id, quiet=quiet, started=started)


def _follow(client: ServerClient, thread: str, run_id: str, *, quiet: bool, started: float) -> int:
    """Show one run's events until it ends, print its result; the exit code.

    What :func:`sentient_graph.cli.commands.runs.follow` does for a local run,
    from the server's event stream and its view of the thread.
    """
    from sentient_graph.cli.progress import RunView
    from sentient_graph.cli.render import stderr_console
    from sentient_graph.errors import SentientError

    console = stderr_console()
    live = console.is_terminal and not quiet
    try:
        with RunView(console, live=live, show_thread=False) as view:
            for event in _as_events(
                client.events(thread, after=f"{run_id}:0", follow=True, raw=True)
            ):
                if not quiet:
                    view.update(event)  # type: ignore[arg-type]  # the attributes it reads
    except KeyboardInterrupt:
        with contextlib.suppress(SentientError):
            client.cancel(thread)
        _say(f"cancelled thread {thread!r}; continue it with `{command('resume', thread)}`")
        raise
    elapsed = time.monotonic() - started
    current = client.get(thread)
    record, state = current["record"], current["state"]
    status = record.get("status")
    if status == "failed":
        node = record.get("node")
        where = f" in node {node!r}" if node else ""
        _say(
            f"error: run on thread {thread!r} failed{where}: {record.get('error')} "
            f"(fix it, then `{command('resume', thread)}`)"
        )
        return EXIT_FAILED
    if status == "cancelled":
        _say(
            f"error: run {record.get('run_id')} on thread {thread!r} was cancelled "
            f"(resume it with `{command('resume', thread)}`)"
        )
        return EXIT_FAILED
    values = state.get("values")
    if isinstance(values, dict):
        values = {k: v for k, v in values.items() if k != "__interrupt__"}
    print_json(values, sys.stdout)
    interrupts = state.get("interrupts") or []
    if status == "interrupted" or interrupts:
        question = interrupts[0].get("value") if interrupts else None
        _say(
            f"thread {thread!r} waits for input: "
            f"{json.dumps(question, ensure_ascii=False, default=repr)}"
        )
        _say(
            f"answer with: {command('resume', thread, options=('--value', 'JSON'))}"
            " (JSON: your answer, e.g. '\"yes\"')"
        )
    else:
        _say(f"completed thread {thread!r} in {elapsed:.1f}s")
    return EXIT_OK
