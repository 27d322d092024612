"""ProofEnvelope codec, nullifier, signature, the verifier registry and the ZK body.

Two real Groth16 checks run here (a valid ZK envelope and one whose proof fails); every
other ZK case stops before the pairing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from chain.codec import encode
from chain.errors import InvalidProof
from chain.hashing import H
from chain.types import Address, Hash32, Signature64
from proofs.envelope import (
    MAX_BODY_BYTES,
    MAX_ENVELOPE_BYTES,
    ProofEnvelope,
    ProofType,
    address_of,
    compute_nullifier,
    seal_envelope,
    signing_digest,
)
from proofs.groth16 import Groth16Cache, parse_verifying_key
from proofs.policy import BP, PolicyParams, ZkPricing
from proofs.registry import (
    BodyResult,
    VerifiedProof,
    VerifierRegistry,
    VerifyContext,
    ZkGroth16Body,
    default_registry,
    verify_envelope,
    verify_zk_groth16_body,
    zk_output_digest,
)

CHAIN = "cairn-devnet-1"
KEY = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
PUBKEY = KEY.public_key().public_bytes_raw()
PROVIDER = address_of(PUBKEY)
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes([8]) * 32)
TASK = Hash32(H(b"test/task", b"1"))
RISC0 = "groth16/risc0_multiplier_1pub"

CACHE = Groth16Cache()
"""Shared by this module's ZK tests, so the valid proof is paired once."""


def _ctx(**changes: object) -> VerifyContext:
    base = VerifyContext(
        chain_id=CHAIN,
        provider_pubkey={PROVIDER: PUBKEY}.get,
        used_nullifiers=frozenset(),
        groth16_cache=CACHE,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _sign(fields: list[object], key: Ed25519PrivateKey = KEY, chain_id: str = CHAIN) -> bytes:
    """Encode ``[version, type_id, task_id, provider, body, nullifier]`` plus a signature over it."""
    unsigned = encode(fields)
    return encode([*fields, key.sign(signing_digest(chain_id, unsigned))])


def _raw(**changes: object) -> list[object]:
    fields: dict[str, object] = {
        "version": 1,
        "type_id": int(ProofType.ZK_GROTH16_BN254),
        "task_id": bytes(TASK),
        "provider": bytes(PROVIDER),
        "body": b"\x80",
        "nullifier": bytes(compute_nullifier(ProofType.ZK_GROTH16_BN254, TASK, PROVIDER)),
        "signature": bytes(64),
    }
    fields.update(changes)
    return list(fields.values())


@pytest.fixture(scope="module")
def zk_body(vectors: Path) -> ZkGroth16Body:
    d = vectors / RISC0
    return ZkGroth16Body.build(
        (d / "verification_key.json").read_bytes(),
        (d / "proof.json").read_bytes(),
        (d / "public.json").read_bytes(),
    )


# --- codec -------------------------------------------------------------------------


def test_round_trip_and_golden_layout() -> None:
    env = seal_envelope(ProofType.AI_V1, TASK, b"body", chain_id=CHAIN, provider_key=KEY)
    raw = env.encode()
    assert ProofEnvelope.decode(raw) == env
    assert cbor2.loads(raw) == [
        1,
        1,
        bytes(TASK),
        bytes(PROVIDER),
        b"body",
        bytes(env.nullifier),
        bytes(env.signature),
    ]
    assert env.hash() == H(b"cairn/proof/v1", raw)


@given(
    type_id=st.sampled_from(list(ProofType)),
    task=st.binary(min_size=32, max_size=32),
    provider=st.binary(min_size=20, max_size=20),
    body=st.binary(max_size=200),
    nullifier=st.binary(min_size=32, max_size=32),
    signature=st.binary(min_size=64, max_size=64),
)
def test_round_trip_property(
    type_id: ProofType, task: bytes, provider: bytes, body: bytes, nullifier: bytes, signature: bytes
) -> None:
    env = ProofEnvelope(
        type_id=type_id,
        task_id=Hash32(task),
        provider=Address(provider),
        body=body,
        nullifier=Hash32(nullifier),
        signature=Signature64(signature),
    )
    assert ProofEnvelope.decode(env.encode()) == env


def _noncanonical_version() -> bytes:
    good = encode(_raw())
    # 0x87 = array(7); 0x01 = 1 → 0x18 0x01 is the same integer with a non-shortest head.
    return good[:1] + b"\x18\x01" + good[2:]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (encode(_raw()) + b"\x00", "envelope_trailing_bytes"),
        (_noncanonical_version(), "envelope_non_canonical"),
        (encode(_raw(version=2)), "envelope_version"),
        (encode(_raw(version=0)), "envelope_version"),
        (encode(_raw(version=True)), "envelope_malformed"),
        (encode(_raw(version="1")), "envelope_malformed"),
        (encode(_raw()[:6]), "envelope_malformed"),
        (encode([*_raw(), b""]), "envelope_malformed"),
        (encode([]), "envelope_malformed"),
        (encode({"version": 1}), "envelope_malformed"),
        (b"", "envelope_malformed"),
        (b"\xff", "envelope_malformed"),
        (encode(_raw(task_id=bytes(31))), "envelope_bad_length"),
        (encode(_raw(task_id=bytes(33))), "envelope_bad_length"),
        (encode(_raw(provider=bytes(21))), "envelope_bad_length"),
        (encode(_raw(provider=bytes(19))), "envelope_bad_length"),
        (encode(_raw(nullifier=bytes(31))), "envelope_bad_length"),
        (encode(_raw(signature=bytes(63))), "envelope_bad_length"),
        (encode(_raw(signature="sig")), "envelope_malformed"),
        (encode(_raw(body="text")), "envelope_malformed"),
        (encode(_raw(type_id=9)), "unknown_proof_type"),
        (encode(_raw(type_id=0)), "unknown_proof_type"),
        (encode(_raw(type_id="AI_V1")), "envelope_malformed"),
        (encode(_raw(body=bytes(MAX_ENVELOPE_BYTES))), "envelope_oversize"),
        (encode(_raw(body=bytes(MAX_BODY_BYTES + 1))), "envelope_bad_length"),
    ],
)
def test_strict_decoding(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidProof) as info:
        ProofEnvelope.decode(raw)
    assert info.value.reason == reason


