"""``tx.search`` and ``chain.searchBlocks`` over the event index (``node.event_index``, issue 14).

The query parser and the index's layout as units; then a real in-process node with
``[index] events = true``: transfers and an AI job (registration, heartbeat, a contract's
``ask``, the lease) are found by their events' attributes, pages follow ``next_cursor``, a
node started with the index on after blocks were committed without it catches up from the
event log, and a node with the index off answers ``-32010``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from capabilities.abi import encode_args
from chain.codec import encode
from chain.kv import MemoryKV
from chain.module import Event
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key, devnet_onion
from node import event_index
from node.event_index import Condition, EventIndex, QueryError, find_begin, parse_query, tx_positions
from node.home import Home
from node.provider.work import registration
from node.rpc.jsonrpc import INVALID_PARAMS
from node.rpc.search import INDEX_OFF
from node.service import Node, run_node
from tests.node.helpers import sign_tx
from tests.node.test_rpc import FAST, GENESIS, VALIDATOR, WAIT, Rpc, addr, node, rpc, start_node
from tests.node.test_rpc_aicf import PROVIDER, SIGNER, _addr, _job, _tx

__all__ = ["node", "rpc"]
INDEXED = replace(FAST, index_events=True)
ALICE, BOB = devnet_account_key(0), devnet_account_key(1)


# --- the query language ----------------------------------------------------------------------


def test_parse_query_values() -> None:
    a = addr(1)
    (c,) = parse_query(f"bank.transfer.to = '{a}'", "cairn")
    assert c == Condition("bank", "transfer", "to", bytes(BOB.address))
    assert parse_query("aicf.job_assigned.task_id = '0xAB01'", "cairn")[0].value == b"\xab\x01"
    assert parse_query("aicf.job_assigned.task_id='ab01'", "cairn")[0].value == b"\xab\x01"
    assert parse_query("aicf.provider_slashed.reason = 'missed'", "cairn")[0].value == "missed"
    assert parse_query("bank.transfer.amount = 777", "cairn")[0].value == 777
    conds = parse_query(f"bank.transfer.to = '{a}' and bank.transfer.amount = 5 AND x.y.z = true", "cairn")
    assert [c.value for c in conds] == [bytes(BOB.address), 5, True]
    # an address of another chain is not an address here: it stays text
    assert parse_query(f"bank.transfer.to = '{a}'", "other")[0].value == a


@pytest.mark.parametrize("query", [
    "", "bank.transfer = 1", "bank.transfer.to = ", "bank.transfer.to = 'x' OR bank.transfer.to = 'y'",
    "bank.transfer.to > 5", "bank.transfer.to = 'x' AND", "bank.transfer.to = 'unterminated",
    " AND ".join(["a.b.c = 1"] * 9), "a.b.c = '" + "x" * 2000 + "'",
])
def test_parse_query_refuses(query: str) -> None:
    with pytest.raises(QueryError):
        parse_query(query, "cairn")


def test_condition_matches_the_value_and_its_type() -> None:
    e = Event("bank", "transfer", (("to", b"\x01" * 20), ("amount", 1)))
    assert Condition("bank", "transfer", "amount", 1).matches(e)
    assert not Condition("bank", "transfer", "amount", True).matches(e)  # true is not 1
    assert not Condition("bank", "transfer", "amount", "1").matches(e)
    assert not Condition("bank", "other", "amount", 1).matches(e)


# --- the layout --------------------------------------------------------------------------------


def test_entries_and_tip_are_idempotent_and_keyed_by_value_then_cursor() -> None:
    kv = MemoryKV()
    index = EventIndex(kv)
    begin = [Event("aicf", "treasury", (("amount", 5),))]
    tx0 = [Event("bank", "transfer", (("to", b"\x02" * 20), ("amount", 1), ("memo", [1, 2])))]
    events = begin + tx0 + [Event("aicf", "job_assigned", (("provider", b"\x02" * 20),))]
    entries = event_index.block_entries(7, events, tx_positions(1, [1], len(events)))
    key = event_index.value_prefix("bank", "transfer", "to", b"\x02" * 20) + event_index.encode_cursor(7, 1)
    assert entries[key] == encode(0)
    assert entries[event_index.value_prefix("aicf", "treasury", "amount", 5) + event_index.encode_cursor(7, 0)] \
        == encode(None)
    assert not any(b"memo" in k for k in entries)  # composite values are not indexed
    kv.write_batch(entries)
    assert list(index.scan(event_index.value_prefix("bank", "transfer", "to", b"\x02" * 20), None)) == [((7, 1), 0)]
    assert list(index.scan(event_index.value_prefix("bank", "transfer", "to", b"\x02" * 20),
                           event_index.encode_cursor(7, 1))) == []
    assert find_begin(events, tx0) == 1
    assert find_begin(events, []) == len(events)


# --- on a node --------------------------------------------------------------------------------


@pytest.fixture
async def indexed(nursery: trio.Nursery, tmp_path: Path) -> Any:
    node = await start_node(nursery, tmp_path / "data", INDEXED)
    async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=WAIT) as http:
        yield Rpc(http)


async def _transfer(rpc: Rpc, nonce: int, amount: int) -> dict[str, Any]:
    sent = await rpc.call("tx.send", {"tx": sign_tx(ALICE, nonce, to=BOB.address, amount=amount).raw.hex()})
    return await rpc.wait_receipt(sent["hash"])


async def test_the_index_off_answers_a_stable_error(rpc: Rpc) -> None:
    for method in ("tx.search", "chain.searchBlocks"):
        err = await rpc.error(method, {"query": "bank.transfer.amount = 1"})
        assert err["code"] == INDEX_OFF == -32010 and "index" in err["message"], err


async def test_search_transfers_pages_and_and(indexed: Rpc) -> None:
    rpc = indexed
    receipts = [await _transfer(rpc, n, 100 + n) for n in range(3)]
    hashes = [r["tx_hash"] for r in receipts]
    found = await rpc.call("tx.search", {"query": f"bank.transfer.to = '{addr(1)}'"})
    assert [t["hash"] for t in found["txs"]] == hashes and found["next_cursor"] is None
    first = found["txs"][0]
    assert (first["height"], first["index"]) == (receipts[0]["height"], receipts[0]["index"])
    assert first["event"] == {"module": "bank", "name": "transfer",
                              "attrs": {"from": addr(0), "to": addr(1), "amount": "100"}}

    # one per page, following the cursor, each tx once
    pages: list[str] = []
    cursor = None
    for _ in range(5):
        page = await rpc.call("tx.search", {"query": f"bank.transfer.from = '{addr(0)}'", "limit": 1,
                                            **({"cursor": cursor} if cursor else {})})
        pages += [t["hash"] for t in page["txs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == hashes

    both = await rpc.call("tx.search", {"query": f"bank.transfer.to = '{addr(1)}' AND bank.transfer.amount = 101"})
    assert [t["hash"] for t in both["txs"]] == [hashes[1]]
    assert (await rpc.call("tx.search", {"query": "bank.transfer.amount = 999"}))["txs"] == []
    blocks = await rpc.call("chain.searchBlocks", {"query": "bank.transfer.amount = 102"})
    assert blocks["heights"] == [receipts[2]["height"]] and blocks["next_cursor"] is None
    assert blocks["indexed_height"] >= receipts[2]["height"]

    for params in ({"query": "bank.transfer = 1"}, {"query": "bank.transfer.amount = 1", "cursor": "00"},
                   {"query": "bank.transfer.amount = 1", "limit": 101}, {}):
        assert (await rpc.error("tx.search", params))["code"] == INVALID_PARAMS, params


async def test_search_an_ai_job_by_provider(indexed: Rpc, samples: dict[str, bytes]) -> None:
    rpc = indexed
    provider = _addr(PROVIDER.address)
    reg = await _tx(rpc, PROVIDER, 0, "provider_register",
                    registration("cairn-devnet", PROVIDER, SIGNER, kinds=["ai"], models=["llama3-8b"], stake=10**10),
                    2_000_000)
    await _tx(rpc, PROVIDER, 1, "provider_heartbeat", [1000, 5, 9000, 40, 0], 1_000_000)
    agent = contract_address(BOB.address, 0)
    await _tx(rpc, BOB, 0, "deploy", [samples["ai_agent"], b""], 20_000_000)
    ask = encode_args([("str", "llama3-8b"), ("str", "What is a cairn?"), ("u64", 12)])
    receipt = await _tx(rpc, BOB, 1, "call", [bytes(agent), "ask", ask, 1_000_000])
    (enqueued,) = [e for e in receipt["events"] if e["name"] == "enqueued"]
    task = enqueued["attrs"]["task_id"]
    await _job(rpc, task, "leased")

    found = await rpc.call("tx.search", {"query": f"aicf.provider_registered.provider = '{provider}'"})
    assert [t["hash"] for t in found["txs"]] == [reg["tx_hash"]]
    by_task = await rpc.call("tx.search", {"query": f"{enqueued['module']}.enqueued.task_id = '{task}'"})
    assert [t["hash"] for t in by_task["txs"]] == [receipt["tx_hash"]]

    # the lease is an end-block event: a block's, no transaction's
    query = f"aicf.job_assigned.provider = '{provider}' AND aicf.job_assigned.task_id = '{task}'"
    assert (await rpc.call("tx.search", {"query": query}))["txs"] == []
    (height,) = (await rpc.call("chain.searchBlocks", {"query": query}))["heights"]
    events = (await rpc.call("chain.getBlockResults", {"height": height}))["events"]
    assert any(e["name"] == "job_assigned" and e["attrs"]["provider"] == provider for e in events)


async def test_a_node_turning_the_index_on_catches_up_from_the_event_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with trio.open_nursery() as nursery:
        node: Node = await start_node(nursery, data, FAST)
        async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=WAIT) as http:
            receipt = await _transfer(Rpc(http), 0, 4242)
        nursery.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        with trio.fail_after(WAIT):
            node = await nursery.start(partial(run_node, onion=devnet_onion(0)), GENESIS, VALIDATOR, str(data),
                                       INDEXED)
        async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=WAIT) as http:
            rpc = Rpc(http)
            found = await rpc.call("tx.search", {"query": "bank.transfer.amount = 4242"})
            assert [t["hash"] for t in found["txs"]] == [receipt["tx_hash"]]
            later = await _transfer(rpc, 1, 4242)  # and it keeps up with new blocks
            found = await rpc.call("tx.search", {"query": "bank.transfer.amount = 4242"})
            assert [t["hash"] for t in found["txs"]] == [receipt["tx_hash"], later["tx_hash"]]
        nursery.cancel_scope.cancel()


def test_config_knob(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.init(GENESIS, VALIDATOR)
    assert home.load_config().index_events is False
    home2 = Home(tmp_path / "home2")
    home2.init(GENESIS, VALIDATOR, index_events=True)
    assert home2.load_config().index_events is True
