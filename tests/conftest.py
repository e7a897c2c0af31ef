"""Fixtures every test directory may use, and the layer markers.

Every test is marked by where it lives: ``unit`` (``tests/unit``: no service,
no store on disk, seconds in all), ``integration`` (``tests/integration``: the
real embedded SurrealDB engine, a real Redis, a real HTTP server on loopback)
or ``e2e`` (``tests/e2e``: the CLI, the notebooks, a browser, kill campaigns, as
a user runs them). ``python -m pytest tests/unit`` (or ``-m unit``) is the inner
loop; ``-m "not slow"`` leaves out the tests that start many processes.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator

import pytest
import structlog

from tests.services import forget_prefix

_LAYERS = ("unit", "integration", "e2e")


def pytest_configure(config: pytest.Config) -> None:
    """Let the processes the tests start hear Ctrl-C, as a terminal's would.

    A shell without job control starts a background command with SIGINT
    ignored, and an ignored signal stays ignored in every child: the Ctrl-C
    tests would then signal CLIs that cannot hear it. A handler set here is
    reset to the default in each child when it execs.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer, from the folder under ``tests/`` it lives in."""
    for item in items:
        parts = item.path.parts
        if "tests" in parts:
            index = len(parts) - 1 - parts[::-1].index("tests")
            layer = parts[index + 1] if index + 1 < len(parts) else None
            if layer in _LAYERS:
                item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture
def default_structlog() -> Iterator[None]:
    """structlog's default configuration (no level filter, no cached loggers)."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis prefix of this test's own; its keys are removed afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    forget_prefix(name)
