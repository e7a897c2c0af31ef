"""Fixtures for the agents and reference-graph tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]


def load_graph_file(path: Path) -> ModuleType:
    """Load a graph file by path, as the engine and LangGraph's tools do.

    Deliberately without a ``sys.modules`` entry: the harder case for
    annotations that must be resolved at runtime.
    """
    spec = importlib.util.spec_from_file_location(f"_sentient_test_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def software_team() -> ModuleType:
    return load_graph_file(REPO / "graphs" / "software_team.py")


@pytest.fixture(scope="session")
def approval() -> ModuleType:
    return load_graph_file(REPO / "graphs" / "approval.py")


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No demo delay, no armed failure; the side-effect file in tmp_path."""
    monkeypatch.setenv("SENTIENT_DEMO_DELAY", "0")
    monkeypatch.delenv("SENTIENT_FAIL_ONCE", raising=False)
    monkeypatch.setenv("SENTIENT_FAIL_ONCE_MARKER", str(tmp_path / "fail-once.marker"))
    effects = tmp_path / "side-effects.txt"
    monkeypatch.setenv("SENTIENT_SIDE_EFFECTS", str(effects))
    return effects
