"""Commands we suggest to users, written so that they paste into a shell as they are.

Owns: turning a ``sentient-graph`` command line (a subcommand, its options,
its positional arguments) into one string where every word is quoted with
:func:`shlex.quote` and a positional word that starts with ``-`` comes after
``--``, so that ``it's "q" x`` or ``-x`` as a thread id cannot break it.

Must not: import the CLI, the engine or anything that opens a store: the
engine's error messages use it too.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

__all__ = ["PROG", "command"]

#: The name of the console script.
PROG = "sentient-graph"


def command(subcommand: str, *args: str, options: Sequence[str] = ()) -> str:
    """A ``sentient-graph`` command line that pastes into a POSIX shell as is.

    Args:
        subcommand: The subcommand, e.g. ``"resume"`` (or ``"memory list"``
            for a command group: split on spaces, each word quoted).
        *args: Positional arguments (thread ids, checkpoint ids), quoted.
        options: Option words, each quoted (``("--value", "JSON")``): after
            the positional arguments, or before ``--`` when one of those
            starts with ``-`` (after ``--`` every word is positional).

    Returns:
        For example ``sentient-graph resume a1 --value JSON``,
        ``sentient-graph resume --value JSON -- -x`` or
        ``sentient-graph resume 'it'"'"'s'``.
    """
    words = [PROG, *subcommand.split()]
    if any(arg.startswith("-") for arg in args):
        words += [*options, "--", *args]
    else:
        words += [*args, *options]
    return " ".join(shlex.quote(word) for word in words)
