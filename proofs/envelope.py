"""The ProofEnvelope: how a provider's proof travels in a block.

Wire form (ARCHITECTURE §7), a canonical CBOR array::

    ProofEnvelope = [version, type_id, task_id, provider, body, nullifier, signature]

==========  ==========================================================================
version     ``1`` (``ENVELOPE_VERSION``); any other value is rejected
type_id     a registered small unsigned integer, :class:`ProofType`:
            ``AI_V1 = 1``, ``QUANTUM_V1 = 2``, ``ZK_GROTH16_BN254 = 3``
task_id     ``Hash32``: the job's task id (ARCHITECTURE §6)
provider    ``Address`` (20 bytes) of the provider claiming the job
body        byte string, at most ``MAX_BODY_BYTES``: the type-specific CBOR body
nullifier   ``Hash32``: ``H("cairn/null/v1", encode([type_id, task_id, provider]))``
signature   Ed25519 signature (64 bytes) by the provider's key
==========  ==========================================================================

Nullifier.  One (type, task, provider) has exactly one nullifier, so a second envelope
for the same claim — a replay in a later block, or a duplicate in the same block — is
recognized by a lookup in the set of used nullifiers (``H("null"|nullifier)`` in state).
An envelope whose nullifier field differs from the recomputed value is invalid.

Signature.  The provider signs the 32-byte digest

    H("cairn/proof-sig/v1", encode([chain_id, unsigned_bytes]))
    unsigned_bytes = encode([version, type_id, task_id, provider, body, nullifier])

so a signature made for one chain, or for any other kind of object, is useless here.  The
envelope does not carry the public key: the verifier looks the provider's registered key up
by address (the provider registry in state, given to the verifier as a function) and also
checks ``address_of(pubkey) == provider`` (ARCHITECTURE §2: the last 20 bytes of
``H("cairn/addr/v1", pubkey)``).

Decoding is strict (``chain.codec``: canonical bytes only, no trailing bytes, at most
``MAX_ENVELOPE_BYTES``) and every failure is an ``InvalidProof`` whose reason names it:
``envelope_oversize``, ``envelope_trailing_bytes``, ``envelope_non_canonical``,
``envelope_version``, ``envelope_malformed``, ``envelope_bad_length``,
``unknown_proof_type``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chain.codec import decode, encode
from chain.errors import DecodeError, ErrorCode, InvalidProof
from chain.hashing import H, hash_items
from chain.types import Address, Hash32, Signature64

ENVELOPE_VERSION: Final[int] = 1
MAX_BODY_BYTES: Final[int] = 512 * 1024
"""Largest body accepted (a Groth16 body carries a verifying key, which grows with its inputs)."""
MAX_ENVELOPE_BYTES: Final[int] = MAX_BODY_BYTES + 1024
"""Largest encoded envelope accepted by :meth:`ProofEnvelope.decode`."""

TAG_NULLIFIER: Final[bytes] = b"cairn/null/v1"
TAG_PROOF_SIG: Final[bytes] = b"cairn/proof-sig/v1"
TAG_ADDRESS: Final[bytes] = b"cairn/addr/v1"


class ProofType(enum.IntEnum):
    """Registered proof types.  Append only; never renumber."""

    AI_V1 = 1
    QUANTUM_V1 = 2
    ZK_GROTH16_BN254 = 3


_DECODE_REASONS: Final[dict[ErrorCode, str]] = {
    ErrorCode.DECODE_OVERSIZE: "oversize",
    ErrorCode.DECODE_TRAILING: "trailing_bytes",
    ErrorCode.DECODE_NON_CANONICAL: "non_canonical",
    ErrorCode.DECODE_VERSION: "version",
    ErrorCode.BAD_LENGTH: "bad_length",
}


def decode_reason(exc: DecodeError, what: str) -> str:
    """The ``InvalidProof`` reason for a ``DecodeError`` met while decoding a ``what``.

    ``f"{what}_{kind}"`` with kind one of ``oversize``, ``trailing_bytes``,
    ``non_canonical``, ``version``, ``bad_length`` or ``malformed`` (anything else).
    """
    return f"{what}_{_DECODE_REASONS.get(exc.code, 'malformed')}"


def address_of(pubkey: bytes) -> Address:
    """The address of an Ed25519 public key: last 20 bytes of ``H("cairn/addr/v1", pubkey)``."""
    return Address(H(TAG_ADDRESS, bytes(pubkey))[-20:])


def compute_nullifier(type_id: int, task_id: bytes, provider: bytes) -> Hash32:
    """``H("cairn/null/v1", encode([type_id, task_id, provider]))``."""
    return Hash32(hash_items(TAG_NULLIFIER, int(type_id), bytes(task_id), bytes(provider)))


def signing_digest(chain_id: str, unsigned_bytes: bytes) -> bytes:
    """The 32 bytes a provider signs: ``H("cairn/proof-sig/v1", encode([chain_id, unsigned]))``."""
    return hash_items(TAG_PROOF_SIG, chain_id, unsigned_bytes)


@dataclass(frozen=True, slots=True)
class ProofEnvelope:
    """A provider's claim that it ran job ``task_id``, with the evidence in ``body``."""

    type_id: ProofType
    """Which verifier reads ``body``."""
    task_id: Hash32
    """The job this proof is for."""
    provider: Address
    """The provider claiming the job (its registered key signs the envelope)."""
    body: bytes
    """Type-specific CBOR body, opaque at this layer."""
    nullifier: Hash32
    """Must equal :func:`compute_nullifier` of ``(type_id, task_id, provider)``."""
    signature: Signature64
    """Ed25519 signature over :meth:`signing_digest`."""
    version: int = ENVELOPE_VERSION
    """Wire version; only ``ENVELOPE_VERSION`` exists."""

    def __post_init__(self) -> None:
        if not isinstance(self.type_id, ProofType):
            raise InvalidProof("unknown_proof_type", f"type_id {self.type_id!r} is not registered")
        if self.version != ENVELOPE_VERSION:
            raise InvalidProof("envelope_version", f"unknown envelope version {self.version!r}")
        for name, value, cls in (
            ("task_id", self.task_id, Hash32),
            ("provider", self.provider, Address),
            ("nullifier", self.nullifier, Hash32),
            ("signature", self.signature, Signature64),
        ):
            if not isinstance(value, cls):
                raise InvalidProof("envelope_malformed", f"{name} must be a {cls.__name__}")
        if not isinstance(self.body, bytes) or len(self.body) > MAX_BODY_BYTES:
            raise InvalidProof("envelope_malformed", f"body must be bytes of at most {MAX_BODY_BYTES}")

    # --- bytes ---------------------------------------------------------------------

    def unsigned_fields(self) -> list[Any]:
        """``[version, type_id, task_id, provider, body, nullifier]``."""
        return [
            self.version,
            int(self.type_id),
            bytes(self.task_id),
            bytes(self.provider),
            bytes(self.body),
            bytes(self.nullifier),
        ]

    def unsigned_bytes(self) -> bytes:
        """The canonical encoding of :meth:`unsigned_fields` (what the signature covers)."""
        return encode(self.unsigned_fields())

    def encode(self) -> bytes:
        """The canonical wire bytes."""
        return encode([*self.unsigned_fields(), bytes(self.signature)])

    def hash(self) -> bytes:
        """``H("cairn/proof/v1", encode())``: names this envelope (proofs root, payouts)."""
        return H(b"cairn/proof/v1", self.encode())

    @classmethod
    def decode(cls, data: bytes) -> ProofEnvelope:
        """Decode wire bytes strictly; any failure is ``InvalidProof`` with an ``envelope_*`` reason."""
        try:
            items = decode(data, max_size=MAX_ENVELOPE_BYTES)
            if not isinstance(items, list) or not items:
                raise DecodeError("envelope: expected a non-empty array", code=ErrorCode.DECODE_SHAPE)
            version = items[0]
            if not isinstance(version, int) or isinstance(version, bool):
                raise DecodeError("envelope: missing version", code=ErrorCode.DECODE_SHAPE)
            if version != ENVELOPE_VERSION:
                raise DecodeError(f"envelope: unknown version {version}", code=ErrorCode.DECODE_VERSION)
            if len(items) != 7:
                raise DecodeError(
                    f"envelope: expected 7 items, got {len(items)}", code=ErrorCode.DECODE_SHAPE
                )
            _, type_raw, task_id, provider, body, nullifier, signature = items
            if not isinstance(type_raw, int) or isinstance(type_raw, bool):
                raise DecodeError("envelope: type_id must be an integer", code=ErrorCode.DECODE_SHAPE)
            if not isinstance(body, bytes):
                raise DecodeError("envelope: body must be a byte string", code=ErrorCode.DECODE_SHAPE)
            if len(body) > MAX_BODY_BYTES:
                raise DecodeError("envelope: body too long", code=ErrorCode.BAD_LENGTH)
            fields = (Hash32(task_id), Address(provider), Hash32(nullifier), Signature64(signature))
        except DecodeError as exc:
            raise InvalidProof(decode_reason(exc, "envelope"), str(exc), decode_code=exc.code.name) from exc
        try:
            type_id = ProofType(type_raw)
        except ValueError as exc:
            raise InvalidProof("unknown_proof_type", f"type_id {type_raw} is not registered") from exc
        return cls(
            type_id=type_id,
            task_id=fields[0],
            provider=fields[1],
            body=body,
            nullifier=fields[2],
            signature=fields[3],
        )

    # --- checks --------------------------------------------------------------------

    def expected_nullifier(self) -> Hash32:
        """The nullifier this envelope must carry."""
        return compute_nullifier(self.type_id, self.task_id, self.provider)

    def check_nullifier(self) -> None:
        """Raise ``nullifier_mismatch`` unless ``nullifier`` is the recomputed value."""
        expected = self.expected_nullifier()
        if self.nullifier != expected:
            raise InvalidProof(
                "nullifier_mismatch",
                "envelope nullifier differs from H(type_id, task_id, provider)",
                expected=expected.hex(),
                got=self.nullifier.hex(),
            )

    def signing_digest(self, chain_id: str) -> bytes:
        """What the provider signs for ``chain_id``."""
        return signing_digest(chain_id, self.unsigned_bytes())

    def check_signature(self, chain_id: str, pubkey: bytes) -> None:
        """Raise unless ``pubkey`` belongs to ``provider`` and signed this envelope for ``chain_id``.

        Reasons: ``provider_key_mismatch`` (the key's address is not ``provider``),
        ``bad_signature``.
        """
        if len(pubkey) != 32 or address_of(pubkey) != self.provider:
            raise InvalidProof(
                "provider_key_mismatch", "the registered key does not match the provider address"
            )
        try:
            Ed25519PublicKey.from_public_bytes(bytes(pubkey)).verify(
                bytes(self.signature), self.signing_digest(chain_id)
            )
        except (InvalidSignature, ValueError) as exc:
            raise InvalidProof("bad_signature", "the provider's signature does not verify") from exc


def seal_envelope(
    type_id: ProofType, task_id: bytes, body: bytes, *, chain_id: str, provider_key: Ed25519PrivateKey
) -> ProofEnvelope:
    """Build and sign an envelope as a provider would (Ed25519 is deterministic: no randomness)."""
    pubkey = provider_key.public_key().public_bytes_raw()
    provider = address_of(pubkey)
    task = Hash32(task_id)
    unsigned = ProofEnvelope(
        type_id=type_id,
        task_id=task,
        provider=provider,
        body=bytes(body),
        nullifier=compute_nullifier(type_id, task, provider),
        signature=Signature64(bytes(64)),
    )
    signature = Signature64(provider_key.sign(unsigned.signing_digest(chain_id)))
    return ProofEnvelope(
        type_id=unsigned.type_id,
        task_id=unsigned.task_id,
        provider=unsigned.provider,
        body=unsigned.body,
        nullifier=unsigned.nullifier,
        signature=signature,
    )
