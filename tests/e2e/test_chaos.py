"""The kill campaign of ``benchmarks/chaos.py``, 50 kills: every killed thread must finish as if never killed.

Runs are SIGKILLed at seeded random moments after the run is recorded (a
quarter of them within 50 ms, when the run may not have written its first
checkpoint yet), then recovered, and recovered again when the plan kills the
recovery too, until a process ends by itself. Every thread must then be
``completed`` with the final state of an uninterrupted run.

The processes are forked from a server that imported the engine once (what
``sentient-graph run`` / ``recover`` do, through the same public ``Engine``
calls, without a second of imports per process), so 50 kills fit in well
under a minute; ``benchmarks/chaos.py --driver cli`` runs the same campaign
through the CLI itself. Where a kill lands depends on the machine's load; the
assertion does not: it must hold for any kill moment.
"""

from __future__ import annotations

import pytest

from benchmarks import chaos

pytestmark = pytest.mark.slow

KILLS = 50
SEED = 50


def test_every_killed_thread_reaches_the_uninterrupted_final_state(tmp_path) -> None:
    campaign = chaos.run_campaign(
        kills=KILLS, early_share=0.25, seed=SEED, workers=2, driver="fork", root=str(tmp_path)
    )

    landed = [a for a in campaign.attempts if a.landed]
    assert len(landed) >= KILLS
    for store in campaign.stores:
        assert store.reference == chaos.expected_state()
    misses = campaign.misses()
    assert not misses, (
        f"{len(misses)} of {len(campaign.threads)} killed threads did not reach the "
        f"uninterrupted final state {chaos.expected_state()!r}:\n"
        + "\n".join(f"  {chaos.describe_miss(t)}" for t in misses)
    )
