"""A subscriber in another process: ``python follower_process.py REDIS_URL PREFIX THREAD RUNS``.

Prints ``READY`` once subscribed, then one JSON event per line, and exits after
the terminal events of RUNS runs. Used by the cross-process tests.
"""

from __future__ import annotations

import asyncio
import sys

import structlog

from sentient_graph.events import TERMINAL_TYPES, EventBus

# Logs to stderr: stdout carries the events.
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


async def main(redis_url: str, prefix: str, thread: str, runs: int) -> None:
    bus = await EventBus.open(None, redis_url=redis_url, prefix=prefix)
    ended = 0
    try:
        async with bus.subscribe(thread) as sub:
            print("READY", flush=True)
            async for event in sub:
                print(event.to_json(), flush=True)
                if event.type in TERMINAL_TYPES:
                    ended += 1
                    if ended >= runs:
                        return
    finally:
        await bus.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
