"""The JSON-RPC server, end to end: a real node (LevelDB, solo driver, hypercorn) in-process
on 127.0.0.1, spoken to over HTTP with httpx.

Every method is called with good input and with bad input; every answer is checked to be
a well-formed JSON-RPC 2.0 response.  Proofs returned by ``state.getProof`` are checked
with ``chain.smt.verify_proof`` against the ``state_root`` of a header whose hash is
recomputed from its raw bytes.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.block import Commit, Header, Validator, ValidatorSet, verify_commit
from chain.errors import ErrorCode
from chain.hashing import H
from chain.keys import encode_address
from chain.smt import SmtProof, verify_proof
from chain.state import Account, account_key
from genesis.devnet import (
    DEVNET_BALANCE,
    devnet_account_key,
    devnet_genesis,
    devnet_onion,
    devnet_validator_key,
)
from node.home import NodeConfig
from node.rpc.jsonrpc import (
    BATCH_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
)
from node.rpc.spec import METHODS as SPECS
from node.service import Node, run_node
from tests.node.helpers import flip_signature_bit, sign_tx
from tests.node.rpc_schema import check_result

GENESIS = devnet_genesis(1)
VALIDATOR = devnet_validator_key(0)
FAST = NodeConfig(rpc_port=0, min_block_interval=0.05, max_block_interval=0.2)
STILL = NodeConfig(rpc_port=0, min_block_interval=600, max_block_interval=600)
"""A node that makes no block during a test: submitted transactions stay pending."""
WAIT = 15.0
METHODS = (
    "node.status",
    "chain.getHead",
    "chain.getBlock",
    "state.getAccount",
    "state.getProof",
    "tx.send",
    "tx.sendBatch",
    "tx.get",
    "tx.getReceipt",
)


def addr(i: int) -> str:
    return encode_address(devnet_account_key(i).address, "cairn")


def check_response(doc: Any, rid: Any = ...) -> dict[str, Any]:
    """``doc`` is one well-formed JSON-RPC 2.0 response (with id ``rid`` when given)."""
    assert isinstance(doc, dict), doc
    assert doc.get("jsonrpc") == "2.0", doc
    assert "id" in doc and (rid is ... or doc["id"] == rid), doc
    assert ("result" in doc) != ("error" in doc), doc
    assert set(doc) == {"jsonrpc", "id", "result" if "result" in doc else "error"}, doc
    if "error" in doc:
        err = doc["error"]
        assert isinstance(err, dict) and set(err) <= {"code", "message", "data"}, err
        assert isinstance(err["code"], int) and not isinstance(err["code"], bool), err
        assert isinstance(err["message"], str) and err["message"], err
    return doc


class Rpc:
    """A thin JSON-RPC caller that checks the envelope of every answer."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.ids = itertools.count(1)

    async def post(self, body: Any, *, raw: bool = False) -> httpx.Response:
        content = body if raw else json.dumps(body).encode()
        return await self.http.post("/", content=content, headers={"content-type": "application/json"})

    async def request(self, method: str, params: Any = None) -> dict[str, Any]:
        rid = next(self.ids)
        req: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            req["params"] = params
        resp = await self.post(req)
        assert resp.status_code == 200, resp.text
        return check_response(resp.json(), rid)

    async def call(self, method: str, params: Any = None) -> Any:
        """The result, after checking it against the method's result schema (``node.rpc.spec``)."""
        doc = await self.request(method, params)
        assert "result" in doc, doc
        if method in SPECS:
            check_result(method, doc["result"])
        return doc["result"]

    async def error(self, method: str, params: Any = None) -> dict[str, Any]:
        doc = await self.request(method, params)
        assert "error" in doc, doc
        return doc["error"]

    async def wait_height(self, height: int) -> dict[str, Any]:
        with trio.fail_after(WAIT):
            while True:
                head = await self.call("chain.getHead")
                if head["height"] >= height:
                    return head
                await trio.sleep(0.02)

    async def wait_receipt(self, tx_hash: str) -> dict[str, Any]:
        with trio.fail_after(WAIT):
            while True:
                doc = await self.request("tx.getReceipt", {"hash": tx_hash})
                if "result" in doc:
                    return doc["result"]
                assert doc["error"]["code"] == ErrorCode.NOT_FOUND, doc
                await trio.sleep(0.02)


async def start_node(nursery: trio.Nursery, data_dir: Path, config: NodeConfig = FAST) -> Node:
    with trio.fail_after(WAIT):
        node: Node = await nursery.start(partial(run_node, onion=devnet_onion(0)), GENESIS, VALIDATOR, str(data_dir),
                                         config)
    return node


@pytest.fixture
async def node(nursery: trio.Nursery, tmp_path: Path) -> Node:
    return await start_node(nursery, tmp_path / "data")


@pytest.fixture
async def rpc(node: Node) -> AsyncIterator[Rpc]:
    assert node.rpc_addresses and node.rpc_addresses[0].startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=WAIT) as http:
        yield Rpc(http)


@pytest.fixture
async def still_rpc(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Rpc]:
    node = await start_node(nursery, tmp_path / "data", STILL)
    async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=WAIT) as http:
        yield Rpc(http)


def decode_header(h: dict[str, Any]) -> Header:
    """The header in ``raw``, after checking that the JSON fields and the hash agree with it."""
    header = Header.decode(bytes.fromhex(h["raw"]))
    assert bytes(header.hash()).hex() == h["hash"]
    assert header.height == h["height"] and header.time_ms == h["time_ms"]
    assert bytes(header.state_root).hex() == h["state_root"]
    assert bytes(header.prev_hash).hex() == h["prev_hash"]
    assert header.chain_id == h["chain_id"]
    return header


