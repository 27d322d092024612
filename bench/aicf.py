"""The AI Compute Fund: matcher time per block, proof-section time per envelope, result latency.

Every timed figure is printed with its ratio to the anchor, measured in the same run:

(a)  raw single-core Ed25519 verify with ``cryptography`` (a 32-byte message), one call.

(m)  ``aicf.jobs.match`` for one block, once per strategy of ``aicf.params.MatcherParams``
     (``weighted_health``, ``round_robin``, ``least_loaded``, ``latency_aware``), with the
     default ``max_assignments_per_block`` (256) and ``max_scan_per_lane`` (512).  State:
     1,000 providers (``ProviderRecord`` after a heartbeat: telemetry varied within the
     breaker's limits, ``max_leases`` 50, no open lease) and 10,000 queued one-replica AI
     jobs (``AicfJob``, priority from ``aicf.jobs.priority_key``) over 10 lanes
     ``ai/bench-m0`` .. ``ai/bench-m9``, 1,000 jobs each.  Written through ``aicf.store``:
     ``save_provider`` + ``index_provider``, ``save_job_record``, and each lane's queue in one
     ``save_lane`` of the entries sorted by ``QueueEntry.order`` (the lane 10,000
     ``store.enqueue`` calls would build, without their quadratic set-up time), then
     committed to a ``MemoryKV`` (``chain.state.StateDB`` from ``EMPTY_ROOT``); every sample
     runs on a new ``StateDB`` over that root with the flat index, as a validator's block does.
     (m1) each provider serves one model: 100 providers per lane;
     (m2) every provider serves all 10 models: 1,000 per lane (lanes written with one
          ``save_lane`` each; the provider directory, which the matcher does not read, left
          out).
     The matcher visits lanes in order and the first lane alone fills the block's 256
     assignments, so these are 256 jobs taken from a 1,000-deep queue.  Per block and per
     assignment (÷ 256), each as a ratio to (a).
(e)  ``aicf.store.enqueue`` of one more job into a lane holding 1,000 (what ``intake`` pays
     per lane and block: it inserts a block's jobs for one lane at once), on the (m1) state,
     reverted after each call.

(p)  ``aicf.resolver.apply_proofs`` of a block's proofs section holding one envelope, on the
     state of a ``MemChain`` (the real kernel, devnet genesis) in which the job is leased to
     the provider, as the next block would run it; the state is reverted (``snapshot`` /
     ``revert``, untimed) between calls.  The chain: a provider registers (devnet
     attestation) and heartbeats; an account deploys the ``ai_agent`` sample contract (built
     from source with ``contracts/build.py`` into a temporary directory) and calls ``ask``
     (model ``llama3-8b``, 64 tokens, ``TinyModelBackend``) or ``ask_quantum`` (the 12-qubit,
     depth-20 circuit of ``bench/proofs.py``, 1,000 shots).
     (p1) AI_V1 with devnet attestation (``node.provider.work.ai_envelope``): attribution,
          the envelope signature and the attestation (two Ed25519 verifies), metering,
          pricing, the result record and the payout;
     (p2) QUANTUM_V1 (``quantum_plan`` / ``quantum_run`` / ``quantum_commit`` transaction /
          the reveal beacon / ``quantum_envelope``): the same around the trap check, whose
          cost is simulating the opened trap circuits.  Also against (q), the statevector
          simulation of the user circuit (``simulate_histogram``, 1,000 shots: what an
          honest provider spends on one slot, the (p6) anchor of ``bench/proofs.py``).
     Also ``aicf.resolver.attribute`` alone (decode, nullifier, signature, lease look-up).

(l)  Enqueue → readable result, in blocks, on the same chains: the enqueuing ``call`` is in
     block H; a provider that reacts to every committed block at once puts its transaction or
     envelope in the next one; after each block the contract's ``answer`` is run as the next
     block would run it (a read-only query on the head state) until it returns the result.
     AI: proof in H+1, readable in H+2.  Quantum: ``quantum_commit`` in H+1, the reveal
     beacon recorded at the end of H+2, proof in H+3, readable in H+4.  A count of blocks,
     not a time.

Sampling: each round takes one sample of every figure in turn (median of
``BENCH_AICF_ROUNDS``, default 5); a matcher sample is one block, a fast call's sample the
mean over a batch of about ``BENCH_AICF_BATCH_S`` (0.1) seconds.  About 40 s on a 2-core VM.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aicf import store
from aicf.jobs import match, priority_key
from aicf.module import AicfModule
from aicf.params import STRATEGIES, AicfParams
from aicf.records import ACTIVE, LEASED, QUEUED, AicfJob, Lane, ProviderRecord, QueueEntry, Telemetry
from aicf.resolver import ProofContext, apply_proofs, attribute
from bench.proofs import user_qasm
from capabilities.abi import decode_values, encode_args
from capabilities.records import AiRequest, QuantumRequest, ResultRecord, load_job, load_request
from chain.hashing import H
from chain.keys import PrivateKey
from chain.kv import MemoryKV
from chain.module import BlockEnv
from chain.smt import EMPTY_ROOT
from chain.state import StateDB
from chain.tx import SignedTx, TxBody
from chain.types import Address, Hash32
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key, devnet_attestation_seed, devnet_provider_key
from node.chain_service import contracts_runtime
from node.provider.backends import TinyModelBackend
from node.provider.quantum import simulate_histogram
from node.provider.work import ai_envelope, quantum_envelope, quantum_plan, quantum_run, registration
from proofs.devnet import DevnetSigner
from proofs.quantum.qasm import parse_qasm
from proofs.quantum.traps import JobPlan
from tests.chain.helpers import MemChain

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_AICF_ROUNDS", "5"))
BATCH_S = float(os.environ.get("BENCH_AICF_BATCH_S", "0.1"))

PROVIDERS = 1_000
JOBS = 10_000
MODELS = 10
MATCH_HEIGHT = 50
"""The height of the matched block; jobs were enqueued at heights 1 .. MATCH_HEIGHT - 1."""
BENCH_CHAIN = "cairn-bench-devnet"

AI_MODEL = "llama3-8b"
AI_PROMPT = "Summarize the rules of the AI Compute Fund in one paragraph."
AI_MAX_TOKENS = 64
QUANTUM_SHOTS = 1_000
ASK_VALUE = 10**12
"""Value sent with each ``ask``: the contract escrows the job's ceiling from its balance."""
TX_GAS = 5_000_000
MAX_FLOW_BLOCKS = 8

