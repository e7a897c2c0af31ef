"""Kill campaign: SIGKILL runs at random moments, recover them, compare final states.

Owns: the campaign's graph (``graph``: five nodes that each sleep a few
milliseconds and append to a list, so the final state says which committed
steps happened), the kill plan (a seeded RNG: how many kills a thread gets,
each one early — within ``EARLY_WINDOW`` of the run being recorded — or at a
uniform moment of the run), driving the processes (the ``sentient-graph``
CLI as a user runs it, or processes forked from a pre-imported server for the
fast e2e test), the comparison with an uninterrupted run, the classification
of misses, and the "Kill campaign" section of BENCHMARKS.md.

Must not: touch the engine's tables or reach into its internals. It runs what
a user runs (``run``, then ``recover`` until the thread is done) and reads the
outcome through the public ``Engine`` API (``get_run``, ``state``). The
module is imported by the CLI as a graph file (``benchmarks/chaos.py:graph``),
so its top level imports only what the graph needs.

One file past the usual ~500 lines on purpose: the CLI loads it as the graph,
the forked processes import their entry point from it and the e2e test runs
its campaign, so graph, drivers and campaign must be one importable module.

Run it: ``nice -n 10 python benchmarks/chaos.py --kills 1000 --markdown BENCHMARKS.md``.
"""

from __future__ import annotations

import asyncio
import operator
import os
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph

#: Seconds each node of the campaign's graph sleeps (``CHAOS_NODE_MS``, in ms).
NODE_SLEEP = float(os.environ.get("CHAOS_NODE_MS", "10")) / 1000

#: An early kill lands at most this long after the run was recorded (header seen).
EARLY_WINDOW = 0.050

#: Every thread gets the same input; the reference thread runs it uninterrupted.
INPUT = {"request": "chaos"}


class ChaosState(TypedDict):
    """The campaign graph's state: the request and every committed step."""

    request: str
    steps: Annotated[list[str], operator.add]


def _node(name: str) -> Any:
    async def node(state: ChaosState) -> dict[str, list[str]]:
        await asyncio.sleep(NODE_SLEEP)
        return {"steps": [f"{name}:{state['request']}"]}

    node.__name__ = name
    return node


def build_graph() -> Any:
    """``plan -> (left, right in parallel) -> merge -> review``, compiled."""
    builder = StateGraph(ChaosState)
    for name in ("plan", "left", "right", "merge", "review"):
        builder.add_node(name, _node(name))
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "left")
    builder.add_edge("plan", "right")
    builder.add_edge(["left", "right"], "merge")
    builder.add_edge("merge", "review")
    builder.add_edge("review", END)
    return builder.compile()


graph = build_graph()


def expected_state() -> dict[str, Any]:
    """What an uninterrupted run of ``INPUT`` ends with (parallel writes in task order)."""
    steps = ("plan", "left", "right", "merge", "review")
    return {**INPUT, "steps": [f"{n}:{INPUT['request']}" for n in steps]}


GRAPH_REF = f"{os.path.abspath(__file__)}:graph"

#: Generous: a CLI start imports LangGraph and opens the store, slowly on a loaded machine.
PROCESS_TIMEOUT = 180.0

#: A thread that is still not done after this many processes is reported as stuck.
MAX_PROCESSES_PER_THREAD = 12


# ---------------------------------------------------------------------------
# Processes: the CLI, or children forked from a pre-imported server
# ---------------------------------------------------------------------------


class Proc:
    """One process of the campaign: wait for its header, kill it, wait for its end."""

    kind: str

    def wait_header(self, timeout: float) -> bool:
        """True once the run is recorded; False if the process ended without one."""
        raise NotImplementedError

    def kill(self) -> bool:
        """SIGKILL it; True if it was still alive (the kill landed)."""
        raise NotImplementedError

    def wait(self, timeout: float) -> tuple[int, str]:
        """Exit code (negative: killed by that signal) and the last error line."""
        raise NotImplementedError


