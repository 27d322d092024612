"""Verifying a ProofEnvelope: the checks every type shares, then the type's own verifier.

``verify_envelope(envelope, ctx) -> VerifiedProof`` decides whether an envelope in a block
is valid.  It raises ``InvalidProof(reason)`` at the first rule broken, in this order:

1. the bytes decode strictly (``ProofEnvelope.decode``: ``envelope_*``, ``unknown_proof_type``);
2. a verifier is registered for ``type_id`` in ``ctx.registry`` [``verifier_not_registered``];
3. ``nullifier == H("cairn/null/v1", encode([type_id, task_id, provider]))``
   [``nullifier_mismatch``];
4. the nullifier is not in ``ctx.used_nullifiers`` [``nullifier_used``] — the caller (the
   AICF module) passes the nullifiers in state plus those of earlier envelopes in the same
   block, so a replay or a duplicate is rejected;
5. the provider has a registered key (``ctx.provider_pubkey(provider)``) [``unknown_provider``]
   whose address is ``provider`` [``provider_key_mismatch``] and which signed
   ``H("cairn/proof-sig/v1", encode([chain_id, unsigned_envelope]))`` [``bad_signature``];
6. the type's body verifier accepts ``body`` (its own reasons).

Checks 1–5 are cheap and come before the body, which may cost pairings or certificate
chains.  The result is one type for every kind of proof::

    VerifiedProof(task_id, provider, output_digest, units, qos_bp)

``task_id`` and ``provider`` come from the envelope (a body verifier cannot change them);
``output_digest`` is what the job's result record and a redundancy quorum compare;
``units`` (milli-units) and ``qos_bp`` come from the policy adapter (``proofs.policy``).
The AICF module then checks the result against the job's lease (assigned provider,
deadline) — that is state, not evidence, and lives there.

Verifiers register by type id in an immutable :class:`VerifierRegistry`;
``default_registry()`` holds the three verifiers this package defines: ``AI_V1``
(``proofs.ai``), ``QUANTUM_V1`` (``proofs.quantum_body``) and ``ZK_GROTH16_BN254`` (below).
The first two read their configuration from ``ctx.type_config``; another verifier joins, or
replaces one, with ``registry.with_verifier(type_id, fn)``.

ZK_GROTH16_BN254 body
---------------------
A canonical CBOR array::

    ZkGroth16Body = [version=1, vk_json, proof_json, public_json, output_digest]

the three snarkjs JSON documents as byte strings, and ``output_digest`` =
``H("cairn/zk-output/v1", encode([vk_digest, [input as 32-byte big-endian, ...]]))``: the
statement proven (which key, which public inputs), so that the job's result names exactly
what was proven whatever the JSON spelling.  The verifier parses the documents
(``proofs.groth16`` rules and reasons), recomputes the digest [``output_digest_mismatch``],
then runs the Groth16 check, through ``ctx.groth16_cache`` when given
[``pairing_check_failed``].  It is worth ``policy.zk.units_per_proof`` at qos ``BP``.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from chain.codec import decode, encode
from chain.errors import DecodeError, ErrorCode, InvalidProof
from chain.hashing import hash_items
from chain.types import Address, Hash32
from proofs import groth16
from proofs.devnet import DevnetAttestationConfig
from proofs.envelope import MAX_BODY_BYTES, ProofEnvelope, ProofType, decode_reason
from proofs.policy import PolicyParams, meter_zk

TAG_ZK_OUTPUT: Final[bytes] = b"cairn/zk-output/v1"
ZK_BODY_VERSION: Final[int] = 1


# --- results and context -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """What a valid envelope establishes."""

    task_id: Hash32
    """The job."""
    provider: Address
    """The provider that proved it."""
    output_digest: Hash32
    """Digest of the result (AI: output digest; quantum: histogram commitment; ZK: statement)."""
    units: int
    """Milli-units of work (``proofs.policy``)."""
    qos_bp: int
    """QoS multiplier in basis points."""


@dataclass(frozen=True, slots=True)
class BodyResult:
    """What a type's body verifier returns; ``verify_envelope`` adds task and provider."""

    output_digest: Hash32
    """See ``VerifiedProof.output_digest``."""
    units: int
    """Milli-units."""
    qos_bp: int
    """Basis points."""
    weight_bp: int = 10_000
    """The weight the units were metered with: model weight (AI), depth weight (quantum)."""