Sample = Callable[[], float]


# --------------------------------------------------------------------------- timing


def interleaved(cases: dict[str, Sample], rounds: int) -> dict[str, float]:
    """Median of ``rounds`` samples of every case, one sample of each in turn per round."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            samples[name].append(case())
    return {name: statistics.median(values) for name, values in samples.items()}


def batched(call: Callable[[], object], *, setup: Callable[[], Any] | None = None,
            teardown: Callable[[Any], None] | None = None) -> Sample:
    """Seconds per ``call`` over a batch of about ``BATCH_S``; ``setup``/``teardown`` around
    each call are not timed (``teardown`` gets what ``setup`` returned)."""

    def run(n: int) -> float:
        spent = 0.0
        for _ in range(n):
            token = setup() if setup is not None else None
            start = time.perf_counter()
            call()
            spent += time.perf_counter() - start
            if teardown is not None:
                teardown(token)
        return spent

    first = run(1)  # warm-up; sizes the batch
    n = max(1, int(BATCH_S / max(first, 1e-7)))
    return lambda: run(n) / n


def ed25519_case() -> Sample:
    key = Ed25519PrivateKey.generate()
    pub, msg = key.public_key().public_bytes_raw(), b"\x42" * 32
    sig = key.sign(msg)
    return batched(lambda: Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg))


# --------------------------------------------------------------------------- (m) the matcher


def _n(i: int) -> bytes:
    return i.to_bytes(4, "big")


def _model(k: int) -> str:
    return f"bench-m{k}"


def bench_provider(i: int, models: Sequence[str]) -> ProviderRecord:
    """Provider ``i`` after a heartbeat a few blocks before ``MATCH_HEIGHT``; within the breaker."""
    heartbeat = MATCH_HEIGHT - 1 - i % 5
    return ProviderRecord(
        address=Address(H(b"bench/aicf/provider", _n(i))[:20]), pubkey=H(b"bench/aicf/provider-key", _n(i)),
        kinds=("ai",), models=tuple(sorted(models)), devices=(), region="local", attestation_class="devnet",
        stake=10**12, max_leases=50, status=ACTIVE, registered_height=1, heartbeat_height=heartbeat,
        telemetry=Telemetry(bandwidth_mbps=100 + (i * 37) % 900, latency_ms=5 + (i * 53) % 90,
                            compute_bp=1_000 + (i * 71) % 9_000, temperature_c=40 + i % 40, errors=i % 5),
        lease_deadline=heartbeat + 20, completed=i % 7, failed=i % 3 // 2, missed=i % 11 // 10,
    )


def bench_jobs(params: AicfParams) -> dict[str, list[AicfJob]]:
    """``JOBS`` queued AI jobs, round-robin over the ``MODELS`` lanes."""
    lanes: dict[str, list[AicfJob]] = {f"ai/{_model(k)}": [] for k in range(MODELS)}
    for j in range(JOBS):
        lane = f"ai/{_model(j % MODELS)}"
        ceiling = 50_000 + (j * 7_919) % 100_000
        height = 1 + (j * 13) % (MATCH_HEIGHT - 1)
        requester = Address(H(b"bench/aicf/requester", _n(j % 50))[:20])
        lanes[lane].append(AicfJob(
            task_id=Hash32(H(b"bench/aicf/job", _n(j))), kind="ai", lane=lane, status=QUEUED, requester=requester,
            origin=requester, replicas=1, ceiling=ceiling, deadline=height + 300, enqueue_height=height,
            priority=priority_key(ceiling, requester, 200 + (j * 31) % 3_000, height, params)))
    return lanes


def commit_state(state: StateDB) -> tuple[MemoryKV, bytes]:
    """Fold ``state`` into a new ``MemoryKV`` (tree nodes and flat index); its root."""
    out = state.commit()
    kv = MemoryKV()
    kv.write_batch({**out.node_writes, **out.flat_writes})
    return kv, out.root


@dataclass
class MatcherState:
    """A committed AICF state with ``JOBS`` queued jobs and ``PROVIDERS`` providers."""

    kv: MemoryKV
    root: bytes
    per_lane: int

    def fresh(self) -> StateDB:
        return StateDB(self.kv, self.root, flat=self.kv)


def matcher_state(params: AicfParams, *, wide: bool) -> MatcherState:
    """(m1) one model per provider through ``index_provider``; (m2) every model, lanes written directly."""
    state = StateDB(MemoryKV(), EMPTY_ROOT)
    jobs = bench_jobs(params)
    everything = tuple(_model(k) for k in range(MODELS))
    records = [bench_provider(i, everything if wide else (_model(i % MODELS),)) for i in range(PROVIDERS)]
    for record in records:
        store.save_provider(state, record)
        if not wide:
            store.index_provider(state, record)
    for lane, lane_jobs in jobs.items():
        for job in lane_jobs:
            store.save_job_record(state, job)
        queue = tuple(sorted((QueueEntry(j.priority, j.enqueue_height, j.task_id) for j in lane_jobs),
                             key=QueueEntry.order))
        current = store.load_lane(state, lane)
        providers = tuple(sorted(r.address for r in records)) if wide else current.providers
        store.save_lane(state, lane, Lane(queue, providers, current.cursor))
    kv, root = commit_state(state)
    per_lane = len(store.load_lane(StateDB(kv, root, flat=kv), f"ai/{_model(0)}").providers)
    return MatcherState(kv, root, per_lane)


def match_env() -> BlockEnv:
    return BlockEnv(BENCH_CHAIN, MATCH_HEIGHT, 1_767_225_600_000 + MATCH_HEIGHT * 1_000,
                    Address(H(b"bench/aicf/proposer", b"")[:20]), H(b"bench/aicf/beacon", b""))


def match_case(ms: MatcherState, params: AicfParams, strategy: str) -> tuple[Sample, int]:
    """One block of matching on a fresh state per sample; (sample, assignments per block)."""
    p = replace(params, matcher=replace(params.matcher, strategy=strategy))
    env = match_env()
    assigned = sum(1 for e in match(ms.fresh(), env, p) if e.name == "job_assigned")

    def sample() -> float:
        state = ms.fresh()
        start = time.perf_counter()
        match(state, env, p)
        return time.perf_counter() - start

    return sample, assigned


def enqueue_case(ms: MatcherState) -> Sample:
    state = ms.fresh()
    lane = f"ai/{_model(0)}"
    depth = len(store.load_lane(state, lane).queue)
    if depth != JOBS // MODELS:
        raise SystemExit(f"bench aicf: lane {lane} holds {depth} jobs, expected {JOBS // MODELS}")
    entry = QueueEntry(10, MATCH_HEIGHT, Hash32(H(b"bench/aicf/new-job", b"")))
    return batched(lambda: store.enqueue(state, lane, entry), setup=state.snapshot, teardown=state.revert)


# --------------------------------------------------------------------------- (p), (l) the chain flows


def build_ai_agent() -> bytes:
    """The ``ai_agent`` sample, built from source into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="cairn-bench-aicf-") as out:
        proc = subprocess.run([sys.executable, str(ROOT / "contracts" / "build.py"), out],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"bench aicf: contracts/build.py failed: {proc.stderr.strip()}")
        return (Path(out) / "ai_agent.wasm").read_bytes()