# --- node and chain -------------------------------------------------------------------------


async def test_node_status(rpc: Rpc) -> None:
    s = await rpc.call("node.status")
    assert s["chain_id"] == "cairn-devnet" and s["address_prefix"] == "cairn"
    assert s["validator"] == encode_address(VALIDATOR.address, "cairn")
    assert s["genesis_hash"] == GENESIS.hash().hex()
    assert s["min_gas_price"] == GENESIS.params.min_gas_price
    assert s["mempool"] == {"txs": 0, "bytes": 0} and s["syncing"] is False
    head = await rpc.call("chain.getHead")
    assert s["height"] <= head["height"]
    # positional and empty params mean the same
    assert (await rpc.call("node.status", []))["chain_id"] == "cairn-devnet"
    assert (await rpc.call("node.status", {}))["chain_id"] == "cairn-devnet"


async def test_head_is_a_header_whose_hash_is_its_raw_bytes_hash(rpc: Rpc) -> None:
    h = await rpc.wait_height(2)
    header = decode_header(h)
    assert h["hash"] == H(b"cairn/header/v1", bytes.fromhex(h["raw"])).hex()
    assert h["proposer"] == encode_address(VALIDATOR.address, "cairn")
    parent = await rpc.call("chain.getBlock", {"height": header.height - 1})
    assert parent["hash"] == h["prev_hash"]


async def test_get_block_by_height_and_hash(rpc: Rpc) -> None:
    await rpc.wait_height(2)
    genesis = await rpc.call("chain.getBlock", {"height": 0})
    assert genesis["header"]["height"] == 0 and genesis["last_commit"] is None
    assert genesis["header"]["proposer"] is None and genesis["txs"] == []

    b2 = await rpc.call("chain.getBlock", {"height": 2})
    assert decode_header(b2["header"]).hash().hex() == b2["hash"]
    for params in (
        {"hash": b2["hash"]},
        {"hash": "0x" + b2["hash"]},
        [None, b2["hash"]],
        [2],
        {"height": "2"},
    ):
        assert (await rpc.call("chain.getBlock", params))["hash"] == b2["hash"], params
    assert (await rpc.call("chain.getBlock", {"hash": b2["hash"], "full": True}))["hash"] == b2["hash"]

    # block 2 carries the commit of block 1, signed by the validator; it verifies
    b1 = await rpc.call("chain.getBlock", [1])
    lc = b2["last_commit"]
    assert lc["height"] == 1 and lc["block_hash"] == b1["hash"] == b2["header"]["prev_hash"]
    assert [s["validator"] for s in lc["signatures"]] == [encode_address(VALIDATOR.address, "cairn")]
    commit = Commit.decode(bytes.fromhex(lc["raw"]))
    validators = ValidatorSet.of([Validator(VALIDATOR.address, VALIDATOR.public_key, 100)])
    assert (
        verify_commit(
            commit,
            chain_id="cairn-devnet",
            validators=validators,
            height=1,
            block_hash=bytes.fromhex(b1["hash"]),
        )
        == 100
    )

    # no params: the head (or a later block, if one came meanwhile)
    latest = await rpc.call("chain.getBlock")
    assert latest["header"]["height"] >= 2

    for params in ({"height": 10**9}, {"hash": "00" * 32}):
        err = await rpc.error("chain.getBlock", params)
        assert err["code"] == ErrorCode.NOT_FOUND == 600 and err["data"]["name"] == "NOT_FOUND", params


# --- transactions, state and proofs ----------------------------------------------------------


