"""``contract.call`` and ``contract.getCode`` over HTTP against a real node (LevelDB, solo driver).

One node per module, in a thread of its own (as the fuzz tests of test_rpc.py run), with
a counter contract deployed once.  A failed call is a result with ``ok`` false; only bad
params are error objects.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from capabilities.abi import encode_args
from chain.errors import ErrorCode
from chain.keys import encode_address
from chain.vm.engine import code_hash
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key, devnet_onion
from node.rpc.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS
from node.service import run_node
from node.wasm_cache import DIR_NAME, SUFFIX
from tests.node.helpers import sign_tx
from tests.node.test_rpc import FAST, GENESIS, VALIDATOR, WAIT, addr, check_response

COUNTER_WAT = r"""
;; A counter.  Storage "n": u64 big endian (absent = 0).  Arguments and returns per ABI.md.
;;   init(u64)      the start value          increment() -> u64   +1, emits log "inc"
;;   add(u64) -> u64  adds                   get() -> u64         the count
;;   plus(u64) -> u64 count + arg, no write  ping()               emits log "ping" (no write)
;;   fail()         aborts with "nope"       spin()               host calls until out of gas
;;   loop()         wasm alone until out of gas
;;   echo(any) -> the same bytes
;; A method that needs a u64 argument and gets anything else aborts with "bad_args".
(module
  (import "env" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
  (import "env" "storage_set" (func $storage_set (param i32 i32 i32 i32) (result i32)))
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "output" (func $output (param i32 i32) (result i32)))
  (import "env" "emit_event" (func $emit_event (param i32 i32 i32 i32) (result i32)))
  (import "env" "abort" (func $abort (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "n")
  (data (i32.const 16) "bad_args")
  (data (i32.const 32) "nope")
  (data (i32.const 48) "inc")
  (data (i32.const 56) "ping")
  ;; the u64 at $p, big endian
  (func $be (param $p i32) (result i64)
    (local $i i32) (local $v i64)
    (loop $next
      (local.set $v (i64.or (i64.shl (local.get $v) (i64.const 8))
                            (i64.extend_i32_u (i32.load8_u (i32.add (local.get $p) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 8))))
    (local.get $v))
  (func $load (result i64)
    (if (i32.ne (call $storage_get (i32.const 0) (i32.const 1) (i32.const 64) (i32.const 8)) (i32.const 8))
      (then (return (i64.const 0))))
    (call $be (i32.const 64)))
  (func $arg (result i64)
    (if (i32.ne (call $input (i32.const 128) (i32.const 64)) (i32.const 8))
      (then (call $abort (i32.const 16) (i32.const 8)) (unreachable)))
    (call $be (i32.const 128)))
  ;; v as 8 big-endian bytes at 64, then output them
  (func $ret (param $v i64)
    (local $i i32)
    (local.set $i (i32.const 8))
    (loop $next
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 offset=64 (local.get $i) (i32.wrap_i64 (local.get $v)))
      (local.set $v (i64.shr_u (local.get $v) (i64.const 8)))
      (br_if $next (local.get $i)))
    (drop (call $output (i32.const 64) (i32.const 8))))
  (func $store (param $v i64)
    (call $ret (local.get $v))
    (drop (call $storage_set (i32.const 0) (i32.const 1) (i32.const 64) (i32.const 8))))
  (func (export "init") (call $store (call $arg)))
  (func (export "increment")
    (call $store (i64.add (call $load) (i64.const 1)))
    (drop (call $emit_event (i32.const 48) (i32.const 3) (i32.const 64) (i32.const 8))))
  (func (export "add") (call $store (i64.add (call $load) (call $arg))))
  (func (export "get") (call $ret (call $load)))
  (func (export "plus") (call $ret (i64.add (call $load) (call $arg))))
  (func (export "ping") (drop (call $emit_event (i32.const 56) (i32.const 4) (i32.const 0) (i32.const 0))))
  (func (export "fail") (call $abort (i32.const 32) (i32.const 4)) (unreachable))
  (func (export "spin") (loop $l (drop (call $input (i32.const 0) (i32.const 0))) (br $l)))
  (func (export "loop") (loop $l (br $l)))
  (func (export "echo")
    (local $n i32)
    (local.set $n (call $input (i32.const 256) (i32.const 32768)))
    (if (i32.gt_u (local.get $n) (i32.const 32768))
      (then (call $abort (i32.const 16) (i32.const 8)) (unreachable)))
    (drop (call $output (i32.const 256) (local.get $n)))))
"""


def counter_code() -> bytes:
    return bytes(wasmtime.wat2wasm(COUNTER_WAT))


def u64(n: int) -> str:
    return encode_args([("u64", n)]).hex()


@dataclass
class Chain:
    http: httpx.Client
    data_dir: Path
    contract: str
    code: bytes
    deployed_at: int
    ids: itertools.count[int]

    def request(self, method: str, params: Any = None) -> dict[str, Any]:
        rid = next(self.ids)
        req: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            req["params"] = params
        resp = self.http.post("/", json=req)
        assert resp.status_code == 200, resp.text
        return check_response(resp.json(), rid)

    def call(self, method: str, params: Any = None) -> Any:
        doc = self.request(method, params)
        assert "result" in doc, doc
        return doc["result"]

    def error(self, method: str, params: Any = None) -> dict[str, Any]:
        doc = self.request(method, params)
        assert "error" in doc, doc
        return doc["error"]

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            doc = self.request("tx.getReceipt", {"hash": tx_hash})
            if "result" in doc:
                return doc["result"]
            assert doc["error"]["code"] == ErrorCode.NOT_FOUND, doc
            assert time.monotonic() < deadline, f"{tx_hash} was not committed"
            time.sleep(0.02)

    def send(self, kind: str, payload: Any, *, key: int, nonce: int, gas: int = 2_000_000) -> dict[str, Any]:
        tx = sign_tx(devnet_account_key(key), nonce, kind=kind, payload=payload, gas_limit=gas)
        return self.receipt(self.call("tx.send", {"tx": tx.raw.hex()})["hash"])

    def query(self, method: str, args: str = "", **extra: Any) -> dict[str, Any]:
        res: dict[str, Any] = self.call("contract.call", {"address": self.contract, "method": method, "args": args,
                                                         **extra})
        assert set(res) == {"status", "ok", "gas_used", "return", "reason", "events", "height"}, res
        return res


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    started: queue.Queue[Any] = queue.Queue()
    data_dir = tmp_path_factory.mktemp("contracts") / "data"

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            node = await nursery.start(partial(run_node, onion=devnet_onion(0)), GENESIS, VALIDATOR, str(data_dir),
                                       FAST)
            started.put((node.rpc_addresses[0], trio.lowlevel.current_trio_token(), nursery.cancel_scope))

    thread = threading.Thread(target=trio.run, args=(main,), name="contracts-node")
    thread.start()
    url, token, scope = started.get(timeout=WAIT)
    try:
        with httpx.Client(base_url=url, timeout=WAIT) as http:
            code = counter_code()
            c = Chain(http, data_dir, "", code, 0, itertools.count(1))
            receipt = c.send("deploy", [code, bytes.fromhex(u64(5))], key=0, nonce=0)
            assert receipt["status"] == "ok", receipt
            c.contract = encode_address(contract_address(devnet_account_key(0).address, 0), "cairn")
            c.deployed_at = receipt["height"]
            assert receipt["events"] == [{"module": "contract", "name": "deployed", "attrs": {
                "address": c.contract, "code_hash": code_hash(code).hex()}}]
            yield c
    finally:
        trio.from_thread.run_sync(scope.cancel, trio_token=token)
        thread.join(WAIT)
        assert not thread.is_alive()


# --- contract.call -------------------------------------------------------------------------------


def test_a_query_reads_the_committed_head(chain: Chain) -> None:
    res = chain.query("get")
    assert res["ok"] is True and res["status"] == "ok" and res["reason"] == ""
    assert res["return"] == u64(5) and res["events"] == [] and 0 < res["gas_used"] < 100_000
    assert res["height"] >= chain.deployed_at
    # args default to none; positional params in the documented order
    assert chain.call("contract.call", {"address": chain.contract, "method": "get"})["return"] == u64(5)
    positional = chain.call("contract.call", [chain.contract, "plus", u64(10), addr(3), 1_000_000])
    assert positional["return"] == u64(15) and positional["ok"]
    assert chain.query("plus", "0x" + u64(1))["return"] == u64(6)  # 0x accepted on input
    assert chain.query("echo", "00ff" * 1000)["return"] == "00ff" * 1000


def test_a_committed_call_is_seen_by_the_next_query(chain: Chain) -> None:
    before = int(chain.query("get")["return"], 16)
    receipt = chain.send("call", [bytes(contract_address(devnet_account_key(0).address, 0)), "increment", b"", 0],
                         key=1, nonce=0)
    assert receipt["status"] == "ok", receipt
    assert receipt["events"] == [{"module": "contract", "name": "log", "attrs": {
        "contract": chain.contract, "topic": b"inc".hex(), "data": u64(before + 1)}}]
    after = chain.query("get")
    assert after["return"] == u64(before + 1) and after["height"] >= receipt["height"]


@pytest.mark.parametrize(
    ("method", "args", "status", "reason"),
    [
        ("increment", "", "read_only", "read_only"),  # a write traps in a query
        ("add", u64(1), "read_only", "read_only"),
        ("fail", "", "abort", "abort: nope"),
        ("plus", "", "abort", "abort: bad_args"),
        ("plus", u64(1) + "00", "abort", "abort: bad_args"),
        ("nosuch", "", "no_such_method", "no_such_method"),
        ("init", u64(1), "no_such_method", "no_such_method"),  # the constructor runs only in deploy
        ("memory", "", "no_such_method", "no_such_method"),
        ("", "", "no_such_method", "no_such_method"),
        ("bad-name", "", "no_such_method", "no_such_method"),
    ],
)
def test_a_failed_call_is_a_result_not_an_error(chain: Chain, method: str, args: str, status: str,
                                                reason: str) -> None:
    res = chain.query(method, args)
    assert (res["ok"], res["status"], res["reason"], res["return"], res["events"]) == (False, status, reason, "", [])


def test_no_contract_at_the_address(chain: Chain) -> None:
    for address in (addr(4), encode_address(bytes(20), "cairn")):
        res = chain.call("contract.call", {"address": address, "method": "get"})
        assert (res["ok"], res["status"], res["reason"], res["gas_used"]) == (False, "no_such_contract",
                                                                               "no_such_contract", 0)


def test_events_of_a_query_are_returned(chain: Chain) -> None:
    res = chain.query("ping")
    assert res["ok"] and res["return"] == ""
    assert res["events"] == [{"module": "contract", "name": "log",
                              "attrs": {"contract": chain.contract, "topic": b"ping".hex(), "data": ""}}]


def test_gas_limit_is_capped_at_max_query_gas(chain: Chain) -> None:
    cap = GENESIS.params.max_query_gas
    assert chain.query("get", gas_limit=100)["status"] == "out_of_gas"
    assert chain.query("get", gas_limit=0)["status"] == "out_of_gas"
    assert chain.query("get", gas_limit=10**15)["ok"]  # above the cap: clamped, not refused
    spun = chain.query("loop", gas_limit=200_000)
    assert (spun["status"], spun["gas_used"]) == ("out_of_gas", 200_000)
    assert chain.query("loop", gas_limit=10**15)["gas_used"] == cap
    assert chain.query("loop")["gas_used"] == cap  # the default


def test_a_long_query_does_not_hold_up_the_node(chain: Chain) -> None:
    # A query of cheap host calls takes a while; it runs on a worker thread, so the node
    # answers other requests (and keeps committing) meanwhile.
    done: list[float] = []

    def long_query() -> None:
        with httpx.Client(base_url=str(chain.http.base_url), timeout=WAIT) as http:
            doc = http.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "contract.call", "params": {
                "address": chain.contract, "method": "spin", "gas_limit": 20_000_000}}).json()
        assert doc["result"]["status"] == "out_of_gas"
        done.append(time.monotonic())

    worker = threading.Thread(target=long_query)
    start = time.monotonic()
    worker.start()
    time.sleep(0.05)
    chain.call("node.status")
    answered = time.monotonic()
    worker.join(WAIT)
    assert done, "the long query did not finish"
    assert answered < done[0], (answered - start, done[0] - start)


def test_caller_is_an_address(chain: Chain) -> None:
    assert chain.query("get", caller=addr(2))["ok"]


# --- contract.getCode ----------------------------------------------------------------------------


def test_get_code(chain: Chain) -> None:
    got = chain.call("contract.getCode", {"address": chain.contract})
    assert got["code"] == chain.code.hex() and got["code_hash"] == code_hash(chain.code).hex()
    assert got["address"] == chain.contract and got["height"] >= chain.deployed_at
    assert chain.call("contract.getCode", [chain.contract])["code"] == got["code"]
    for address in (addr(0), addr(5)):  # an account without code, an unknown address
        err = chain.error("contract.getCode", {"address": address})
        assert (err["code"], err["data"]["name"]) == (ErrorCode.NOT_FOUND, "NOT_FOUND"), err


def test_the_node_keeps_compiled_code_on_disk(chain: Chain) -> None:
    entry = chain.data_dir / DIR_NAME / f"{code_hash(chain.code).hex()}{SUFFIX}"
    assert entry.is_file() and entry.stat().st_size > len(chain.code)


# --- bad params ----------------------------------------------------------------------------------

BAD_ADDRESS = addr(1)[:-1] + ("q" if addr(1)[-1] != "q" else "p")


def bad_params(contract: str) -> list[tuple[str, Any, str]]:
    good = {"address": contract, "method": "get"}
    return [
        ("contract.call", None, "'address'"),
        ("contract.call", {"method": "get"}, "'address'"),
        ("contract.call", {"address": BAD_ADDRESS, "method": "get"}, "'address'"),
        ("contract.call", {"address": encode_address(bytes(20), "other"), "method": "get"}, "'address'"),
        ("contract.call", {"address": "0x" + "00" * 20, "method": "get"}, "'address'"),
        ("contract.call", {"address": 5, "method": "get"}, "'address'"),
        ("contract.call", {"address": contract}, "'method'"),
        ("contract.call", {**good, "method": 5}, "'method'"),
        ("contract.call", {**good, "method": ["get"]}, "'method'"),
        ("contract.call", {**good, "method": "m" * 65}, "'method'"),
        ("contract.call", {**good, "args": "zz"}, "'args'"),
        ("contract.call", {**good, "args": "abc"}, "'args'"),
        ("contract.call", {**good, "args": 5}, "'args'"),
        ("contract.call", {**good, "args": "00" * 65537}, "'args'"),
        ("contract.call", {**good, "caller": BAD_ADDRESS}, "'caller'"),
        ("contract.call", {**good, "caller": 0}, "'caller'"),
        ("contract.call", {**good, "gas_limit": -1}, "'gas_limit'"),
        ("contract.call", {**good, "gas_limit": "lots"}, "'gas_limit'"),
        ("contract.call", {**good, "gas_limit": 1.5}, "'gas_limit'"),
        ("contract.call", {**good, "value": 1}, "'value'"),
        ("contract.call", [contract, "get", "", None, None, None], "positional"),
        ("contract.getCode", {}, "'address'"),
        ("contract.getCode", {"address": BAD_ADDRESS}, "'address'"),
        ("contract.getCode", {"address": contract, "height": 1}, "'height'"),
    ]


def test_bad_params_answer_invalid_params_naming_the_param(chain: Chain) -> None:
    problems = []
    for method, params, name in bad_params(chain.contract):
        doc = chain.request(method, params)
        err = doc.get("error", {})
        if err.get("code") != INVALID_PARAMS or name not in err.get("message", ""):
            problems.append((method, str(params)[:80], doc))
    assert problems == []


json_leaves = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=10)
    | st.binary(max_size=40).map(bytes.hex) | st.sampled_from([addr(0), "get", "init", "0x", "-1"])
)


@settings(max_examples=60, deadline=None)
@given(params=st.dictionaries(st.sampled_from(["address", "method", "args", "caller", "gas_limit"]),
                              json_leaves, max_size=5)
       | st.lists(json_leaves, max_size=5))
def test_fuzz_contract_call_never_answers_internal_error(chain: Chain, params: Any) -> None:
    doc = chain.request("contract.call", params)
    if "error" in doc:
        assert doc["error"]["code"] != INTERNAL_ERROR, (params, doc)
    else:
        assert isinstance(doc["result"]["ok"], bool)


def test_the_node_still_makes_blocks(chain: Chain) -> None:
    start = chain.call("node.status")["height"]
    deadline = time.monotonic() + WAIT
    while chain.call("node.status")["height"] < start + 2:
        assert time.monotonic() < deadline, "the node stopped making blocks"
        time.sleep(0.02)
