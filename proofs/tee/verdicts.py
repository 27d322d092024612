"""A node's memo of TEE attestation verdicts, valid over the time interval they hold for.

A quote or report is checked once per node however often a node meets it (the proposer
building a block, then validating the proposal of a later round, a replayed block): the memo
maps ``(evidence digest, trust inputs)`` to the verdict of the last successful verification
and the interval of times at which that verdict holds.

Why an interval.  A verdict depends on the evidence, the collateral, the roots, the policy,
the grace window and *the time*: certificate validity, collateral ``issueDate`` ..
``nextUpdate`` + grace, CRL windows.  Every one of those time checks goes through
:func:`outside`, which checks ``lo <= now <= hi`` and, while :meth:`TeeVerdictCache.verify`
runs a verification, records the window.  A verification that succeeds at ``now`` therefore
succeeds at every ``t`` inside the intersection of the recorded windows (every other check is
a function of the inputs alone), and outside it the memo is not consulted: the verifier runs
again and gives its own first failure.  Failures are never memoized.  One function makes the
check and records it, so the memo cannot drift from the verifier.

The memo is caller-owned and bounded (least recently used first out); a cache never changes a
verdict, only how fast it comes.  Not thread-safe: one thread (the node's trio loop).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

T = TypeVar("T")
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)

_RECORDING: ContextVar[list[tuple[datetime, datetime]] | None] = ContextVar("tee_windows", default=None)


def outside(now: datetime, lo: datetime, hi: datetime) -> Literal["early", "late"] | None:
    """``"early"`` if ``now < lo``, ``"late"`` if ``now > hi``, else None (both bounds
    inclusive); records ``[lo, hi]`` while a :class:`TeeVerdictCache` verification runs."""
    recording = _RECORDING.get()
    if recording is not None:
        recording.append((lo, hi))
    if now < lo:
        return "early"
    if now > hi:
        return "late"
    return None


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    lo: datetime
    hi: datetime


class TeeVerdictCache:
    """A bounded LRU memo of successful TEE verifications (module docstring)."""

    __slots__ = ("_entries", "hits", "max_entries", "misses")

    def __init__(self, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def verify(self, key: Hashable, now: datetime, run: Callable[[], T]) -> T:
        """``run()``'s result, memoized under ``key`` for the times it holds at."""
        entry = self._entries.get(key)
        if entry is not None and entry.lo <= now <= entry.hi:
            self.hits += 1
            self._entries.move_to_end(key)
            return entry.value
        self.misses += 1
        windows: list[tuple[datetime, datetime]] = []
        token = _RECORDING.set(windows)
        try:
            value = run()  # an InvalidProof propagates: failures are not memoized
        finally:
            _RECORDING.reset(token)
        lo = max((w[0] for w in windows), default=EARLIEST)
        hi = min((w[1] for w in windows), default=LATEST)
        self._entries[key] = _Entry(value, lo, hi)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value


__all__ = ["EARLIEST", "LATEST", "TeeVerdictCache", "outside"]