async def test_transfer_is_committed_and_proven(rpc: Rpc) -> None:
    sender, recipient = devnet_account_key(0), devnet_account_key(1)
    tx = sign_tx(sender, 0, to=recipient.address, amount=777)
    sent = await rpc.call("tx.send", {"tx": tx.raw.hex()})
    assert sent == {"hash": bytes(tx.hash).hex()}

    receipt = await rpc.wait_receipt(sent["hash"])
    assert receipt["tx_hash"] == sent["hash"] and receipt["status"] == "ok" and receipt["reason"] == ""
    assert receipt["fee_paid"] == str(receipt["gas_used"])  # gas price 1
    assert receipt["events"] == [
        {"module": "bank", "name": "transfer", "attrs": {"from": addr(0), "to": addr(1), "amount": "777"}}
    ]
    height = receipt["height"]

    got = await rpc.call("tx.get", {"hash": sent["hash"]})
    assert (
        got["status"] == "committed"
        and got["height"] == height
        and got["block_hash"] == receipt["block_hash"]
    )
    assert got["tx"]["payload"] == {"to": addr(1), "amount": "777"}
    assert got["tx"]["sender"] == addr(0) and got["tx"]["raw"] == tx.raw.hex()
    block = await rpc.call("chain.getBlock", {"height": height, "full": True})
    assert block["hash"] == receipt["block_hash"]
    assert [t["hash"] for t in block["txs"]] == [sent["hash"]] and receipt["index"] == 0
    short = await rpc.call("chain.getBlock", {"height": height})
    assert short["txs"] == [sent["hash"]]

    fee = int(receipt["fee_paid"])
    to_now = await rpc.call("state.getAccount", {"address": addr(1)})
    assert to_now["balance"] == str(DEVNET_BALANCE + 777) and to_now["nonce"] == 0
    from_now = await rpc.call("state.getAccount", [addr(0)])
    assert from_now["balance"] == str(DEVNET_BALANCE - 777 - fee)
    assert from_now["nonce"] == 1 and from_now["next_nonce"] == 1
    before = await rpc.call("state.getAccount", {"address": addr(1), "height": height - 1})
    assert before["balance"] == str(DEVNET_BALANCE) and before["height"] == height - 1
    at = await rpc.call("state.getAccount", {"address": addr(1), "height": height})
    assert at["balance"] == str(DEVNET_BALANCE + 777)
    err = await rpc.error("state.getAccount", {"address": addr(1), "height": 10**9})
    assert err["code"] == ErrorCode.NOT_FOUND

    # membership: the proof for the recipient verifies against the head's state root
    head = await rpc.call("chain.getHead")
    root = decode_header(head).state_root
    p = await rpc.call("state.getProof", {"address": addr(1), "height": head["height"]})
    key = account_key(devnet_account_key(1).address)
    assert (
        p["key"] == key.hex()
        and p["state_root"] == head["state_root"]
        and p["header"]["hash"] == head["hash"]
    )
    value = bytes.fromhex(p["value"])
    assert Account.decode(value) == Account(DEVNET_BALANCE + 777, 0)
    proof = SmtProof.decode(bytes.fromhex(p["proof"]))
    assert verify_proof(root, key, value, proof)
    assert not verify_proof(root, key, Account(DEVNET_BALANCE + 778, 0).encode(), proof)
    assert not verify_proof(root, key, None, proof)

    # the same account one block before the transfer, against that block's root
    old = await rpc.call("state.getProof", {"address": addr(1), "height": height - 1})
    old_root = decode_header(old["header"]).state_root
    assert Account.decode(bytes.fromhex(old["value"])).balance == DEVNET_BALANCE
    assert verify_proof(
        old_root, key, bytes.fromhex(old["value"]), SmtProof.decode(bytes.fromhex(old["proof"]))
    )

    # non-membership: an address nobody funded
    stranger = devnet_account_key(77).address
    q = await rpc.call(
        "state.getProof", {"address": encode_address(stranger, "cairn"), "height": head["height"]}
    )
    assert q["value"] is None
    absent = SmtProof.decode(bytes.fromhex(q["proof"]))
    assert verify_proof(root, account_key(stranger), None, absent)
    assert not verify_proof(root, account_key(stranger), Account(1, 0).encode(), absent)

    # the default height is the head at the time of the call
    latest = await rpc.call("state.getProof", [addr(1)])
    latest_root = decode_header(latest["header"]).state_root
    assert latest["height"] >= head["height"]
    assert verify_proof(
        latest_root, key, bytes.fromhex(latest["value"]), SmtProof.decode(bytes.fromhex(latest["proof"]))
    )


async def test_pending_tx(still_rpc: Rpc) -> None:
    rpc = still_rpc
    tx = sign_tx(devnet_account_key(2), 0, amount=5)
    h = (await rpc.call("tx.send", [tx.raw.hex()]))["hash"]
    got = await rpc.call("tx.get", {"hash": h})
    assert got["status"] == "pending" and "height" not in got
    t = got["tx"]
    assert (t["hash"], t["nonce"], t["sender"], t["kind"]) == (h, 0, addr(2), "transfer")
    assert (t["fee"], t["gas_limit"], t["gas_price"]) == (str(tx.body.fee), tx.body.gas_limit, "1")
    assert t["payload"] == {"to": addr(9), "amount": "5"}
    assert (await rpc.error("tx.getReceipt", {"hash": h}))["code"] == ErrorCode.NOT_FOUND
    status = await rpc.call("node.status")
    assert status["mempool"] == {"txs": 1, "bytes": len(tx.raw)} and status["height"] == 0
    acct = await rpc.call("state.getAccount", {"address": addr(2)})
    assert (acct["nonce"], acct["next_nonce"]) == (0, 1)

    dup = await rpc.error("tx.send", {"tx": tx.raw.hex()})
    assert (dup["code"], dup["data"]["name"], dup["data"]["temporary"]) == (210, "TX_DUPLICATE", True)
    cheap = await rpc.error("tx.send", {"tx": sign_tx(devnet_account_key(2), 0, amount=6).raw.hex()})
    assert (cheap["code"], cheap["data"]["name"]) == (212, "TX_REPLACEMENT_UNDERPRICED")
    better = sign_tx(devnet_account_key(2), 0, amount=6, price=2)
    assert (await rpc.call("tx.send", {"tx": better.raw.hex()}))["hash"] == bytes(better.hash).hex()
    assert (await rpc.error("tx.get", {"hash": h}))["code"] == ErrorCode.NOT_FOUND  # replaced


