"""QUANTUM_V1: the result body a provider submits, and its verification.

Body (the ``body`` of a ``ProofEnvelope`` of type QUANTUM_V1), a canonical CBOR array::

    QuantumResultBody = [1, task_id, root, shots, user_histogram, user_proof, revealed, signature]
    revealed          = [[slot, histogram, proof], ...]       ascending by slot

==============  ======================================================================
``1``           body version; any other value: ``quantum_body_version``
task_id         32 bytes
root            32 bytes: the Merkle root of all ``S`` slot histograms (``commitment``)
shots           shots per slot, ``1 .. MAX_SHOTS``
user_histogram  the user circuit's histogram (``commitment`` encoding)
user_proof      inclusion proof of the user slot: list of 32-byte hashes (at most 8)
revealed        the opened trap slots, each with its histogram and inclusion proof
signature       64-byte Ed25519 signature by the provider (the certificate, below)
==============  ======================================================================

At most ``MAX_BODY_BYTES`` (the envelope's body limit) and strictly canonical.

Certificate.  The provider signs

    H("cairn/quantum/cert/v1", encode([chain_id, unsigned]))

where ``unsigned`` is the body array without its last element (so the digest covers the task
id, the commitment root and every revealed histogram and proof), with the Ed25519 key whose
public half the context gives (the provider's registered key).

Context.  What the chain supplies (:class:`QuantumContext`): the job's task id, circuit text
and shots; the beacon ``B_a`` of the block that assigned the job; the root the provider
committed to on chain; and the beacon ``B_r`` of a block *after* the block that recorded
that commitment.  Choosing ``B_r`` after the commitment is the caller's duty (the AICF
module); it is what makes the trap positions unknown when the provider commits.

Verification order (each failure is one ``InvalidProof`` reason):

1. decode the body (``quantum_body_malformed | _version | _oversize``, ``quantum_bad_histogram``);
2. ``task_id`` equals the job's (``quantum_task_mismatch``), ``shots`` equals the job's
   (``quantum_shots_mismatch``), ``root`` equals the on-chain commitment
   (``quantum_commitment_mismatch``);
3. parse the user circuit (``qasm_*``), check the shots against the genesis bounds
   (``quantum_shots_out_of_range``) and derive the plan from ``B_a`` (``traps``);
4. the opened slots are exactly those ``B_r`` selects (``quantum_reveal_mismatch``);
5. each histogram sums to ``shots`` and has only possible outcomes (``quantum_bad_histogram``);
6. the certificate signature (``quantum_bad_signature``, ``quantum_bad_provider_key``);
7. every opened histogram (user and traps) is in the committed tree (``quantum_merkle_proof``);
8. every opened trap passes the exact statistical test (``quantum_trap_support``,
   ``quantum_trap_uniformity``; ``stats``).

The result (:class:`VerifiedQuantumResult`) carries what settlement needs: the output
digest of the user histogram, shots and circuit depth for pricing (ARCHITECTURE §8), and the
worst trap's in-support fraction as a quality figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chain.codec import decode, encode, expect_array, expect_bytes, expect_int, expect_versioned
from chain.errors import DecodeError, ErrorCode, InvalidProof
from chain.hashing import hash_items
from proofs.quantum.commitment import Histogram, leaf_hash, output_digest, verify_inclusion
from proofs.quantum.qasm import Circuit, parse_qasm
from proofs.quantum.stabilizer import clifford_support
from proofs.quantum.stats import BP, MAX_NOISE_BP, check_trap
from proofs.quantum.traps import MAX_REVEALED, MAX_TRAPS, JobPlan, plan_job, revealed_slots

BODY_VERSION: Final[int] = 1
CERT_TAG: Final[bytes] = b"cairn/quantum/cert/v1"
MAX_BODY_BYTES: Final[int] = 512 * 1024
MAX_SHOTS: Final[int] = 1_000_000
MAX_PROOF_HASHES: Final[int] = 8
"""A tree of at most ``MAX_TRAPS + 1 = 256`` leaves is at most 8 levels deep."""


@dataclass(frozen=True, slots=True)
class QuantumParams:
    """Genesis parameters of QUANTUM_V1 (``ValueError`` if out of range)."""

    num_traps: int = 16
    """``C``: trap slots per job (the provider runs ``C + 1`` circuits)."""
    num_revealed: int = 8
    """``T``: trap slots opened and checked, ``1 <= T <= min(C, 64)``."""
    noise_bp: int = 500
    """``ε`` in basis points: the hardware-noise allowance of both trap tests, at most 2500."""
    min_shots: int = 100
    """Fewest shots a job may ask for (the trap tests need samples)."""
    max_shots: int = 20_000
    """Most shots a job may ask for (bounds the body size)."""
    max_trap_layers: int = 32
    """Cap on the random layers of a trap's mirror section."""

    def __post_init__(self) -> None:
        if not 1 <= self.num_traps <= MAX_TRAPS:
            raise ValueError(f"num_traps must be in [1, {MAX_TRAPS}]")
        if not 1 <= self.num_revealed <= min(self.num_traps, MAX_REVEALED):
            raise ValueError(f"num_revealed must be in [1, min(num_traps, {MAX_REVEALED})]")
        if not 0 <= self.noise_bp <= MAX_NOISE_BP:
            raise ValueError(f"noise_bp must be in [0, {MAX_NOISE_BP}]")
        if not 1 <= self.min_shots <= self.max_shots <= MAX_SHOTS:
            raise ValueError(f"need 1 <= min_shots <= max_shots <= {MAX_SHOTS}")
        if not 1 <= self.max_trap_layers <= 256:
            raise ValueError("max_trap_layers must be in [1, 256]")


