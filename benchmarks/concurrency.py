"""Concurrent runs: many runs of a 4-node graph started at once, engine against plain LangGraph.

Owns: the workload (``--runs`` runs of a chain of four nodes that each
``await asyncio.sleep(0.01)``, all started at once), the variants (one
``sentient_graph.Engine`` on ``surrealkv://``; plain LangGraph ``ainvoke`` on
``AsyncSqliteSaver`` and on ``InMemorySaver``; the same with durability
changed, to show what it costs), the timing (runs/s from the first start to
the last run's end, the time each ``await engine.start(...)`` took), memory
per active run (peak RSS above the warmed-up process, divided by the runs
started at once), and the "Concurrent runs" section of BENCHMARKS.md.

Must not: change what it measures between variants: every round is a fresh
process (no heap or cache carried from one variant to the next), variants
interleaved round by round so that a slow spell of the shared machine hits
all of them.

Run it: ``nice -n 10 python benchmarks/concurrency.py --markdown BENCHMARKS.md``;
profile one round: ``py-spy record -o engine.svg -- python benchmarks/concurrency.py --one engine``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, TypedDict

import psutil
from langgraph.graph import END, START, StateGraph

NODE_SLEEP = 0.01

#: Starts timed one at a time on an idle engine, before the runs that start at once.
SOLO_STARTS = 20

#: name -> what it is (the table's first column).
VARIANTS: dict[str, str] = {
    "engine": "sentient_graph.Engine, surrealkv:// (its defaults: durability sync, "
    "queries offloaded, collector tuned)",
    "engine-async": "sentient_graph.Engine, surrealkv://, durability async",
    "engine-inline": "sentient_graph.Engine, surrealkv://, queries on the loop's thread "
    "(offload=False)",
    "engine-gc-default": "sentient_graph.Engine, surrealkv://, the collector left alone "
    "(tune_gc=False)",
    "sqlite": "LangGraph ainvoke, AsyncSqliteSaver (file; durability async, LangGraph's default)",
    "sqlite-gc": "LangGraph ainvoke, AsyncSqliteSaver (file), with the collector thresholds "
    "the engine sets (gc.set_threshold(*collector.TUNED))",
    "sqlite-sync": "LangGraph ainvoke, AsyncSqliteSaver (file), durability sync",
    "memory": "LangGraph ainvoke, InMemorySaver",
    "surreal": "LangGraph ainvoke, AsyncSurrealSaver (ours), surrealkv://, durability async",
    "surreal-sync": "LangGraph ainvoke, AsyncSurrealSaver, surrealkv://, durability sync",
    "surreal-offload": "LangGraph ainvoke, AsyncSurrealSaver, surrealkv://, durability async, "
    "queries offloaded (offload=True)",
    "surreal-stream": "LangGraph astream of the engine's modes, AsyncSurrealSaver, "
    "surrealkv://, durability sync (the engine minus run records and events)",
}

#: The stream modes the engine asks LangGraph for (``sentient_graph.runner.STREAM_MODES``).
ENGINE_STREAM_MODES = ["tasks", "checkpoints", "custom", "values"]


class State(TypedDict):
    """A counter each node bumps."""

    n: int


def build_graph() -> Any:
    """``a -> b -> c -> d``, each node sleeps ``NODE_SLEEP`` and adds 1."""

    def node(name: str) -> Any:
        async def step(state: State) -> State:
            await asyncio.sleep(NODE_SLEEP)
            return {"n": state["n"] + 1}

        step.__name__ = name
        return step

    builder = StateGraph(State)
    names = ["a", "b", "c", "d"]
    for name in names:
        builder.add_node(name, node(name))
    builder.add_edge(START, names[0])
    for left, right in itertools.pairwise(names):
        builder.add_edge(left, right)
    builder.add_edge(names[-1], END)
    return builder.compile()


graph = build_graph()


class PeakRss:
    """Samples this process's RSS from a thread (the event loop is too busy to be asked)."""

    def __init__(self, every: float = 0.02) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _check(values: list[Any]) -> None:
    bad = [v for v in values if not isinstance(v, dict) or v.get("n") != 4]
    if bad:
        raise RuntimeError(f"{len(bad)} runs ended wrong, e.g. {bad[0]!r}")


def _done(handle: Any) -> bool:
    done = handle.done
    return bool(done() if callable(done) else done)


