"""The lowest version of a dependency that pyproject allows, installed beside the suite.

A floor test reads the ``X`` of ``package>=X`` from pyproject (:func:`declared_floor`),
installs exactly that version into a directory of its own (:func:`installed_floor`),
and runs real code with that directory first on ``PYTHONPATH``. Under ``CI=true`` a
floor that cannot be installed fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def declared_floor(package: str, extra: str | None = None) -> str:
    """The ``X`` of ``package>=X`` in pyproject's dependencies (or in ``extra``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["optional-dependencies"][extra] if extra else project["dependencies"]
    for requirement in requirements:
        found = re.fullmatch(rf"{re.escape(package)}\s*>=\s*([0-9.]+)(,.*)?", requirement)
        if found:
            return found.group(1)
    raise AssertionError(f"no '{package}>=X' in {extra or 'the dependencies'}: {requirements}")


def installed_floor(package: str, version: str) -> Path:
    """``package==version`` in a directory of its own under the system temp dir (kept between runs)."""
    target = Path(tempfile.gettempdir()) / f"sentient-graph-{package}-{version}"
    done = target / ".complete"
    if done.exists():
        return target
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--upgrade",
            "--target",
            str(target),
            f"{package}=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    if result.returncode != 0:
        message = f"cannot install {package}=={version}: {result.stderr.strip()[-500:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the floor must be tested)")
        pytest.skip(message)
    done.touch()
    return target


def floor_path(target: Path) -> str:
    """``PYTHONPATH`` with the floor's directory before the repository."""
    return os.pathsep.join([str(target), str(ROOT)])
