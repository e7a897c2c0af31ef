"""Log output of the ``sentient-graph`` command: the one place structlog is configured.

Owns: structlog's processors and level for CLI processes (a console renderer
on a terminal, JSON lines otherwise, on stderr; errors only unless
``--verbose``, since what went wrong is already the command's one-line error).
Library modules only call ``structlog.get_logger()``.
"""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging"]


def configure_logging(*, verbose: bool = False, json: bool | None = None) -> None:
    """Configure structlog for a CLI process.

    Args:
        verbose: Show everything from debug up; otherwise errors only.
        json: Render JSON lines; default when stderr is not a terminal.
    """
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.ERROR
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
