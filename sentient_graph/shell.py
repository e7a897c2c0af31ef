"""Commands we suggest to people, quoted so that they paste into a shell as they are.

Owns: :func:`command`, used by every message that names a ``sentient-graph``
command. Imports nothing of the engine or the CLI.
"""

from __future__ import annotations

import shlex

__all__ = ["command"]

PROGRAM = "sentient-graph"


def command(*words: str) -> str:
    """``sentient-graph WORDS...`` with each word shell-quoted.

    Positional words that start with ``-`` follow a ``--``, so the command
    line does not read them as options.

    >>> command("resume", "a b")
    "sentient-graph resume 'a b'"
    >>> command("history", "-x")
    'sentient-graph history -- -x'
    """
    verb, *rest = words
    parts = [PROGRAM, verb]
    if any(word.startswith("-") for word in rest):
        parts.append("--")
    parts.extend(shlex.quote(word) for word in rest)
    return " ".join(parts)