async def test_send_rejections_carry_stable_codes(still_rpc: Rpc) -> None:
    rpc = still_rpc
    good = sign_tx(devnet_account_key(3), 0)
    cases = {
        "deadbeef": ErrorCode.DECODE,
        "00": ErrorCode.DECODE_SHAPE,
        good.raw.replace(
            b"\x6ccairn-devnet\x00", b"\x6ccairn-devnet\x18\x00", 1
        ).hex(): ErrorCode.DECODE_NON_CANONICAL,
        (good.raw + b"\x00").hex(): ErrorCode.DECODE_TRAILING,
        flip_signature_bit(good).hex(): ErrorCode.TX_BAD_SIGNATURE,
        sign_tx(devnet_account_key(3), 0, chain_id="cairn-mainnet").raw.hex(): ErrorCode.TX_WRONG_CHAIN,
        sign_tx(devnet_account_key(3), 1).raw.hex(): ErrorCode.TX_NONCE_GAP,
        sign_tx(devnet_account_key(55), 0).raw.hex(): ErrorCode.TX_INSUFFICIENT_BALANCE,
        sign_tx(devnet_account_key(3), 0, fee=1).raw.hex(): ErrorCode.TX_FEE_TOO_LOW,
        sign_tx(devnet_account_key(3), 0, kind="no-such-kind").raw.hex(): ErrorCode.TX_UNKNOWN_KIND,
        sign_tx(devnet_account_key(3), 0, payload="me").raw.hex(): ErrorCode.TX_BAD_PAYLOAD,
        sign_tx(devnet_account_key(3), 0, amount=0).raw.hex(): ErrorCode.TX_BAD_PAYLOAD,  # a zero transfer
    }
    for hexed, code in cases.items():
        err = await rpc.error("tx.send", {"tx": hexed})
        assert err["code"] == int(code) and err["data"]["name"] == code.name, (code, err)
        assert isinstance(err["data"]["temporary"], bool)
    # any transaction over the cap, however far over and however written, answers 209 TX_TOO_LARGE
    cap = GENESIS.params.max_tx_bytes
    for hexed in ("00" * (cap + 1), "0x" + "00" * (cap + 1), "0X" + "00" * (cap + 2), "00" * (2 * cap),
                  "zz" * (cap + 1), "00" * (5 * 1024 * 1024)):
        big = await rpc.error("tx.send", {"tx": hexed})
        assert (big["code"], big["data"]["name"]) == (209, "TX_TOO_LARGE"), (len(hexed), big)
        assert str(cap) in big["message"]
    # in a batch, an oversize item is refused on its own and the others still go in
    other = sign_tx(devnet_account_key(7), 0)
    answers = await rpc.call("tx.sendBatch", {"txs": ["00" * (cap + 1), other.raw.hex(), "0x" + "00" * (3 * cap)]})
    assert answers[1] == {"hash": bytes(other.hash).hex()}
    assert [answers[i]["error"]["data"]["name"] for i in (0, 2)] == ["TX_TOO_LARGE"] * 2, answers
    gap = await rpc.error("tx.send", {"tx": sign_tx(devnet_account_key(3), 4).raw.hex()})
    assert gap["data"] == {"name": "TX_NONCE_GAP", "temporary": True, "expected": 0, "got": 4}
    bad = await rpc.error("tx.send", {"tx": flip_signature_bit(good).hex()})
    assert bad["data"]["temporary"] is False and "signature" in bad["message"]
    assert (await rpc.call("node.status"))["mempool"]["txs"] == 1


async def test_send_batch_answers_per_item(rpc: Rpc) -> None:
    k = devnet_account_key(4)
    t0, t1 = sign_tx(k, 0, amount=1), sign_tx(k, 1, amount=2)
    items = [
        t0.raw.hex(),
        flip_signature_bit(sign_tx(k, 5)).hex(),
        "0x" + t1.raw.hex(),
        sign_tx(k, 2, chain_id="x").raw.hex(),
        "00",
        t0.raw.hex(),
    ]
    out = await rpc.call("tx.sendBatch", {"txs": items})
    assert len(out) == len(items)
    assert out[0] == {"hash": bytes(t0.hash).hex()} and out[2] == {"hash": bytes(t1.hash).hex()}
    assert [o["error"]["data"]["name"] for o in (out[1], out[3], out[4], out[5])] == [
        "TX_BAD_SIGNATURE",
        "TX_WRONG_CHAIN",
        "DECODE_SHAPE",
        "TX_DUPLICATE",
    ]
    assert [o["error"]["code"] for o in (out[1], out[3], out[4], out[5])] == [200, 201, 105, 210]
    for t in (t0, t1):
        assert (await rpc.wait_receipt(bytes(t.hash).hex()))["status"] == "ok"
    assert await rpc.call("tx.sendBatch", {"txs": []}) == []


async def test_a_block_takes_higher_gas_prices_first(rpc: Rpc) -> None:
    # one tx.sendBatch admits all six before the driver runs again, so they share a block
    plan = [(0, 0, 3), (1, 0, 1), (2, 0, 5), (3, 0, 2), (4, 0, 4), (0, 1, 9)]  # sender, nonce, gas price
    txs = [sign_tx(devnet_account_key(s), n, price=p) for s, n, p in plan]
    out = await rpc.call("tx.sendBatch", {"txs": [t.raw.hex() for t in txs]})
    assert [o["hash"] for o in out] == [bytes(t.hash).hex() for t in txs]
    receipts = [await rpc.wait_receipt(o["hash"]) for o in out]
    assert all(r["status"] == "ok" for r in receipts)
    heights = {r["height"] for r in receipts}
    assert len(heights) == 1
    block = await rpc.call("chain.getBlock", {"height": heights.pop(), "full": True})
    # sender 0's nonce-1 tx bids 9 but waits for its nonce-0 tx (3)
    assert [(t["sender"], t["gas_price"]) for t in block["txs"]] == [
        (addr(2), "5"),
        (addr(4), "4"),
        (addr(0), "3"),
        (addr(0), "9"),
        (addr(3), "2"),
        (addr(1), "1"),
    ]
    assert [r["index"] for r in sorted(receipts, key=lambda r: r["index"])] == list(range(6))


