"""The block's proofs section: attributing, verifying and resolving ProofEnvelopes.

The kernel hands every item of the section to :func:`apply_proofs`, in block order, after
the transactions (``chain.module``).  Each item goes through two gates.

**Attribution** (:func:`attribute`; a failure makes the whole block invalid, since no
honest proposer includes such an item; the node's proof pool applies the same check
before it stores or relays anything):

1. the bytes decode as a ``ProofEnvelope`` (``envelope_*``, ``unknown_proof_type``);
2. the nullifier is ``H(type_id, task_id, provider)`` (``nullifier_mismatch``) and unspent
   (``nullifier_used``), in state and earlier in the block;
3. the provider is registered (``unknown_provider``) and its key signed the envelope for
   this chain (``provider_key_mismatch``, ``bad_signature``);
4. the task is a job the AICF knows (``unknown_task``), still open, with an open lease held
   by that provider (``not_leased``: never leased to it, lease expired or ended, the job
   resolved, expired or revoked — a late proof);
5. a quantum job's lease has its commitment and reveal beacon on chain (``not_revealed``).

**Verification** of the attributed envelope, which spends its nullifier whatever the outcome.
The proof type must be the job's (``AI_V1`` for AI jobs, ``QUANTUM_V1`` for quantum), the
body must pass its verifier (``proofs.registry``: attestation, binding, traps, Groth16; the
roots and allowlists are the attestation policy in state, ``aicf.attestation``), and
an AI body must be for this job: its ``model`` is the requested one (``ai_model_mismatch``)
and its ``input_digest`` the job's request digest (``ai_input_mismatch``).  A body that fails
is a **failed proof**: it stays in the block, ends the provider's lease as ``failed`` (a
fault), slashes it ``slashing.bad_proof_bps`` and jails it for ``slashing.jail_blocks``
(``aicf.slashing``), and requeues the job (``aicf.jobs``).

A **verified** envelope is metered by the policy adapter with the AI runtime capped at the
job's allowance (``proofs.policy.ai_runtime_cap_ms``), priced at
``min(price, per-replica ceiling)`` and added to the job's results.  The job resolves when a
quorum of its replicas' output digests agree (``proofs.ai.quorum_verdict`` with threshold
``replicas // 2 + 1``; one replica is its own quorum):

* the ``ResultRecord`` is written (``capabilities.records.record_result``; readable from the
  next block): the provider and proof of the envelope that completed the quorum, the output
  inline (the AI body's output, the quantum user histogram's canonical CBOR);
* the price of each agreeing result moves from escrow to the fund, each becomes a claim the
  epoch's settlement pays (``aicf.settlement``), and the rest of the ceiling returns to the
  requester (``docs/ECONOMICS.md``);
* agreeing leases end ``completed``, dissenting ones ``dissent`` (a fault, slashed), leases
  that had not reported yet end ``released`` (no fault).

When every replica has reported and no digest has a quorum, the job expires, refunded, and
nobody is blamed: the chain cannot tell the honest side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from aicf.attestation import attestation_rules
from aicf.jobs import end_lease, expire, refund, requeue, tier_points
from aicf.params import BPS, AicfParams
from aicf.records import FUND_ADDRESS, LEASED, RESOLVED, AicfJob, Lease, ProviderRecord, WorkEntry
from aicf.settlement import enqueue_claims, note
from aicf.slashing import slash_by_address
from aicf.store import (
    load_job_record,
    load_provider,
    nullifier_used,
    save_job_record,
    spend_nullifier,
)
from capabilities.host import ESCROW_ADDRESS
from capabilities.records import (
    AiRequest,
    CapabilityError,
    CapabilityParams,
    QuantumRequest,
    ResultRecord,
    load_job,
    load_request,
    output_digest_of,
    record_result,
)
from chain.errors import ChainError, ErrorCode, InvalidBlock, InvalidProof
from chain.module import BlockEnv, Event
from chain.state import StateDB
from chain.types import Hash32
from proofs.ai import AiBody, AiVerifyConfig, majority, quorum_verdict
from proofs.envelope import ProofEnvelope, ProofType
from proofs.policy import ai_runtime_cap_ms, meter_ai, price
from proofs.quantum.verify import QuantumResultBody
from proofs.quantum_body import QuantumJob, QuantumVerifyConfig
from proofs.registry import VerifyContext, default_registry

JOB_PROOF_TYPE = {"ai": ProofType.AI_V1, "quantum": ProofType.QUANTUM_V1}
MAX_BLOCK_PROOFS = 64
"""Most envelopes one block's proofs section holds (more makes the block invalid)."""
REGISTRY = default_registry()


@dataclass(frozen=True, slots=True)
class Attributed:
    """An envelope that passed attribution, with the state it names."""

    envelope: ProofEnvelope
    provider: ProviderRecord
    job: AicfJob
    lease: Lease


