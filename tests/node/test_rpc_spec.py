"""The RPC describes itself from one source (``node.rpc.spec``, issue 14).

* ``rpc.discover`` lists exactly the routed methods, with the routes' param names in order;
* docs/RPC.md's method table is what the generator writes now (it cannot drift);
* one representative call of every method on a real in-process node — a transfer, a provider,
  a contract's AI job proved, resolved and paid by the first epoch — answers within its
  result schema (``Rpc.call`` checks every result; this test makes sure each method is called);
* the new operator methods (``node.health``, ``chain.getGenesis``, ``chain.getBlockResults``,
  ``mempool.pending``, ``consensus.params``) answer what they say.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft7Validator

from capabilities.abi import encode_args
from capabilities.records import JobReceipt
from chain.errors import ErrorCode
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key
from node.provider.backends import TinyModelBackend
from node.provider.work import ai_envelope, registration
from node.rpc import openrpc
from node.rpc.methods import VERSION, RpcApi
from node.rpc.spec import COMPONENTS, METHODS
from node.service import Node
from tests.node.helpers import sign_tx
from tests.node.test_rpc import GENESIS, Rpc, addr, node, rpc, still_rpc
from tests.node.test_rpc_aicf import PROVIDER, SIGNER, _addr, _job, _tx

__all__ = ["node", "rpc", "still_rpc"]  # the fixtures of test_rpc.py
ELSEWHERE = {"evidence.submit": "needs a BFT network and a double sign: tests/node/test_light_network.py",
             "tx.search": "needs a node keeping the event index: tests/node/test_rpc_search.py",
             "chain.searchBlocks": "needs a node keeping the event index: tests/node/test_rpc_search.py"}
"""Methods a one-validator node cannot answer with a result, and where they are exercised."""


def _routes(node: Node) -> dict[str, tuple[str, ...]]:
    api = RpcApi(node.chain, node.mempool, driver=node.driver)
    return {name: names for name, (names, _) in api.dispatcher().routes.items()}


def test_the_spec_is_valid_json_schema() -> None:
    doc = openrpc.document(VERSION)
    for method in doc["methods"]:
        Draft7Validator.check_schema(method["result"]["schema"])
        for param in method["params"]:
            Draft7Validator.check_schema(param["schema"])
    for schema in COMPONENTS.values():
        Draft7Validator.check_schema(schema)


async def test_discover_lists_exactly_the_routed_methods_with_their_params(node: Node, rpc: Rpc) -> None:
    doc = await rpc.call("rpc.discover")
    assert doc["openrpc"] == "1.2.6" and doc["info"]["version"] == VERSION
    listed = {m["name"]: tuple(p["name"] for p in m["params"]) for m in doc["methods"]}
    assert listed == _routes(node)
    assert doc == openrpc.document(VERSION)  # what `python -m node.rpc.openrpc` prints
    for m in doc["methods"]:
        for ref in _refs(m):
            assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [value["$ref"]] if "$ref" in value else [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def test_docs_method_table_is_generated_from_the_spec() -> None:
    text = openrpc.DOC.read_text()
    assert openrpc.splice(text, openrpc.markdown_table()) == text, (
        "docs/RPC.md's method table differs from node/rpc/spec.py: run python -m node.rpc.openrpc --markdown")
    assert openrpc.main(["--check"]) == 0
    for name in METHODS:
        assert f"| `{name}` |" in text


def test_a_handler_without_a_spec_is_refused() -> None:
    from node.rpc.spec import routes

    try:
        routes({"chain.getBalance": None})
    except KeyError as exc:
        assert "chain.getBalance" in str(exc)
    else:
        raise AssertionError("a method without a spec was routed")


class Recording(Rpc):
    """``Rpc`` (whose ``call`` checks each result's schema) that remembers the methods answered."""

    def __init__(self, rpc: Rpc) -> None:
        super().__init__(rpc.http)
        self.answered: set[str] = set()

    async def call(self, method: str, params: Any = None) -> Any:
        result = await super().call(method, params)
        self.answered.add(method)
        return result


async def test_a_real_answer_of_every_method_fits_its_schema(rpc: Rpc, samples: dict[str, bytes]) -> None:
    r = Recording(rpc)
    chain_id = "cairn-devnet"
    sent = await r.call("tx.send", {"tx": sign_tx(devnet_account_key(1), 0).raw.hex()})
    await r.call("tx.get", {"hash": sent["hash"]})
    receipt = await r.wait_receipt(sent["hash"])
    await r.call("tx.getReceipt", {"hash": sent["hash"]})
    await r.call("tx.sendBatch", {"txs": [sign_tx(devnet_account_key(1), 1).raw.hex(), "00"]})
    for method, params in [("node.status", None), ("node.health", None), ("chain.getHead", None),
                           ("chain.getGenesis", None), ("chain.getBlock", {"height": receipt["height"], "full": True}),
                           ("chain.getBlockResults", {"height": receipt["height"]}),
                           ("chain.getCommit", {"height": receipt["height"]}), ("chain.getValidators", None),
                           ("consensus.state", None), ("consensus.params", None), ("net.peers", None),
                           ("mempool.pending", None), ("state.getAccount", {"address": addr(1)}),
                           ("state.getProof", {"address": addr(1)}), ("rpc.discover", None)]:
        await r.call(method, params)

    provider = _addr(PROVIDER.address)
    await _tx(r, PROVIDER, 0, "provider_register",
              registration(chain_id, PROVIDER, SIGNER, kinds=["ai"], models=["llama3-8b"], stake=10**10), 2_000_000)
    await _tx(r, PROVIDER, 1, "provider_heartbeat", [1000, 5, 9000, 40, 0], 1_000_000)
    await r.call("aicf.listProviders")
    await r.call("aicf.getProvider", {"address": provider})
    owner = devnet_account_key(2)
    agent = contract_address(owner.address, 0)
    await _tx(r, owner, 0, "deploy", [samples["ai_agent"], b""], 20_000_000)
    await r.call("contract.getCode", {"address": _addr(agent)})
    await r.call("contract.call", {"address": _addr(agent), "method": "task"})
    ask = encode_args([("str", "llama3-8b"), ("str", "What is a cairn?"), ("u64", 12)])
    enqueue = await _tx(r, owner, 1, "call", [bytes(agent), "ask", ask, 1_000_000])
    (task,) = [e["attrs"]["task_id"] for e in enqueue["events"] if e["name"] == "enqueued"]
    await _job(r, task, "leased")
    cap = await r.call("cap.getJob", {"task_id": task})
    await r.call("cap.readResult", {"task_id": task})
    await r.call("aicf.listJobs", {"provider": provider, "status": "leased"})
    receipt_record = JobReceipt(bytes.fromhex(task), "ai", agent, int(cap["fee_escrowed"]),  # type: ignore[arg-type]
                                int(cap["price_ceiling"]), cap["sla_deadline"], cap["enqueue_height"],
                                bytes.fromhex(cap["request_digest"]))  # type: ignore[arg-type]
    out = TinyModelBackend().run("llama3-8b", "What is a cairn?", 12)
    envelope = ai_envelope(chain_id, PROVIDER, SIGNER, receipt_record, "llama3-8b", out).encode().hex()
    await r.call("aicf.submitProof", {"envelope": envelope})
    await _job(r, task, "resolved")
    await r.call("aicf.getEpoch", {"epoch": 1})  # in progress (or settled already, on a slow machine)
    await r.wait_height(GENESIS.params.epoch_length + 1)
    await r.call("aicf.getEpoch", {"epoch": 1})
    await r.call("aicf.getPayout", {"task_id": task})
    await r.call("aicf.getBalance", {"address": provider})
    await r.call("state.getProof", {"kind": "job", "id": task})
    assert r.answered | set(ELSEWHERE) == set(METHODS), set(METHODS) - r.answered - set(ELSEWHERE)


# --- the operator methods ------------------------------------------------------------------------


async def test_health_genesis_and_params(node: Node, rpc: Rpc) -> None:
    await rpc.wait_height(1)
    health = await rpc.call("node.health")
    assert health["ok"] is True and health["peers"] is None and health["height"] >= 1
    assert 0 <= health["head_age_ms"] <= health["max_head_age_ms"] == 3 * 200 + 10_000  # FAST: 0.2 s
    genesis = await rpc.call("chain.getGenesis")
    assert genesis["genesis"] == GENESIS.to_json() and genesis["hash"] == GENESIS.hash().hex()
    assert genesis["hash"] == (await rpc.call("node.status"))["genesis_hash"]
    params = await rpc.call("consensus.params")
    assert params["params"]["max_tx_bytes"] == GENESIS.params.max_tx_bytes
    assert params["aicf"]["epoch_length"] == GENESIS.params.epoch_length
    assert params["aicf"]["gamma_cap"] == GENESIS.aicf.epoch.gamma_cap
    assert params["aicf"]["split"]["provider_bps"] == GENESIS.aicf.split.provider_bps


async def test_health_is_not_ok_once_the_head_is_old(node: Node) -> None:
    late = RpcApi(node.chain, node.mempool, driver=node.driver, clock_ms=lambda: node.chain.head.time_ms + 10**6)
    doc = await late.health(_no_params())
    assert doc["ok"] is False and doc["head_age_ms"] == 10**6


def _no_params() -> Any:
    from node.rpc.jsonrpc import Params

    return Params(None, ())


async def test_block_results_are_the_receipts_and_the_event_log(rpc: Rpc) -> None:
    key = devnet_account_key(3)
    sent = [await rpc.call("tx.send", {"tx": sign_tx(key, n).raw.hex()}) for n in range(2)]
    receipts = [await rpc.wait_receipt(s["hash"]) for s in sent]
    height = receipts[0]["height"]
    results = await rpc.call("chain.getBlockResults", {"height": height})
    block = await rpc.call("chain.getBlock", {"height": height})
    assert results["block_hash"] == block["hash"]
    assert [x["tx_hash"] for x in results["receipts"]] == block["txs"]
    assert [x["index"] for x in results["receipts"]] == list(range(len(block["txs"])))
    mine = next(x for x in results["receipts"] if x["tx_hash"] == sent[0]["hash"])
    assert {k: v for k, v in mine.items() if k != "index"} == {
        k: v for k, v in receipts[0].items() if k not in ("height", "index", "block_hash")}
    assert [e["index"] for e in results["events"]] == list(range(len(results["events"])))
    logged = [{k: v for k, v in e.items() if k != "index"} for e in results["events"]]
    for r in results["receipts"]:
        for event in r["events"]:
            assert event in logged
    head = (await rpc.call("chain.getHead"))["height"]
    err = await rpc.error("chain.getBlockResults", {"height": head + 1000})
    assert err["code"] == ErrorCode.NOT_FOUND


async def test_mempool_pending_pages_through_the_pool(still_rpc: Rpc) -> None:
    rpc = still_rpc
    hashes = []
    for i in range(4, 7):
        for n in range(2):
            hashes.append((await rpc.call("tx.send", {"tx": sign_tx(devnet_account_key(i), n).raw.hex()}))["hash"])
    first = await rpc.call("mempool.pending", {"limit": 4})
    assert first["txs"] == 6 and first["bytes"] > 0 and first["queued"] == 0
    assert len(first["hashes"]) == 4 and first["next_cursor"] == first["hashes"][-1]
    rest = await rpc.call("mempool.pending", {"cursor": first["next_cursor"], "limit": 4})
    assert rest["next_cursor"] is None
    assert first["hashes"] + rest["hashes"] == sorted(hashes)
    err = await rpc.error("mempool.pending", {"limit": 101})
    assert err["code"] == -32602 and "'limit'" in err["message"]


async def test_a_node_without_driver_or_peers_routes_every_method(node: Node) -> None:
    assert set(RpcApi(node.chain, node.mempool).dispatcher().routes) == set(METHODS)