@given(st.binary(max_size=300))
def test_fuzz_decode_arbitrary_bytes(raw: bytes) -> None:
    try:
        ProofEnvelope.decode(raw)
    except InvalidProof:
        pass


@given(data=st.data())
def test_fuzz_decode_bit_flips(data: st.DataObject) -> None:
    raw = bytearray(
        seal_envelope(ProofType.QUANTUM_V1, TASK, b"\x81\x01", chain_id=CHAIN, provider_key=KEY).encode()
    )
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    try:
        env = ProofEnvelope.decode(bytes(raw))
    except InvalidProof:
        return
    assert env.encode() == bytes(raw)  # whatever decodes is canonical


def test_constructor_checks_types() -> None:
    good = seal_envelope(ProofType.AI_V1, TASK, b"", chain_id=CHAIN, provider_key=KEY)
    with pytest.raises(InvalidProof):
        dataclasses.replace(good, version=2)
    with pytest.raises(InvalidProof):
        dataclasses.replace(good, task_id=bytes(32))  # type: ignore[arg-type]
    with pytest.raises(InvalidProof):
        dataclasses.replace(good, type_id=7)  # type: ignore[arg-type]


# --- nullifier and signature -------------------------------------------------------


def test_nullifier_formula() -> None:
    expected = H(b"cairn/null/v1", encode([3, bytes(TASK), bytes(PROVIDER)]))
    assert compute_nullifier(ProofType.ZK_GROTH16_BN254, TASK, PROVIDER) == expected
    others = {
        compute_nullifier(ProofType.AI_V1, TASK, PROVIDER),
        compute_nullifier(ProofType.ZK_GROTH16_BN254, Hash32(bytes(32)), PROVIDER),
        compute_nullifier(
            ProofType.ZK_GROTH16_BN254, TASK, address_of(OTHER_KEY.public_key().public_bytes_raw())
        ),
    }
    assert expected not in others and len(others) == 3