def attribute(state: StateDB, chain_id: str, raw: bytes) -> Attributed:
    """Attribution, steps 1-5 of the module docstring; ``InvalidProof(reason)`` at the first failure."""
    env = ProofEnvelope.decode(raw)
    env.check_nullifier()
    if nullifier_used(state, env.nullifier):
        raise InvalidProof("nullifier_used", "this (type, task, provider) was already claimed")
    record = load_provider(state, env.provider)
    if record is None:
        raise InvalidProof("unknown_provider", "the provider is not registered", provider=env.provider.hex())
    env.check_signature(chain_id, record.pubkey)
    job = load_job_record(state, env.task_id)
    if job is None:
        raise InvalidProof("unknown_task", "no job has this task id", task_id=env.task_id.hex())
    lease = job.lease_of(env.provider) if job.status == LEASED else None
    if lease is None:
        raise InvalidProof("not_leased", f"the job is {job.status} and the provider holds no open lease on it")
    if job.kind == "quantum" and env.type_id == ProofType.QUANTUM_V1 and not lease.reveal_beacon:
        raise InvalidProof("not_revealed", "the provider's commitment and the beacon after it are not on chain yet")
    return Attributed(env, record, job, lease)


@dataclass(frozen=True, slots=True)
class ProofContext:
    """What verification needs beyond state: genesis's parameters and trust anchors."""

    chain_id: str
    params: AicfParams
    capabilities: CapabilityParams
    ai_config: AiVerifyConfig
    epoch_length: int = 100
    """The chain's ``epoch_length`` (which epoch a claim belongs to, ``aicf.settlement``)."""


def _verify(state: StateDB, att: Attributed, env: BlockEnv, pc: ProofContext) -> tuple[WorkEntry, bytes | None]:
    """Verify the body; the work entry and the output to record inline.  ``InvalidProof`` if it fails."""
    envelope, job = att.envelope, att.job
    if JOB_PROOF_TYPE[job.kind] != envelope.type_id:
        raise InvalidProof("wrong_proof_type", f"a {job.kind} job takes {JOB_PROOF_TYPE[job.kind].name} proofs")
    request = load_request(state, job.task_id, pc.capabilities)
    receipt = load_job(state, job.task_id)
    if request is None or receipt is None:  # pragma: no cover - written together at enqueue
        raise AssertionError("job without its request or receipt")
    quantum = QuantumVerifyConfig()
    if isinstance(request, QuantumRequest):
        quantum = QuantumVerifyConfig.for_jobs(QuantumJob(
            task_id=job.task_id, provider=envelope.provider, circuit=request.circuit.encode(), shots=request.shots,
            assign_beacon=bytes(att.lease.assign_beacon), reveal_beacon=att.lease.reveal_beacon,
            committed_root=att.lease.commit_root), params=pc.params.quantum)
    ai_config, devnet = attestation_rules(state, pc.ai_config, pc.params)
    ctx = VerifyContext(
        chain_id=pc.chain_id, registry=REGISTRY, provider_pubkey=lambda _: att.provider.pubkey,
        policy=pc.params.pricing, now=env.time_ms // 1000, devnet=devnet,
        type_config={ProofType.AI_V1: ai_config, ProofType.QUANTUM_V1: quantum},
    )
    verifier = REGISTRY.get(envelope.type_id)
    assert verifier is not None
    result = verifier(envelope, ctx)
    units, qos = result.units, result.qos_bp
    output: bytes | None
    if isinstance(request, AiRequest):
        body = AiBody.decode(envelope.body)
        if body.model != request.model:
            raise InvalidProof("ai_model_mismatch", f"the job asked for {request.model!r}, the proof ran {body.model!r}")
        if body.input_digest != receipt.request_digest:
            raise InvalidProof("ai_input_mismatch", "input_digest is not the job's request digest")
        ai = pc.params.pricing.ai
        runtime = min(body.runtime_ms, ai_runtime_cap_ms(request.model, request.max_tokens, ai))
        metering = meter_ai(body.model, runtime, body.qos.p95_latency_ms, body.qos.availability_ppm, ai)
        units, qos, output = metering.units, metering.qos_bp, body.output
        rate = ai.base_rate_per_unit
        multipliers = (metering.weight_bp, metering.latency_bp, metering.availability_bp)
    else:
        output = QuantumResultBody.decode(envelope.body).user_histogram.encode()
        rate = pc.params.pricing.quantum.base_rate_per_unit
        multipliers = (result.weight_bp, BPS, BPS)
    amount = min(price(units, rate), job.per_replica_ceiling)
    work = WorkEntry(envelope.provider, result.output_digest, Hash32(envelope.hash()), units, qos, amount, env.height,
                     producer=bytes(env.proposer), base_rate=rate, weight_bp=multipliers[0],
                     latency_bp=multipliers[1], availability_bp=multipliers[2])
    return work, output


