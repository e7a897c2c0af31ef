"""Fixtures every test directory may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture
def default_structlog() -> Iterator[None]:
    """structlog's default configuration (no level filter, no cached loggers)."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)