def test_address_formula() -> None:
    assert address_of(PUBKEY) == H(b"cairn/addr/v1", PUBKEY)[-20:]


def test_nullifier_mismatch_is_rejected_even_when_signed(zk_body: ZkGroth16Body) -> None:
    wrong = bytes(compute_nullifier(ProofType.AI_V1, TASK, PROVIDER))
    raw = _sign(_raw(body=zk_body.encode(), nullifier=wrong)[:6])
    with pytest.raises(InvalidProof) as info:
        verify_envelope(raw, _ctx())
    assert info.value.reason == "nullifier_mismatch"


def test_replayed_nullifier_is_rejected(zk_body: ZkGroth16Body) -> None:
    env = seal_envelope(ProofType.ZK_GROTH16_BN254, TASK, zk_body.encode(), chain_id=CHAIN, provider_key=KEY)
    with pytest.raises(InvalidProof) as info:
        verify_envelope(env, _ctx(used_nullifiers={bytes(env.nullifier)}))
    assert info.value.reason == "nullifier_used"


def test_signature_checks(zk_body: ZkGroth16Body) -> None:
    env = seal_envelope(ProofType.ZK_GROTH16_BN254, TASK, zk_body.encode(), chain_id=CHAIN, provider_key=KEY)
    other_pub = OTHER_KEY.public_key().public_bytes_raw()
    cases: list[tuple[ProofEnvelope | bytes, VerifyContext, str]] = [
        (env, _ctx(provider_pubkey={}.get), "unknown_provider"),
        (env, _ctx(provider_pubkey={PROVIDER: other_pub}.get), "provider_key_mismatch"),
        (dataclasses.replace(env, signature=Signature64(bytes(64))), _ctx(), "bad_signature"),
        (env, _ctx(chain_id="cairn-devnet-2"), "bad_signature"),  # signed for another chain
        # signed by another key over this provider's fields
        (_sign(_raw(body=zk_body.encode())[:6], key=OTHER_KEY), _ctx(), "bad_signature"),
        # the body changed after signing
        (dataclasses.replace(env, body=env.body + b"\x00"), _ctx(), "bad_signature"),
    ]
    for envelope, ctx, reason in cases:
        with pytest.raises(InvalidProof) as info:
            verify_envelope(envelope, ctx)
        assert info.value.reason == reason


# --- registry ----------------------------------------------------------------------


def test_unregistered_types_are_refused() -> None:
    assert default_registry().type_ids == (ProofType.AI_V1, ProofType.QUANTUM_V1, ProofType.ZK_GROTH16_BN254)
    zk_only = VerifierRegistry().with_verifier(ProofType.ZK_GROTH16_BN254, verify_zk_groth16_body)
    for type_id in (ProofType.AI_V1, ProofType.QUANTUM_V1):
        env = seal_envelope(type_id, TASK, b"", chain_id=CHAIN, provider_key=KEY)
        with pytest.raises(InvalidProof) as info:
            verify_envelope(env, _ctx(registry=zk_only))
        assert info.value.reason == "verifier_not_registered"


def test_a_verifier_slots_in_and_cannot_change_task_or_provider() -> None:
    seen: list[ProofEnvelope] = []

    def fake_ai(envelope: ProofEnvelope, ctx: VerifyContext) -> BodyResult:
        seen.append(envelope)
        return BodyResult(output_digest=Hash32(bytes(range(32))), units=1234, qos_bp=12650)

    registry = default_registry().with_verifier(ProofType.AI_V1, fake_ai)
    assert registry.type_ids == (ProofType.AI_V1, ProofType.QUANTUM_V1, ProofType.ZK_GROTH16_BN254)
    env = seal_envelope(ProofType.AI_V1, TASK, b"ai body", chain_id=CHAIN, provider_key=KEY)
    result = verify_envelope(env.encode(), _ctx(registry=registry))
    assert result == VerifiedProof(TASK, PROVIDER, Hash32(bytes(range(32))), 1234, 12650)
    assert seen == [env]
    # the shared checks run before the body verifier
    with pytest.raises(InvalidProof):
        verify_envelope(env, _ctx(registry=registry, used_nullifiers={bytes(env.nullifier)}))
    assert len(seen) == 1