def _pay(state: StateDB, amount: int) -> None:
    """The agreeing replicas' prices: escrow → fund (the epoch's ``fees_in``)."""
    if amount > 0:
        if not state.debit(ESCROW_ADDRESS, amount):  # pragma: no cover - escrow holds every open job's ceiling
            raise AssertionError("escrow short of an open job's ceiling")
        state.credit(FUND_ADDRESS, amount)
        note(state, fees=amount)


def _resolve(state: StateDB, job: AicfJob, work: WorkEntry, output: bytes | None, env: BlockEnv,
             params: AicfParams, epoch_length: int) -> tuple[AicfJob, list[Event]]:
    verdict = quorum_verdict([(r.provider, r.output_digest) for r in job.results], majority(job.replicas))
    if verdict.agreed_digest is None:
        if len(job.results) < job.replicas:
            return job, []
        for lease in job.leases:
            job, _ = end_lease(state, job, lease.provider, env.height, "released", params)  # no fault
        return expire(state, job, env.height, "no_quorum", params)
    digest = output_digest_of(output) if output is not None else work.output_digest
    record_result(state, job.task_id, ResultRecord(job.task_id, work.provider, digest, output, env.height,
                                                   work.proof_hash))
    agreeing = tuple(r for r in job.results if r.provider in verdict.agreeing)
    paid = sum(r.price for r in agreeing)
    _pay(state, paid)
    enqueue_claims(state, job.task_id, job.kind, max(tier_points(job.requester, params), 0), agreeing, env.height,
                   epoch_length)
    events: list[Event] = []
    for lease in job.leases:
        outcome = ("completed" if lease.provider in verdict.agreeing
                   else "dissent" if lease.provider in verdict.dissenters else "released")
        job, slashed = end_lease(state, job, lease.provider, env.height, outcome, params)
        events += slashed
    rest = job.ceiling - paid
    refund(state, job, rest)
    job = replace(job, status=RESOLVED, end_height=env.height, end_reason="verified", paid=paid, refunded=rest,
                  dissent=tuple(verdict.dissenters))
    return job, [*events, Event("aicf", "job_resolved", (
        ("task_id", bytes(job.task_id)), ("requester", bytes(job.requester)), ("provider", bytes(work.provider)),
        ("price", paid), ("refund", rest)))]


def _fail(state: StateDB, att: Attributed, reason: str, env: BlockEnv, params: AicfParams) -> list[Event]:
    job, _ = end_lease(state, att.job, att.envelope.provider, env.height, "failed", params)
    slashed = slash_by_address(state, att.envelope.provider, "bad_proof", params.slashing.bad_proof_bps, env.height,
                               job.task_id, params)
    job, events = requeue(state, job, env.height, params, "proof_failed")
    save_job_record(state, job)
    return [Event("aicf", "proof_failed", (("task_id", bytes(job.task_id)),
                                           ("provider", bytes(att.envelope.provider)), ("reason", reason))),
            *slashed, *events]


def apply_proofs(state: StateDB, env: BlockEnv, proofs: Sequence[bytes], pc: ProofContext) -> list[Event]:
    """Apply the proofs section (module docstring)."""
    if len(proofs) > MAX_BLOCK_PROOFS:
        raise InvalidBlock(f"{len(proofs)} proofs in one block (at most {MAX_BLOCK_PROOFS})",
                           code=ErrorCode.BLOCK_TOO_LARGE)
    events: list[Event] = []
    for index, raw in enumerate(proofs):
        try:
            att = attribute(state, pc.chain_id, raw)
        except InvalidProof as exc:
            raise InvalidBlock(f"proof {index} cannot be attributed: {exc.reason}", code=ErrorCode.BLOCK_INVALID,
                               index=index, reason=exc.reason) from exc
        spend_nullifier(state, att.envelope.nullifier)
        try:
            work, output = _verify(state, att, env, pc)
        except ChainError as exc:  # InvalidProof, or a body's bytes that decode to nothing valid
            events += _fail(state, att, getattr(exc, "reason", exc.code.name.lower()), env, pc.params)
            continue
        job = replace(att.job, results=(*att.job.results, work))
        try:
            job, more = _resolve(state, job, work, output, env, pc.params, pc.epoch_length)
        except CapabilityError as exc:  # the result store refused it (e.g. an oversize output)
            events += _fail(state, att, exc.reason, env, pc.params)
            continue
        save_job_record(state, job)
        events.append(Event("aicf", "proof_verified", (("task_id", bytes(job.task_id)),
                                                       ("provider", bytes(work.provider)), ("units", work.units))))
        events += more
    return events
