"""Structured logs: one JSON object per line on stdout (for journald), or console text."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(log_format: str = "json", level: int = logging.INFO) -> None:
    """Set the processors once; every logger of the process uses them."""
    renderer = (structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()) if log_format == "console"
                else structlog.processors.JSONRenderer(sort_keys=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )


def get(**bound):
    return structlog.get_logger("importd").bind(**bound)