class CliProc(Proc):
    """``sentient-graph run|recover`` as a subprocess; the header is the thread's first stderr line."""

    def __init__(self, kind: str, url: str, thread: str) -> None:
        import shutil
        import subprocess
        import sys
        import threading

        self.kind = kind
        exe = (
            shutil.which("sentient-graph", path=os.path.dirname(sys.executable)) or "sentient-graph"
        )
        args = [exe, "run", GRAPH_REF, "--input", json_dumps(INPUT), "--thread", thread]
        if kind == "recover":
            args = [exe, "recover"]
        env = {**os.environ, "SURREALDB_URL": url}
        env.pop("REDIS_URL", None)
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.header = threading.Event()
        self.errors: list[str] = []

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                if thread in line and not self.header.is_set():
                    self.header.set()
                if line.startswith("error:"):
                    self.errors.append(line.strip())

        self.reader = threading.Thread(target=pump, daemon=True)
        self.reader.start()

    def wait_header(self, timeout: float) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while not self.header.wait(0.005):
            if self.proc.poll() is not None:
                self.reader.join(timeout=5)
                return self.header.is_set()
            if time.monotonic() > deadline:
                return False
        return True

    def kill(self) -> bool:
        if self.proc.poll() is not None:
            return False
        self.proc.kill()
        return True

    def wait(self, timeout: float) -> tuple[int, str]:
        import subprocess

        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            self.errors.append(f"hung: killed after {timeout:.0f} s")
        self.reader.join(timeout=5)
        return code, (self.errors[-1] if self.errors else "")


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


async def _child_work(kind: str, url: str, thread: str, conn: Any) -> int:
    from sentient_graph import Engine, RunFailed

    async with Engine.open(url) as engine:
        if kind == "run":
            handles = [await engine.start(GRAPH_REF, dict(INPUT), thread)]
        else:
            handles = await engine.recover()
        conn.send(("header", [h.thread_id for h in handles]))
        code = 0
        for handle in handles:
            try:
                await handle.wait()
            except RunFailed as exc:
                conn.send(("error", f"error: {exc}"))
                code = 1
    return code


def _child(kind: str, url: str, thread: str, conn: Any) -> None:
    """A forked campaign process: what ``sentient-graph run|recover`` does, without the import."""
    try:
        code = asyncio.run(_child_work(kind, url, thread, conn))
    except BaseException as exc:  # one line back to the campaign, as the CLI prints
        detail = str(exc).strip().splitlines()
        conn.send(("error", f"error: {type(exc).__name__}: {detail[0] if detail else ''}"))
        code = 1
    conn.close()
    os._exit(code)  # the embedded engine can abort at interpreter shutdown


class ForkProc(Proc):
    """A child of a forkserver that imported the engine once: no import at each start."""

    def __init__(self, ctx: Any, kind: str, url: str, thread: str) -> None:
        self.kind = kind
        self.thread = thread
        self.conn, child_conn = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_child, args=(kind, url, thread, child_conn), daemon=True)
        self.proc.start()
        child_conn.close()
        self.errors: list[str] = []

    def _drain(self, timeout: float) -> str | None:
        """Next message kind, or None when the child is gone or time is up."""
        try:
            if not self.conn.poll(timeout):
                return None
            what, value = self.conn.recv()
        except (EOFError, OSError):
            return None
        if what == "error":
            self.errors.append(value)
        elif what == "header" and self.thread not in value:
            return "no-header"
        return what

    def wait_header(self, timeout: float) -> bool:
        while True:
            what = self._drain(timeout)
            if what is None or what == "no-header":
                return False
            if what == "header":
                return True

    def kill(self) -> bool:
        if not self.proc.is_alive():
            return False
        self.proc.kill()
        return True

    def wait(self, timeout: float) -> tuple[int, str]:
        self.proc.join(timeout)
        if self.proc.exitcode is None:
            self.proc.kill()
            self.proc.join()
            self.errors.append(f"hung: killed after {timeout:.0f} s")
        while self._drain(0) is not None:
            pass
        self.conn.close()
        code = self.proc.exitcode
        return (code if code is not None else -9), (self.errors[-1] if self.errors else "")


