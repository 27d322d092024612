"""Per-client request rate limits for ``POST /``: one token bucket per remote IP address.

A bucket holds at most ``burst`` tokens and gains ``rate`` a second; a request costs one token
and a batch one per request in it (at most ``burst``, so a batch the server accepts can always
pass once the bucket is full).  A request that finds too few tokens takes none and is told how
long to wait.  ``rate`` 0 turns the limit off.

The table of buckets is bounded: past ``max_clients`` addresses the least recently seen one is
forgotten (its next request starts from a full bucket, which only errs towards admitting).
Time is trio's clock, so tests can drive it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import trio

MAX_CLIENTS = 10_000


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = trio.current_time) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_clients = max(1, max_clients)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """client -> (tokens, when they were counted)"""

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _tokens(self, client: str, now: float) -> float:
        tokens, stamp = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - stamp) * self.rate)

    def wait(self, client: str, cost: int = 1) -> float:
        """Seconds until ``client`` has ``cost`` tokens (0 when it has them now); takes nothing."""
        if not self.enabled:
            return 0.0
        cost = min(max(1, cost), self.burst)
        short = cost - self._tokens(client, self.clock())
        return max(0.0, short / self.rate)

    def take(self, client: str, cost: int = 1) -> float:
        """Take ``cost`` tokens and answer 0, or take none and answer the seconds to wait."""
        if not self.enabled:
            return 0.0
        cost = min(max(1, cost), self.burst)
        now = self.clock()
        tokens = self._tokens(client, now)
        if tokens < cost:
            return (cost - tokens) / self.rate
        self._buckets[client] = (tokens - cost, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return 0.0

    def __len__(self) -> int:
        return len(self._buckets)
