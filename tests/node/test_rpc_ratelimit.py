"""The batch size cap and the per-client rate limit of ``POST /`` (issue 14), with their stable codes.

The token bucket runs on a hand-driven clock; the HTTP tests run a real node whose ``[rpc]``
settings (``max_batch``, ``rate_limit``, ``rate_burst``) come through ``NodeConfig.limits`` as
``config.toml`` gives them, so the refusals are the ones an operator's node answers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import trio

from node.limits import settings
from node.rpc.jsonrpc import BATCH_TOO_LARGE, RATE_LIMITED
from node.rpc.ratelimit import RateLimiter
from tests.node.test_rpc import STILL, check_response, start_node

STATUS = {"jsonrpc": "2.0", "method": "node.status"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_admits_its_burst_then_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0] * 3
    assert limiter.take("a") == 0.5  # one token short at 2 a second; nothing taken
    assert limiter.take("b") == 0.0  # another client has its own bucket
    clock.now = 0.5
    assert limiter.take("a") == 0.0 and limiter.take("a") == 0.5
    clock.now = 100.0  # refills to the burst, no further
    assert limiter.wait("a", 3) == 0.0 and limiter.take("a", 4) == 0.0 and limiter.take("a") == 0.5


def test_a_batch_costs_a_token_per_request_at_most_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 5, clock=clock)
    assert limiter.take("a", 4) == 0.0
    assert limiter.take("a", 2) == 1.0  # 1 left, 2 wanted: refused whole
    clock.now = 10.0
    assert limiter.take("a", 500) == 0.0 and limiter.wait("a") == 1.0  # capped at the burst: 5 taken


def test_the_table_of_clients_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 2, max_clients=3, clock=clock)
    for client in ("a", "b", "c", "d"):
        limiter.take(client, 2)
    assert len(limiter) == 3 and limiter.wait("a", 2) == 0.0  # "a" forgotten: a full bucket again
    assert limiter.wait("d", 2) == 2.0


def test_off_by_default_and_settable_in_config() -> None:
    rpc = settings()["rpc"]
    assert (rpc["max_batch"], rpc["rate_limit"], rpc["rate_burst"]) == (100, 0.0, 200)
    limiter = RateLimiter(0.0, 1)
    assert all(limiter.take("a", 50) == 0.0 for _ in range(1000)) and len(limiter) == 0


async def test_the_batch_cap_set_in_config_is_enforced(nursery: trio.Nursery, tmp_path: Path) -> None:
    node = await start_node(nursery, tmp_path / "data", replace(STILL, limits={"rpc": {"max_batch": 3}}))
    async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=15) as http:
        ok = (await http.post("/", json=[{**STATUS, "id": i} for i in range(3)])).json()
        assert [check_response(a, i)["result"]["chain_id"] for i, a in enumerate(ok)] == ["cairn-devnet"] * 3
        big = check_response((await http.post("/", json=[{**STATUS, "id": i} for i in range(4)])).json(), None)
    assert big["error"]["code"] == BATCH_TOO_LARGE and big["error"]["data"] == {"limit": 3}
    assert "larger than 3" in big["error"]["message"]


async def test_a_client_past_its_rate_is_answered_429_with_its_wait(nursery: trio.Nursery, tmp_path: Path) -> None:
    limits = {"rpc": {"rate_limit": 0.5, "rate_burst": 4}}  # 2 s a token: the test never earns a new one
    node = await start_node(nursery, tmp_path / "data", replace(STILL, limits=limits))
    async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=15) as http:
        first = await http.post("/", json=[{**STATUS, "id": i} for i in range(3)])  # 3 tokens
        assert first.status_code == 200 and len(first.json()) == 3
        batch = await http.post("/", json=[{**STATUS, "id": i} for i in range(2)])  # 2 wanted, 1 left
        assert batch.status_code == 429
        assert (await http.post("/", json={**STATUS, "id": 9})).status_code == 200  # the last token
        refused = await http.post("/", json={**STATUS, "id": 10})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    err = check_response(refused.json(), None)["error"]
    assert err["code"] == RATE_LIMITED and 0 < err["data"]["retry_after_ms"] <= 2000
    assert check_response(batch.json(), None)["error"]["code"] == RATE_LIMITED