@dataclass(frozen=True, slots=True)
class RevealedTrap:
    """One opened trap slot."""

    slot: int
    histogram: Histogram
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class QuantumResultBody:
    """The QUANTUM_V1 body (module docstring)."""

    task_id: bytes
    root: bytes
    shots: int
    user_histogram: Histogram
    user_proof: tuple[bytes, ...]
    revealed: tuple[RevealedTrap, ...]
    signature: bytes = b""

    def unsigned_value(self) -> list[Any]:
        """The body array without the signature."""
        return [
            BODY_VERSION,
            self.task_id,
            self.root,
            self.shots,
            self.user_histogram.to_value(),
            list(self.user_proof),
            [[r.slot, r.histogram.to_value(), list(r.proof)] for r in self.revealed],
        ]

    def encode(self) -> bytes:
        """Canonical CBOR bytes of the whole body."""
        return encode([*self.unsigned_value(), self.signature])

    def signing_digest(self, chain_id: str) -> bytes:
        """``H("cairn/quantum/cert/v1", encode([chain_id, unsigned]))``: what the provider signs."""
        return hash_items(CERT_TAG, chain_id, self.unsigned_value())

    @classmethod
    def decode(cls, data: bytes) -> QuantumResultBody:
        """Strictly decode a body; every failure is an ``InvalidProof``."""
        try:
            value = decode(data, max_size=MAX_BODY_BYTES)
            items = expect_versioned(value, "quantum body", BODY_VERSION, 8)
            task_id = expect_bytes(items[1], "task_id", length=32)
            root = expect_bytes(items[2], "root", length=32)
            shots = expect_int(items[3], "shots", lo=1, hi=MAX_SHOTS)
            user_histogram = Histogram.from_value(items[4], "user histogram")
            user_proof = _proof(items[5], "user proof")
            raw_revealed = expect_array(items[6], "revealed")
            if len(raw_revealed) > MAX_REVEALED:
                raise DecodeError(f"more than {MAX_REVEALED} revealed traps", code=ErrorCode.DECODE_SHAPE)
            revealed = []
            for entry in raw_revealed:
                slot_raw, hist_raw, proof_raw = expect_array(entry, "revealed trap", 3)
                slot = expect_int(slot_raw, "slot", hi=MAX_TRAPS)
                revealed.append(
                    RevealedTrap(
                        slot,
                        Histogram.from_value(hist_raw, f"trap {slot}"),
                        _proof(proof_raw, f"trap {slot} proof"),
                    )
                )
            signature = expect_bytes(items[7], "signature", length=64)
        except DecodeError as exc:
            reason = {
                ErrorCode.DECODE_OVERSIZE: "quantum_body_oversize",
                ErrorCode.DECODE_VERSION: "quantum_body_version",
            }.get(exc.code, "quantum_body_malformed")
            raise InvalidProof(reason, f"QUANTUM_V1 body: {exc.message}", decode_code=int(exc.code)) from exc
        return cls(task_id, root, shots, user_histogram, user_proof, tuple(revealed), signature)


def _proof(value: Any, what: str) -> tuple[bytes, ...]:
    hashes = expect_array(value, what)
    if len(hashes) > MAX_PROOF_HASHES:
        raise DecodeError(f"{what}: more than {MAX_PROOF_HASHES} hashes", code=ErrorCode.DECODE_SHAPE)
    return tuple(expect_bytes(h, what, length=32) for h in hashes)


@dataclass(frozen=True, slots=True)
class QuantumContext:
    """What the chain knows about the job when its result is verified (module docstring)."""

    chain_id: str
    task_id: bytes
    circuit: bytes
    """The user circuit's OpenQASM 2.0 text as enqueued."""
    shots: int
    assign_beacon: bytes
    """``B_a``: beacon of the block that assigned the job."""
    reveal_beacon: bytes
    """``B_r``: beacon of a block after the one that recorded the commitment."""
    committed_root: bytes
    """The Merkle root the provider committed to on chain."""
    provider_pubkey: bytes
    """The provider's registered raw Ed25519 public key."""
    params: QuantumParams = field(default_factory=QuantumParams)

    def __post_init__(self) -> None:
        for name in ("task_id", "assign_beacon", "reveal_beacon", "committed_root", "provider_pubkey"):
            if len(getattr(self, name)) != 32:
                raise ValueError(f"context {name} must be 32 bytes")