@dataclass
class Flow:
    """One job's life on a ``MemChain``: the enqueue, the provider's reaction, the result."""

    kind: str
    code: bytes
    mem: MemChain = field(default_factory=MemChain)
    provider: PrivateKey = field(default_factory=lambda: devnet_provider_key(0))
    user: PrivateKey = field(default_factory=lambda: devnet_account_key(0))
    nonces: dict[bytes, int] = field(default_factory=dict)
    contract: Address = field(default_factory=lambda: Address(bytes(20)))
    task_id: bytes = b""
    enqueue_height: int = 0
    proof_height: int = 0
    plan: JobPlan | None = None
    histograms: tuple[Any, ...] = ()

    @property
    def chain_id(self) -> str:
        return self.mem.genesis.chain_id

    def tx(self, key: PrivateKey, kind: str, payload: list[Any]) -> SignedTx:
        nonce = self.nonces.get(bytes(key.address), 0)
        self.nonces[bytes(key.address)] = nonce + 1
        return TxBody(self.chain_id, nonce, key.public_key, TX_GAS, TX_GAS, kind, payload).sign(key)

    def block(self, txs: Sequence[SignedTx] = (), proofs: Sequence[bytes] = ()) -> list[Any]:
        """Build and commit the next block; its events (every receipt must be ok)."""
        blk, out = self.mem.build(list(txs), proofs=tuple(proofs))
        for receipt in out.receipts:
            if not receipt.ok:
                raise SystemExit(f"bench aicf: a {self.kind} set-up transaction failed: {receipt.reason}")
        self.mem.commit(blk, out)
        return [*(e for r in out.receipts for e in r.events), *out.events]

    def start(self) -> None:
        """Register, heartbeat, deploy and enqueue: the job is leased to the provider at the end of H."""
        signer = DevnetSigner.from_seed(devnet_attestation_seed())
        if self.kind == "ai":
            reg = registration(self.chain_id, self.provider, signer, kinds=["ai"], models=[AI_MODEL],
                               stake=self.mem.genesis.aicf.providers.min_stake)
        else:
            reg = registration(self.chain_id, self.provider, signer, kinds=["quantum"],
                               stake=self.mem.genesis.aicf.providers.min_stake)
        self.contract = contract_address(self.user.address, self.nonces.get(bytes(self.user.address), 0))
        self.block([self.tx(self.user, "deploy", [self.code, b""]),
                    self.tx(self.provider, "provider_register", reg)])
        self.block([self.tx(self.provider, "provider_heartbeat", [1_000, 10, 9_000, 50, 0])])
        if self.kind == "ai":
            method, args = "ask", encode_args([("str", AI_MODEL), ("str", AI_PROMPT), ("u64", AI_MAX_TOKENS)])
        else:
            method, args = "ask_quantum", encode_args([("str", user_qasm().decode()), ("u64", QUANTUM_SHOTS)])
        events = self.block([self.tx(self.user, "call", [bytes(self.contract), method, args, ASK_VALUE])])
        self.enqueue_height = self.mem.head.height
        self.task_id = next(dict(e.attrs)["task_id"] for e in events if e.name == "enqueued")
        job = self.job()
        if job.status != LEASED or job.lease_of(self.provider.address) is None:
            raise SystemExit(f"bench aicf: the {self.kind} job was not leased at the end of its enqueue block")

    def state(self) -> StateDB:
        return self.mem.store.head_state()

    def job(self) -> AicfJob:
        job = store.load_job_record(self.state(), self.task_id)
        assert job is not None
        return job

    def react(self) -> tuple[list[SignedTx], list[bytes]]:
        """What the provider puts in the next block, seeing the head state."""
        job = self.job()
        lease = job.lease_of(self.provider.address)
        if job.status != LEASED or lease is None:
            return [], []
        state = self.state()
        request = load_request(state, self.task_id, self.mem.genesis.capabilities)
        if self.kind == "ai":
            receipt = load_job(state, self.task_id)
            assert isinstance(request, AiRequest) and receipt is not None
            result = TinyModelBackend().run(request.model, request.prompt, request.max_tokens)
            return [], [ai_envelope(self.chain_id, self.provider, DevnetSigner.from_seed(devnet_attestation_seed()),
                                    receipt, request.model, result).encode()]
        assert isinstance(request, QuantumRequest)
        if not lease.commit_root:
            self.plan = quantum_plan(self.task_id, bytes(lease.assign_beacon), request, self.mem.genesis.aicf.quantum)
            self.histograms, root = quantum_run(self.plan, H(b"bench/aicf/shots", self.task_id))
            return [self.tx(self.provider, "quantum_commit", [bytes(self.task_id), root])], []
        if lease.reveal_beacon and self.plan is not None:
            return [], [quantum_envelope(self.chain_id, self.provider, self.plan, self.histograms,
                                         lease.reveal_beacon).encode()]
        return [], []  # committed; waiting for the reveal beacon

    def advance_to_proof(self) -> bytes:
        """Run blocks (the provider reacting) until its envelope is due; the envelope."""
        for _ in range(MAX_FLOW_BLOCKS):
            txs, proofs = self.react()
            if proofs:
                return proofs[0]
            self.block(txs)
        raise SystemExit(f"bench aicf: the {self.kind} provider never had a proof to send")

    def next_env(self) -> BlockEnv:
        head = self.mem.head
        return BlockEnv(self.chain_id, head.height + 1, head.time_ms + 1_000, self.mem.validator.address,
                        bytes(head.beacon))

    def answer(self) -> ResultRecord | None:
        """The contract's ``answer`` as the next block would run it."""
        runtime = contracts_runtime(self.mem.app)
        out, _ = runtime.query(self.state(), self.next_env(), self.contract, "answer", b"",
                               caller=self.user.address, gas_limit=TX_GAS)
        if out.status != "ok":
            raise SystemExit(f"bench aicf: answer() failed: {out.reason}")
        (found,) = decode_values(["u64"], out.return_data[:8])
        if found == 0:
            return None
        (record,) = decode_values(["bytes"], out.return_data[8:])
        return ResultRecord.decode(record)

    def finish(self, envelope: bytes) -> int:
        """Include the envelope, then blocks until ``answer`` returns it; the readable height."""
        self.block(proofs=[envelope])
        self.proof_height = self.mem.head.height
        for _ in range(MAX_FLOW_BLOCKS):
            result = self.answer()
            if result is not None:
                if result.committed_height != self.proof_height:
                    raise SystemExit("bench aicf: the result was not committed by the proof's block")
                return self.mem.head.height + 1
            self.block()
        raise SystemExit(f"bench aicf: the {self.kind} result never became readable")