async def _engine_round(
    runs: int, directory: str, durability: str, offload: bool, tune_gc: bool
) -> dict[str, Any]:
    from sentient_graph import Engine

    url = f"surrealkv://{directory}/store"
    async with Engine.open(url, durability=durability, offload=offload, tune_gc=tune_gc) as engine:
        saver = type(getattr(engine, "saver", None)).__name__
        if saver == "InMemorySaver":
            raise RuntimeError("the engine fell back to InMemorySaver: checkpointers is shadowed")
        await (await engine.start(graph, {"n": 0}, "warm-up")).wait()
        alone: list[float] = []
        for i in range(SOLO_STARTS):  # an idle engine: the start's own cost
            t = time.perf_counter()
            handle = await engine.start(graph, {"n": 0}, f"solo{i}")
            alone.append(time.perf_counter() - t)
            await handle.wait()
        starts: list[float] = []

        async def start(i: int) -> Any:
            t = time.perf_counter()
            handle = await engine.start(graph, {"n": 0}, f"t{i}")
            starts.append(time.perf_counter() - t)
            return handle

        rss0 = psutil.Process().memory_info().rss
        with PeakRss() as rss:
            t0, cpu0 = time.perf_counter(), time.process_time()
            handles = await asyncio.gather(*(start(i) for i in range(runs)))
            all_started = time.perf_counter() - t0
            active = sum(not _done(h) for h in handles)
            values = await asyncio.gather(*(h.wait() for h in handles))
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    _check(values)
    starts.sort()
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "all_started": all_started,
        "active_after_start": active,
        "start_alone_p50": statistics.median(alone),
        "start_p50": starts[len(starts) // 2],
        "start_p99": starts[min(len(starts) - 1, int(len(starts) * 0.99))],
        "rss_delta": rss.peak - rss0,
    }


async def _langgraph_round(
    runs: int, directory: str, saver: str, durability: str, streamed: bool, offload: bool
) -> dict[str, Any]:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async def go(checkpointer: Any) -> dict[str, Any]:
        compiled = graph.copy(update={"checkpointer": checkpointer})

        async def one(thread: str) -> Any:
            config: Any = {"configurable": {"thread_id": thread}}
            if not streamed:
                return await compiled.ainvoke({"n": 0}, config, durability=durability)
            values = None
            async for mode, chunk in compiled.astream(
                {"n": 0}, config, stream_mode=ENGINE_STREAM_MODES, durability=durability
            ):
                if mode == "values":
                    values = chunk
            return values

        await one("warm-up")
        rss0 = psutil.Process().memory_info().rss
        with PeakRss() as rss:
            t0, cpu0 = time.perf_counter(), time.process_time()
            values = await asyncio.gather(*(one(f"t{i}") for i in range(runs)))
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        _check(values)
        return {"seconds": elapsed, "cpu_seconds": cpu, "rss_delta": rss.peak - rss0}

    if saver == "memory":
        return await go(InMemorySaver())
    if saver == "surreal":
        from checkpointers.surrealdb import AsyncSurrealSaver

        url = f"surrealkv://{directory}/store"
        async with AsyncSurrealSaver.from_conn_string(url, offload=offload) as cp:
            await cp.setup()
            return await go(cp)
    async with AsyncSqliteSaver.from_conn_string(os.path.join(directory, "ck.sqlite")) as cp:
        await cp.setup()
        return await go(cp)


async def one_round(variant: str, runs: int) -> dict[str, Any]:
    """One variant, ``runs`` runs at once, in a fresh temporary directory."""
    with tempfile.TemporaryDirectory(prefix="concurrency-") as directory:
        if variant.startswith("engine"):
            durability = "async" if variant == "engine-async" else "sync"
            offload = variant != "engine-inline"
            tune_gc = variant != "engine-gc-default"
            result = await _engine_round(runs, directory, durability, offload, tune_gc)
        else:
            if variant == "sqlite-gc":
                import gc

                from sentient_graph.engine.collector import TUNED

                gc.set_threshold(*TUNED)
            streamed = variant == "surreal-stream"
            offload = variant == "surreal-offload"
            durability = "sync" if variant.endswith("-sync") or streamed else "async"
            saver = variant.split("-")[0]
            result = await _langgraph_round(runs, directory, saver, durability, streamed, offload)
    result["runs_per_s"] = runs / result["seconds"]
    result["cpu_ms_per_run"] = result["cpu_seconds"] / runs * 1000
    result["rss_per_run_kb"] = result["rss_delta"] / runs / 1024
    return result


