"""Compare LangGraph checkpointers in one run: ours on SurrealDB against the usual ones.

Run from the repository root, in the project's venv::

    python benchmarks/checkpointers.py                 # 5 rounds, 100,000-checkpoint look-up
    python benchmarks/checkpointers.py --quick         # 3 rounds, 20,000-checkpoint look-up
    python benchmarks/checkpointers.py --write         # also update BENCHMARKS.md
    python benchmarks/checkpointers.py --out run.json  # or run.md

Savers: ``AsyncSurrealSaver`` on ``mem://`` and ``surrealkv://`` (our default,
a sync to disk every second, and the engine's strict ``?sync=every`` and
``?sync=never``), ``InMemorySaver``,
``AsyncSqliteSaver`` (a file in a temp dir), ``AsyncPostgresSaver`` (a fresh
``sg_bench_<random>`` database on the local server, dropped at the end), and
the PyPI SurrealDB savers, each in its own venv under ``benchmarks/.peers/``
(made once, then reused) and measured in a subprocess by ``_workload.py``.

Every saver runs the same rounds (see ``_workload.py``); rounds are
interleaved, each in a rotated order, and a row reports the median over rounds
of each round's median, with its ratio to ``AsyncSqliteSaver`` in the same run.
A saver whose first round takes longer than ``SLOW_ROUND_S`` is measured in
fewer rounds (said in its row). Then the latest-checkpoint look-up is timed on
a thread of 10 checkpoints and on one of 100,000 (20,000 with ``--quick``).
With ``strace`` installed, fsyncs per commit are counted for the durability note.

Time on this project's 2-core machine while others ran tests: 6-7 min by
default (2-3 min of it filling 100,000 checkpoints through our saver, 1 min
for one round of the slowest peer), 2.5 min with ``--quick``; the first run
also builds the peer venvs (1-2 min).

Owns: this comparison and its section of ``BENCHMARKS.md`` (between
``<!-- checkpointers:begin -->`` and ``<!-- checkpointers:end -->``).
Must not: change the savers, or any other section of ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import glob
import json
import logging
import os
import platform
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The script's own folder goes last: this file is named like the `checkpointers`
# package, which must resolve to the project's, and `_workload` lives here.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

from _workload import (  # noqa: E402  (needs the path above)
    BenchError,
    Workload,
    make_checkpoint,
    one_line,
    package_versions,
    put_chain,
    run_round,
    time_latest,
    time_list,
)
from langchain_core.runnables import RunnableConfig  # noqa: E402
from langgraph.checkpoint.base import BaseCheckpointSaver  # noqa: E402

PEERS_DIR = HERE / ".peers"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- checkpointers:begin -->", "<!-- checkpointers:end -->"
BASELINE = "sqlite"
OPS = ("aput", "aget_tuple", "alist_all", "alist_10", "graph_run")
OP_TITLES = {
    "aput": "aput",
    "aget_tuple": "aget_tuple (latest)",
    "alist_all": "alist (all 500)",
    "alist_10": "alist (limit 10)",
    "graph_run": "graph run (10 nodes)",
}
#: Targets for our saver, as ratios to AsyncSqliteSaver in the same run (issue 14).
TARGET_GRAPH, TARGET_OP, TARGET_SCALING = 0.8, 1.0, 1.2
#: A saver whose first round takes longer than this is measured in fewer rounds.
SLOW_ROUND_S = 20.0
PEER_TIMEOUT_S = 600.0
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SURREAL_PACKAGES = ["surrealdb", "surrealdb-embedded"]
VERSION_PACKAGES = [
    "sentient-graph",
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-postgres",
    "aiosqlite",
    "psycopg",
    *SURREAL_PACKAGES,
]

OpenSaver = Callable[[int], AbstractAsyncContextManager[BaseCheckpointSaver[Any]]]


# ---------------------------------------------------------------------------
# What is measured
# ---------------------------------------------------------------------------


@dataclass
class Row:
    """One saver on one store: its per-round results or why it was not measured."""

    key: str
    label: str
    store: str
    ours: bool = False
    peer: str | None = None
    url_kind: str = ""
    rounds: list[dict[str, dict[str, float]]] = field(default_factory=list)
    max_rounds: int | None = None
    skipped: str | None = None
    note: str = ""

    def median(self, op: str) -> float | None:
        """Median over rounds of this op's per-round median (ms)."""
        values = [r[op]["median_ms"] for r in self.rounds if op in r]
        return statistics.median(values) if values else None


