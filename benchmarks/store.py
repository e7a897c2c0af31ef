"""Long-term memory stores, measured in one run: ours against LangGraph's and a PyPI peer.

Run from the repository root, in the project's venv (nice: the machine is shared)::

    nice -n 10 python benchmarks/store.py                          # print the table
    nice -n 10 python benchmarks/store.py --markdown BENCHMARKS.md # also write the section

Stores: ``SurrealStore`` (ours, ``surrealkv://`` in a temp dir; also with
SurrealDB's own HNSW index kept, ``hnsw=Hnsw()``, at the ``--hnsw-sizes``), LangGraph's ``InMemoryStore``
(brute force), LangGraph's ``SqliteStore`` with ``sqlite-vec`` (``pip install
sqlite-vec pysqlite3-binary``; ``pysqlite3`` stands in for a ``sqlite3`` that
cannot load extensions), and ``langgraph-surrealdb``'s store when it installs
(in its own venv, made by hand once: ``python3.12 -m venv
benchmarks/.peers/langgraph-surrealdb-store`` then its ``pip install
langgraph-surrealdb numpy``).

Data: seeded clustered 384-dimension unit vectors (100 clusters), items
``{"text": "doc i", "tag": i % 10}``; an embedding that looks the vectors up,
so every store gets the same ones and no model runs. For each size: put
throughput (batches of 500 through ``batch``, and single ``put`` calls),
search p50/p99 with k = 10 and recall@10 against exact search, without and
with a filter (``{"tag": 3}``, a tenth of the items), and for ours the first
search after reopening (the in-process index is loaded from SurrealDB then).
Each (store, size) runs in a subprocess of its own; slow search phases stop
after a time budget (the number of queries is in the table).

Must not: be imported by the package or the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_DIR = HERE / ".peers"
DIMS = 384
CLUSTERS = 100
QUERIES = 200
BATCH = 500
SINGLE_PUTS = 200
PHASE_BUDGET_S = 25.0
FILTER = {"tag": 3}
NS = ("bench", "memories")
BEGIN, END = "<!-- store:begin -->", "<!-- store:end -->"
HEADING = "## Long-term memory"

STORES = {
    "ours": "SurrealStore (ours), surrealkv://",
    "ours-hnsw": "SurrealStore (ours), surrealkv://, hnsw=Hnsw() (SurrealDB's index kept too)",
    "inmemory": "InMemoryStore (LangGraph)",
    "sqlite": "SqliteStore + sqlite-vec (LangGraph)",
    "peer": "langgraph-surrealdb SurrealDBStore",
}


# ---------------------------------------------------------------------------
# Data (the same in every process: seeded)
# ---------------------------------------------------------------------------


def dataset(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clustered unit vectors and the query vectors, float32."""
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((CLUSTERS, DIMS))
    assign = rng.integers(0, CLUSTERS, n)
    x = centers[assign] + 0.6 * rng.standard_normal((n, DIMS))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q_rng = np.random.default_rng(11)
    q = centers[q_rng.integers(0, CLUSTERS, QUERIES)] + 0.6 * q_rng.standard_normal((QUERIES, DIMS))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x.astype(np.float32), q.astype(np.float32)


def truth(x: np.ndarray, q: np.ndarray, mask: np.ndarray | None) -> list[set[int]]:
    """Exact top 10 of every query (cosine; the vectors are unit length)."""
    scores = q.astype(np.float64) @ x.astype(np.float64).T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :10]
    return [set(map(int, row)) for row in top]