def proof_context(mem: MemChain) -> ProofContext:
    module = mem.app.proof_module
    if not isinstance(module, AicfModule):
        raise SystemExit("bench aicf: the devnet application's proof module is not the AICF")
    return module.proof_context


def proof_cases(flow: Flow, envelope: bytes) -> tuple[Sample, Sample]:
    """(apply_proofs of the one-envelope section, attribute alone), on the state before the proof."""
    state, env, pc = flow.state(), flow.next_env(), proof_context(flow.mem)
    mark = state.snapshot()
    events = apply_proofs(state, env, [envelope], pc)
    state.revert(mark)
    if not any(e.name == "job_resolved" for e in events):
        raise SystemExit(f"bench aicf: the {flow.kind} envelope did not resolve its job: "
                         f"{[(e.name, e.attrs) for e in events]}")
    full = batched(lambda: apply_proofs(state, env, [envelope], pc), setup=state.snapshot, teardown=state.revert)
    gate = batched(lambda: attribute(state, pc.chain_id, envelope))
    return full, gate


def simulation_case() -> Sample:
    circuit = parse_qasm(user_qasm())
    seed = H(b"bench/aicf/sim", b"")
    return batched(lambda: simulate_histogram(circuit, QUANTUM_SHOTS, seed))


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:10.3f} ms"