async def test_send_batch_refused_as_a_whole_admits_nothing(still_rpc: Rpc) -> None:
    rpc = still_rpc
    good = sign_tx(devnet_account_key(5), 0)
    err = await rpc.error("tx.sendBatch", {"txs": [good.raw.hex(), 12]})
    assert err["code"] == INVALID_PARAMS and "'txs'[1]" in err["message"]
    # an error answer means the call did nothing: the good item must not be pending
    assert (await rpc.call("node.status"))["mempool"]["txs"] == 0, (
        "a refused tx.sendBatch admitted its first item"
    )


async def test_unknown_tx_hash_is_not_found(rpc: Rpc) -> None:
    for method in ("tx.get", "tx.getReceipt"):
        err = await rpc.error(method, {"hash": "ab" * 32})
        assert (err["code"], err["data"]["name"], err["data"]["temporary"]) == (600, "NOT_FOUND", False)


# --- bad params --------------------------------------------------------------------------------

BAD_ADDRESS = addr(1)[:-1] + ("q" if addr(1)[-1] != "q" else "p")
BAD_PARAMS: list[tuple[str, Any, str]] = [
    ("node.status", {"verbose": True}, "'verbose'"),
    ("node.status", [1], "positional"),
    ("node.status", "all", "params"),
    ("node.status", 5, "params"),
    ("chain.getHead", {"height": 1}, "'height'"),
    ("chain.getBlock", {"height": "abc"}, "'height'"),
    ("chain.getBlock", {"height": -1}, "'height'"),
    ("chain.getBlock", {"height": 1.5}, "'height'"),
    ("chain.getBlock", {"height": True}, "'height'"),
    ("chain.getBlock", {"height": 2**64}, "'height'"),
    ("chain.getBlock", {"height": [1]}, "'height'"),
    ("chain.getBlock", {"hash": 5}, "'hash'"),
    ("chain.getBlock", {"hash": "zz" * 32}, "'hash'"),
    ("chain.getBlock", {"hash": "ab"}, "'hash'"),
    ("chain.getBlock", {"height": 0, "full": "yes"}, "'full'"),
    ("chain.getBlock", {"number": 1}, "'number'"),
    ("chain.getBlock", [0, None, False, 1], "positional"),
    ("state.getAccount", None, "'address'"),
    ("state.getAccount", {}, "'address'"),
    ("state.getAccount", {"address": 5}, "'address'"),
    ("state.getAccount", {"address": "cairn1qqqq"}, "'address'"),
    ("state.getAccount", {"address": BAD_ADDRESS}, "'address'"),
    ("state.getAccount", {"address": encode_address(bytes(20), "other")}, "'address'"),
    ("state.getAccount", {"address": addr(1), "height": "x"}, "'height'"),
    ("state.getAccount", {"address": addr(1), "at": 1}, "'at'"),
    ("state.getProof", [], "'address'"),
    ("state.getProof", {"address": None}, "'address'"),
    ("state.getProof", {"address": BAD_ADDRESS}, "'address'"),
    ("state.getProof", {"address": addr(1), "height": -3}, "'height'"),
    ("tx.send", None, "'tx'"),
    ("tx.send", {"tx": 5}, "'tx'"),
    ("tx.send", {"tx": "zz"}, "'tx'"),
    ("tx.send", {"tx": "abc"}, "'tx'"),
    ("tx.send", {"raw": "00"}, "'raw'"),
    ("tx.sendBatch", {}, "'txs'"),
    ("tx.sendBatch", {"txs": "00"}, "'txs'"),
    ("tx.sendBatch", {"txs": [5]}, "'txs'[0]"),
    ("tx.sendBatch", {"txs": ["00", "zz"]}, "'txs'[1]"),
    ("tx.sendBatch", {"txs": ["00"] * 1001}, "'txs'"),
    ("tx.get", {}, "'hash'"),
    ("tx.get", {"hash": "00"}, "'hash'"),
    ("tx.get", {"hash": 1}, "'hash'"),
    ("tx.getReceipt", [None], "'hash'"),
    ("tx.getReceipt", {"hash": "g" * 64}, "'hash'"),
    ("tx.getReceipt", {"hash": 5}, "'hash'"),
    ("tx.getReceipt", {"tx": "00" * 32}, "'tx'"),
    ("state.getProof", {"address": addr(1), "proof": True}, "'proof'"),
    ("tx.sendBatch", {"txs": [], "atomic": True}, "'atomic'"),
]


async def test_bad_params_answer_invalid_params_naming_the_param(rpc: Rpc) -> None:
    problems = []
    for method, params, name in BAD_PARAMS:
        req: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
        if params is not None:
            req["params"] = params
        resp = await rpc.post(req)
        doc = check_response(resp.json(), 7)
        err = doc.get("error", {})
        if err.get("code") != INVALID_PARAMS or name not in err.get("message", ""):
            problems.append((method, str(params)[:60], doc))
    assert problems == []


@pytest.mark.parametrize("height", ["²", "9" * 5000, "٣" * 30])
async def test_digit_strings_that_are_not_integers_are_invalid_params(rpc: Rpc, height: str) -> None:
    # str.isdigit() accepts superscripts, and int() refuses more than 4300 digits: neither
    # may turn into an internal error.
    err = await rpc.error("chain.getBlock", {"height": height})
    assert err["code"] == INVALID_PARAMS and "'height'" in err["message"], err