def fork_context() -> Any:
    """A forkserver context whose server imported the engine (children start in milliseconds)."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["sentient_graph", "sentient_graph.runner", "langgraph.graph"])
    # Start the server and let it finish its imports before the stores' threads fork from
    # it together: a fresh checkout's first campaign once lost a child's exit status
    # (multiprocessing's 255) while the server was still starting.
    warm = ctx.Process(target=_warm_up, daemon=True)
    warm.start()
    warm.join()
    return ctx


def _warm_up() -> None:
    """A forkserver child that does nothing (see :func:`fork_context`)."""


# ---------------------------------------------------------------------------
# The campaign: one store per worker, threads one after another
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """A planned kill: early (right after the run is recorded) or not, and its delay after the header."""

    early: bool
    delay: float


@dataclass
class Attempt:
    """One process of a thread: what it was, whether a kill landed, how it ended."""

    kind: str
    header: bool
    kill: Kill | None
    landed: bool
    code: int
    error: str


@dataclass
class ThreadOutcome:
    """A thread's processes and where it ended."""

    thread: str
    attempts: list[Attempt] = field(default_factory=list)
    status: str = "?"
    error: str = ""
    state: Any = None
    reached: bool = False


def plan_kills(rng: random.Random, early_share: float, window: float) -> list[Kill]:
    """One to three kills for a thread, each early with probability ``early_share``."""
    count = rng.choice((1, 1, 2, 3))
    kills = []
    for _ in range(count):
        early = rng.random() < early_share
        kills.append(Kill(early, rng.uniform(0, EARLY_WINDOW if early else window)))
    return kills


def run_thread(start: Callable[[str, str], Proc], thread: str, kills: list[Kill]) -> ThreadOutcome:
    """``run`` the thread, killing as planned, then ``recover`` until a process ends by itself."""
    outcome = ThreadOutcome(thread)
    pending = list(kills)
    kind = "run"
    for _ in range(MAX_PROCESSES_PER_THREAD):
        proc = start(kind, thread)
        header = proc.wait_header(PROCESS_TIMEOUT)
        kill = pending.pop(0) if header and pending else None
        landed = False
        if kill is not None:
            time.sleep(kill.delay)
            landed = proc.kill()
        code, error = proc.wait(PROCESS_TIMEOUT)
        outcome.attempts.append(Attempt(kind, header, kill, landed, code, error))
        if not landed:
            return outcome
        kind = "recover"
    outcome.error = f"stuck: still not done after {MAX_PROCESSES_PER_THREAD} processes"
    return outcome


async def read_outcomes(url: str, threads: list[str]) -> dict[str, tuple[str, str, Any]]:
    """Each thread's run status, error and final state, through the public engine API."""
    from sentient_graph import Engine

    found: dict[str, tuple[str, str, Any]] = {}
    async with Engine.open(url) as engine:
        for thread in threads:
            try:
                record = await engine.get_run(thread)
                snapshot = await engine.state(thread, graph=GRAPH_REF)
                found[thread] = (record.status, record.error or "", snapshot.values)
            except Exception as exc:
                found[thread] = ("unreadable", f"{type(exc).__name__}: {exc}", None)
    return found


def _read_in_child(url: str, threads: list[str], conn: Any) -> None:
    conn.send(asyncio.run(read_outcomes(url, threads)))
    conn.close()
    os._exit(0)


@dataclass
class StoreResult:
    """What one worker found on its store."""

    reference: Any
    reference_status: str
    window: float
    threads: list[ThreadOutcome]
    processes: int


