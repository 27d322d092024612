"""How the CLI shows values to a person (``--json`` output keeps the exact values)."""

from __future__ import annotations

import datetime
from typing import Any


def show(value: Any) -> str:
    """A value as a person reads it (``--json`` keeps the exact one): no Python reprs —
    ``None`` is ``-``, booleans are ``yes`` / ``no``, lists are comma-separated."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value) or "-"
    return str(value)


def show_time(ms: int) -> str:
    """Milliseconds since the Unix epoch as ISO 8601 UTC (``2026-12-03T14:05:09.120Z``)."""
    when = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