async def test_null_means_absent_for_every_optional_param(rpc: Rpc) -> None:
    # "hash" must be passed as null to give "full" positionally, so null has to mean
    # "absent" for "full" as it does for "height" and "hash".
    assert (await rpc.call("chain.getBlock", {"height": 0, "hash": None}))["header"]["height"] == 0
    assert (await rpc.call("state.getAccount", {"address": addr(1), "height": None}))["balance"] == str(
        DEVNET_BALANCE
    )
    doc = await rpc.request("chain.getBlock", [0, None, None])
    assert "result" in doc, doc
    assert doc["result"]["header"]["height"] == 0


# --- the JSON-RPC envelope -------------------------------------------------------------------


async def test_unknown_method(rpc: Rpc) -> None:
    err = await rpc.error("chain.getBalance", {})
    assert err["code"] == METHOD_NOT_FOUND and "chain.getBalance" in err["message"]


@pytest.mark.parametrize("body", [b"{", b"", b"\xff\xfe", b"{'jsonrpc': '2.0'}", b"[1,", b"nul"])
async def test_malformed_json_is_a_parse_error(rpc: Rpc, body: bytes) -> None:
    resp = await rpc.post(body, raw=True)
    assert resp.status_code == 200
    doc = check_response(resp.json(), None)
    assert doc["error"]["code"] == PARSE_ERROR


async def test_deeply_nested_json_is_a_parse_error(rpc: Rpc) -> None:
    resp = await rpc.post(b"[" * 100_000, raw=True)
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.text[:200]}"
    assert check_response(resp.json(), None)["error"]["code"] == PARSE_ERROR
    assert (await rpc.call("node.status"))["chain_id"] == "cairn-devnet"


@pytest.mark.parametrize(
    "req",
    [
        {"jsonrpc": "1.0", "id": 1, "method": "node.status"},
        {"id": 1, "method": "node.status"},
        {"jsonrpc": 2.0, "id": 1, "method": "node.status"},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": 1, "method": None},
        5,
        "node.status",
        None,
    ],
)
async def test_not_a_2_0_request_is_invalid_request(rpc: Rpc, req: Any) -> None:
    resp = await rpc.post(req)
    assert resp.status_code == 200
    doc = check_response(resp.json())
    assert doc["error"]["code"] == INVALID_REQUEST
    assert doc["id"] == (1 if isinstance(req, dict) else None)


async def test_ids_are_echoed(rpc: Rpc) -> None:
    for rid in ("abc", 0, -5, 2**60, None, 1.5, -0.25, 1.0, 1e300, 10**80):
        resp = await rpc.post({"jsonrpc": "2.0", "id": rid, "method": "chain.getHead"})
        doc = check_response(resp.json(), rid)
        assert doc["result"]["chain_id"] == "cairn-devnet" and type(doc["id"]) is type(rid), doc["id"]
    # a fraction comes back as the same JSON number, not null
    resp = await rpc.post(b'{"jsonrpc":"2.0","id":2.5,"method":"node.status"}', raw=True)
    assert b'"id":2.5' in resp.content


@pytest.mark.parametrize("rid", [b"true", b"[1]", b'{"a":1}', b"1" * 5000, b"1e400", b"-1" + b"0" * 200 + b".5"])
async def test_an_id_that_is_not_a_string_number_or_null_is_invalid_request(rpc: Rpc, rid: bytes) -> None:
    resp = await rpc.post(b'{"jsonrpc":"2.0","id":' + rid + b',"method":"node.status"}', raw=True)
    doc = check_response(resp.json(), None)
    assert doc["error"]["code"] == INVALID_REQUEST and "id" in doc["error"]["message"], doc


@pytest.mark.parametrize("number", [b"9" * 5000, b"-" + b"9" * 5000, b"1" * 101, b"1." + b"5" * 5000,
                                    b"1e400", b"-1e400", b"1" + b"0" * 400 + b"e-300"])
async def test_a_valid_json_number_of_any_size_is_invalid_params_not_a_parse_error(rpc: Rpc, number: bytes) -> None:
    # Valid JSON is never -32700: a number too long to convert cheaply (or past a float's
    # range) is a value that no param accepts.
    for method, name in (("chain.getBlock", b"height"), ("chain.getBlock", b"hash"), ("state.getAccount", b"address"),
                         ("tx.send", b"tx")):
        body = b'{"jsonrpc":"2.0","id":3,"method":"%s","params":{"%s":%s}}' % (method.encode(), name, number)
        doc = check_response((await rpc.post(body, raw=True)).json(), 3)
        assert doc["error"]["code"] == INVALID_PARAMS and f"'{name.decode()}'" in doc["error"]["message"], doc
    # in a batch too, and the other requests of the batch are answered
    body = b'[{"jsonrpc":"2.0","id":1,"method":"chain.getBlock","params":[%s]},' \
           b'{"jsonrpc":"2.0","id":2,"method":"node.status"}]' % number
    first, second = (await rpc.post(body, raw=True)).json()
    assert check_response(first, 1)["error"]["code"] == INVALID_PARAMS
    assert check_response(second, 2)["result"]["chain_id"] == "cairn-devnet"