@dataclass
class Scaling:
    """Latest look-up on a thread of ``small`` checkpoints against one of ``big``."""

    key: str
    label: str
    small: int
    big: int
    small_ms: list[float] = field(default_factory=list)
    big_ms: list[float] = field(default_factory=list)
    small_list_ms: list[float] = field(default_factory=list)
    big_list_ms: list[float] = field(default_factory=list)
    fill_s: float = 0.0
    fill_how: str = ""
    skipped: str | None = None

    @property
    def ratio(self) -> float | None:
        """Latest look-up: median at ``big`` over median at ``small``."""
        if not self.small_ms or not self.big_ms:
            return None
        return statistics.median(self.big_ms) / statistics.median(self.small_ms)

    @property
    def list_ratio(self) -> float | None:
        """``alist(limit=10)``: median at ``big`` over median at ``small``."""
        if not self.small_list_ms or not self.big_list_ms:
            return None
        return statistics.median(self.big_list_ms) / statistics.median(self.small_list_ms)


# ---------------------------------------------------------------------------
# Savers in this process
# ---------------------------------------------------------------------------


def our_saver_missing() -> str | None:
    """Why ``checkpointers.surrealdb.AsyncSurrealSaver`` cannot be used, or ``None``."""
    if not (ROOT / "checkpointers" / "surrealdb" / "__init__.py").exists():
        return "checkpointers/surrealdb/__init__.py does not exist yet"
    try:
        from checkpointers.surrealdb import AsyncSurrealSaver  # noqa: F401
    except Exception as exc:
        return f"import failed: {one_line(exc)}"
    return None


def open_ours(url_for_round: Callable[[int], str]) -> OpenSaver:
    """Our ``AsyncSurrealSaver`` on a fresh database (or store) per round."""

    @asynccontextmanager
    async def opener(round_no: int) -> AsyncIterator[BaseCheckpointSaver[Any]]:
        from checkpointers.surrealdb import AsyncSurrealSaver

        url = url_for_round(round_no)
        async with AsyncSurrealSaver.from_conn_string(
            url, namespace="bench", database=f"round{round_no}"
        ) as saver:
            await saver.setup()
            yield saver

    return opener


def open_memory() -> OpenSaver:
    """LangGraph's ``InMemorySaver``, new per round."""

    @asynccontextmanager
    async def opener(round_no: int) -> AsyncIterator[BaseCheckpointSaver[Any]]:
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver()

    return opener


def open_sqlite(workdir: Path) -> OpenSaver:
    """``AsyncSqliteSaver`` on a new file per round (not ``:memory:``)."""

    @asynccontextmanager
    async def opener(round_no: int) -> AsyncIterator[BaseCheckpointSaver[Any]]:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = workdir / f"sqlite-round{round_no}.db"
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            await saver.setup()
            yield saver

    return opener


class PostgresDatabase:
    """A throwaway database ``sg_bench_<random>`` on the local server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"sg_bench_{secrets.token_hex(4)}"
        self.created = False

    @property
    def url(self) -> str:
        """Connection string of the throwaway database."""
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    def create(self) -> None:
        """Create the database (raises if the server cannot be reached)."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')  # name is ours: [a-z0-9_]
        self.created = True

    def drop(self) -> None:
        """Drop the database, whatever is still connected to it."""
        if not self.created:
            return
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.created = False

    def server_version(self) -> str:
        """``SHOW server_version`` of the server."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else "?"


def open_postgres(database: PostgresDatabase) -> OpenSaver:
    """``AsyncPostgresSaver`` on the throwaway database (one per run)."""

    @asynccontextmanager
    async def opener(round_no: int) -> AsyncIterator[BaseCheckpointSaver[Any]]:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(database.url) as saver:
            await saver.setup()
            yield saver

    return opener


# ---------------------------------------------------------------------------
# Peers: PyPI savers in their own venvs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A PyPI SurrealDB saver, measured in a venv of its own."""

    package: str
    #: Known reasons for a failure, by URL scheme, from reading its source.
    why: dict[str, str] = field(default_factory=dict)


PEERS = (
    Peer(
        "langgraph-checkpoint-surrealdb",
        why={
            "mem": "it opens a new connection per operation and each mem:// connection "
            "is its own empty database (and signs in as a user no new one has)",
        },
    ),
    Peer(
        "langgraph-surrealdb",
        why={
            "*": "its setup() runs `DEFINE TABLE IF NOT EXISTS $table`, which the "
            "embedded engine of the surrealdb SDK it resolves to does not parse",
        },
    ),
)