BodyVerifier = Callable[[ProofEnvelope, "VerifyContext"], BodyResult]
"""``verifier(envelope, ctx) -> BodyResult``; raises ``InvalidProof`` for a bad body.

Called only after the shared checks passed, so the envelope's nullifier and signature are
already good; the verifier checks ``envelope.body`` (and its binding to ``envelope.task_id``).
"""


@dataclass(frozen=True, slots=True)
class VerifierRegistry:
    """Body verifiers by type id.  Immutable: ``with_verifier`` returns a new registry."""

    entries: tuple[tuple[ProofType, BodyVerifier], ...] = ()
    """``(type_id, verifier)`` pairs, one per type id."""

    def get(self, type_id: ProofType) -> BodyVerifier | None:
        """The verifier for ``type_id``, if one is registered."""
        for registered, verifier in self.entries:
            if registered == type_id:
                return verifier
        return None

    def with_verifier(self, type_id: ProofType, verifier: BodyVerifier) -> VerifierRegistry:
        """A registry with ``verifier`` for ``type_id`` (replacing any earlier one)."""
        kept = tuple(entry for entry in self.entries if entry[0] != type_id)
        return VerifierRegistry(
            entries=tuple(sorted((*kept, (ProofType(type_id), verifier)), key=lambda e: e[0]))
        )

    @property
    def type_ids(self) -> tuple[ProofType, ...]:
        """Registered type ids, ascending."""
        return tuple(type_id for type_id, _ in self.entries)


def _no_provider(_: Address) -> bytes | None:
    return None


@dataclass(frozen=True, slots=True)
class VerifyContext:
    """Everything outside the envelope that its verification depends on (no I/O, no clock)."""

    chain_id: str
    """The chain's id: inside every signed digest; decides whether devnet attestation exists."""
    registry: VerifierRegistry = field(default_factory=lambda: default_registry())
    """Body verifiers by type id."""
    provider_pubkey: Callable[[Address], bytes | None] = _no_provider
    """The registered Ed25519 key of a provider, or None (the provider registry in state)."""
    used_nullifiers: Container[bytes] = frozenset()
    """Nullifiers already used: in state, and earlier in the same block."""
    policy: PolicyParams = PolicyParams()
    """Pricing parameters from genesis."""
    now: int = 0
    """Block time, unix seconds (certificate validity for TEE verifiers)."""
    devnet: DevnetAttestationConfig | None = None
    """Genesis's devnet attestation section (None: absent, so refused)."""
    groth16_cache: groth16.Groth16Cache | None = None
    """Per-process memo of Groth16 verification (never changes a verdict)."""
    type_config: Mapping[ProofType, Any] = field(default_factory=dict)
    """Per-type configuration for verifiers defined elsewhere (TEE roots and allowlists,
    quantum beacon and trap parameters), keyed by type id; each verifier documents its own."""


# --- the shared checks -------------------------------------------------------------


def verify_envelope(envelope: ProofEnvelope | bytes, ctx: VerifyContext) -> VerifiedProof:
    """Verify an envelope (object or wire bytes) under ``ctx``; see the module docstring."""
    env = envelope if isinstance(envelope, ProofEnvelope) else ProofEnvelope.decode(envelope)
    verifier = ctx.registry.get(env.type_id)
    if verifier is None:
        raise InvalidProof(
            "verifier_not_registered",
            f"no verifier for proof type {env.type_id.name}",
            type_id=int(env.type_id),
        )
    env.check_nullifier()
    if bytes(env.nullifier) in ctx.used_nullifiers:
        raise InvalidProof(
            "nullifier_used", "this (type, task, provider) was already claimed", nullifier=env.nullifier.hex()
        )
    pubkey = ctx.provider_pubkey(env.provider)
    if pubkey is None:
        raise InvalidProof(
            "unknown_provider", "the provider has no registered key", provider=env.provider.hex()
        )
    env.check_signature(ctx.chain_id, pubkey)
    result = verifier(env, ctx)
    return VerifiedProof(
        task_id=env.task_id,
        provider=env.provider,
        output_digest=result.output_digest,
        units=result.units,
        qos_bp=result.qos_bp,
    )


# --- ZK_GROTH16_BN254 --------------------------------------------------------------


def zk_output_digest(vk_digest: bytes, inputs: Sequence[int]) -> Hash32:
    """``H("cairn/zk-output/v1", encode([vk_digest, [input as 32 bytes big-endian, ...]]))``."""
    return Hash32(hash_items(TAG_ZK_OUTPUT, bytes(vk_digest), [v.to_bytes(32, "big") for v in inputs]))


