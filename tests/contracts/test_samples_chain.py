"""The sample contracts, built from source, on an in-memory chain with real blocks.

The devnet test (``test_samples_devnet.py``) drives the same contracts through the CLI;
this file covers what a running devnet cannot show yet: the AI agent reading a result in
a later block.  Results enter state only through ``capabilities.records.record_result``,
which the AICF settlement will call once a proof verifies.  AICF's settlement is not
built yet, so :class:`ResultFeeder` stands in for it: a module whose ``begin_block``
calls that same function.  It is the one test double here, at the edge we do not ship.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aicf.module import FUND_ADDRESS
from capabilities.abi import decode_values, encode_args
from capabilities.host import ESCROW_ADDRESS, host_functions
from capabilities.records import (
    AiRequest,
    CapabilityParams,
    ResultRecord,
    load_job,
    output_digest_of,
    record_result,
)
from capabilities.task import task_id
from chain.apply import Application, BlockOutput
from chain.module import BlockEnv, BlockPot, Event, TxKind
from chain.state import StateDB
from chain.tx import SignedTx, TxBody
from chain.types import Address, Hash32
from chain.vm.runtime import CallOutcome, ContractRuntime, ContractsModule, contract_address
from proofs.policy import PolicyParams
from tests.chain.helpers import MemChain, account

ROOT = Path(__file__).resolve().parents[2]
GAS = 5_000_000
ZK_GAS = 45_000_000  # zk_verify alone is priced at 40M (capabilities/costs.py)


def _build_script() -> Any:
    spec = importlib.util.spec_from_file_location("contracts_build", ROOT / "contracts" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sdk_header_declares_exactly_the_host_abi() -> None:
    declared = _build_script().host_functions(ROOT / "contracts" / "sdk" / "cairn.h")
    shipped = host_functions(CapabilityParams(), PolicyParams())
    assert set(declared) == set(shipped)
    for name, spec in shipped.items():
        params, results = declared[name]
        assert (tuple(params), tuple(results)) == (spec.params, spec.results), name


@dataclass
class ResultFeeder:
    """Stand-in for AICF settlement: records queued results through ``record_result``."""

    name: str = "result-feeder"
    queue: list[tuple[bytes, bytes]] = field(default_factory=list)

    def tx_kinds(self) -> Mapping[str, TxKind]:
        return {}

    def begin_block(self, state: StateDB, env: BlockEnv) -> list[Event]:
        for tid, output in self.queue:
            record_result(state, tid, ResultRecord(Hash32(tid), Address(b"\x07" * 20), output_digest_of(output),
                                                   output, env.height, Hash32(b"\x09" * 32)))
        self.queue.clear()
        return []

    def end_block(self, state: StateDB, env: BlockEnv, pot: BlockPot) -> list[Event]:
        return []


class Chain:
    """A MemChain with helpers for deploying and calling contracts from account 0."""

    def __init__(self, feeder: ResultFeeder | None = None) -> None:
        self.mem = MemChain()
        if feeder is not None:
            app = self.mem.app
            self.mem.app = Application.compose(app.chain_id, app.params, [*app.modules[1:], feeder],
                                               slash_to=FUND_ADDRESS)
        self.key = account(0)
        self.nonce = 0

    @property
    def runtime(self) -> ContractRuntime:
        module = next(m for m in self.mem.app.modules if m.name == "contracts")
        assert isinstance(module, ContractsModule)
        return module.runtime

    def tx(self, kind: str, payload: list[Any], gas: int = GAS) -> SignedTx:
        body = TxBody(self.mem.genesis.chain_id, self.nonce, self.key.public_key, gas, gas, kind, payload)
        self.nonce += 1
        return body.sign(self.key)

    def deploy(self, code: bytes, init_args: bytes = b"") -> tuple[Address, SignedTx]:
        address = contract_address(self.key.address, self.nonce)
        return address, self.tx("deploy", [code, init_args])

    def call(self, contract: Address, method: str, args: bytes = b"", value: int = 0, gas: int = GAS) -> SignedTx:
        return self.tx("call", [bytes(contract), method, args, value], gas)

    def block(self, *txs: SignedTx) -> BlockOutput:
        block, out = self.mem.build(list(txs))
        assert len(block.txs) == len(txs), "a transaction was left out of the block"
        self.mem.commit(block, out)
        return out

    def query(self, contract: Address, method: str, args: bytes = b"", *, height: int | None = None) -> CallOutcome:
        head = self.mem.head
        env = BlockEnv(head.chain_id, head.height + 1 if height is None else height, head.time_ms, head.proposer,
                       bytes(head.beacon))
        out, _ = self.runtime.query(self.mem.store.head_state(), env, contract, method, args,
                                    caller=self.key.address, gas_limit=ZK_GAS)
        return out

    def balance(self, address: bytes) -> int:
        return self.mem.store.head_state().get_account(address).balance


def logs(out: BlockOutput, index: int) -> list[dict[str, Any]]:
    return [dict(e.attrs) for e in out.receipts[index].events if (e.module, e.name) == ("contract", "log")]


def u64(out: CallOutcome) -> int:
    assert out.ok, out.reason
    (n,) = decode_values(["u64"], out.return_data)
    return int(n)


def test_token(samples: dict[str, bytes]) -> None:
    c = Chain()
    alice, bob = c.key.address, account(1).address
    token, deploy = c.deploy(samples["token"], encode_args([("u64", 1_000)]))
    out = c.block(deploy, c.call(token, "transfer", encode_args([("addr", bob), ("u64", 300)])),
                  c.call(token, "transfer", encode_args([("addr", bob), ("u64", 701)])),
                  c.call(token, "transfer", b"\x00" * 3))
    assert [r.ok for r in out.receipts] == [True, True, False, False]
    assert out.receipts[2].reason == "abort: insufficient"
    assert out.receipts[3].reason == "abort: bad_args"
    assert logs(out, 1) == [{"contract": bytes(token), "topic": b"transfer",
                             "data": bytes(alice) + bytes(bob) + (300).to_bytes(8, "big")}]
    assert u64(c.query(token, "balance_of", encode_args([("addr", alice)]))) == 700
    assert u64(c.query(token, "balance_of", encode_args([("addr", bob)]))) == 300
    assert u64(c.query(token, "total_supply")) == 1_000
    assert c.query(token, "init", encode_args([("u64", 5)])).reason == "no_such_method"


def test_ai_agent_reads_its_result_in_a_later_block(samples: dict[str, bytes]) -> None:
    feeder = ResultFeeder()
    c = Chain(feeder)
    agent, deploy = c.deploy(samples["ai_agent"])
    c.block(deploy)
    assert c.query(agent, "answer").reason == "abort: no_task"

    fund = 10**9
    ask = c.call(agent, "ask", encode_args([("str", "llama3-8b"), ("str", "Is 33 = 3 x 11?"), ("u64", 64)]),
                 value=fund)
    out = c.block(ask)
    receipt = out.receipts[0]
    assert receipt.ok, receipt.reason
    enqueue_height = c.mem.head.height
    payload = AiRequest("llama3-8b", "Is 33 = 3 x 11?", 64).encode()
    expected_id = task_id(c.mem.genesis.chain_id, enqueue_height, ask.hash, agent, payload, 0)
    assert logs(out, 0) == [{"contract": bytes(agent), "topic": b"asked", "data": bytes(expected_id)}]
    assert decode_values(["hash"], c.query(agent, "task").return_data) == [bytes(expected_id)]
    job = load_job(c.mem.store.head_state(), expected_id)
    assert job is not None and job.requester == agent and job.enqueue_height == enqueue_height
    assert job.fee_escrowed == c.balance(ESCROW_ADDRESS) > 0
    assert c.balance(agent) == fund - job.fee_escrowed
    enqueued = [dict(e.attrs) for e in receipt.events if (e.module, e.name) == ("capabilities", "enqueued")]
    assert enqueued == [{"task_id": bytes(expected_id), "kind": "ai", "requester": bytes(agent),
                         "fee": job.fee_escrowed}]

    assert u64(c.query(agent, "answer")) == 0  # no result yet
    feeder.queue.append((bytes(expected_id), b"yes: 33 = 3 x 11"))
    c.block()  # the stand-in records the result while executing this block
    result_height = c.mem.head.height
    # A call inside the block that recorded the result still sees nothing ...
    assert u64(c.query(agent, "answer", height=result_height)) == 0
    # ... and any later block sees the record.
    later = c.query(agent, "answer")
    assert later.ok, later.reason
    flag, record = decode_values(["u64", "bytes"], later.return_data)
    assert flag == 1
    result = ResultRecord.decode(record)
    assert (result.task_id, result.output, result.committed_height) == (expected_id, b"yes: 33 = 3 x 11",
                                                                         result_height)


def _vectors(vectors: Path) -> dict[str, bytes]:
    d = vectors / "groth16" / "risc0_multiplier_1pub"
    return {p.stem: p.read_bytes() for p in d.glob("*.json")}


def test_zk_vault_releases_only_for_a_valid_proof(samples: dict[str, bytes], vectors: Path) -> None:
    v = _vectors(vectors)
    assert json.loads(v["public"]) == ["33"]
    c = Chain()
    vault, deploy = c.deploy(samples["zk_vault"], encode_args([("bytes", v["verification_key"])]))
    payee = Address(b"\x55" * 20)

    def withdraw(proof: str, public: str) -> SignedTx:
        args = encode_args([("bytes", v[proof]), ("bytes", v[public]), ("addr", payee)])
        return c.call(vault, "withdraw", args, gas=ZK_GAS)

    out = c.block(deploy, c.call(vault, "deposit", value=5_000),
                  withdraw("proof", "public_bad"), withdraw("proof_bad_not_on_curve", "public"),
                  withdraw("proof", "public_noncanonical"))
    assert [r.ok for r in out.receipts] == [True, True, False, False, False]
    assert {r.reason for r in out.receipts[2:]} == {"abort: invalid_proof"}
    assert c.balance(vault) == 5_000 and c.balance(payee) == 0
    assert u64(c.query(vault, "released")) == 0

    out = c.block(withdraw("proof", "public"), withdraw("proof", "public"))
    assert out.receipts[0].ok, out.receipts[0].reason
    assert out.receipts[1].reason == "abort: already_released"
    assert c.balance(payee) == 5_000 and c.balance(vault) == 0
    assert u64(c.query(vault, "released")) == 1
