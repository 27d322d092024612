"""Builders for the AICF tests: a devnet chain in memory with providers, agents and proofs.

Everything here drives the real code: blocks come from ``chain.apply.build_block`` (through
``tests.chain.helpers.MemChain``), registrations and envelopes from ``node.provider.work``
(the bytes the reference provider sends), AI outputs from ``TinyModelBackend``, quantum
histograms from the reference prover.  Nothing here restates an AICF rule: tests read the
outcome from state and compare it with answers worked out by hand.

:class:`JobsChain` keeps each key's nonce, so a test writes ``c.block(c.tx(key, kind,
payload), ...)`` and gets the block's output; the ``*_tx`` builders return transactions to
combine into one block, the bare verbs (``register``, ``heartbeat``, ...) run a block of
their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from aicf.records import AicfJob, ProviderRecord, Telemetry
from aicf.store import load_job_record, load_provider
from capabilities.abi import decode_values, encode_args
from capabilities.host import ESCROW_ADDRESS
from capabilities.records import AiRequest, JobReceipt, QuantumRequest, load_job, load_request
from chain.apply import BlockOutput, Receipt, apply_block
from chain.block import Block
from chain.codec import encode
from chain.errors import InvalidBlock
from chain.keys import PrivateKey
from chain.merkle import merkle_root
from chain.module import BlockEnv, Event
from chain.state import StateDB
from chain.tx import SignedTx, TxBody
from chain.types import Address, Hash32
from chain.vm.runtime import CallOutcome, ContractRuntime, contract_address
from genesis.devnet import (
    DEVNET_MEASUREMENT,
    devnet_account_key,
    devnet_attestation_seed,
    devnet_genesis,
    devnet_provider_key,
)
from genesis.schema import Genesis
from node.provider.backends import AiOutput, TinyModelBackend
from node.provider.work import ai_envelope, quantum_envelope, quantum_plan, quantum_run, registration
from proofs.devnet import DevnetSigner
from proofs.envelope import ProofEnvelope
from proofs.quantum.commitment import Histogram
from proofs.quantum.traps import JobPlan
from tests.chain.helpers import MemChain
from tests.chain.vm.contracts import SCRATCH, SCRIPT, Script

GAS = 5_000_000
MODEL = "llama3-8b"
PROMPT = "Is 33 = 3 x 11?"
MAX_TOKENS = 64
AI_CEILING_64 = 98_670
"""Default schedule, llama3-8b, 64 tokens: runtime cap 2,000 + 64 x 50 = 5,200 ms; at the best
QoS 1.15 x 1.10 = 1.265 that is 5,200 x 1.0 x 1.265 = 6,578 milli-units; at 15,000 per unit:
6,578 x 15 = 98,670."""
BELL = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\n" \
       "measure q[0] -> c[0];\nmeasure q[1] -> c[1];\n"
QUANTUM_CEILING_100 = 10_000_000
"""Default schedule, 100 shots at the deepest weight 2.0 and full quality: 200 units at 50,000."""
STAKE = 10_000_000_000
"""The default ``min_stake``."""
HEALTHY = Telemetry(bandwidth_mbps=1_000, latency_ms=10, compute_bp=9_000, temperature_c=50, errors=0)
AGENT_FUNDS = 10**9
SIGNER = DevnetSigner.from_seed(devnet_attestation_seed())
OTHER_SIGNER = DevnetSigner.from_seed(PrivateKey.derive("not-the-devnet-signer").seed)


def tuned_genesis(base: Genesis | None = None, *, capabilities: dict[str, Any] | None = None,
                  **sections: dict[str, Any]) -> Genesis:
    """The devnet genesis with fields of ``aicf`` sections replaced: ``leases={"lease_blocks": 4}``."""
    g = base or devnet_genesis()
    aicf = g.aicf
    for name, fields in sections.items():
        aicf = replace(aicf, **{name: replace(getattr(aicf, name), **fields)})
    caps = replace(g.capabilities, **capabilities) if capabilities else g.capabilities
    return replace(g, aicf=aicf, capabilities=caps)


def fast_genesis(**sections: dict[str, Any]) -> Genesis:
    """Short leases, backoffs, jails, unbonding and SLAs, so a test waits a handful of blocks."""
    tuned: dict[str, dict[str, Any]] = {
        "leases": {"lease_blocks": 4, "backoff_base_blocks": 2, "backoff_max_blocks": 8, "retry_budget": 3},
        "slashing": {"jail_blocks": 3},
        "providers": {"unbonding_blocks": 3},
    }
    for name, fields in sections.items():
        tuned[name] = {**tuned.get(name, {}), **fields}
    caps = tuned.pop("capabilities", {"sla_blocks_ai": 30, "sla_blocks_quantum": 30})
    return tuned_genesis(capabilities=caps, **tuned)


def provider_key(index: int) -> PrivateKey:
    return devnet_provider_key(index)


def account(index: int) -> PrivateKey:
    return devnet_account_key(index)


def aicf_events(out: BlockOutput, name: str, *, requester: bool = False) -> list[dict[str, Any]]:
    """The attributes of the block's ``aicf`` events called ``name`` (block-level and receipts).

    Job events carry the job's ``requester`` (what event subscribers filter on); it is left
    out unless ``requester`` is set, so a test states only what it is about
    (``test_settlement.py`` checks the requester itself).
    """
    found: list[Event] = list(out.events)
    for r in out.receipts:
        found += r.events
    return [{k: v for k, v in e.attrs if requester or k != "requester"}
            for e in found if (e.module, e.name) == ("aicf", name)]


def make_record(seed: int, *, latency_ms: int = 10, leases: int = 0, max_leases: int = 10,
                telemetry: Telemetry | None = None, completed: int = 0, failed: int = 0, missed: int = 0,
                region: str = "local") -> ProviderRecord:
    """A hand-built provider record (for the pure matcher and filter tests)."""
    key = PrivateKey.derive(f"aicf-test/provider/{seed}")
    t = telemetry or replace(HEALTHY, latency_ms=latency_ms)
    return ProviderRecord(
        address=key.address, pubkey=bytes(key.public_key), kinds=("ai",), models=(MODEL,), devices=(),
        region=region, attestation_class="devnet", stake=STAKE, max_leases=max_leases, status="active",
        registered_height=1, heartbeat_height=1, telemetry=t, lease_deadline=100,
        leases=tuple(sorted(Hash32(bytes([seed, i]) * 16) for i in range(leases))),
        completed=completed, failed=failed, missed=missed,
    )


class JobsChain:
    """A :class:`MemChain` with providers, requesters and proofs (module docstring)."""

    def __init__(self, genesis: Genesis | None = None) -> None:
        self.mem = MemChain(genesis or fast_genesis())
        self.genesis = self.mem.genesis
        self.chain_id = self.genesis.chain_id
        self.params = self.genesis.aicf
        self.nonces: dict[bytes, int] = {}
        self.backend = TinyModelBackend()

    # -- reading state --
    def state(self) -> StateDB:
        return self.mem.store.head_state()

    @property
    def height(self) -> int:
        return self.mem.head.height

    def balance(self, address: bytes) -> int:
        return self.state().get_account(address).balance

    def job(self, task: bytes) -> AicfJob:
        job = load_job_record(self.state(), task)
        assert job is not None, "no AICF job under this task id"
        return job

    def receipt(self, task: bytes) -> JobReceipt:
        receipt = load_job(self.state(), task)
        assert receipt is not None
        return receipt

    def request(self, task: bytes) -> AiRequest | QuantumRequest:
        request = load_request(self.state(), task, self.genesis.capabilities)
        assert request is not None
        return request

    def provider(self, index: int) -> ProviderRecord | None:
        return load_provider(self.state(), provider_key(index).address)

    def record(self, index: int) -> ProviderRecord:
        record = self.provider(index)
        assert record is not None, f"provider {index} is not registered"
        return record

    # -- transactions and blocks --
    def tx(self, key: PrivateKey, kind: str, payload: Any, *, gas: int = GAS) -> SignedTx:
        address = bytes(key.address)
        if address not in self.nonces:
            self.nonces[address] = self.state().get_account(address).nonce
        nonce = self.nonces[address]
        self.nonces[address] = nonce + 1
        return TxBody(self.chain_id, nonce, key.public_key, gas, gas, kind, payload).sign(key)

    def build(self, *txs: SignedTx, proofs: Sequence[bytes | ProofEnvelope] = ()) -> tuple[Block, BlockOutput]:
        """Build (not commit) a block on the head; invalid candidates are left out."""
        raws = tuple(p.encode() if isinstance(p, ProofEnvelope) else p for p in proofs)
        return self.mem.build(list(txs), proofs=raws)

    def block(self, *txs: SignedTx, proofs: Sequence[bytes | ProofEnvelope] = ()) -> BlockOutput:
        """Build and commit a block holding exactly ``txs`` and ``proofs``."""
        block, out = self.build(*txs, proofs=proofs)
        assert len(block.txs) == len(txs), "a transaction was left out of the block"
        assert len(block.proofs) == len(proofs), "a proof was left out of the block"
        self.mem.commit(block, out)
        return out

    def empty_blocks(self, n: int) -> list[BlockOutput]:
        return [self.block() for _ in range(n)]

    def until(self, height: int) -> list[BlockOutput]:
        """Commit empty blocks until the head is at ``height``."""
        assert height >= self.height
        return self.empty_blocks(height - self.height)

    def run(self, *txs: SignedTx) -> list[Receipt]:
        return list(self.block(*txs).receipts)

    def refused(self, *proofs: bytes | ProofEnvelope) -> InvalidBlock:
        """Apply a block whose proofs section is exactly ``proofs``: the ``InvalidBlock`` it raises.

        The block is built empty, then given the section and the matching ``proofs_root``
        (as ``tests/chain/test_apply.py`` does), so only execution can object.
        """
        raws = tuple(p.encode() if isinstance(p, ProofEnvelope) else p for p in proofs)
        block, _ = self.mem.build([])
        block = replace(block, proofs=raws, header=replace(block.header, proofs_root=Hash32(merkle_root(raws))),
                        _raw=b"")
        try:
            apply_block(self.state(), self.mem.head, block, self.mem.app)
        except InvalidBlock as exc:
            return exc
        raise AssertionError("the block was accepted")

    # -- providers --
    def register_tx(self, index: int, *, kinds: Iterable[str] = ("ai",), models: Iterable[str] = (MODEL,),
                    devices: Iterable[str] = (), region: str = "local", stake: int = STAKE, max_leases: int = 0,
                    signer: DevnetSigner = SIGNER, measurement: bytes = DEVNET_MEASUREMENT,
                    sender: PrivateKey | None = None) -> SignedTx:
        """``provider_register`` for devnet provider ``index``, sent by ``sender`` (default: itself)."""
        key = provider_key(index)
        payload = registration(self.chain_id, key, signer, kinds=tuple(kinds), models=tuple(models),
                               devices=tuple(devices), region=region, stake=stake, max_leases=max_leases,
                               measurement=measurement)
        return self.tx(sender or key, "provider_register", payload)

    def register(self, index: int, **kwargs: Any) -> Receipt:
        (r,) = self.run(self.register_tx(index, **kwargs))
        return r

    def heartbeat_tx(self, index: int, telemetry: Telemetry = HEALTHY) -> SignedTx:
        t = telemetry
        return self.tx(provider_key(index), "provider_heartbeat",
                       [t.bandwidth_mbps, t.latency_ms, t.compute_bp, t.temperature_c, t.errors])

    def heartbeat(self, *indexes: int, telemetry: Telemetry = HEALTHY) -> list[Receipt]:
        return self.run(*(self.heartbeat_tx(i, telemetry) for i in indexes))

    def providers(self, *indexes: int, **kwargs: Any) -> None:
        """Register providers ``indexes`` in one block and heartbeat them (healthy) in the next."""
        assert all(r.ok for r in self.run(*(self.register_tx(i, **kwargs) for i in indexes)))
        assert all(r.ok for r in self.heartbeat(*indexes))

    # -- requesters --
    def deploy(self, code: bytes, *, key: PrivateKey | None = None) -> Address:
        key = key or account(0)
        tx = self.tx(key, "deploy", [bytes(code), b""])
        address = contract_address(key.address, tx.body.nonce)
        (r,) = self.run(tx)
        assert r.ok, r.reason
        return address

    def deploy_script(self, *, key: PrivateKey | None = None) -> Address:
        """The ``tests.chain.vm.contracts.SCRIPT`` contract: enqueues with any ``opts``."""
        return self.deploy(SCRIPT, key=key)

    def ask_tx(self, agent: Address, model: str = MODEL, prompt: str = PROMPT, max_tokens: int = MAX_TOKENS, *,
               value: int = AGENT_FUNDS, key: PrivateKey | None = None) -> SignedTx:
        """``ai_agent.ask(model, prompt, max_tokens)`` with ``value`` sent along."""
        args = encode_args([("str", model), ("str", prompt), ("u64", max_tokens)])
        return self.tx(key or account(0), "call", [bytes(agent), "ask", args, value])

    def ask_quantum_tx(self, agent: Address, circuit: str = BELL, shots: int = 100, *, value: int = AGENT_FUNDS,
                       key: PrivateKey | None = None) -> SignedTx:
        args = encode_args([("str", circuit), ("u64", shots)])
        return self.tx(key or account(0), "call", [bytes(agent), "ask_quantum", args, value])

    def script_ai_tx(self, contract: Address, model: str = MODEL, prompt: str = PROMPT,
                     max_tokens: int = MAX_TOKENS, *, opts: dict[str, Any] | None = None, value: int = AGENT_FUNDS,
                     key: PrivateKey | None = None) -> SignedTx:
        """The SCRIPT contract calling ``ai_enqueue`` with ``opts`` (which ``ai_agent`` cannot pass)."""
        s = Script()
        m, p, o = model.encode(), prompt.encode(), encode(opts) if opts else b""
        s.op("ai_enqueue", s.data(m), len(m), s.data(p), len(p), max_tokens, s.data(o), len(o), SCRATCH, 256)
        return self.tx(key or account(0), "call", [bytes(contract), "run", s.encode(), value])

    def enqueued(self, *txs: SignedTx, proofs: Sequence[bytes | ProofEnvelope] = ()) -> list[Hash32]:
        """Run a block of enqueuing calls; the task ids they enqueued, in order."""
        out = self.block(*txs, proofs=proofs)
        tasks = []
        for r in out.receipts:
            assert r.ok, r.reason
            tasks += [Hash32(dict(e.attrs)["task_id"]) for e in r.events
                      if (e.module, e.name) == ("capabilities", "enqueued")]
        return tasks

    def ask(self, agent: Address, **kwargs: Any) -> Hash32:
        (task,) = self.enqueued(self.ask_tx(agent, **kwargs))
        return task

    # -- provider work --
    def ai_output(self, task: bytes, *, runtime_ms: int = 1_000, model: str | None = None,
                  text: bytes | None = None) -> AiOutput:
        """What the tiny model outputs for the job (the claimed runtime fixed, so prices are exact)."""
        request = self.request(task)
        assert isinstance(request, AiRequest)
        out = self.backend.run(model or request.model, request.prompt, request.max_tokens)
        return AiOutput(out.text if text is None else text, out.model_digest, runtime_ms)

    def envelope(self, task: bytes, index: int, *, runtime_ms: int = 1_000, p95_latency_ms: int = 1_000,
                 availability_ppm: int = 1_000_000, model: str | None = None, text: bytes | None = None,
                 signer: DevnetSigner = SIGNER, receipt: JobReceipt | None = None,
                 measurement: bytes = DEVNET_MEASUREMENT) -> ProofEnvelope:
        """Provider ``index``'s ``AI_V1`` envelope for the job, built as the reference provider does.

        Defaults: 1,000 ms claimed at p95 1,000 ms (x0.8) and full availability (x1.1), so
        the price is 1,000 x 1.0 x 0.88 = 880 milli-units x 15 = 13,200.
        """
        request = self.request(task)
        assert isinstance(request, AiRequest)
        result = self.ai_output(task, runtime_ms=runtime_ms, model=model, text=text)
        return ai_envelope(self.chain_id, provider_key(index), signer, receipt or self.receipt(task),
                           model or request.model, result, p95_latency_ms=p95_latency_ms,
                           availability_ppm=availability_ppm, measurement=measurement)

    def quantum_work(self, task: bytes, index: int, seed: bytes = b"seed") -> tuple[JobPlan, tuple[Histogram, ...],
                                                                                   bytes]:
        """Provider ``index``'s plan (from its lease's assignment beacon), histograms and root."""
        job = self.job(task)
        lease = job.lease_of(provider_key(index).address)
        assert lease is not None, "the provider holds no lease on this job"
        request = self.request(task)
        assert isinstance(request, QuantumRequest)
        plan = quantum_plan(task, bytes(lease.assign_beacon), request, self.params.quantum)
        histograms, root = quantum_run(plan, seed)
        return plan, histograms, root

    def quantum_commit_tx(self, task: bytes, index: int, root: bytes) -> SignedTx:
        return self.tx(provider_key(index), "quantum_commit", [bytes(task), bytes(root)])

    def quantum_envelope(self, index: int, plan: JobPlan, histograms: Sequence[Histogram],
                         reveal_beacon: bytes) -> ProofEnvelope:
        return quantum_envelope(self.chain_id, provider_key(index), plan, histograms, reveal_beacon)

    # -- contracts --
    @property
    def runtime(self) -> ContractRuntime:
        (module,) = [m for m in self.mem.app.modules if m.name == "contracts"]
        runtime: ContractRuntime = module.runtime  # type: ignore[attr-defined]
        return runtime

    def query(self, contract: Address, method: str, args: bytes = b"", *, height: int | None = None) -> CallOutcome:
        """A read-only call as a block at ``height`` (default: the next one) would make it."""
        head = self.mem.head
        env = BlockEnv(head.chain_id, head.height + 1 if height is None else height, head.time_ms, head.proposer,
                       bytes(head.beacon))
        out, _ = self.runtime.query(self.state(), env, contract, method, args, caller=account(0).address,
                                    gas_limit=GAS)
        return out

    def answer(self, agent: Address, *, height: int | None = None) -> tuple[int, bytes]:
        """``ai_agent.answer()``: ``(0, b"")`` before a result is visible, ``(1, record)`` after."""
        out = self.query(agent, "answer", height=height)
        assert out.ok, out.reason
        (flag,) = decode_values(["u64"], out.return_data[:8])
        if flag == 0:
            return 0, b""
        flag, record = decode_values(["u64", "bytes"], out.return_data)
        return int(flag), bytes(record)


__all__ = [
    "AGENT_FUNDS", "AI_CEILING_64", "BELL", "ESCROW_ADDRESS", "GAS", "HEALTHY", "MAX_TOKENS", "MODEL",
    "OTHER_SIGNER", "PROMPT", "QUANTUM_CEILING_100", "SIGNER", "STAKE", "JobsChain", "account", "aicf_events",
    "fast_genesis", "make_record", "provider_key", "tuned_genesis",
]