def main() -> None:
    started = time.perf_counter()
    params = AicfParams()
    mp = params.matcher
    narrow, wide = matcher_state(params, wide=False), matcher_state(params, wide=True)
    setup_s = time.perf_counter() - started

    code = build_ai_agent()
    flows = {kind: Flow(kind, code) for kind in ("ai", "quantum")}
    envelopes: dict[str, bytes] = {}
    for kind, flow in flows.items():
        flow.start()
        envelopes[kind] = flow.advance_to_proof()

    cases: dict[str, Sample] = {"ed25519": ed25519_case(), "sim": simulation_case()}
    assigned: dict[str, int] = {}
    for label, ms in (("m1", narrow), ("m2", wide)):
        for strategy in STRATEGIES:
            cases[f"{label}/{strategy}"], assigned[f"{label}/{strategy}"] = match_case(ms, params, strategy)
    cases["enqueue"] = enqueue_case(narrow)
    for kind, flow in flows.items():
        cases[f"{kind}/apply"], cases[f"{kind}/attribute"] = proof_cases(flow, envelopes[kind])
    t = interleaved(cases, ROUNDS)
    ed = t["ed25519"]

    print(f"## aicf: matcher per block, proofs section per envelope, enqueue -> result latency "
          f"(median of {ROUNDS} interleaved rounds), ratio = time / (a)")
    print(f"(a)  Ed25519 verify, 1 core                          {_ms(ed)}   ({1 / ed:,.0f} /s)")
    for label, ms in (("m1", narrow), ("m2", wide)):
        print(f"(m{label[1]}) match(): {JOBS:,} queued jobs in {MODELS} lanes, {PROVIDERS:,} providers "
              f"({ms.per_lane} per lane), max_assignments_per_block {mp.max_assignments_per_block}, "
              f"max_scan_per_lane {mp.max_scan_per_lane}")
        for strategy in STRATEGIES:
            key = f"{label}/{strategy}"
            block, n = t[key], assigned[key]
            per = block / max(n, 1)
            print(f"     {strategy:16s} {_ms(block)} per block ({n} assignments)   ratio {block / ed:9,.0f}   "
                  f"{per * 1e3:7.3f} ms per assignment   ratio {per / ed:6.1f}")
    print(f"(e)  store.enqueue into a {JOBS // MODELS:,}-deep lane            {_ms(t['enqueue'])}   "
          f"ratio {t['enqueue'] / ed:,.0f}")
    print(f"(q)  statevector simulation, 12-qubit user circuit  {_ms(t['sim'])}   ratio {t['sim'] / ed:.1f}")
    for kind, label, name in (("ai", "p1", "AI_V1, devnet attestation"), ("quantum", "p2", "QUANTUM_V1")):
        full, gate = t[f"{kind}/apply"], t[f"{kind}/attribute"]
        extra = f"   vs (q) {full / t['sim']:.2f}" if kind == "quantum" else ""
        print(f"({label}) apply_proofs, one {name:26s} {_ms(full)}   ratio {full / ed:6.1f}{extra}   "
              f"(attribute alone {gate * 1e3:.3f} ms, ratio {gate / ed:.1f}; {len(envelopes[kind]):,} B envelope)")
    for kind, flow in flows.items():
        readable = flow.finish(envelopes[kind])
        h = flow.enqueue_height
        print(f"(l)  {kind:7s} enqueue -> readable result: {readable - h} blocks "
              f"(enqueue H={h}, proof in H+{flow.proof_height - h}, answer() returns it from H+{readable - h})")
    print(f"(aicf bench took {time.perf_counter() - started:.1f} s, of which {setup_s:.1f} s matcher state set-up)")


if __name__ == "__main__":
    main()