@dataclass(frozen=True, slots=True)
class VerifiedQuantumResult:
    """A verified QUANTUM_V1 result."""

    task_id: bytes
    output_digest: bytes
    """``H("cairn/quantum/output/v1", encode(user_histogram))``."""
    shots: int
    depth: int
    """Depth of the user circuit (``qasm``), for ``depth_weight`` (ARCHITECTURE §8)."""
    n_qubits: int
    traps_checked: int
    quality_bp: int
    """Smallest in-support fraction over the checked traps, in basis points."""
    root: bytes


def plan_for(ctx: QuantumContext) -> JobPlan:
    """Parse the job's circuit and derive its plan from the assignment beacon."""
    circuit = parse_qasm(ctx.circuit)
    return make_plan(ctx.task_id, ctx.assign_beacon, circuit, ctx.shots, ctx.params)


def make_plan(
    task_id: bytes, assign_beacon: bytes, circuit: Circuit, shots: int, params: QuantumParams
) -> JobPlan:
    """``traps.plan_job`` with the genesis parameters; ``quantum_shots_out_of_range`` if needed."""
    if not params.min_shots <= shots <= params.max_shots:
        raise InvalidProof(
            "quantum_shots_out_of_range",
            f"{shots} shots outside [{params.min_shots}, {params.max_shots}]",
            shots=shots,
        )
    return plan_job(
        task_id,
        assign_beacon,
        circuit,
        shots,
        num_traps=params.num_traps,
        num_revealed=params.num_revealed,
        max_trap_layers=params.max_trap_layers,
    )


def _check_signature(body: QuantumResultBody, ctx: QuantumContext) -> None:
    try:
        key = Ed25519PublicKey.from_public_bytes(ctx.provider_pubkey)
    except ValueError as exc:
        raise InvalidProof("quantum_bad_provider_key", "provider public key is not an Ed25519 key") from exc
    try:
        key.verify(body.signature, body.signing_digest(ctx.chain_id))
    except InvalidSignature as exc:
        raise InvalidProof("quantum_bad_signature", "provider certificate signature does not verify") from exc


def verify_quantum_result(body: bytes | QuantumResultBody, ctx: QuantumContext) -> VerifiedQuantumResult:
    """Verify a QUANTUM_V1 result against its job (module docstring for the steps)."""
    if not isinstance(body, QuantumResultBody):
        body = QuantumResultBody.decode(body)
    if body.task_id != ctx.task_id:
        raise InvalidProof("quantum_task_mismatch", "body is for another task")
    if body.shots != ctx.shots:
        raise InvalidProof(
            "quantum_shots_mismatch",
            f"body reports {body.shots} shots, job asked {ctx.shots}",
            got=body.shots,
        )
    if body.root != ctx.committed_root:
        raise InvalidProof("quantum_commitment_mismatch", "body root differs from the on-chain commitment")

    plan = plan_for(ctx)
    expected = revealed_slots(plan, ctx.reveal_beacon)
    got = tuple(r.slot for r in body.revealed)
    if got != expected:
        raise InvalidProof(
            "quantum_reveal_mismatch",
            f"opened slots {list(got)}, the reveal beacon selects {list(expected)}",
            got=list(got),
            expected=list(expected),
        )

    user = plan.user_circuit
    body.user_histogram.check(
        "user histogram", shots=body.shots, width=user.outcome_width, mask=user.outcome_mask
    )
    for r in body.revealed:
        r.histogram.check(f"trap {r.slot}", shots=body.shots, width=user.n_qubits)

    _check_signature(body, ctx)

    size = plan.num_slots
    verify_inclusion(
        body.root, leaf_hash(plan.user_slot, body.user_histogram), plan.user_slot, size, body.user_proof
    )
    for r in body.revealed:
        verify_inclusion(body.root, leaf_hash(r.slot, r.histogram), r.slot, size, r.proof)

    quality = BP
    for r in body.revealed:
        support = clifford_support(plan.trap_at(r.slot).circuit)
        stats = check_trap(support, r.histogram, ctx.params.noise_bp, slot=r.slot)
        quality = min(quality, stats.inside_bp)

    return VerifiedQuantumResult(
        task_id=body.task_id,
        output_digest=output_digest(body.user_histogram),
        shots=body.shots,
        depth=user.depth,
        n_qubits=user.n_qubits,
        traps_checked=len(body.revealed),
        quality_bp=quality,
        root=body.root,
    )
