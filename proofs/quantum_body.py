"""QUANTUM_V1 in the envelope registry: the job data the chain supplies, and the body verifier.

The body is ``proofs.quantum.verify.QuantumResultBody``; what it is checked against is state,
not evidence: the job (circuit, shots), the beacon of the block that assigned it, the root
the provider committed to, and the beacon of a block after that commitment.  The AICF module
supplies them through ``ctx.type_config[ProofType.QUANTUM_V1]``, a
:class:`QuantumVerifyConfig` holding a lookup ``job(task_id) -> QuantumJob | None`` (a view of
state, so one context serves a whole block) and the genesis ``QuantumParams``.

``verify_quantum_body(envelope, ctx)``, after ``verify_envelope``'s shared checks:

1. the job is known: a config is present and ``job(envelope.task_id)`` is not None
   (``quantum_job_unknown``);
2. the job is this envelope's: same task id (``quantum_task_mismatch``), and the envelope's
   provider is the one the job was assigned to, whose commitment is on chain
   (``quantum_provider_mismatch``);
3. ``verify_quantum_result(body, QuantumContext(...))`` with the chain id, the job data and
   the provider's registered key (``ctx.provider_pubkey``, the key that signed the envelope
   signs the result certificate too) — its ``quantum_*``/``qasm_*`` reasons pass through;
4. priced by ``policy.meter_quantum(shots, depth, quality_bp, ctx.policy.quantum)``.

The result's ``output_digest`` is ``H("cairn/quantum/output/v1", encode(user_histogram))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chain.errors import InvalidProof
from chain.types import Address, Hash32
from proofs.envelope import ProofEnvelope, ProofType
from proofs.policy import meter_quantum
from proofs.quantum.verify import QuantumContext, QuantumParams, verify_quantum_result
from proofs.registry import BodyResult, VerifyContext


@dataclass(frozen=True, slots=True)
class QuantumJob:
    """What the chain recorded about one quantum job (``ValueError`` if malformed)."""

    task_id: Hash32
    """The job's task id."""
    provider: Address
    """The provider the job is assigned to (the one whose commitment is on chain)."""
    circuit: bytes
    """The user circuit's OpenQASM 2.0 text, as enqueued."""
    shots: int
    """Shots the job asked for."""
    assign_beacon: bytes
    """``B_a``: beacon of the block that assigned the job (derives the trap circuits)."""
    reveal_beacon: bytes
    """``B_r``: beacon of a block after the one that recorded the commitment (opens traps)."""
    committed_root: bytes
    """The Merkle root of all slot histograms the provider committed to on chain."""

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, Hash32) or not isinstance(self.provider, Address):
            raise ValueError("task_id must be a Hash32 and provider an Address")
        for name in ("assign_beacon", "reveal_beacon", "committed_root"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise ValueError(f"{name} must be 32 bytes")
        if not isinstance(self.circuit, bytes):
            raise ValueError("circuit must be bytes")
        if not isinstance(self.shots, int) or isinstance(self.shots, bool) or self.shots < 1:
            raise ValueError("shots must be a positive integer")


def _no_job(_: Hash32) -> QuantumJob | None:
    return None


@dataclass(frozen=True, slots=True)
class QuantumVerifyConfig:
    """``ctx.type_config[ProofType.QUANTUM_V1]``."""

    job: Callable[[Hash32], QuantumJob | None] = _no_job
    """The job recorded for a task id, or None (a view of state)."""
    params: QuantumParams = field(default_factory=QuantumParams)
    """Genesis's QUANTUM_V1 parameters (trap counts, noise allowance, shot bounds)."""

    @classmethod
    def for_jobs(cls, *jobs: QuantumJob, params: QuantumParams | None = None) -> QuantumVerifyConfig:
        """A config that knows exactly ``jobs`` (tests, and a caller that verifies one job)."""
        table = {bytes(j.task_id): j for j in jobs}
        if len(table) != len(jobs):
            raise ValueError("two jobs with one task id")
        return cls(job=lambda task_id: table.get(bytes(task_id)), params=params or QuantumParams())


def quantum_context(
    job: QuantumJob, *, chain_id: str, provider_pubkey: bytes, params: QuantumParams
) -> QuantumContext:
    """The ``QuantumContext`` of ``job`` for verifying its result on ``chain_id``."""
    return QuantumContext(
        chain_id=chain_id,
        task_id=bytes(job.task_id),
        circuit=job.circuit,
        shots=job.shots,
        assign_beacon=job.assign_beacon,
        reveal_beacon=job.reveal_beacon,
        committed_root=job.committed_root,
        provider_pubkey=provider_pubkey,
        params=params,
    )


def verify_quantum_body(envelope: ProofEnvelope, ctx: VerifyContext) -> BodyResult:
    """The ``QUANTUM_V1`` body verifier (module docstring, steps 1-4)."""
    config = ctx.type_config.get(ProofType.QUANTUM_V1)
    if config is not None and not isinstance(config, QuantumVerifyConfig):
        raise TypeError(f"type_config[QUANTUM_V1] must be a QuantumVerifyConfig, got {type(config).__name__}")
    job = None if config is None else config.job(envelope.task_id)
    if config is None or job is None:
        raise InvalidProof(
            "quantum_job_unknown", "no quantum job is recorded for this task", task_id=envelope.task_id.hex()
        )
    if job.task_id != envelope.task_id:
        raise InvalidProof("quantum_task_mismatch", "the job recorded is for another task")
    if job.provider != envelope.provider:
        raise InvalidProof(
            "quantum_provider_mismatch",
            "the envelope's provider is not the provider the job is assigned to",
            assigned=job.provider.hex(),
            got=envelope.provider.hex(),
        )
    pubkey = ctx.provider_pubkey(envelope.provider)
    if pubkey is None or len(pubkey) != 32:
        raise InvalidProof("unknown_provider", "the provider has no registered key")
    result = verify_quantum_result(
        envelope.body,
        quantum_context(job, chain_id=ctx.chain_id, provider_pubkey=bytes(pubkey), params=config.params),
    )
    metering = meter_quantum(result.shots, result.depth, result.quality_bp, ctx.policy.quantum)
    return BodyResult(
        output_digest=Hash32(result.output_digest), units=metering.units, qos_bp=metering.qos_bp,
        weight_bp=metering.weight_bp,
    )


__all__ = ["QuantumJob", "QuantumVerifyConfig", "quantum_context", "verify_quantum_body"]