def _round_in_child(variant: str, runs: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--one",
            variant,
            "--runs",
            str(runs),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{variant} round failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(rounds: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def _machine() -> str:
    import platform

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


def report(results: dict[str, list[dict[str, Any]]], runs: int, command: str) -> str:
    """The "Concurrent runs" section: one row per variant, medians over rounds."""
    from importlib import metadata

    sqlite = _median(results["sqlite"], "runs_per_s") if results.get("sqlite") else None
    sqlite_cpu = _median(results["sqlite"], "cpu_ms_per_run") if results.get("sqlite") else None
    rows = [
        "| variant | rounds | runs/s (median; min-max) | vs AsyncSqliteSaver | "
        "CPU ms per run (vs AsyncSqliteSaver) | "
        "start p50 / p99 ms (alone: p50) | all started after s | peak RSS per run KiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rounds in results.items():
        rate = _median(rounds, "runs_per_s")
        lo, hi = min(r["runs_per_s"] for r in rounds), max(r["runs_per_s"] for r in rounds)
        ratio = f"{rate / sqlite:.2f}x" if sqlite else "-"
        cpu = _median(rounds, "cpu_ms_per_run")
        cpu_cell = f"{cpu:.2f}" + (f" ({cpu / sqlite_cpu:.2f}x)" if sqlite_cpu else "")
        start = "-"
        started = "-"
        if "start_p50" in rounds[0]:
            start = (
                f"{_median(rounds, 'start_p50') * 1000:.0f} / "
                f"{_median(rounds, 'start_p99') * 1000:.0f} "
                f"(alone: {_median(rounds, 'start_alone_p50') * 1000:.2f})"
            )
            started = f"{_median(rounds, 'all_started'):.2f}"
        rows.append(
            f"| {VARIANTS[name]} | {len(rounds)} | {rate:.0f} ({lo:.0f}-{hi:.0f}) | {ratio} "
            f"| {cpu_cell} | {start} | {started} | {_median(rounds, 'rss_per_run_kb'):.0f} |"
        )
    versions = ", ".join(
        f"{p} {metadata.version(p)}"
        for p in ("langgraph", "langgraph-checkpoint-sqlite", "aiosqlite", "surrealdb-embedded")
    )
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    engine = _median(results["engine"], "runs_per_s") if results.get("engine") else None
    goal = ""
    if engine and sqlite:
        met = "met" if engine >= 1.5 * sqlite else "NOT met"
        goal = f"Goal engine >= 1.5x AsyncSqliteSaver: {engine / sqlite:.2f}x ({met})."
        if results.get("sqlite-gc"):
            tuned = _median(results["sqlite-gc"], "runs_per_s")
            goal += (
                f" Against AsyncSqliteSaver given the engine's collector thresholds: "
                f"{engine / tuned:.2f}x."
            )
        goal += "\n\n"
    table = "\n".join(rows)
    return (
        "## Concurrent runs\n\n"
        f"Command: `{command}`  \n"
        f"Date: {date}  \n"
        f"Machine: {_machine()}; {versions}\n\n"
        f"{goal}{table}\n\n"
        f"{runs} runs of a chain of four nodes (each `await asyncio.sleep(0.01)`) started at once "
        "(`asyncio.gather`) in one process, from the first start until every run ended; "
        "each round a fresh process and a fresh store in a temporary directory, after one "
        "warm-up run, variants interleaved round by round; medians over rounds. Engine: "
        "`await engine.start(...)` for each (its time is the start column; alone: "
        f"{SOLO_STARTS} starts one at a time on the idle engine before), then "
        "`handle.wait()`; no Redis, events in the SurrealDB log. LangGraph: `graph.ainvoke` "
        "with the checkpointer compiled in. Peak RSS per run: highest resident memory while "
        "the runs went on, above the warmed-up process, divided by the runs started at once. "
        "CPU ms per run: the process's CPU time (every thread: the event loop, SQLite's "
        "thread, the embedded SurrealDB engine's) over the runs, divided by the runs: the "
        "cost of a run, which the load of a shared machine changes less than runs/s.\n"
    )


def write_markdown(path: str, section: str) -> None:
    """Replace the "Concurrent runs" section (between its markers), or append it."""
    begin, end = "<!-- concurrency:begin -->", "<!-- concurrency:end -->"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    block = f"{begin}\n{section}{end}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def main() -> None:
    # Run as a script, this directory leads sys.path, and its checkpointers.py would
    # shadow the checkpointers package the engine imports.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--one", choices=list(VARIANTS), help="one round of one variant, here")
    parser.add_argument("--json", action="store_true", help="with --one: print the result as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="write the section into FILE")
    args = parser.parse_args()

    if args.one:
        result = asyncio.run(one_round(args.one, args.runs))
        print(json.dumps(result) if args.json else result, flush=True)
        os._exit(0)  # the embedded engine can abort at interpreter shutdown

    names = [v for v in args.variants.split(",") if v]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for i in range(args.rounds):
        for name in names:
            r = _round_in_child(name, args.runs)
            results[name].append(r)
            print(
                f"round {i + 1} {name}: {r['runs_per_s']:.0f} runs/s, "
                f"{r['rss_per_run_kb']:.0f} KiB/run"
                + (f", start p50 {r['start_p50'] * 1000:.1f} ms" if "start_p50" in r else ""),
                flush=True,
            )
    command = "python benchmarks/concurrency.py " + " ".join(sys.argv[1:])
    section = report(results, args.runs, command)
    print(section)
    if args.markdown:
        write_markdown(args.markdown, section)


if __name__ == "__main__":
    main()
