"""structlog setup: console lines in development, JSON lines in production.

A node started with ``CAIRN_NODE_NAME`` in its environment (``cairn devnet --validators N``
names its children ``v0`` .. ``vN-1``) writes that name into every line: a ``node`` field
in JSON, a ``[name]`` prefix on the console, so interleaved logs say which node wrote what.

Naming in logs, as everywhere: node ids (the ``ID`` of ``ID@host:port``) in hex, account and
validator addresses in bech32m (``cairn1...``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

NAME_VARIABLE = "CAIRN_NODE_NAME"


def configure(fmt: str = "console", level: str = "info", name: str | None = None) -> None:
    """``name`` (default: ``$CAIRN_NODE_NAME``) marks every line."""
    name = name if name is not None else os.environ.get(NAME_VARIABLE) or None
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )

    def mark(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if name:
            if fmt == "json":
                event["node"] = name
            else:
                event["event"] = f"[{name}] {event.get('event', '')}"
        return event

    structlog.configure(
        processors=[
            mark,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