# --- ZK_GROTH16_BN254 --------------------------------------------------------------


def test_zk_envelope_verifies_and_uses_the_cache(zk_body: ZkGroth16Body, vectors: Path) -> None:
    env = seal_envelope(ProofType.ZK_GROTH16_BN254, TASK, zk_body.encode(), chain_id=CHAIN, provider_key=KEY)
    ctx = _ctx(policy=PolicyParams(zk=ZkPricing(units_per_proof=2500)))
    result = verify_envelope(env.encode(), ctx)  # one real pairing check
    vk = parse_verifying_key((vectors / RISC0 / "verification_key.json").read_bytes())
    assert result == VerifiedProof(
        task_id=TASK,
        provider=PROVIDER,
        output_digest=zk_output_digest(vk.digest(), (33,)),
        units=2500,
        qos_bp=BP,
    )
    hits = CACHE.hits
    assert verify_envelope(env, ctx) == result
    assert CACHE.hits == hits + 1


def test_zk_proof_that_fails_the_pairing(vectors: Path) -> None:
    d = vectors / RISC0
    body = ZkGroth16Body.build(
        (d / "verification_key.json").read_bytes(),
        (d / "proof.json").read_bytes(),
        (d / "public_bad.json").read_bytes(),
    )
    env = seal_envelope(ProofType.ZK_GROTH16_BN254, TASK, body.encode(), chain_id=CHAIN, provider_key=KEY)
    with pytest.raises(InvalidProof) as info:
        verify_envelope(env, _ctx())  # one real pairing check
    assert info.value.reason == "pairing_check_failed"


def _zk_env(body: bytes) -> ProofEnvelope:
    return seal_envelope(ProofType.ZK_GROTH16_BN254, TASK, body, chain_id=CHAIN, provider_key=KEY)


def test_zk_body_rejections(zk_body: ZkGroth16Body, vectors: Path) -> None:
    d = vectors / RISC0
    not_on_curve = dataclasses.replace(zk_body, proof_json=(d / "proof_bad_not_on_curve.json").read_bytes())
    cases = [
        (dataclasses.replace(zk_body, output_digest=Hash32(bytes(32))).encode(), "output_digest_mismatch"),
        (dataclasses.replace(zk_body, public_json=b'["34"]').encode(), "output_digest_mismatch"),
        (dataclasses.replace(zk_body, public_json=b'["33", "1"]').encode(), "public_input_count"),
        (dataclasses.replace(zk_body, public_json=b'["033"]').encode(), "non_canonical_integer"),
        (not_on_curve.encode(), "point_not_on_curve"),
        (zk_body.encode() + b"\x00", "zk_body_trailing_bytes"),
        (encode([2, *cbor2.loads(zk_body.encode())[1:]]), "zk_body_version"),
        (encode(cbor2.loads(zk_body.encode())[:4]), "zk_body_malformed"),
        (encode([1, "vk", b"", b"", bytes(32)]), "zk_body_malformed"),
        (encode([1, b"", b"", b"", bytes(31)]), "zk_body_bad_length"),
        (b"", "zk_body_malformed"),
    ]
    for body, reason in cases:
        with pytest.raises(InvalidProof) as info:
            verify_envelope(_zk_env(body), _ctx())
        assert info.value.reason == reason, reason


def test_zk_body_round_trip(zk_body: ZkGroth16Body) -> None:
    assert ZkGroth16Body.decode(zk_body.encode()) == zk_body
