"""Moved to :mod:`sentient_graph.cli.commands.events`; this name stays importable."""

from sentient_graph.cli.commands.events import events

__all__ = ["events"]
