"""A graph file that must never be imported by the server: importing it writes a marker."""

import os
from pathlib import Path

_marker = os.environ.get("SENTIENT_TEST_MARKER")
if _marker:
    Path(_marker).write_text("imported")

graph = None
