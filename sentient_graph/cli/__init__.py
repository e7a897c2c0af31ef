"""The ``sentient-graph`` command: run, watch, resume, recover, cancel and inspect workflows.

Layout: :mod:`~sentient_graph.cli.app` (the typer app, global options,
``main``), :mod:`~sentient_graph.cli.commands` (one module per command or
group), :mod:`~sentient_graph.cli.runtime` (what commands share: checks,
opening the engine, errors to exit codes), :mod:`~sentient_graph.cli.render`
(tables, JSON), :mod:`~sentient_graph.cli.progress` (the live run view),
:mod:`~sentient_graph.cli.exits` (the codes below),
:mod:`~sentient_graph.cli.remote` (the commands through a running
``sentient-graph serve``: when one runs on the store, or ``--server`` /
``SENTIENT_SERVER`` names one, every command but ``recover``, ``serve`` and
``memory`` talks to it, with the same output and codes). Otherwise each
command opens the store, does its work and closes it: the embedded store
admits one process at a time. Every error is one line on stderr, ``error: ...``; results go to
stdout; every command we suggest is shell-quoted.

Must not: know SurrealQL, the checkpointer or how events are built; it talks
to the engine, the event log and the bus.

Exit codes (the same for every command; the README has this table):

    ====  ==============================================================
    code  meaning
    ====  ==============================================================
    0     done; also a run stopped at an ``interrupt()`` that waits for
          an answer, and a listing that found nothing
    1     the run failed or was cancelled (resume it), or an unexpected
          error (``--verbose`` shows its traceback)
    2     bad usage or input, nothing written: a bad option or JSON,
          input the graph does not take, an empty thread id, a malformed
          ``SURREALDB_URL`` / ``REDIS_URL`` (named), an unknown graph or
          thread, a thread that cannot do that now (completed, running
          elsewhere, waits for an answer, or waits for none)
    3     the store or Redis is unavailable: the embedded store is held by
          another process, a server or Redis does not answer
    130   Ctrl-C; a run is recorded ``cancelled`` and can be resumed
    141   the reader of stdout went away (``| head``); nothing more is
          printed, as with any tool killed by SIGPIPE
    ====  ==============================================================

Only commands that publish or follow events read ``REDIS_URL`` (``run``,
``resume``, ``recover``; ``events`` to follow or when a live run holds the
store); ``threads``, ``history``, ``cancel`` and ``fork`` ignore it.
"""

from __future__ import annotations

from sentient_graph.cli.app import app, main
from sentient_graph.cli.exits import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_STORE,
    EXIT_USAGE,
    exit_code_for,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_STORE",
    "EXIT_USAGE",
    "app",
    "exit_code_for",
    "main",
]
