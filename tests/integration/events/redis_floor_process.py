"""A short publish/subscribe through the bus, run under whichever redis-py is first on ``sys.path``.

``python redis_floor_process.py REDIS_URL PREFIX`` prints ``redis-py VERSION``
and then ``OK`` once a follow-only bus got, over Redis, every event a publishing
bus wrote (live, then replayed from the stream). Used by the redis-py floor test.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import redis

from sentient_graph.db import connect
from sentient_graph.events import EventBus, EventType, RunEmitter


async def main(redis_url: str, prefix: str) -> None:
    print(f"redis-py {redis.__version__}", flush=True)
    conn = await connect("mem://", namespace=f"t{uuid.uuid4().hex}", database="floor")
    publisher = await EventBus.open(conn, redis_url=redis_url, prefix=prefix)
    follower = await EventBus.open(None, redis_url=redis_url, prefix=prefix)
    try:
        thread = f"floor-{uuid.uuid4().hex}"
        async with follower.subscribe(thread) as sub:
            emitter = RunEmitter(publisher, thread_id=thread, run_id="r")
            await emitter.emit(EventType.RUN_STARTED)
            await emitter.from_chunk("custom", {"node": "n"})  # written behind, then sent
            await emitter.emit(EventType.RUN_COMPLETED)
            await publisher.flush()
            seen = []
            async with asyncio.timeout(20):
                async for event in sub:
                    seen.append(event.seq)
                    if event.type is EventType.RUN_COMPLETED:
                        break
        assert seen == [1, 2, 3], seen
        replayed = [e.seq for e in await follower.replay(thread)]
        assert replayed == [1, 2, 3], replayed
        print("OK", flush=True)
    finally:
        await follower.aclose()
        await publisher.aclose()
        await conn.aclose()


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 60))
