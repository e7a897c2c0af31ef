"""The notebooks in ``notebooks/``, executed as a user would, on the embedded default store.

Each runs in its own temporary working directory (so its own
``.sentient/store``) with no ``SURREALDB_URL`` or ``REDIS_URL``. The notebooks
assert what they show; a failing cell fails the test.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert [nb.name for nb in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_failure_and_resume.ipynb",
        "03_human_in_the_loop_and_time_travel.ipynb",
        "05_long_term_memory.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_no_stored_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: clear outputs"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SURREALDB_URL", "SURREALDB_NAMESPACE", "SURREALDB_DATABASE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    # The engine used the embedded default in the notebook's working directory.
    assert (tmp_path / ".sentient" / "store").exists()
