"""CPU time per operation of ``AsyncSurrealSaver`` on ``surrealkv://``, for before/after comparisons.

Usage (from any directory, in the project's venv)::

    python benchmarks/checkpointer_cpu.py ROOT     # ROOT: a checkout of the project

Prints the median CPU time (``time.process_time``, all threads of the process)
in ms of ``aput`` (500 on one thread), ``aget_tuple`` of the latest, ``alist``
with ``limit=10`` and of all 500, and a run of the 10-node graph of
``_workload.py``. CPU time, unlike wall time, barely moves with the load other
processes put on the machine, so two checkouts can be compared on a busy one;
it leaves out waits (fsync), so it is no substitute for ``checkpointers.py``.

Owns: nothing but this measurement. Must not: change the savers.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from typing import Any

root = sys.argv[1] if len(sys.argv) > 1 else "."
sys.path[:0] = [root, root + "/benchmarks"]

from _workload import _thread_config, build_graph, make_checkpoint  # noqa: E402

from checkpointers.surrealdb import AsyncSurrealSaver  # noqa: E402


async def main() -> None:
    d = tempfile.mkdtemp()
    out: dict[str, list[float]] = {}
    async with AsyncSurrealSaver.from_conn_string(
        f"surrealkv://{d}/s", namespace="b", database="b"
    ) as saver:
        await saver.setup()
        versions: dict[str, Any] = {}
        config = _thread_config("t")
        puts = []
        for step in range(500):
            cp, md, nv = make_checkpoint(saver, step, versions)
            t = time.process_time()
            config = await saver.aput(config, cp, md, nv)
            puts.append(time.process_time() - t)
        out["aput"] = puts
        cfg = _thread_config("t")

        async def get():
            await saver.aget_tuple(cfg)

        async def l10():
            [x async for x in saver.alist(cfg, limit=10)]

        async def lall():
            [x async for x in saver.alist(cfg)]

        g = build_graph().compile(checkpointer=saver)
        n = [0]

        async def run():
            n[0] += 1
            await g.ainvoke({"count": 0, "log": []}, {"configurable": {"thread_id": f"g{n[0]}"}})

        for name, fn, k in [
            ("aget_tuple", get, 300),
            ("alist_10", l10, 200),
            ("alist_all", lall, 10),
            ("graph_run", run, 40),
        ]:
            for _ in range(5):
                await fn()
            gc.collect()
            s = []
            for _ in range(k):
                t = time.process_time()
                await fn()
                s.append(time.process_time() - t)
            out[name] = s
    print(json.dumps({k: round(statistics.median(v) * 1e3, 3) for k, v in out.items()}))


if __name__ == "__main__":
    asyncio.run(main())