def run_store(
    *,
    driver: str,
    directory: str,
    kills: int,
    early_share: float,
    seed: int,
    ctx: Any = None,
    progress: bool = False,
) -> StoreResult:
    """A campaign on one store until ``kills`` kills landed; then read every thread's end."""
    url = f"surrealkv://{directory}/store"
    rng = random.Random(seed)
    started = 0

    def start(kind: str, thread: str) -> Proc:
        nonlocal started
        started += 1
        if driver == "cli":
            return CliProc(kind, url, thread)
        return ForkProc(ctx, kind, url, thread)

    # The reference: uninterrupted; its header-to-exit time is the window of late kills.
    ref_proc = start("run", "reference")
    ref_proc.wait_header(PROCESS_TIMEOUT)
    t0 = time.monotonic()
    ref_code, ref_error = ref_proc.wait(PROCESS_TIMEOUT)
    window = max(time.monotonic() - t0, EARLY_WINDOW)
    if ref_code != 0:
        raise RuntimeError(f"the uninterrupted reference run failed ({ref_code}): {ref_error}")

    outcomes: list[ThreadOutcome] = []
    landed = 0
    while landed < kills:
        plan = plan_kills(rng, early_share, window)[: kills - landed]
        outcome = run_thread(start, f"t{seed}-{len(outcomes):04d}", plan)
        landed += sum(a.landed for a in outcome.attempts)
        outcomes.append(outcome)
        first = outcome.attempts[0]
        if not first.header:
            # Without the line that says the run is recorded, no kill is ever aimed.
            raise RuntimeError(
                f"`run` of {outcome.thread} ended ({first.code}: {first.error or 'no error'}) "
                "without printing a line that names its thread: update CliProc's header match"
            )
        if progress and len(outcomes) % 50 == 0:
            print(f"store {seed}: {len(outcomes)} threads, {landed} kills", flush=True)

    names = ["reference"] + [o.thread for o in outcomes]
    if driver == "cli":
        found = asyncio.run(read_outcomes(url, names))
    else:
        receive, send = ctx.Pipe(duplex=False)
        reader = ctx.Process(target=_read_in_child, args=(url, names, send), daemon=True)
        reader.start()
        send.close()
        found = receive.recv()
        reader.join()
    ref_status, ref_err, reference = found["reference"]
    if reference != expected_state():
        raise RuntimeError(
            f"the uninterrupted reference ended {ref_status} ({ref_err or 'no error'}) with "
            f"{reference!r}, not {expected_state()!r}: is the SurrealDB checkpointer importable?"
        )
    for outcome in outcomes:
        status, error, state = found[outcome.thread]
        outcome.status, outcome.state = status, state
        outcome.error = outcome.error or error
        outcome.reached = status == "completed" and state == reference
    return StoreResult(reference, ref_status, window, outcomes, started)


def _store_worker(args: dict[str, Any]) -> StoreResult:
    return run_store(**args)


@dataclass
class Campaign:
    """Every store's result, merged."""

    stores: list[StoreResult]
    seconds: float

    @property
    def threads(self) -> list[ThreadOutcome]:
        return [t for s in self.stores for t in s.threads]

    @property
    def attempts(self) -> list[Attempt]:
        return [a for t in self.threads for a in t.attempts]

    def misses(self) -> list[ThreadOutcome]:
        return [t for t in self.threads if not t.reached]

    def classify(self) -> Counter[str]:
        """Misses by status and error (the error's exception name and first words)."""
        return Counter(miss_class(t) for t in self.misses())


def miss_class(t: ThreadOutcome) -> str:
    """``status: error`` for a miss, the error cut to its first clause."""
    if t.status == "completed":
        return "completed with a different final state"
    error = re.sub(r"\s+", " ", t.error or "")
    error = re.sub(r"'[^']*'", "'…'", error)[:140]
    return f"{t.status}: {error}" if error else t.status


#: Buckets of the delay between a `run`'s header and its kill, in ms (upper bounds).
MOMENT_BUCKETS = (10, 25, 50, 100, 200, 1000)


def by_kill_moment(c: Campaign) -> dict[str, tuple[int, int]]:
    """Threads whose ``run`` was killed, by the kill's delay after the header: (threads, reached)."""
    found: dict[str, list[int]] = {}
    for t in c.threads:
        first = t.attempts[0] if t.attempts else None
        if first is None or not first.landed or first.kill is None:
            label = "not killed (the kill found it gone)"
        else:
            ms = first.kill.delay * 1000
            upper = next((b for b in MOMENT_BUCKETS if ms < b), None)
            lower = max((b for b in MOMENT_BUCKETS if b <= ms), default=0)
            label = f"{lower}-{upper} ms" if upper else f">= {lower} ms"
        counts = found.setdefault(label, [0, 0])
        counts[0] += 1
        counts[1] += t.reached

    def order(label: str) -> float:
        return float(label.split("-")[0].lstrip(">= ")) if label[0] in "0123456789>" else 1e9

    return {k: (v[0], v[1]) for k, v in sorted(found.items(), key=lambda kv: order(kv[0]))}


