"""Choosing providers for a job: the four strategies of genesis ``aicf.matcher.strategy``.

:func:`select` is pure.  It gets the job, its lane's eligible providers that pass the
job's own filters (sorted by address), the assigning block's beacon and the lane's
round-robin cursor, and picks ``need`` distinct providers:

``weighted_health``
    For replica slot ``k`` (0, 1, ...), ``draw = int(H("cairn/aicf/draw/v1", [beacon,
    task_id, k])) mod W`` with ``W = Σ (health_p + 1)`` over the providers left; the
    provider whose cumulative weight interval holds ``draw`` is taken and removed.  A
    provider's chance is proportional to its health (+1, so a zero score is not a ban).
``round_robin``
    The providers after the cursor in address order, wrapping around; the cursor becomes
    the last one chosen (stored in the lane, so the rotation survives blocks).
``least_loaded``
    Ascending ``open leases × 10000 // max_leases``.
``latency_aware``
    Ascending reported ``latency_ms``.

Ties in the last two are broken by ``int(H("cairn/aicf/tie/v1", [beacon, provider])) XOR
int(task_id)`` ascending (both 256-bit big-endian): the beacon is unknown when a provider picks
its address, so no address wins ties, the order differs from job to job, and every node picks
the same.  The hash is per provider and block, so a block hashes each provider once however
many jobs it matches.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Sequence

from aicf.health import health
from aicf.params import BPS, HealthParams
from aicf.records import ProviderRecord
from chain.hashing import hash_items
from chain.types import Address

DRAW_TAG = b"cairn/aicf/draw/v1"
TIE_TAG = b"cairn/aicf/tie/v1"


@functools.lru_cache(maxsize=8192)
def _provider_tie(beacon: bytes, provider: bytes) -> int:
    return int.from_bytes(hash_items(TIE_TAG, beacon, provider), "big")


def tiebreak(beacon: bytes, task_id: bytes, provider: bytes) -> int:
    """The tie-break key of ``provider`` for job ``task_id`` (module docstring)."""
    return _provider_tie(bytes(beacon), bytes(provider)) ^ int.from_bytes(bytes(task_id), "big")


def select(strategy: str, need: int, candidates: Sequence[ProviderRecord], *, beacon: bytes, task_id: bytes,
           cursor: bytes, health_params: HealthParams) -> tuple[tuple[Address, ...], bytes]:
    """``need`` providers out of ``candidates`` (module docstring), and the new cursor.

    Fewer than ``need`` candidates: nothing is chosen (``()``, cursor unchanged).
    """
    if need <= 0 or len(candidates) < need:
        return (), cursor
    if strategy == "weighted_health":
        pool = [(c.address, health(c, health_params) + 1) for c in candidates]
        chosen: list[Address] = []
        for k in range(need):
            total = sum(w for _, w in pool)
            draw = int.from_bytes(hash_items(DRAW_TAG, bytes(beacon), bytes(task_id), k), "big") % total
            for i, (address, weight) in enumerate(pool):
                if draw < weight:
                    chosen.append(address)
                    del pool[i]
                    break
                draw -= weight
        return tuple(chosen), cursor
    if strategy == "round_robin":
        ordered = [c.address for c in candidates]
        start = next((i for i, a in enumerate(ordered) if bytes(a) > cursor), 0)
        picked = tuple(ordered[(start + i) % len(ordered)] for i in range(need))
        return picked, bytes(picked[-1])
    if strategy == "least_loaded":
        ranked = heapq.nsmallest(need, candidates, key=lambda c: (len(c.leases) * BPS // max(c.max_leases, 1),
                                                                  tiebreak(beacon, task_id, c.address)))
    elif strategy == "latency_aware":
        ranked = heapq.nsmallest(need, candidates, key=lambda c: (c.telemetry.latency_ms,
                                                                  tiebreak(beacon, task_id, c.address)))
    else:
        raise ValueError(f"unknown matcher strategy {strategy!r}")  # genesis validation refuses it
    return tuple(c.address for c in ranked), cursor