@pytest.mark.parametrize("body", [b'{"jsonrpc":"2.0","id":1,"method":"node.status","params":[NaN]}',
                                  b'{"jsonrpc":"2.0","id":Infinity,"method":"node.status"}',
                                  b'[-Infinity]'])
async def test_nan_and_infinity_are_not_json(rpc: Rpc, body: bytes) -> None:
    doc = check_response((await rpc.post(body, raw=True)).json(), None)
    assert doc["error"]["code"] == PARSE_ERROR


async def test_error_messages_repeat_at_most_a_short_prefix_of_a_name(rpc: Rpc) -> None:
    long = "m" * 100_000
    err = await rpc.error(long)
    assert err["code"] == METHOD_NOT_FOUND and len(err["message"]) < 200 and "mmm" in err["message"]
    err = await rpc.error("node.status", {long: 1})
    assert err["code"] == INVALID_PARAMS and len(err["message"]) < 200


async def test_empty_and_oversized_batches(rpc: Rpc) -> None:
    resp = await rpc.post([])
    assert check_response(resp.json(), None)["error"]["code"] == INVALID_REQUEST
    status = {"jsonrpc": "2.0", "method": "node.status"}
    resp = await rpc.post([{**status, "id": i} for i in range(101)])
    doc = check_response(resp.json(), None)
    assert doc["error"]["code"] == BATCH_TOO_LARGE and "100" in doc["error"]["message"]
    assert doc["error"]["data"] == {"limit": 100}
    resp = await rpc.post([{**status, "id": i} for i in range(100)])
    answers = resp.json()
    assert [check_response(a, i)["result"]["chain_id"] for i, a in enumerate(answers)] == [
        "cairn-devnet"
    ] * 100


async def test_a_batch_mixing_valid_and_invalid_requests(rpc: Rpc) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "node.status"},
        5,
        {"jsonrpc": "2.0", "id": 3, "method": "no.such"},
        {"jsonrpc": "2.0", "method": "chain.getHead"},  # a notification: no answer
        {"jsonrpc": "2.0", "id": "four", "method": "tx.get", "params": {"hash": 4}},
        {"jsonrpc": "1.0", "id": 6, "method": "node.status"},
        {"jsonrpc": "2.0", "id": 7, "method": "chain.getBlock", "params": [0]},
    ]
    resp = await rpc.post(batch)
    assert resp.status_code == 200
    answers = resp.json()
    assert [a["id"] for a in answers] == [1, None, 3, "four", 6, 7]
    for a in answers:
        check_response(a)
    assert answers[0]["result"]["chain_id"] == "cairn-devnet"
    assert [a["error"]["code"] for a in answers[1:5]] == [
        INVALID_REQUEST,
        METHOD_NOT_FOUND,
        INVALID_PARAMS,
        INVALID_REQUEST,
    ]
    assert answers[5]["result"]["header"]["height"] == 0


async def test_notifications_get_no_response(rpc: Rpc) -> None:
    resp = await rpc.post({"jsonrpc": "2.0", "method": "node.status"})
    assert resp.status_code == 204 and resp.content == b""
    resp = await rpc.post(
        [{"jsonrpc": "2.0", "method": "node.status"}, {"jsonrpc": "2.0", "method": "chain.getHead"}]
    )
    assert resp.status_code == 204 and resp.content == b""


async def test_a_notification_that_fails_still_gets_no_response(rpc: Rpc) -> None:
    # JSON-RPC 2.0 §4.1: the server MUST NOT reply to a notification, errors included.
    for req in (
        {"jsonrpc": "2.0", "method": "no.such"},
        {"jsonrpc": "2.0", "method": "tx.get", "params": {"hash": 5}},
    ):
        resp = await rpc.post(req)
        assert resp.status_code == 204 and resp.content == b"", f"{req} answered {resp.text}"


async def test_a_notification_still_runs(still_rpc: Rpc) -> None:
    tx = sign_tx(devnet_account_key(6), 0)
    resp = await still_rpc.post({"jsonrpc": "2.0", "method": "tx.send", "params": {"tx": tx.raw.hex()}})
    assert resp.status_code == 204
    assert (await still_rpc.call("tx.get", {"hash": bytes(tx.hash).hex()}))["status"] == "pending"


async def test_http_surface(rpc: Rpc) -> None:
    health = await rpc.http.get("/health")
    assert health.status_code == 200 and health.json() == {"ok": True}
    page = await rpc.http.get("/")  # the dashboard (node.dashboard); JSON-RPC is POST /
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (await rpc.http.put("/")).status_code == 405
    assert (await rpc.http.get("/nope")).status_code == 404
    assert (await rpc.call("node.status"))["chain_id"] == "cairn-devnet"


async def test_a_body_over_the_cap_is_refused_by_its_length(rpc: Rpc) -> None:
    # Announce 16 MiB + 1 and send nothing: the server must answer from the header alone.
    url = httpx.URL(str(rpc.http.base_url))
    assert url.port is not None
    with trio.fail_after(WAIT):
        stream = await trio.open_tcp_stream(url.host, url.port)
        async with stream:
            await stream.send_all(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (16 * 1024 * 1024 + 1)
            )
            reply = b""
            while chunk := await stream.receive_some():
                reply += chunk
                if b"\r\n\r\n" in reply and reply.rstrip().endswith(b"}"):
                    break
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert check_response(json.loads(body), None)["error"]["code"] == INVALID_REQUEST
    assert (await rpc.call("node.status"))["chain_id"] == "cairn-devnet"