def _interpreters() -> list[tuple[tuple[int, int], str]]:
    """Python interpreters on this machine, ``((major, minor), path)``, oldest first."""
    candidates = [sys.executable]
    candidates += [p for m in range(10, 16) if (p := shutil.which(f"python3.{m}"))]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(str(pyenv / "versions" / "3.*" / "bin" / "python3")))
    found: dict[tuple[int, int], str] = {}
    for path in candidates:
        try:
            out = subprocess.run(
                [path, "-c", "import sys; print(*sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        version = (int(out[0]), int(out[1]))
        found.setdefault(version, path)
    return sorted(found.items())


def _pip_error(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("ERROR:")]
    return (errors[-1] if errors else output.strip().splitlines()[-1:][0:1] or ["?"])[0][:300]


def ensure_peer(peer: Peer, *, reinstall: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """The peer's venv, made once under ``benchmarks/.peers/<package>/``.

    Returns its cached description: ``{"ok": True, "python": ...}`` or
    ``{"ok": False, "error": one line}``. A package that needs a newer Python
    than this one is installed with the oldest interpreter here that fits.
    """
    home = PEERS_DIR / peer.package
    stamp = home / "peer.json"
    if stamp.exists() and not reinstall:
        return dict(json.loads(stamp.read_text()))
    pythons = _interpreters()
    here = sys.version_info[:2]
    queue = [p for v, p in pythons if v == here] or [sys.executable]
    tried: set[str] = set()
    result: dict[str, Any] = {"ok": False, "error": "no interpreter tried"}
    while queue:
        base = queue.pop(0)
        if base in tried:
            continue
        tried.add(base)
        shutil.rmtree(home, ignore_errors=True)
        log(f"peer {peer.package}: creating venv with {base}")
        subprocess.run([base, "-m", "venv", str(home)], check=True, capture_output=True)
        python = str(home / "bin" / "python")
        log(f"peer {peer.package}: pip install {peer.package} (once; cached in {home})")
        proc = subprocess.run(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", peer.package],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode == 0:
            result = {"ok": True, "python": python, "base": base}
            break
        output = proc.stdout + proc.stderr
        result = {"ok": False, "error": f"pip install failed: {_pip_error(output)}"}
        needs = re.findall(r"Requires-Python >=\s*(\d+)\.(\d+)", output)
        if needs:
            floor = min((int(a), int(b)) for a, b in needs)
            newer = [p for v, p in pythons if v >= floor and p not in tried]
            if newer:
                queue.append(newer[0])
            else:
                result["error"] += f" (needs Python >= {floor[0]}.{floor[1]}; none found here)"
    home.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(result, indent=2))
    return result


def run_peer_round(
    python: str, peer: str, url: str, workload: Workload, tag: str, cwd: Path
) -> dict[str, Any]:
    """One round of ``_workload.py`` in the peer's venv; its JSON answer."""
    request = {"peer": peer, "url": url, "tag": tag, "workload": asdict(workload)}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    try:
        proc = subprocess.run(
            [python, str(HERE / "_workload.py"), json.dumps(request)],
            capture_output=True,
            text=True,
            timeout=PEER_TIMEOUT_S,
            cwd=cwd,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {PEER_TIMEOUT_S:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"ok": False, "error": f"exit {proc.returncode}: {tail[:300]}"}


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


@dataclass
class Entry:
    """A row and how to measure one round of it."""

    row: Row
    measure: Callable[[int], Any]  # round number -> awaitable of timings or raises


def build_entries(
    args: argparse.Namespace,
    workdir: Path,
    postgres: PostgresDatabase | None,
    postgres_error: str | None,
    log: Callable[[str], None],
) -> list[Entry]:
    """Every row of the table, in display order, with its measuring function."""
    workload = Workload()
    entries: list[Entry] = []

    def local(row: Row, opener: OpenSaver) -> Entry:
        async def measure(round_no: int) -> dict[str, dict[str, float]]:
            async with opener(round_no) as saver:
                return await run_round(saver, workload, f"{row.key}-r{round_no}")

        return Entry(row, measure)

    missing = our_saver_missing()
    ours = [
        ("ours-mem", "mem://", lambda r: "mem://", ""),
        (
            "ours-kv",
            "surrealkv:// (default: sync=1s)",
            lambda r: f"surrealkv://{workdir}/ours-kv-r{r}",
            "fsync once a second: a killed process loses nothing, a power cut the last second",
        ),
        (
            "ours-kv-strict",
            "surrealkv://…?sync=every",
            lambda r: f"surrealkv://{workdir}/ours-kv-strict-r{r}?sync=every",
            "fsyncs at every commit, as SQLite does",
        ),
        (
            "ours-kv-nosync",
            "surrealkv://…?sync=never",
            lambda r: f"surrealkv://{workdir}/ours-kv-nosync-r{r}?sync=never",
            "leaves syncing to the engine: a killed process loses nothing, a power cut may",
        ),
    ]
    for key, store, url, note in ours:
        row = Row(key, "AsyncSurrealSaver (ours)", store, ours=True, note=note)
        if missing:
            row.skipped = f"skipped: {missing}"
        entries.append(local(row, open_ours(url)))
    entries.append(local(Row("memory", "InMemorySaver", "process memory"), open_memory()))
    entries.append(
        local(
            Row(BASELINE, "AsyncSqliteSaver", "file in a temp dir (WAL)"),
            open_sqlite(workdir),
        )
    )
    pg_row = Row("postgres", "AsyncPostgresSaver", "local server, fresh database")
    if postgres is None:
        pg_row.skipped = f"not measured: {postgres_error}"
        entries.append(Entry(pg_row, lambda r: None))
    else:
        pg_row.store = f"PostgreSQL {postgres.server_version()}, database {postgres.name}"
        entries.append(local(pg_row, open_postgres(postgres)))

    for peer in PEERS if not args.skip_peers else ():
        env = ensure_peer(peer, reinstall=args.reinstall_peers, log=log)
        for scheme in ("mem", "surrealkv"):
            row = Row(
                f"{peer.package}-{scheme}",
                peer.package,
                f"{scheme}://",
                peer=peer.package,
                url_kind=scheme,
            )
            if not env.get("ok"):
                row.skipped = f"not installed: {env.get('error')}"
                entries.append(Entry(row, lambda r: None))
                continue
            python = str(env["python"])

            def measure(
                round_no: int, row: Row = row, python: str = python, scheme: str = scheme
            ) -> dict[str, dict[str, float]]:
                url = (
                    "mem://" if scheme == "mem" else f"surrealkv://{workdir}/{row.key}-r{round_no}"
                )
                answer = run_peer_round(
                    python, row.peer or "", url, workload, f"{row.key}-r{round_no}", workdir
                )
                if answer.get("versions"):
                    row.note = ", ".join(f"{k} {v}" for k, v in answer["versions"].items())
                    row.note += f"; Python {answer.get('python')}"
                if not answer.get("ok"):
                    raise BenchError(str(answer.get("error")))
                return dict(answer["timings"])

            entries.append(Entry(row, measure))
    return entries


async def measure_rounds(
    entries: list[Entry], rounds: int, slow_rounds: int, log: Callable[[str], None]
) -> None:
    """Run every entry ``rounds`` times, interleaved, each round in a rotated order."""
    active = [e for e in entries if e.row.skipped is None]
    for round_no in range(rounds):
        shift = round_no % max(1, len(active))
        order = active[shift:] + active[:shift]
        for entry in order:
            row = entry.row
            if row.skipped is not None:
                continue
            if row.max_rounds is not None and len(row.rounds) >= row.max_rounds:
                continue
            start = time.perf_counter()
            try:
                result = entry.measure(round_no)
                if asyncio.iscoroutine(result):
                    result = await result
            except Exception as exc:
                reason = one_line(exc)
                if row.peer and row.url_kind:
                    peer = next(p for p in PEERS if p.package == row.peer)
                    why = peer.why.get(row.url_kind) or peer.why.get("*")
                    if why:
                        reason += f" — {why}"
                row.skipped = f"failed: {reason}"
                log(f"round {round_no + 1}: {row.key}: {row.skipped}")
                continue
            took = time.perf_counter() - start
            row.rounds.append(result)
            if round_no == 0 and took > SLOW_ROUND_S and slow_rounds < rounds:
                row.max_rounds = slow_rounds
            log(
                f"round {round_no + 1}/{rounds}: {row.key:<34} {took:6.1f} s  "
                + "  ".join(f"{op}={result[op]['median_ms']:.2f}" for op in OPS)
            )


# ---------------------------------------------------------------------------
# Latest look-up with a long history
# ---------------------------------------------------------------------------

Fill = Callable[[Any, str, int], Any]  # (saver, thread id, count) -> awaitable of the last id


async def fill_by_aput(saver: Any, thread_id: str, count: int) -> str:
    """``count`` checkpoints through ``aput``, one after the other."""
    _, last = await put_chain(saver, thread_id, count, timed=False)
    return last


async def fill_sqlite(saver: Any, thread_id: str, count: int) -> str:
    """Insert ``count`` checkpoints into SQLite in batches: the rows its ``aput`` writes."""
    from langgraph.checkpoint.base import get_checkpoint_metadata

    versions: dict[str, Any] = {}
    rows: list[tuple[Any, ...]] = []
    parent: str | None = None
    last = ""
    for step in range(count):
        checkpoint, metadata, _ = make_checkpoint(saver, step, versions)
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        type_, blob = saver.serde.dumps_typed(checkpoint)
        meta = json.dumps(get_checkpoint_metadata(config, metadata), ensure_ascii=False)
        rows.append((thread_id, "", checkpoint["id"], parent, type_, blob, meta.encode()))
        parent = last = checkpoint["id"]
        if len(rows) >= 10_000 or step == count - 1:
            await saver.conn.executemany(
                "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                "parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            await saver.conn.commit()
            rows.clear()
    return last


async def fill_ours_batched(saver: Any, thread_id: str, count: int, batch: int = 200) -> str:
    """Our saver's own prepared put statements, ``batch`` per transaction.

    Each checkpoint is prepared by the saver exactly as ``aput`` prepares it
    (``_prepare_put``); the statement body runs once per checkpoint inside
    ``FOR $p IN $puts { ... }`` in one transaction. This leans on internals, so
    when they do not have the expected shape it raises and the caller falls
    back to ``aput``.
    """
    versions: dict[str, Any] = {}
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    puts: list[dict[str, Any]] = []
    sql = ""
    last = ""
    for step in range(count):
        checkpoint, metadata, new_versions = make_checkpoint(saver, step, versions)
        query, config = saver._prepare_put(config, checkpoint, metadata, new_versions)
        if not sql:
            body = query.sql.replace("BEGIN TRANSACTION;", "").replace("COMMIT TRANSACTION;", "")
            if "TRANSACTION" in body or not query.vars:
                raise BenchError("unexpected put statement shape")
            names = "|".join(map(re.escape, sorted(query.vars, key=len, reverse=True)))
            body = re.sub(rf"\$({names})\b", r"$p.\1", body)
            sql = f"BEGIN TRANSACTION;\nFOR $p IN $puts {{{body}}};\nCOMMIT TRANSACTION;"
        puts.append(query.vars)
        last = checkpoint["id"]
        if len(puts) >= batch or step == count - 1:
            await saver.conn.query(sql, {"puts": puts})
            puts = []
    return last


async def measure_scaling(
    scaling: Scaling,
    open_fill: Callable[[], AbstractAsyncContextManager[Any]],
    open_read: Callable[[], AbstractAsyncContextManager[Any]],
    fills: list[tuple[str, Fill]],
    rounds: int,
    log: Callable[[str], None],
) -> None:
    """Fill a small and a big thread, then time look-ups on both, alternating, in rounds.

    ``fills`` are tried in order for the big thread (on a fresh thread id each
    time); the first that works is named in the report.
    """
    start = time.perf_counter()
    async with open_fill() as saver:
        small_id = await fill_by_aput(saver, "scaling-small", scaling.small)
        big_thread, big_id = "", ""
        for attempt, (how, fill) in enumerate(fills):
            thread = f"scaling-big-{attempt}"
            try:
                big_id = await fill(saver, thread, scaling.big)
            except Exception as exc:
                log(f"scaling {scaling.key}: fill by {how} failed ({one_line(exc)}); next")
                continue
            big_thread, scaling.fill_how = thread, how
            break
        if not big_thread:
            raise BenchError("every way of filling the long thread failed")
    scaling.fill_s = time.perf_counter() - start
    log(f"scaling {scaling.key}: filled {scaling.big:,} checkpoints in {scaling.fill_s:.1f} s")
    async with open_read() as saver:
        threads = (("scaling-small", small_id), (big_thread, big_id))
        for thread, expect in threads:  # warm-up; also checks the answers
            await time_latest(saver, thread, expect, 20, 0.0)
            await time_list(saver, thread, 10, 10, 1, 1, 0.0)
        for _ in range(rounds):
            scaling.small_ms += await time_latest(saver, "scaling-small", small_id, 100, 1.0)
            scaling.big_ms += await time_latest(saver, big_thread, big_id, 100, 1.0)
            scaling.small_list_ms += await time_list(saver, "scaling-small", 10, 10, 20, 1, 0.5)
            scaling.big_list_ms += await time_list(saver, big_thread, 10, 10, 20, 1, 0.5)
    log(
        f"scaling {scaling.key}: latest {statistics.median(scaling.small_ms):.3f} ms "
        f"@{scaling.small} vs {statistics.median(scaling.big_ms):.3f} ms @{scaling.big:,}; "
        f"alist(limit=10) {statistics.median(scaling.small_list_ms):.3f} vs "
        f"{statistics.median(scaling.big_list_ms):.3f} ms"
    )


async def run_scaling(
    args: argparse.Namespace, workdir: Path, log: Callable[[str], None]
) -> list[Scaling]:
    """The long-history comparison for our saver (``surrealkv://``) and SQLite."""
    results: list[Scaling] = []
    big, small, rounds = args.big, 10, args.rounds
    sqlite_path = workdir / "sqlite-scaling.db"

    @asynccontextmanager
    async def open_sqlite_file() -> AsyncIterator[Any]:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(str(sqlite_path)) as saver:
            await saver.setup()
            yield saver

    def open_ours_url(url: str) -> Callable[[], AbstractAsyncContextManager[Any]]:
        @asynccontextmanager
        async def opener() -> AsyncIterator[Any]:
            from checkpointers.surrealdb import AsyncSurrealSaver

            async with AsyncSurrealSaver.from_conn_string(
                url, namespace="bench", database="scaling"
            ) as saver:
                await saver.setup()
                yield saver

        return opener

    sqlite = Scaling(BASELINE, "AsyncSqliteSaver (file)", small, big)
    ours = Scaling("ours-kv", "AsyncSurrealSaver (ours), surrealkv://", small, big)
    if missing := our_saver_missing():
        ours.skipped = f"skipped: {missing}"
    kv = f"surrealkv://{workdir}/ours-scaling"
    jobs: list[tuple[Scaling, Any, Any, list[tuple[str, Fill]]]] = [
        (
            sqlite,
            open_sqlite_file,
            open_sqlite_file,
            [("the rows aput writes, executemany in batches of 10,000", fill_sqlite)],
        ),
        (
            ours,
            # Filling with ?sync=never only skips fsyncs; reads reopen the store as default.
            open_ours_url(kv + "?sync=never"),
            open_ours_url(kv),
            [
                ("the saver's own put statements, 200 per transaction", fill_ours_batched),
                ("aput one by one", fill_by_aput),
            ],
        ),
    ]
    for scaling, open_fill, open_read, fills in jobs:
        results.append(scaling)
        if scaling.skipped:
            continue
        try:
            await measure_scaling(scaling, open_fill, open_read, fills, rounds, log)
        except Exception as exc:
            scaling.skipped = f"failed: {one_line(exc)}"
            log(f"scaling {scaling.key}: {scaling.skipped}")
    return results


# ---------------------------------------------------------------------------
# Durability: count fsyncs per commit
# ---------------------------------------------------------------------------

_MARK = "/sg-bench-fsync-mark"


async def _fsync_child(target: str, workdir: Path, commits: int) -> None:
    """Hidden mode, run under ``strace``: open a saver, mark, ``commits`` aputs, mark."""
    opener = open_sqlite(workdir) if target == "sqlite" else open_ours(lambda r: target)
    async with opener(0) as saver:
        await put_chain(saver, "warm", 3, timed=False)
        os.access(_MARK + "-begin", os.F_OK)
        await put_chain(saver, "fsync", commits, timed=False)
        os.access(_MARK + "-end", os.F_OK)


def count_fsyncs(workdir: Path, log: Callable[[str], None], commits: int = 200) -> dict[str, str]:
    """fsync/fdatasync calls made during ``commits`` aputs, per saver (needs ``strace``)."""
    strace = shutil.which("strace")
    if not strace:
        return {}
    targets = {"AsyncSqliteSaver (WAL file)": "sqlite"}
    if not our_saver_missing():
        targets["ours, surrealkv:// (default: sync=1s)"] = "surrealkv://{dir}/kv"
        targets["ours, surrealkv://...?sync=every"] = "surrealkv://{dir}/kv?sync=every"
        targets["ours, surrealkv://...?sync=never"] = "surrealkv://{dir}/kv?sync=never"
    counts: dict[str, str] = {}
    for label, target in targets.items():
        sub = Path(tempfile.mkdtemp(dir=workdir))
        trace = sub / "strace.txt"
        cmd = [
            strace,
            "-f",
            "-o",
            str(trace),
            "-e",
            "trace=fsync,fdatasync,sync_file_range,access,faccessat,faccessat2",
            sys.executable,
            __file__,
            "--fsync-child",
            target.format(dir=sub),
            "--fsync-commits",
            str(commits),
            "--fsync-dir",
            str(sub),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        inside, syncs = False, 0
        for line in trace.read_text(errors="replace").splitlines() if trace.exists() else []:
            if _MARK in line:
                inside = _MARK + "-begin" in line
            elif inside and re.search(r"\b(fsync|fdatasync|sync_file_range)\(", line):
                syncs += 1
        if proc.returncode != 0 and not syncs:
            counts[label] = f"not counted (exit {proc.returncode})"
        else:
            counts[label] = f"{syncs} during {commits} aputs ({syncs / commits:.2f} per commit)"
        log(f"fsync {label}: {counts[label]}")
    return counts


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """nproc, CPU model, RAM, OS, Python, SQLite library."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def ratio_of(row: Row, baseline: Row | None, op: str) -> float | None:
    """``row``'s median over the baseline's, for ``op``."""
    mine = row.median(op)
    base = baseline.median(op) if baseline else None
    if mine is None or not base:
        return None
    return mine / base


def verdict(row: Row, baseline: Row | None) -> str:
    """PASS, or MISS naming the ops over target."""
    if row.key == BASELINE:
        return "baseline"
    misses = []
    for op in OPS:
        ratio = ratio_of(row, baseline, op)
        if ratio is None:
            return "n/a"
        limit = TARGET_GRAPH if op == "graph_run" else TARGET_OP
        if ratio > limit:
            misses.append(f"{op} {ratio:.2f}x")
    return "PASS" if not misses else "MISS (" + ", ".join(misses) + ")"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def render_markdown(report: dict[str, Any], rows: list[Row], scaling: list[Scaling]) -> str:
    """The BENCHMARKS.md section (without the markers)."""
    baseline = next((r for r in rows if r.key == BASELINE and r.rounds), None)
    m = report["machine"]
    w = Workload()
    lines = [
        "## Checkpointers",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}  ",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram']} RAM, {m['os']}; "
        f"Python {m['python']}, SQLite {m['sqlite']}  ",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        "",
        f"Medians in ms over {report['rounds']} interleaved rounds (each the median of its "
        "round's samples); in brackets the ratio to `AsyncSqliteSaver` in the same run. "
        f"Per round: {w.puts} `aput` on one thread (each the child of the last; ~0.5 KB "
        "of channel values, 2 of 3 channels new at each step), up to "
        f"{w.gets} `aget_tuple` of the latest, up to {w.list_all} `alist` of all "
        f"{w.puts} and {w.list_10} of `limit=10`, and up to {w.graph_runs} `ainvoke` of a "
        "10-node `StateGraph` (chain, 3-way fan-out, chain; default durability) on fresh "
        "threads; read and graph phases stop early after a few seconds for slow savers. "
        "Targets for our saver: graph run ≤ "
        f"{TARGET_GRAPH:.1f}x, each op ≤ {TARGET_OP:.1f}x.",
        "",
        "| saver | store | rounds | " + " | ".join(OP_TITLES[op] for op in OPS) + " | targets |",
        "| --- | --- | --- | " + " | ".join("---:" for _ in OPS) + " | --- |",
    ]
    for row in rows:
        if row.skipped and not row.rounds:
            continue
        cells = []
        for op in OPS:
            ratio = ratio_of(row, baseline, op)
            text = _ms(row.median(op))
            if ratio is not None:
                text += f" ({ratio:.2f}x)"
            cells.append(text)
        rounds = str(len(row.rounds))
        if row.max_rounds is not None:
            rounds += f" (slow: a round took > {SLOW_ROUND_S:.0f} s)"
        lines.append(
            f"| {row.label} | {row.store} | {rounds} | "
            + " | ".join(cells)
            + f" | {verdict(row, baseline)} |"
        )
    not_measured = [r for r in rows if r.skipped]
    if not_measured:
        lines += ["", "Not measured:", ""]
        for row in not_measured:
            lines.append(f"- {row.label} on {row.store}: {row.skipped}")
    peers_seen = [r for r in rows if r.peer and r.note]
    if peers_seen:
        lines += ["", "Peers ran in their own venvs (`benchmarks/.peers/`):", ""]
        seen: set[str] = set()
        for row in peers_seen:
            if row.peer not in seen:
                seen.add(row.peer or "")
                lines.append(f"- {row.peer}: {row.note}")
        if any(r.peer == "langgraph-checkpoint-surrealdb" and r.rounds for r in rows):
            lines.append(
                "- langgraph-checkpoint-surrealdb signs in as a root user at every operation, "
                "so a user was defined in its embedded store first; it opens a new "
                "connection per operation."
            )
    lines += [
        "",
        "### Latest checkpoint with a long history",
        "",
        "`aget_tuple` of the latest checkpoint on a thread of 10 checkpoints and on one "
        f"of {report['big']:,} in the same store, alternating, {report['rounds']} x up to "
        f"100 calls each. Target for our saver: ≤ {TARGET_SCALING:.1f}x. For reference "
        "(no target), `alist(limit=10)` on the same two threads, which "
        "`get_state_history(limit=10)` runs.",
        "",
        f"| saver | latest @ 10 | latest @ {report['big']:,} | ratio | target "
        f"| alist(limit=10) @ 10 | @ {report['big']:,} | ratio | long thread filled with |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for s in scaling:
        if s.skipped:
            lines.append(f"| {s.label} | - | - | - | {s.skipped} | - | - | - | |")
            continue
        ratio = s.ratio or 0.0
        target = "PASS" if ratio <= TARGET_SCALING else "MISS"
        if s.key == BASELINE:
            target = f"({target})"
        lines.append(
            f"| {s.label} | {_ms(statistics.median(s.small_ms))} | "
            f"{_ms(statistics.median(s.big_ms))} | {ratio:.2f}x | {target} | "
            f"{_ms(statistics.median(s.small_list_ms))} | "
            f"{_ms(statistics.median(s.big_list_ms))} | {s.list_ratio or 0.0:.2f}x | "
            f"{s.fill_how} ({s.fill_s:.0f} s) |"
        )
    lines += ["", "### Durability", ""]
    lines.append(
        "The numbers are only comparable with durability in view. `AsyncSqliteSaver` "
        "runs SQLite in WAL mode with the default `synchronous=FULL`: it fsyncs at every "
        "commit. `surrealkv://` in the embedded engine of surrealdb-embedded "
        f"{report['versions'].get('surrealdb-embedded', '?')} takes a `sync` query "
        "parameter: `every` (the engine's default) syncs at every commit as SQLite does, "
        "`never` leaves it to the engine, and an interval syncs that often. sentient-graph "
        "opens a `surrealkv://` URL that does not say with `sync=1s`: every commit reaches "
        "the operating system before it returns, so a killed process loses nothing (a test "
        "SIGKILLs a writer and finds all 200 commits), and a power cut or kernel crash can "
        "lose the last second. All three are measured above. `mem://` and "
        "`InMemorySaver` keep nothing."
    )
    if report.get("fsyncs"):
        lines += ["", "fsync/fdatasync calls counted with `strace -f` in this run:", ""]
        for label, text in report["fsyncs"].items():
            lines.append(f"- {label}: {text}")
    if report.get("quick"):
        lines += ["", f"`--quick`: {report['rounds']} rounds, {report['big']:,} checkpoints."]
    return "\n".join(lines) + "\n"


def write_section(markdown: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace our section of BENCHMARKS.md (create the file if missing).

    The heading stays outside the markers, so a tool that replaces "its"
    section up to the next ``## `` heading (as ``benchmarks/events.py`` does)
    cannot swallow our begin marker. A section that lost its begin marker is
    found by its heading and replaced whole.
    """
    heading, _, body = markdown.partition("\n")
    block = f"{heading}\n\n{BEGIN}\n{body.lstrip(chr(10))}{END}"
    if not path.exists():
        path.write_text(f"# Benchmarks\n\n{block}\n")
        return
    text = path.read_text()
    start = text.find(BEGIN)
    at_heading = text.find(heading + "\n")
    if at_heading != -1 and (start == -1 or at_heading < start):
        start = at_heading
    stop = text.find(END, max(start, 0))
    if start != -1 and stop != -1:
        path.write_text(text[:start] + block + text[stop + len(END) :])
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + block + "\n")


def report_json(report: dict[str, Any], rows: list[Row], scaling: list[Scaling]) -> dict[str, Any]:
    """Everything measured, for ``--out x.json``."""
    baseline = next((r for r in rows if r.key == BASELINE and r.rounds), None)
    out = dict(report)
    out["rows"] = [
        {
            **asdict(row),
            "median_ms": {op: row.median(op) for op in OPS},
            "ratio": {op: ratio_of(row, baseline, op) for op in OPS},
            "verdict": verdict(row, baseline) if row.rounds else None,
        }
        for row in rows
    ]
    out["scaling"] = [{**asdict(s), "ratio": s.ratio, "list_ratio": s.list_ratio} for s in scaling]
    return out


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Compare LangGraph checkpointers (ours on SurrealDB, SQLite, Postgres, "
        "in-memory, PyPI SurrealDB savers) in one run."
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds (default 5, 3 with --quick)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds and 20,000 checkpoints for the long history"
    )
    parser.add_argument(
        "--big", type=int, default=None, help="checkpoints in the long thread (default 100,000)"
    )
    parser.add_argument("--out", type=Path, help="also write the results to a .json or .md file")
    parser.add_argument(
        "--write", action="store_true", help=f"replace our section of {BENCHMARKS_MD.name}"
    )
    parser.add_argument("--skip-peers", action="store_true", help="leave out the PyPI savers")
    parser.add_argument("--reinstall-peers", action="store_true", help="rebuild the peer venvs")
    parser.add_argument("--no-scaling", action="store_true", help="skip the long-history look-up")
    parser.add_argument("--no-fsync-count", action="store_true", help="skip counting fsyncs")
    parser.add_argument("--fsync-child", help=argparse.SUPPRESS)
    parser.add_argument("--fsync-commits", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--fsync-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.big is None:
        args.big = 20_000 if args.quick else 100_000
    return args


def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


async def amain(args: argparse.Namespace) -> int:
    """Measure, print the table, write what was asked."""
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    command = "python benchmarks/checkpointers.py " + " ".join(sys.argv[1:])
    report: dict[str, Any] = {
        "command": command.strip(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": package_versions(VERSION_PACKAGES),
        "rounds": args.rounds,
        "big": args.big,
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory(prefix="sg-bench-") as tmp:
        workdir = Path(tmp)
        postgres: PostgresDatabase | None = None
        postgres_error = None
        try:
            candidate = PostgresDatabase(POSTGRES_ADMIN_URL)
            candidate.create()
            postgres = candidate
            log(f"postgres: created database {postgres.name}")
        except Exception as exc:
            postgres_error = one_line(exc)
        try:
            entries = build_entries(args, workdir, postgres, postgres_error, log)
            await measure_rounds(entries, args.rounds, 1, log)
            rows = [e.row for e in entries]
            scaling = [] if args.no_scaling else await run_scaling(args, workdir, log)
        finally:
            if postgres is not None:
                postgres.drop()
                log(f"postgres: dropped database {postgres.name}")
        report["fsyncs"] = {} if args.no_fsync_count else count_fsyncs(workdir, log)
    markdown = render_markdown(report, rows, scaling)
    print(markdown)
    if args.out:
        if args.out.suffix == ".json":
            args.out.write_text(json.dumps(report_json(report, rows, scaling), indent=2))
        else:
            args.out.write_text(markdown)
        log(f"wrote {args.out}")
    if args.write:
        write_section(markdown)
        log(f"updated {BENCHMARKS_MD}")
    log("done")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    _quiet_logs()
    if args.fsync_child:
        asyncio.run(_fsync_child(args.fsync_child, args.fsync_dir, args.fsync_commits))
        return 0
    return asyncio.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
