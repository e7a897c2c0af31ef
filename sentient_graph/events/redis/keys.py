"""Redis key layout of the events, and the script that publishes a batch.

Owns the names of a thread's channel and stream, glob escaping for patterns,
and the text of the publish script. With ``prefix`` (default ``sentient``):

* ``{prefix}:events:{thread_id}`` - pub/sub channel; a message is a JSON array of
  consecutive events of one run; ``{prefix}:events:*`` follows every thread.
* ``{prefix}:stream:{thread_id}`` - a capped stream (``MAXLEN ~``, TTL refreshed on
  every publish) holding the same arrays (fields ``r`` run id, ``s`` last seq,
  ``e`` events), so that a process that cannot open the SurrealDB store (an
  embedded store locked by the running process) can still replay "everything
  after seq n" and fill gaps after a reconnect.

Both are written by one server-side script per batch (:data:`PUBLISH_SCRIPT`).

Must not: talk to Redis (pure names and text).
"""

from __future__ import annotations

__all__ = [
    "PUBLISH_SCRIPT",
    "channel_name",
    "glob_escape",
    "stream_name",
    "stream_pattern",
    "thread_pattern",
]


def channel_name(prefix: str, thread_id: str) -> str:
    """The pub/sub channel of one thread."""
    return f"{prefix}:events:{thread_id}"


def stream_name(prefix: str, thread_id: str) -> str:
    """The Redis stream key that mirrors one thread's recent events."""
    return f"{prefix}:stream:{thread_id}"


def glob_escape(text: str) -> str:
    """``text`` for a Redis glob pattern (``SCAN MATCH``, ``PSUBSCRIBE``), taken literally."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def thread_pattern(prefix: str) -> str:
    """The channel pattern that follows every thread of ``prefix``."""
    return glob_escape(prefix) + ":events:*"


def stream_pattern(prefix: str) -> str:
    """The key pattern of every thread's stream of ``prefix``."""
    return glob_escape(prefix) + ":stream:*"


# Publishing a batch is one call, not a pipeline of XADD, PUBLISH and EXPIRE per
# run (BENCHMARKS.md, "Events: where the time goes").
# KEYS: stream and channel of each run's group. ARGV: ttl, maxlen, live, then per
# group: run id, last seq, the events' JSON array, whether the stream must exist.
# Returns per group: 1 if appended (0 if the stream was expected but is gone),
# then how many subscribers heard the message (channel and pattern subscribers).
PUBLISH_SCRIPT = """
local ttl, maxlen, live = ARGV[1], ARGV[2], ARGV[3] == '1'
local appended = {}
for i = 1, #KEYS / 2 do
    local stream, channel = KEYS[2 * i - 1], KEYS[2 * i]
    local at = 3 + (i - 1) * 4
    local run, seq, data, known = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
    local id
    if known == '1' then
        id = redis.call('XADD', stream, 'NOMKSTREAM', 'MAXLEN', '~', maxlen, '*', 'r', run, 's', seq, 'e', data)
    else
        id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'r', run, 's', seq, 'e', data)
    end
    if id then
        redis.call('EXPIRE', stream, ttl)
    end
    -- Stream before channel: whoever hears of seq n can read n and below (once a
    -- lost stream is refilled, which the caller does when it sees a 0 here).
    local heard = 0
    if live then
        heard = redis.call('PUBLISH', channel, data)
    end
    appended[2 * i - 1] = id and 1 or 0
    appended[2 * i] = heard
end
return appended
"""
