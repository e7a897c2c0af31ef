"""``sentient-graph serve`` against LangGraph's own Agent Server in dev mode, same graph, same run.

Measures, on the 4-node graph of ``benchmarks/server_graph.py`` (each node
sleeps 10 ms, so the graph's own time is about 40 ms):

- serial start-to-finish latency (ours: ``POST /runs`` then the SSE stream
  until ``run_completed``; LangGraph: ``POST /runs/wait``);
- runs/s with 50 concurrent clients (the same requests);
- node transition to a WebSocket client in this (another) process: the
  event's timestamp to its arrival, p50/p99 (ours only);
- server memory (RSS of the server process and its children) with 1,000
  threads stored and 100 live subscribers (LangGraph: 1,000 threads).

The peer runs from ``benchmarks/.peers/lgdev`` (``pip install
"langgraph-cli[inmem]"``; ``langgraph dev --no-browser --no-reload``).
Usage: ``nice -n 10 python benchmarks/server.py [--markdown]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_BIN = HERE / ".peers" / "lgdev" / "bin"
GRAPH_FILE = HERE / "server_graph.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e6


async def wait_up(url: str, path: str, proc: subprocess.Popen[bytes], within: float = 120) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if (await client.get(url + path, timeout=2)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- one run, each server --------------------------------------------------------


async def ours_run(client: httpx.AsyncClient) -> None:
    run = (await client.post("/runs", json={"graph": "bench", "input": {"visited": []}})).json()
    async with client.stream(
        "GET",
        f"/threads/{run['thread_id']}/events",
        params={"follow": "true", "types": "run_completed,run_failed"},
    ) as response:
        async for line in response.aiter_lines():
            if line.startswith("event: run_"):
                assert line == "event: run_completed", line
                return


async def ours_wait(client: httpx.AsyncClient) -> None:
    r = await client.post("/runs/wait", json={"graph": "bench", "input": {"visited": []}})
    r.raise_for_status()
    assert r.json()["values"]["visited"] == ["a", "b", "c", "d"], r.text


async def peer_run(client: httpx.AsyncClient) -> None:
    r = await client.post("/runs/wait", json={"assistant_id": "bench", "input": {"visited": []}})
    r.raise_for_status()
    assert r.json()["visited"] == ["a", "b", "c", "d"], r.text


async def serial(run: Any, url: str, n: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await run(client)  # warm up
        times = []
        for _ in range(n):
            began = time.perf_counter()
            await run(client)
            times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


async def concurrent(run: Any, url: str, clients: int, total: int, windows: int = 1) -> float:
    """Runs/s with ``clients`` at once: the median of ``windows`` windows of ``total`` runs."""
    rates = [await _window(run, url, clients, total) for _ in range(windows)]
    return statistics.median(rates)


async def _window(run: Any, url: str, clients: int, total: int) -> float:
    """Runs/s of ``clients`` independent clients sharing ``total`` runs.

    Each client has its own connection (its own ``httpx.AsyncClient``), as separate
    programs would, and makes one run before the clock starts. One client with a
    pool of ``clients`` connections costs the benchmark's process more CPU than the
    server it measures: httpcore scans every pooled connection for each request
    (BENCHMARKS.md, "Server").
    """
    left = total
    warm = 0
    all_warm = asyncio.Event()
    go = asyncio.Event()

    async def worker() -> None:
        nonlocal left, warm
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            await run(client)
            warm += 1
            if warm == clients:
                all_warm.set()
            await go.wait()
            while left > 0:
                left -= 1
                await run(client)

    workers = asyncio.gather(*(worker() for _ in range(clients)))
    warming = asyncio.ensure_future(all_warm.wait())
    await asyncio.wait({warming, workers}, return_when=asyncio.FIRST_COMPLETED)
    if workers.done():  # a client failed while warming up: say why
        warming.cancel()
        await workers
    began = time.perf_counter()
    go.set()
    await workers
    return total / (time.perf_counter() - began)


async def ws_transitions(url: str, runs: int) -> tuple[float, float]:
    """Event timestamp to arrival at a WebSocket client in this process, in ms."""
    lags: list[float] = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=60) as client,
        websockets.connect(url.replace("http", "ws") + "/ws") as ws,
    ):
        for i in range(runs):
            tid = f"ws-{os.getpid()}-{i}-{time.time_ns()}"
            await ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": i,
                        "method": "events.subscribe",
                        "params": {
                            "thread_id": tid,
                            "types": ["node_started", "node_completed", "run_completed"],
                        },
                    }
                )
            )
            json.loads(await ws.recv())
            await client.post("/runs", json={"graph": "bench", "input": {}, "thread_id": tid})
            while True:
                msg = json.loads(await ws.recv())
                arrived = time.time()
                event = msg["params"]["event"]
                if event["type"] == "run_completed":
                    break
                sent = datetime.fromisoformat(event["timestamp"]).timestamp()
                lags.append((arrived - sent) * 1000)
    return pct(lags, 0.5), pct(lags, 0.99)


async def memory_ours(url: str, pid: int, threads: int, subscribers: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        sem = asyncio.Semaphore(50)

        async def one() -> None:
            async with sem:
                await ours_run(client)

        have = len((await client.get("/threads")).json())
        await asyncio.gather(*(one() for _ in range(max(0, threads - have))))
        sockets = []
        for i in range(subscribers):
            ws = await websockets.connect(url.replace("http", "ws") + "/ws")
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": i, "method": "events.subscribe", "params": {}})
            )
            await ws.recv()
            sockets.append(ws)
        await asyncio.sleep(1)
        value = rss_mb(pid)
        for ws in sockets:
            await ws.close()
        return value


async def memory_peer(url: str, pid: int, threads: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        sem = asyncio.Semaphore(50)

        async def one() -> None:
            async with sem:
                thread = (await client.post("/threads", json={})).json()
                r = await client.post(
                    f"/threads/{thread['thread_id']}/runs/wait",
                    json={"assistant_id": "bench", "input": {"visited": []}},
                )
                r.raise_for_status()

        await asyncio.gather(*(one() for _ in range(threads)))
        await asyncio.sleep(1)
        return rss_mb(pid)


# -- servers -------------------------------------------------------------------------


def start_ours(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sentient_graph",
            "serve",
            "--port",
            str(port),
            "--surreal-url",
            f"surrealkv://{workdir / '.sentient' / 'store'}",
            "--graph",
            f"bench={GRAPH_FILE}:graph",
        ],
        cwd=workdir,
        env={k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SURREALDB_URL")},
    )
    return proc, f"http://127.0.0.1:{port}"


def start_peer(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    shutil.copy(GRAPH_FILE, workdir / "server_graph.py")
    (workdir / "langgraph.json").write_text(
        json.dumps({"dependencies": ["."], "graphs": {"bench": "./server_graph.py:graph"}})
    )
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "PATH": f"{PEER_BIN}:{os.environ['PATH']}",
    }
    proc = subprocess.Popen(
        [str(PEER_BIN / "langgraph"), "dev", "--no-browser", "--no-reload", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def measure(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    print("measuring", "engine", "in-process", file=sys.stderr, flush=True)
    results["engine in-process (no server), start + wait"] = await measure_engine(args)
    if not args.skip_ours:
        results["sentient-graph serve"] = await measure_ours(args)
    if (PEER_BIN / "langgraph").exists() and not args.skip_peer:
        results["langgraph dev (inmem)"] = await measure_peer(args)
    return results


async def measure_engine(args: argparse.Namespace) -> dict[str, Any]:
    """The same graph on the engine in this process, no server: what the server adds to."""
    import importlib.util

    from sentient_graph.engine import Engine

    spec = importlib.util.spec_from_file_location("bench_server_graph", GRAPH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = module.graph
    with tempfile.TemporaryDirectory() as tmp:
        async with Engine.open(f"surrealkv://{tmp}/store", None) as engine:

            async def one() -> None:
                await (await engine.start(graph, {"visited": []})).wait()

            await one()
            times = []
            for _ in range(args.serial):
                began = time.perf_counter()
                await one()
                times.append(time.perf_counter() - began)
            sem = asyncio.Semaphore(args.clients)

            async def limited() -> None:
                async with sem:
                    await one()

            rates = []
            for _ in range(args.windows):
                began = time.perf_counter()
                await asyncio.gather(*(limited() for _ in range(args.total)))
                rates.append(args.total / (time.perf_counter() - began))
    return {
        "serial_p50_ms": statistics.median(times) * 1000,
        "runs_per_s": statistics.median(rates),
    }


async def measure_ours(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_ours(Path(tmp))
        try:
            await wait_up(url, "/health", proc)
            ours: dict[str, Any] = {}
            print("measuring", "ours", "serial_p50_ms", file=sys.stderr, flush=True)
            ours["serial_p50_ms"] = await serial(ours_run, url, args.serial)
            print("measuring", "ours", "runs_per_s", file=sys.stderr, flush=True)
            ours["runs_per_s"] = await concurrent(
                ours_run, url, args.clients, args.total, args.windows
            )
            print("measuring", "ours", "wait", file=sys.stderr, flush=True)
            ours["wait_serial_p50_ms"] = await serial(ours_wait, url, args.serial)
            ours["wait_runs_per_s"] = await concurrent(
                ours_wait, url, args.clients, args.total, args.windows
            )
            print("measuring", "ours", "ws_p50_ms", file=sys.stderr, flush=True)
            ours["ws_p50_ms"], ours["ws_p99_ms"] = await ws_transitions(url, args.ws_runs)
            print("measuring", "ours", "rss_mb", file=sys.stderr, flush=True)
            ours["rss_mb"] = await memory_ours(url, proc.pid, args.threads, args.subscribers)
            return ours
        finally:
            stop(proc)


async def measure_peer(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_peer(Path(tmp))
        try:
            await wait_up(url, "/ok", proc)
            peer: dict[str, Any] = {}
            print("measuring", "peer", "serial_p50_ms", file=sys.stderr, flush=True)
            peer["serial_p50_ms"] = await serial(peer_run, url, args.serial)
            print("measuring", "peer", "runs_per_s", file=sys.stderr, flush=True)
            peer["runs_per_s"] = await concurrent(
                peer_run, url, args.clients, args.total, args.windows
            )
            print("measuring", "peer", "rss_mb", file=sys.stderr, flush=True)
            peer["rss_mb"] = await memory_peer(url, proc.pid, args.threads)
            return peer
        finally:
            stop(proc)


def markdown(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    def cell(v: Any, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    lines = [
        "## Server",
        "",
        f"`nice -n 10 python benchmarks/server.py --markdown` (4-node graph, each node sleeps 10 ms; "
        f"serial: {args.serial} runs; throughput: the median of {args.windows} windows of {args.total} runs "
        f"over {args.clients} concurrent clients; "
        f"WebSocket: node transitions of {args.ws_runs} runs to a client in another process; "
        f"memory: RSS with {args.threads} threads stored and {args.subscribers} live WebSocket subscribers, "
        "LangGraph's server with the threads only). Ours: `POST /runs` then the SSE stream until "
        "`run_completed`, or `POST /runs/wait`; surrealkv store, no Redis. LangGraph: `POST /runs/wait`, "
        "its in-memory runtime. Load average when it ended: "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
        + f" on {os.cpu_count()} cores (the machine is shared).",
        "",
        "| server, request | serial p50 (ms) | runs/s, 50 clients | transition to WS p50 / p99 (ms) | RSS (MB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in list(results.items()):
        if "wait_serial_p50_ms" in r:
            results = {
                f"{name}, POST /runs + SSE": r,
                f"{name}, POST /runs/wait": {
                    "serial_p50_ms": r["wait_serial_p50_ms"],
                    "runs_per_s": r["wait_runs_per_s"],
                },
                **{k: v for k, v in results.items() if k != name},
            }
    for name, r in results.items():
        if "langgraph" in name:
            name = f"{name}, POST /runs/wait"
        if "engine" in name:
            lines.append(
                f"| {name} | {r['serial_p50_ms']:.1f} | {r['runs_per_s']:.1f} | n/a | n/a |"
            )
            continue
        ws = "n/a" if "ws_p50_ms" not in r else f"{r['ws_p50_ms']:.2f} / {r['ws_p99_ms']:.2f}"
        lines.append(
            f"| {name} | {cell(r.get('serial_p50_ms'), '.1f')} | {cell(r.get('runs_per_s'), '.1f')} | {ws} | {cell(r.get('rss_mb'), '.0f')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    # `python benchmarks/server.py` puts benchmarks/ first on the path, where
    # checkpointers.py (another benchmark) would shadow the checkpointers package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serial", type=int, default=30)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--total", type=int, default=300)
    parser.add_argument(
        "--windows", type=int, default=3, help="throughput: the median of this many windows"
    )
    parser.add_argument("--ws-runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    print(markdown(results, args) if args.markdown else json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
