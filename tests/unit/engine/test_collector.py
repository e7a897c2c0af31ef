"""The collector's thresholds while engines are open (``engine/collector.py``)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from sentient_graph.engine import collector

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 14), reason="3.14's incremental collector is left alone"
)


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        while collector._holders:
            collector.release()
        gc.set_threshold(*before)


def test_the_first_holder_raises_the_thresholds_and_the_last_puts_them_back() -> None:
    collector.hold()
    assert gc.get_threshold() == collector.TUNED
    collector.hold()
    collector.release()
    assert gc.get_threshold() == collector.TUNED  # one holder is left
    collector.release()
    assert gc.get_threshold() == (700, 10, 10)
    collector.release()  # one release too many changes nothing
    assert gc.get_threshold() == (700, 10, 10)


def test_thresholds_the_application_chose_are_left_alone() -> None:
    gc.set_threshold(5000, 5, 5)
    collector.hold()
    assert gc.get_threshold() == (5000, 5, 5)
    collector.release()
    assert gc.get_threshold() == (5000, 5, 5)


def test_thresholds_changed_while_held_are_not_overwritten_at_release() -> None:
    collector.hold()
    gc.set_threshold(1234, 5, 5)
    collector.release()
    assert gc.get_threshold() == (1234, 5, 5)


def test_a_disabled_collector_is_left_alone() -> None:
    gc.disable()
    try:
        collector.hold()
        assert gc.get_threshold() == (700, 10, 10)
        collector.release()
    finally:
        gc.enable()