# --- fuzz: random params to every method ------------------------------------------------------
#
# Hypothesis runs each example synchronously, so this node runs in a thread of its own (its
# own trio.run, the same ``run_node``) and the examples talk to it with a blocking client.


@pytest.fixture(scope="module")
def threaded_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    started: queue.Queue[Any] = queue.Queue()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            node = await nursery.start(
                partial(run_node, onion=devnet_onion(0)), GENESIS, VALIDATOR, str(tmp_path_factory.mktemp("fuzz")), FAST
            )
            started.put((node.rpc_addresses[0], trio.lowlevel.current_trio_token(), nursery.cancel_scope))

    thread = threading.Thread(target=trio.run, args=(main,), name="fuzz-node")
    thread.start()
    url, token, scope = started.get(timeout=WAIT)
    try:
        yield url
    finally:
        trio.from_thread.run_sync(scope.cancel, trio_token=token)
        thread.join(WAIT)
        assert not thread.is_alive()


@pytest.fixture(scope="module")
def sync_http(threaded_node: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=threaded_node, timeout=WAIT) as http:
        yield http


leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.text(alphabet="0123456789abcdefx", max_size=70)
    | st.binary(max_size=300).map(bytes.hex)
    | st.sampled_from([addr(0), addr(1), "0x", "-1", "1e3", " 1"])
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
param_names = st.sampled_from(["height", "hash", "full", "address", "tx", "txs", "extra"])
params = (
    json_values | st.dictionaries(param_names, json_values, max_size=3) | st.lists(json_values, max_size=4)
)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(METHODS) | st.text(max_size=15),
    params=params,
    rid=st.none() | st.integers() | st.text(max_size=5),
    batch=st.booleans(),
)
def test_fuzz_params_always_get_a_well_formed_answer(
    sync_http: httpx.Client, method: str, params: Any, rid: Any, batch: bool
) -> None:
    req = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    resp = sync_http.post("/", content=json.dumps([req] if batch else req).encode())
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    if batch:
        assert isinstance(doc, list) and len(doc) == 1
        doc = doc[0]
    check_response(doc, rid)
    if "error" in doc:
        assert doc["error"]["code"] != INTERNAL_ERROR, (req, doc)


requests = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"]),
        "method": st.sampled_from(METHODS) | st.text(max_size=6),
    },
    optional={
        "id": st.none()
        | st.integers()
        | st.text(max_size=4)
        | st.floats(allow_nan=False)
        | st.lists(st.none(), max_size=1),
        "params": params,
    },
)


@settings(max_examples=100, deadline=None)
@given(body=json_values | requests | st.lists(requests | json_values, max_size=5))
def test_fuzz_whole_bodies_always_get_a_well_formed_answer(sync_http: httpx.Client, body: Any) -> None:
    resp = sync_http.post("/", content=json.dumps(body).encode())
    if resp.status_code == 204:
        assert resp.content == b""
        return
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    for answer in doc if isinstance(doc, list) else [doc]:
        check_response(answer)
        if "error" in answer:
            assert answer["error"]["code"] != INTERNAL_ERROR, (body, answer)


def test_node_still_makes_blocks_after_the_fuzz(sync_http: httpx.Client) -> None:
    # runs after the fuzz test, against the same module-scoped node
    def height() -> int:
        doc = sync_http.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "node.status"}).json()
        return int(check_response(doc, 1)["result"]["height"])

    start = height()
    deadline = time.monotonic() + WAIT
    while height() < start + 2:
        assert time.monotonic() < deadline, "the node stopped making blocks"
        time.sleep(0.02)
    tx = sign_tx(devnet_account_key(8), 0)
    sent = sync_http.post(
        "/", json={"jsonrpc": "2.0", "id": 2, "method": "tx.send", "params": [tx.raw.hex()]}
    )
    assert check_response(sent.json(), 2)["result"]["hash"] == bytes(tx.hash).hex()
    while True:
        doc = sync_http.post(
            "/", json={"jsonrpc": "2.0", "id": 3, "method": "tx.getReceipt", "params": [bytes(tx.hash).hex()]}
        ).json()
        if "result" in check_response(doc, 3):
            assert doc["result"]["status"] == "ok"
            break
        assert time.monotonic() < deadline, "the transaction was not committed"
        time.sleep(0.02)


async def test_get_commit_and_validators(rpc: Rpc) -> None:
    from chain.block import Commit, ValidatorSet, verify_commit
    from chain.block import Validator as V
    from chain.keys import decode_address
    from chain.types import PublicKey32

    head = await rpc.wait_height(2)
    answer = await rpc.call("chain.getCommit", {"height": 1})
    vals = await rpc.call("chain.getValidators", {"height": 1})
    vs = ValidatorSet.of(V(decode_address(v["address"]), PublicKey32(bytes.fromhex(v["pubkey"])), v["power"])
                         for v in vals["validators"])
    assert bytes(vs.hash()).hex() == vals["hash"] == answer["header"]["validators_hash"]
    commit = Commit.decode(bytes.fromhex(answer["commit"]["raw"]))
    assert verify_commit(commit, chain_id="cairn-devnet", validators=vs, height=1,
                         block_hash=bytes.fromhex(answer["header"]["hash"])) == vs.total_power
    nxt = await rpc.call("chain.getValidators")
    assert nxt["height"] > head["height"] and nxt["hash"] == vals["hash"]
    err = await rpc.error("chain.getValidators", {"height": 10**9})
    assert err["code"] == 600