def describe_miss(t: ThreadOutcome) -> str:
    """One line: the thread, its processes and kills, where it ended."""
    steps = []
    for a in t.attempts:
        kill = ""
        if a.kill is not None:
            kill = f" {'early' if a.kill.early else 'late'} kill at +{a.kill.delay * 1000:.0f} ms"
            kill += "" if a.landed else " (missed: already exited)"
        steps.append(f"{a.kind}{kill} -> exit {a.code}")
    return f"{t.thread}: {'; '.join(steps)}; ended {t.status}: {t.error or '-'}; state {t.state!r}"


def run_campaign(
    *,
    kills: int,
    early_share: float,
    seed: int,
    workers: int = 2,
    driver: str = "cli",
    root: str | None = None,
) -> Campaign:
    """Split ``kills`` over ``workers`` stores (one process each), run, merge."""
    workers = max(1, min(workers, 2))
    shares = [kills // workers + (1 if i < kills % workers else 0) for i in range(workers)]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-", dir=root) as tmp:
        jobs = []
        for i, share in enumerate(shares):
            directory = os.path.join(tmp, f"store{i}")
            os.makedirs(directory)
            jobs.append(
                {
                    "driver": driver,
                    "directory": directory,
                    "kills": share,
                    "early_share": early_share,
                    "seed": seed * 100 + i,
                    "progress": driver == "cli",
                }
            )
        if driver == "cli":
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
                stores = list(pool.map(_store_worker, jobs))
        else:
            from concurrent.futures import ThreadPoolExecutor

            ctx = fork_context()
            with ThreadPoolExecutor(workers) as pool:
                stores = list(pool.map(lambda job: run_store(**job, ctx=ctx), jobs))
    return Campaign(stores, time.monotonic() - started)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def summary(c: Campaign, early_share: float) -> dict[str, Any]:
    """The campaign's numbers."""
    attempts = c.attempts
    landed = [a for a in attempts if a.landed]
    threads = c.threads
    reached = sum(t.reached for t in threads)
    return {
        "threads": len(threads),
        "reached": reached,
        "share": reached / len(threads) if threads else 0.0,
        "kills": len(landed),
        "early_kills": sum(a.kill is not None and a.kill.early for a in landed),
        "missed_kills": sum(a.kill is not None and not a.landed for a in attempts),
        "killed_runs": sum(a.kind == "run" for a in landed),
        "killed_recovers": sum(a.kind == "recover" for a in landed),
        "processes": sum(s.processes for s in c.stores),
        "early_share": early_share,
        "seconds": c.seconds,
        "windows_ms": [round(s.window * 1000) for s in c.stores],
        "references": [s.reference_status for s in c.stores],
    }


def print_report(c: Campaign, early_share: float) -> None:
    s = summary(c, early_share)
    print(
        f"{s['kills']} kills landed ({s['early_kills']} early, {s['killed_runs']} of `run`, "
        f"{s['killed_recovers']} of `recover`; {s['missed_kills']} planned kills found the "
        f"process gone) over {s['threads']} threads, {s['processes']} processes, "
        f"{s['seconds']:.0f} s; late-kill window {s['windows_ms']} ms"
    )
    print(
        f"reached the uninterrupted final state: {s['reached']}/{s['threads']} ({s['share']:.1%})"
    )
    for label, (n, reached) in by_kill_moment(c).items():
        print(f"  run killed {label}: {reached}/{n} reached")
    for cls, n in c.classify().most_common():
        print(f"  miss x{n}: {cls}")
    for t in c.misses()[:20]:
        print(f"    {describe_miss(t)}")


def _machine() -> str:
    import platform
    import subprocess

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info = dict(
            (k.strip(), v.strip())
            for k, v in (ln.split(":", 1) for ln in out.splitlines() if ":" in ln)
        )
        cpu = f"{info.get('Model name', '?')}, {info.get('CPU(s)', '?')} CPUs"
    except (OSError, subprocess.CalledProcessError):
        cpu = f"{os.cpu_count()} CPUs"
    return f"{cpu}, Linux {platform.release()}, Python {platform.python_version()}"


def _commit() -> str:
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(
            ["git", "-C", here, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + (" (with uncommitted changes)" if dirty else "")


BEGIN, END_MARK = "<!-- chaos:begin -->", "<!-- chaos:end -->"


def markdown(c: Campaign, args: Any, command: str, commit: str) -> str:
    """One campaign's subsection (campaigns accumulate: before and after a fix)."""
    s = summary(c, args.early_share)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"### {date}, commit {commit}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {_machine()}  ",
        f"Driver: {args.driver}; {args.workers} stores in parallel (one process at a time each); "
        f"nodes sleep {NODE_SLEEP * 1000:.0f} ms; late kills uniform over the uninterrupted run's "
        f"{s['windows_ms']} ms after its header; seed {args.seed}.",
        "",
        "| kills landed | early (<= 50 ms after the run is recorded) | of `run` / of `recover` "
        "| threads | reached the uninterrupted final state | processes | minutes |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {s['kills']} | {s['early_kills']} ({s['early_kills'] / max(s['kills'], 1):.0%}) "
        f"| {s['killed_runs']} / {s['killed_recovers']} | {s['threads']} "
        f"| {s['reached']} ({s['share']:.1%}) | {s['processes']} | {s['seconds'] / 60:.1f} |",
        "",
    ]
    lines += [
        "Threads by when their `run` was killed (after its header), and how many reached "
        "the final state:",
        "",
        "| kill of `run` at | threads | reached |",
        "| --- | ---: | ---: |",
    ]
    for label, (n, reached) in by_kill_moment(c).items():
        lines.append(f"| {label} | {n} | {reached} ({reached / max(n, 1):.0%}) |")
    lines.append("")
    classes = c.classify()
    if classes:
        lines += ["Misses, by how the thread ended:", ""]
        lines += ["| threads | status: error |", "| ---: | --- |"]
        for cls, n in classes.most_common():
            lines.append(f"| {n} | `{cls.replace('|', '/')}` |")
        lines += ["", "First misses in detail:", ""]
        lines += [f"- `{describe_miss(t)}`" for t in c.misses()[:5]]
    else:
        lines.append("No miss: every thread reached the uninterrupted final state.")
    return "\n".join(lines) + "\n"


def write_markdown(path: str, section: str) -> None:
    """Add a campaign to the "Kill campaign" section (created at the end of the file if absent)."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if BEGIN not in text:
        intro = (
            "\n## Kill campaign\n\n"
            f"{BEGIN}\n"
            "`benchmarks/chaos.py`: CLI runs (`sentient-graph run benchmarks/chaos.py:graph`, five\n"
            "nodes that sleep and append to a list, one of them a parallel pair) on a `surrealkv://`\n"
            "store are SIGKILLed at seeded random moments after the run is recorded (the CLI's\n"
            "header line): a share within 50 ms, the rest uniformly over an uninterrupted run.\n"
            "Each kill is followed by `sentient-graph recover`, itself killed when the thread's\n"
            "plan (1-3 kills) says so, until a process ends by itself. Then each thread's run\n"
            "status and final state are read with `Engine.get_run` / `Engine.state` and compared\n"
            "with an uninterrupted run's. Campaigns are kept in order: before and after fixes.\n\n"
            f"{END_MARK}\n"
        )
        text = text.rstrip("\n") + "\n" + intro
    head, tail = text.split(END_MARK, 1)
    text = head.rstrip("\n") + "\n\n" + section + "\n" + END_MARK + tail
    with open(path, "w") as f:
        f.write(text)


def main() -> None:
    import argparse
    import shlex
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000, help="kills that must land")
    parser.add_argument("--early-share", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--workers", type=int, default=2, help="stores in parallel (at most 2)")
    parser.add_argument("--driver", choices=("cli", "fork"), default="cli")
    parser.add_argument("--markdown", metavar="FILE", help="add the campaign to FILE")
    args = parser.parse_args()
    args.workers = max(1, min(args.workers, 2))
    # Run as a script, this directory leads sys.path and its checkpointers.py would
    # shadow the checkpointers package: import this module by its package name instead.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    from benchmarks import chaos

    commit = _commit()  # the code under test: read before the campaign, which takes a while
    c = chaos.run_campaign(
        kills=args.kills,
        early_share=args.early_share,
        seed=args.seed,
        workers=args.workers,
        driver=args.driver,
    )
    print_report(c, args.early_share)
    if args.markdown:
        command = "python benchmarks/chaos.py " + shlex.join(sys.argv[1:])
        write_markdown(args.markdown, markdown(c, args, command, commit))


if __name__ == "__main__":
    main()