def lookup_embeddings(x: np.ndarray, q: np.ndarray) -> Any:
    from langchain_core.embeddings import Embeddings

    def vector(text: str) -> list[float]:
        # SqliteStore embeds the value's JSON (its fields default), and a query
        # through embed_documents: find "doc i" / "query j" in the text.
        found = re.search(r"(doc|query) (\d+)", text)
        assert found, text
        return (x if found.group(1) == "doc" else q)[int(found.group(2))].tolist()

    class Lookup(Embeddings):
        """ "doc i" is x[i], "query j" is q[j]: every store gets the same vectors."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [vector(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return vector(text)

    return Lookup()


# ---------------------------------------------------------------------------
# One store, one size (a subprocess)
# ---------------------------------------------------------------------------


def open_store(kind: str, workdir: Path, index: dict[str, Any]) -> tuple[Any, Any]:
    """(store, closer) for one kind."""
    if kind in ("ours", "ours-hnsw"):
        from sentient_graph.store import Hnsw, SurrealStore

        hnsw = Hnsw() if kind == "ours-hnsw" else None
        ctx = SurrealStore.from_conn_string(
            f"surrealkv://{workdir / 'store'}", index=index, hnsw=hnsw
        )
        store = ctx.__enter__()
        store.setup()
        return store, lambda: ctx.__exit__(None, None, None)
    if kind == "inmemory":
        from langgraph.store.memory import InMemoryStore

        return InMemoryStore(index=index), lambda: None
    if kind == "sqlite":
        from langgraph.store.sqlite import SqliteStore

        ctx = SqliteStore.from_conn_string(str(workdir / "store.sqlite"), index=index)
        store = ctx.__enter__()
        store.setup()
        return store, lambda: ctx.__exit__(None, None, None)
    if kind == "peer":
        return open_peer(workdir, index)
    raise ValueError(kind)


def open_peer(workdir: Path, index: dict[str, Any]) -> tuple[Any, Any]:
    """langgraph-surrealdb's store (in its own venv) on an embedded surrealkv:// store.

    It signs in as a root user at open, which the embedded engine refuses
    unless one was defined in that store: one is defined first.
    """
    from langgraph_surrealdb.settings import RootAuth, SurrealDatabaseSettings
    from langgraph_surrealdb.store.base import SurrealStore as PeerStore
    from langgraph_surrealdb.store.settings import SurrealStoreIndexSettings, SurrealStoreSettings
    from surrealdb import Surreal

    url = f"surrealkv://{workdir / 'peer'}"
    with Surreal(url) as db:
        db.query("DEFINE USER IF NOT EXISTS bench ON ROOT PASSWORD 'bench' ROLES OWNER;")
    settings = SurrealStoreSettings(
        db=SurrealDatabaseSettings(
            url=url,
            namespace="bench",
            database="bench",
            auth=RootAuth(username="bench", password="bench"),
        ),
        index=SurrealStoreIndexSettings(enabled=True, dimensions=DIMS, fields=["text"]),
    )
    ctx = PeerStore.from_settings(settings, embed=index["embed"])
    store = ctx.__enter__()
    store.setup()
    return store, lambda: ctx.__exit__(None, None, None)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def search_phase(store: Any, truths: list[set[int]], filter: dict | None) -> dict[str, Any]:
    times, recalls = [], []
    started = time.perf_counter()
    for j in range(QUERIES):
        t = time.perf_counter()
        hits = store.search(NS, query=f"query {j}", filter=filter, limit=10)
        times.append((time.perf_counter() - t) * 1000)
        recalls.append(len({int(h.key) for h in hits} & truths[j]) / 10)
        if time.perf_counter() - started > PHASE_BUDGET_S and j >= 19:
            break
    return {
        "p50_ms": percentile(times, 50),
        "p99_ms": percentile(times, 99),
        "recall": statistics.fmean(recalls),
        "queries": len(times),
    }


def measure(kind: str, n: int) -> dict[str, Any]:
    from langgraph.store.base import PutOp

    x, q = dataset(n)
    index = {"dims": DIMS, "embed": lookup_embeddings(x, q), "fields": ["text"]}
    tags = np.arange(n) % 10
    plain, filtered = truth(x, q, None), truth(x, q, tags == FILTER["tag"])
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        store, close = open_store(kind, workdir, index)
        started = time.perf_counter()
        for low in range(0, n, BATCH):
            store.batch(
                [
                    PutOp(NS, str(i), {"text": f"doc {i}", "tag": int(i % 10)})
                    for i in range(low, min(n, low + BATCH))
                ]
            )
        bulk = n / (time.perf_counter() - started)
        singles = []
        for i in range(SINGLE_PUTS):  # overwrites: the item count stays n
            t = time.perf_counter()
            store.put(NS, str(i), {"text": f"doc {i}", "tag": int(i % 10)})
            singles.append((time.perf_counter() - t) * 1000)
        reopen_ms = graph_s = None
        if kind.startswith("ours"):
            close()
            store, close = open_store(kind, workdir, index)
            t = time.perf_counter()
            store.search(NS, query="query 0", limit=10)
            reopen_ms = (time.perf_counter() - t) * 1000
            # From 20,000 vectors on, that search started building the HNSW graph.
            t = time.perf_counter()
            if store.wait_for_index():
                graph_s = time.perf_counter() - t
        result = {
            "kind": kind,
            "n": n,
            "put_bulk_per_s": bulk,
            "put_single_p50_ms": percentile(singles, 50),
            "search": search_phase(store, plain, None),
            "search_filtered": search_phase(store, filtered, FILTER),
            "first_search_after_reopen_ms": reopen_ms,
            "graph_build_s": graph_s,
            "load_average": os.getloadavg()[0],
        }
        close()
    return result


# ---------------------------------------------------------------------------
# The peer, in its own venv
# ---------------------------------------------------------------------------


def peer_python() -> Path | None:
    python = PEERS_DIR / "langgraph-surrealdb-store" / "bin" / "python"
    return python if python.exists() else None


def peer_version() -> str | None:
    python = peer_python()
    if python is None:
        return None
    done = subprocess.run(
        [str(python), "-m", "pip", "show", "langgraph-surrealdb"], capture_output=True, text=True
    )
    for line in done.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


# ---------------------------------------------------------------------------
# The run and its report
# ---------------------------------------------------------------------------


def run_one(kind: str, n: int) -> dict[str, Any]:
    """Measure in a fresh subprocess (its memory and imports its own)."""
    python = sys.executable
    if kind == "peer":
        found = peer_python()
        if found is None:
            return {"kind": kind, "n": n, "error": "not installed (see --help)"}
        python = str(found)
    done = subprocess.run(
        [python, __file__, "--one", kind, str(n)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
        found = (errors or lines or [f"exit {done.returncode}"])[-1]
        return {"kind": kind, "n": n, "error": found[:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(
            (k.strip(), v.strip())
            for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)
        )
        cpu = f"{fields.get('CPU(s)', '?')} CPUs, {fields.get('Model name', '?')}"
    except OSError:
        cpu = f"{os.cpu_count()} CPUs"
    return f"{cpu}; {platform.platform()}; Python {platform.python_version()}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render(results: list[dict[str, Any]], command: str, notes: list[str]) -> str:
    lines = [
        HEADING,
        "",
        f"Command: `{command}`  ",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {machine()} (shared with other work: numbers move between runs)",
        "",
        f"Seeded clustered {DIMS}-dimension unit vectors ({CLUSTERS} clusters), k = 10, "
        f"recall@10 against exact search; filter `{json.dumps(FILTER)}` keeps a tenth. "
        f"Put: batches of {BATCH} through `batch()` (items/s), and single `put()` p50. "
        f"Search: p50 / p99 in ms over up to {QUERIES} queries (fewer where a phase "
        f"passed {PHASE_BUDGET_S:.0f} s). Goal for ours at 100,000: recall@10 >= 0.95, "
        "p50 <= 10 ms, faster than every peer.",
        "",
        "| store | items | put (items/s) | single put p50 | search p50 / p99 | recall@10 "
        "| filtered p50 / p99 | filtered recall@10 | queries | first search after reopen (ms) "
        "| graph built after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        name = STORES[r["kind"]]
        if "error" in r:
            error = " ".join(r["error"].split())
            lines.append(f"| {name} | {r['n']:,} | failed: {error} | | | | | | | | |")
            continue
        s, f = r["search"], r["search_filtered"]
        lines.append(
            f"| {name} | {r['n']:,} | {r['put_bulk_per_s']:,.0f} | {_ms(r['put_single_p50_ms'])} "
            f"| {_ms(s['p50_ms'])} / {_ms(s['p99_ms'])} | {s['recall']:.3f} "
            f"| {_ms(f['p50_ms'])} / {_ms(f['p99_ms'])} | {f['recall']:.3f} "
            f"| {s['queries']} / {f['queries']} | {_ms(r['first_search_after_reopen_ms'])} "
            f"| {_seconds(r.get('graph_build_s'))} |"
        )
    loads = [r["load_average"] for r in results if r.get("load_average") is not None]
    if loads:
        lines += [
            "",
            f"1-minute load average at the end of each measurement: {min(loads):.1f} to "
            f"{max(loads):.1f} on {os.cpu_count()} CPUs (other work shared the machine).",
        ]
    lines += ["", *[f"- {note}" for note in [*READING, *notes]]]
    return "\n".join(lines) + "\n"


def write_section(markdown: str, path: Path) -> None:
    """Replace the section between our markers, or append it."""
    heading, _, body = markdown.partition("\n")
    block = f"{heading}\n\n{BEGIN}\n{body.lstrip(chr(10))}{END}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, stop = text.find(heading + "\n"), text.find(END)
    if start != -1 and stop != -1:
        path.write_text(text[:start] + block + text[stop + len(END) :])
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + block + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stores", nargs="+", default=["ours", "inmemory", "sqlite", "peer"])
    parser.add_argument(
        "--hnsw-sizes",
        type=int,
        nargs="*",
        default=[10_000],
        help="sizes at which ours also runs with SurrealDB's HNSW index kept (slow puts)",
    )
    parser.add_argument("--markdown", type=Path, help="write the section into this file")
    parser.add_argument("--out", type=Path, help="also write every number as JSON")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="render earlier --out files (merged in order; a later row of the same store "
        "and size wins) instead of measuring",
    )
    parser.add_argument("--note", action="append", default=[], help="a line to add under the table")
    args = parser.parse_args()
    if args.one:
        if args.one[0] == "sqlite":
            import pysqlite3  # the system sqlite3 here cannot load extensions

            sys.modules["sqlite3"] = pysqlite3
        sys.path.insert(0, str(ROOT))
        print(json.dumps(measure(args.one[0], int(args.one[1]))))
        return
    results: list[dict[str, Any]] = []
    if args.from_json:
        merged: dict[tuple[str, int], dict[str, Any]] = {}
        for path in args.from_json:
            for row in json.loads(path.read_text()):
                merged[(row["kind"], row["n"])] = row
        results = sorted(merged.values(), key=lambda r: (r["n"], list(STORES).index(r["kind"])))
    for n in [] if args.from_json else args.sizes:
        kinds = list(args.stores) + (["ours-hnsw"] if n in args.hnsw_sizes else [])
        for kind in kinds:
            print(f"measuring {kind} at {n:,} ...", file=sys.stderr, flush=True)
            results.append(run_one(kind, n))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    notes = peer_notes() + list(args.note)
    command = "nice -n 10 python benchmarks/store.py" + (
        f" --markdown {args.markdown.name}" if args.markdown else ""
    )
    if args.from_json:
        command = (
            "nice -n 10 python benchmarks/store.py --out run1.json; "
            "nice -n 10 python benchmarks/store.py --stores ours peer --sizes 10000 100000 "
            "--hnsw-sizes 10000 --out run2.json; python benchmarks/store.py --from-json "
            "run1.json run2.json --markdown BENCHMARKS.md"
        )
    markdown = render(results, command, notes)
    print(markdown)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    if args.markdown:
        write_section(markdown, args.markdown)


def peer_notes() -> list[str]:
    return list(PEER_NOTES)


#: How to read the table (true of every run; the numbers are in the table).
READING: list[str] = [
    "Ours searches exactly (a matrix-vector product over the in-process copy of the "
    "vectors) below 20,000 vectors; from there on an in-process HNSW graph (`usearch`) "
    "gives the first candidates, so recall@10 can fall below 1. The graph is built in "
    "a background thread after the first search; searches are exact until it is ready "
    '(column "graph built after").',
    '"First search after reopen" loads every vector from SurrealDB into the process.',
    "A filtered search by meaning reads candidates from SurrealDB until the page is "
    "full, so a selective filter costs more round trips than no filter.",
    "`hnsw=Hnsw()` also keeps SurrealDB's own HNSW index (for SurrealQL `<|k, ef|>` "
    "queries by other clients): it costs most of a put, and our searches do not use it.",
]

#: What the run cannot show about the PyPI peer (tried by hand, 2026-12-07).
PEER_NOTES: list[str] = [
    "langgraph-surrealdb 0.5.0 (Python >= 3.12, so its venv is on 3.12; it resolves "
    "surrealdb 2.0.0) does not run on the embedded engine: its setup() uses "
    "`type::is_string`, SurrealQL 3 that the 2.x core of that SDK does not parse. With "
    "surrealdb 3.0.0b10 installed into its venv by hand, the embedded engine refused its "
    "root sign-in. It needs a SurrealDB 3 server, which cannot be installed here.",
]


if __name__ == "__main__":
    main()