@dataclass(frozen=True, slots=True)
class ZkGroth16Body:
    """The body of a ``ZK_GROTH16_BN254`` envelope (see the module docstring)."""

    vk_json: bytes
    """snarkjs ``verification_key.json``."""
    proof_json: bytes
    """snarkjs ``proof.json``."""
    public_json: bytes
    """snarkjs ``public.json``."""
    output_digest: Hash32
    """The proven statement's digest, :func:`zk_output_digest`."""
    version: int = ZK_BODY_VERSION
    """Wire version."""

    def encode(self) -> bytes:
        """Canonical CBOR bytes."""
        return encode(
            [self.version, self.vk_json, self.proof_json, self.public_json, bytes(self.output_digest)]
        )

    @classmethod
    def decode(cls, data: bytes) -> ZkGroth16Body:
        """Strict decode; failures are ``InvalidProof`` with a ``zk_body_*`` reason."""
        try:
            items = decode(data, max_size=MAX_BODY_BYTES)
            if not isinstance(items, list) or not items:
                raise DecodeError("zk body: expected an array", code=ErrorCode.DECODE_SHAPE)
            if not isinstance(items[0], int) or isinstance(items[0], bool):
                raise DecodeError("zk body: missing version", code=ErrorCode.DECODE_SHAPE)
            if items[0] != ZK_BODY_VERSION:
                raise DecodeError(f"zk body: unknown version {items[0]}", code=ErrorCode.DECODE_VERSION)
            if len(items) != 5:
                raise DecodeError("zk body: expected 5 items", code=ErrorCode.DECODE_SHAPE)
            _, vk_json, proof_json, public_json, digest = items
            for name, value in (
                ("vk_json", vk_json),
                ("proof_json", proof_json),
                ("public_json", public_json),
            ):
                if not isinstance(value, bytes):
                    raise DecodeError(f"zk body: {name} must be a byte string", code=ErrorCode.DECODE_SHAPE)
            output_digest = Hash32(digest)
        except DecodeError as exc:
            raise InvalidProof(decode_reason(exc, "zk_body"), str(exc), decode_code=exc.code.name) from exc
        return cls(
            vk_json=vk_json, proof_json=proof_json, public_json=public_json, output_digest=output_digest
        )

    @classmethod
    def build(cls, vk_json: bytes, proof_json: bytes, public_json: bytes) -> ZkGroth16Body:
        """A body with its output digest computed (what a provider does; parses, no pairing)."""
        vk = groth16.parse_verifying_key(vk_json)
        inputs = groth16.parse_public_inputs(public_json)
        return cls(
            vk_json=bytes(vk_json),
            proof_json=bytes(proof_json),
            public_json=bytes(public_json),
            output_digest=zk_output_digest(vk.digest(), inputs),
        )


def verify_zk_groth16_body(envelope: ProofEnvelope, ctx: VerifyContext) -> BodyResult:
    """The ``ZK_GROTH16_BN254`` body verifier."""
    body = ZkGroth16Body.decode(envelope.body)
    vk = groth16.parse_verifying_key(body.vk_json)
    proof = groth16.parse_proof(body.proof_json)
    inputs = groth16.parse_public_inputs(body.public_json)
    groth16.check_input_count(vk, inputs)
    expected = zk_output_digest(vk.digest(), inputs)
    if body.output_digest != expected:
        raise InvalidProof(
            "output_digest_mismatch",
            "output_digest is not the digest of the verifying key and public inputs",
            expected=expected.hex(),
            got=body.output_digest.hex(),
        )
    if not groth16.verify_parsed(vk, proof, inputs, cache=ctx.groth16_cache):
        raise InvalidProof("pairing_check_failed", "the Groth16 proof does not verify")
    metering = meter_zk(ctx.policy.zk)
    return BodyResult(output_digest=expected, units=metering.units, qos_bp=metering.qos_bp)


def default_registry() -> VerifierRegistry:
    """The verifiers this package defines: ``AI_V1``, ``QUANTUM_V1``, ``ZK_GROTH16_BN254``."""
    # Imported here: both modules import this one for BodyResult and VerifyContext.
    from proofs.ai import verify_ai_body
    from proofs.quantum_body import verify_quantum_body

    return (
        VerifierRegistry()
        .with_verifier(ProofType.AI_V1, verify_ai_body)
        .with_verifier(ProofType.QUANTUM_V1, verify_quantum_body)
        .with_verifier(ProofType.ZK_GROTH16_BN254, verify_zk_groth16_body)
    )
