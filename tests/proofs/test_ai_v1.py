"""AI_V1: the body codec, the verifier end to end (devnet class, and real SEV-SNP and SGX
evidence), the binding rule, and redundancy quorum verdicts.

Fixed values.  Devnet runs use chain ``cairn-devnet-1``; the provider key is derived from
``H(b"test/ai-provider", b"")``, the devnet signer from the seed ``0x07 * 32``; task and
digests are ``H(b"test/ai", i)``.  Real evidence is tests/vectors/README.md's: the go-sev-guest
Milan report (report_data ``0102030405`` + zeros, a DEBUG guest) and the dcap-qvl SGX quote
(report_data ``"Hello, world!"`` + zeros), both verified at 2025-07-01T00:00:00Z
(``NOW_UNIX``), which lies inside every certificate and collateral window involved
(tests/proofs/test_sevsnp.py and test_sgx.py list them).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.codec import encode
from chain.errors import InvalidProof
from chain.hashing import H
from chain.types import Address, Hash32, Signature64
from genesis.trust import ai_verify_config, amd_arks, amd_chain_pem
from proofs.ai import (
    AiBody,
    AiVerifyConfig,
    DevnetEvidence,
    QosReport,
    QuorumVerdict,
    SevSnpEvidence,
    SgxEvidence,
    binding_digest,
    block_datetime,
    check_binding,
    majority,
    quorum_verdict,
    verify_ai_body,
    verify_attestation,
)
from proofs.devnet import (
    DevnetAttestationConfig,
    DevnetReport,
    DevnetSigner,
    devnet_signing_digest,
    report_data_for,
)
from proofs.envelope import MAX_BODY_BYTES, ProofType, address_of, seal_envelope
from proofs.policy import AiPricing, PolicyParams, meter_ai
from proofs.registry import VerifiedProof, VerifyContext, default_registry, verify_envelope
from proofs.tee.sevsnp import SevSnpPolicy
from proofs.tee.sgx import SgxPolicy

CHAIN = "cairn-devnet-1"
KEY = Ed25519PrivateKey.from_private_bytes(H(b"test/ai-provider", b""))
PUB = KEY.public_key().public_bytes_raw()
PROVIDER = address_of(PUB)
SIGNER = DevnetSigner.from_seed(bytes([7]) * 32)
SOFTWARE = Hash32(H(b"test/ai", b"provider-build"))
DEVNET = DevnetAttestationConfig(enabled=True, signers=(SIGNER.public_key,))
TASK, MODEL_DIGEST, INPUT_DIGEST, OUTPUT_DIGEST, OTHER = (Hash32(H(b"test/ai", bytes([i]))) for i in range(5))

NOW_UNIX = 1_751_328_000
"""2025-07-01T00:00:00Z."""
SNP_MEASUREMENT = bytes.fromhex(
    "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
)
SNP_REPORT_DATA = bytes([1, 2, 3, 4, 5]) + bytes(59)
SNP_DEBUG_OK = SevSnpPolicy(allow_debug=True, measurements=frozenset({SNP_MEASUREMENT}))
SGX_MRENCLAVE = bytes.fromhex("33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb")
SGX_REPORT_DATA = b"Hello, world!" + bytes(51)
GOOD_QOS = QosReport(p95_latency_ms=250, availability_ppm=999_500)
SGX_ALLOW_SAMPLE = SgxPolicy(mrenclaves=frozenset({SGX_MRENCLAVE}), require_collateral=True)


def devnet_body(
    task: bytes = TASK,
    *,
    report_data: bytes | None = None,
    model: str = "llama3-8b",
    runtime_ms: int = 2_500,
    qos: QosReport = GOOD_QOS,
    output_digest: Hash32 = OUTPUT_DIGEST,
) -> AiBody:
    """A body attested by the devnet signer; ``report_data`` defaults to the correct binding."""
    if report_data is None:
        report_data = report_data_for(task, MODEL_DIGEST, INPUT_DIGEST, output_digest)
    report = SIGNER.attest(CHAIN, report_data, SOFTWARE)
    return AiBody(
        model=model,
        model_digest=MODEL_DIGEST,
        input_digest=INPUT_DIGEST,
        output_digest=output_digest,
        runtime_ms=runtime_ms,
        qos=qos,
        attestation=DevnetEvidence(report.encode()),
    )


def context(**changes: Any) -> VerifyContext:
    ctx = VerifyContext(
        chain_id=CHAIN,
        provider_pubkey=lambda address: PUB if address == PROVIDER else None,
        devnet=DEVNET,
        now=NOW_UNIX,
    )
    return dataclasses.replace(ctx, **changes)


def seal(body: bytes | AiBody, task: bytes = TASK, chain_id: str = CHAIN) -> bytes:
    raw = body.encode() if isinstance(body, AiBody) else body
    return seal_envelope(ProofType.AI_V1, task, raw, chain_id=chain_id, provider_key=KEY).encode()


def reason(envelope: bytes, ctx: VerifyContext | None = None) -> str:
    with pytest.raises(InvalidProof) as info:
        verify_envelope(envelope, ctx or context())
    return info.value.reason


# --- devnet end to end --------------------------------------------------------------


def test_devnet_envelope_verifies_end_to_end() -> None:
    """2.5 s of llama3-8b (weight 1.0) at p95 250 ms (×1.15) and 99.95 % (×1.10):
    qos = 11500 × 11000 // 10000 = 12650 bp; units = 2500 × 10000 × 12650 // 10^8 = 3162."""
    assert ProofType.AI_V1 in default_registry().type_ids
    result = verify_envelope(seal(devnet_body()), context())
    assert result == VerifiedProof(TASK, PROVIDER, OUTPUT_DIGEST, units=3162, qos_bp=12650)
    expected = meter_ai("llama3-8b", 2500, 250, 999_500, AiPricing())
    assert (result.units, result.qos_bp) == (expected.units, expected.qos_bp)


def test_pricing_follows_the_context_policy() -> None:
    """clip-vit-b weighs 0.3; with genesis weighting it 2.0 instead the units follow."""
    body = devnet_body(model="clip-vit-b", runtime_ms=10_000, qos=QosReport(900, 980_000))
    # qos = 8000 × 9000 // 10000 = 7200; units = 10000 × 3000 × 7200 // 10^8 = 2160
    assert verify_envelope(seal(body), context()).units == 2160
    policy = PolicyParams(ai=AiPricing(model_weights_bp=(("clip-vit-b", 20_000),)))
    assert verify_envelope(seal(body), context(policy=policy)).units == 14_400
    assert reason(seal(devnet_body(model="gpt-x")), context()) == "unknown_model"


def test_model_digest_allowlist() -> None:
    """When genesis lists (model, weights digest) pairs, the priced name must match the
    attested weights; an empty list leaves the pair unchecked."""
    listed = AiVerifyConfig(model_digests=(("llama3-8b", bytes(MODEL_DIGEST)),))
    ctx = context(type_config={ProofType.AI_V1: listed})
    assert verify_envelope(seal(devnet_body()), ctx).units == 3162
    # the cheap model's weights priced under the expensive model's name
    cheap = AiVerifyConfig(model_digests=(("clip-vit-b", bytes(MODEL_DIGEST)),))
    ctx = context(type_config={ProofType.AI_V1: cheap})
    assert reason(seal(devnet_body(model="llama3-70b")), ctx) == "ai_model_digest_not_allowed"
    assert verify_envelope(seal(devnet_body(model="clip-vit-b")), ctx).output_digest == OUTPUT_DIGEST


def test_body_round_trip_and_wire_shape() -> None:
    body = devnet_body()
    raw = body.encode()
    assert AiBody.decode(raw) == body
    assert cbor2.loads(raw) == [
        1,
        "llama3-8b",
        bytes(MODEL_DIGEST),
        bytes(INPUT_DIGEST),
        bytes(OUTPUT_DIGEST),
        2500,
        [250, 999_500],
        ["devnet", body.attestation.report],  # type: ignore[union-attr]
        None,
    ]
    for attestation in (
        SevSnpEvidence(b"report", b"vcek", b"chain"),
        SgxEvidence(b"quote"),
        SgxEvidence(b"quote", b"{}"),
    ):
        other = dataclasses.replace(body, attestation=attestation)
        assert AiBody.decode(other.encode()) == other
    assert cbor2.loads(dataclasses.replace(body, attestation=SgxEvidence(b"q")).encode())[7] == [
        "sgx",
        b"q",
        None,
    ]


def test_wrong_binding_is_ai_report_data_mismatch() -> None:
    # attested for another output than the body claims
    forged = dataclasses.replace(devnet_body(output_digest=OTHER), output_digest=OUTPUT_DIGEST)
    assert reason(seal(forged)) == "ai_report_data_mismatch"
    # a valid body for TASK, replayed as the result of another task
    assert reason(seal(devnet_body(TASK), task=OTHER)) == "ai_report_data_mismatch"
    # another model or input than attested
    body = devnet_body()
    assert reason(seal(dataclasses.replace(body, model_digest=OTHER))) == "ai_report_data_mismatch"
    assert reason(seal(dataclasses.replace(body, input_digest=OTHER))) == "ai_report_data_mismatch"
    # the right hash but a nonzero tail: a devnet report must carry report_data_for exactly
    tail = report_data_for(TASK, MODEL_DIGEST, INPUT_DIGEST, OUTPUT_DIGEST)[:32] + bytes([1]) * 32
    assert reason(seal(devnet_body(report_data=tail))) == "ai_report_data_mismatch"


def test_devnet_class_refused_off_devnet_chains() -> None:
    """On a mainnet chain id the devnet class is refused even though the context enables it
    and the report is signed for that chain (by hand: the signer itself refuses)."""
    key = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
    for chain_id in ("cairn-mainnet-1", "cairn-testnet", "devnet"):
        report_data = report_data_for(TASK, MODEL_DIGEST, INPUT_DIGEST, OUTPUT_DIGEST)
        digest = devnet_signing_digest(chain_id, 1, SIGNER.public_key, SOFTWARE, report_data)
        report = DevnetReport(SIGNER.public_key, SOFTWARE, report_data, Signature64(key.sign(digest)))
        body = dataclasses.replace(devnet_body(), attestation=DevnetEvidence(report.encode()))
        ctx = context(chain_id=chain_id)
        assert reason(seal(body, chain_id=chain_id), ctx) == "devnet_attestation_forbidden_chain"
    # on a devnet, genesis must still enable it
    assert reason(seal(devnet_body()), context(devnet=None)) == "devnet_attestation_disabled"
    assert (
        reason(seal(devnet_body()), context(devnet=DevnetAttestationConfig()))
        == "devnet_attestation_disabled"
    )
    stranger = DevnetAttestationConfig(enabled=True, signers=(DevnetSigner.from_seed(bytes(32)).public_key,))
    assert reason(seal(devnet_body()), context(devnet=stranger)) == "devnet_unknown_signer"


def test_unknown_attestation_class_refused() -> None:
    value = devnet_body().to_value()
    for cls in ("TDX", "tdx-v5", "SEV-SNP", "", "devnet "):
        value[7] = [cls, b"evidence"]
        assert reason(seal(encode(value))) == "ai_attestation_class_unknown"


def test_tee_class_without_configured_roots_is_refused() -> None:
    body = dataclasses.replace(devnet_body(), attestation=SevSnpEvidence(b"r", b"v", b"c"))
    assert reason(seal(body)) == "ai_attestation_class_not_configured"
    body = dataclasses.replace(devnet_body(), attestation=SgxEvidence(b"q"))
    assert reason(seal(body)) == "ai_attestation_class_not_configured"


def _value(**changes: Any) -> list[Any]:
    names = ("version", "model", "model_digest", "input_digest", "output_digest", "runtime_ms", "qos", "att", "output")
    fields = dict(zip(names, devnet_body().to_value(), strict=True))
    fields.update(changes)
    return list(fields.values())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (encode(_value(version=2)), "ai_body_version"),
        (encode(_value(version=False)), "ai_body_malformed"),
        (encode(_value()) + b"\x00", "ai_body_trailing_bytes"),
        (encode(_value()[:8]), "ai_body_malformed"),
        (encode(_value(output=7)), "ai_body_malformed"),
        (encode(_value(output=bytes(64 * 1024 + 1))), "ai_body_bad_length"),
        (encode([*_value(), 0]), "ai_body_malformed"),
        (encode({"version": 1}), "ai_body_malformed"),
        (b"", "ai_body_malformed"),
        (b"\x18\x01", "ai_body_non_canonical"),
        (bytes(MAX_BODY_BYTES + 1), "ai_body_oversize"),
        (encode(_value(model="")), "ai_body_malformed"),
        (encode(_value(model="llama 3")), "ai_body_malformed"),
        (encode(_value(model="llamaé")), "ai_body_malformed"),
        (encode(_value(model="m" * 65)), "ai_body_bad_length"),
        (encode(_value(model=b"llama3-8b")), "ai_body_malformed"),
        (encode(_value(model_digest=bytes(31))), "ai_body_bad_length"),
        (encode(_value(input_digest=bytes(33))), "ai_body_bad_length"),
        (encode(_value(output_digest="00" * 32)), "ai_body_malformed"),
        (encode(_value(runtime_ms=-1)), "ai_body_malformed"),
        (encode(_value(runtime_ms=(1 << 40) + 1)), "ai_body_malformed"),
        (encode(_value(qos=[250])), "ai_body_malformed"),
        (encode(_value(qos=[250, 1_000_001])), "ai_body_malformed"),
        (encode(_value(qos=[True, 999_000])), "ai_body_malformed"),
        (encode(_value(att=[])), "ai_body_malformed"),
        (encode(_value(att=b"devnet")), "ai_body_malformed"),
        (encode(_value(att=[1, b"x"])), "ai_body_malformed"),
        (encode(_value(att=["devnet"])), "ai_body_malformed"),
        (encode(_value(att=["devnet", "x"])), "ai_body_malformed"),
        (encode(_value(att=["sev-snp", b"r", b"v"])), "ai_body_malformed"),
        (encode(_value(att=["sgx", b"q"])), "ai_body_malformed"),
        (encode(_value(att=["sgx", b"q", 0])), "ai_body_malformed"),
        (encode(_value(att=["x" * 17, b"q"])), "ai_body_bad_length"),
    ],
)
def test_strict_body_decoding(raw: bytes, expected: str) -> None:
    with pytest.raises(InvalidProof) as info:
        AiBody.decode(raw)
    assert info.value.reason == expected
    if len(raw) <= MAX_BODY_BYTES:  # a larger body cannot be sealed into an envelope at all
        assert reason(seal(raw)) == expected


def test_constructor_checks_like_the_decoder() -> None:
    body = devnet_body()
    for changes, expected in (
        ({"version": 2}, "ai_body_version"),
        ({"model": "a b"}, "ai_body_malformed"),
        ({"model_digest": bytes(32)}, "ai_body_malformed"),
        ({"runtime_ms": -5}, "ai_body_malformed"),
        ({"qos": QosReport(0, 2_000_000)}, "ai_body_malformed"),
        ({"attestation": "devnet"}, "ai_body_malformed"),
    ):
        with pytest.raises(InvalidProof) as info:
            dataclasses.replace(body, **changes)
        assert info.value.reason == expected
    with pytest.raises(InvalidProof):
        SgxEvidence(b"q", "collateral")  # type: ignore[arg-type]


_cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.binary(max_size=40) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=9),
    max_leaves=30,
)


@given(st.data())
def test_fuzz_bodies_only_invalid_proof(data: st.DataObject) -> None:
    """Random bytes, bit flips of a valid body, and valid bodies with one field replaced by
    a random CBOR value: verification never raises anything but InvalidProof, and a body
    accepted after a change still has the attested digests and attestation — only the
    self-reported fields (model name, runtime, QoS), which the provider signs but no TEE
    vouches for, can differ."""
    good = devnet_body()
    kind = data.draw(st.sampled_from(["bytes", "flip", "field", "attestation"]))
    if kind == "bytes":
        raw = data.draw(st.binary(max_size=400))
    elif kind == "flip":
        buf = bytearray(good.encode())
        for _ in range(data.draw(st.integers(1, 3))):
            buf[data.draw(st.integers(0, len(buf) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        raw = bytes(buf)
    elif kind == "field":
        value = good.to_value()
        value[data.draw(st.integers(0, 7))] = data.draw(_cbor_values)
        raw = encode(value)
    else:
        value = good.to_value()
        att = list(value[7])
        att[data.draw(st.integers(0, len(att) - 1))] = data.draw(_cbor_values)
        value[7] = att
        raw = encode(value)
    try:
        result = verify_envelope(seal(raw), context())
    except InvalidProof:
        return
    accepted = AiBody.decode(raw)
    assert result.output_digest == OUTPUT_DIGEST
    assert (accepted.model_digest, accepted.input_digest, accepted.attestation) == (
        good.model_digest,
        good.input_digest,
        good.attestation,
    )


# --- the binding rule ---------------------------------------------------------------


def test_binding_function() -> None:
    digest = binding_digest(TASK, MODEL_DIGEST, INPUT_DIGEST, OUTPUT_DIGEST)
    assert digest == H(b"cairn/ai-report-data/v1", encode([TASK, MODEL_DIGEST, INPUT_DIGEST, OUTPUT_DIGEST]))
    assert report_data_for(TASK, MODEL_DIGEST, INPUT_DIGEST, OUTPUT_DIGEST) == digest + bytes(32)
    body = devnet_body()
    check_binding(digest + bytes(32), TASK, body)
    check_binding(digest + b"\xff" * 32, TASK, body)  # TEE classes bind the first half only
    bad = [
        bytes([digest[0] ^ 1]) + digest[1:] + bytes(32),
        digest[:31],
        b"",
        bytes(64),
        SNP_REPORT_DATA,
    ]
    for report_data in bad:
        with pytest.raises(InvalidProof) as info:
            check_binding(report_data, TASK, body)
        assert info.value.reason == "ai_report_data_mismatch"
    with pytest.raises(InvalidProof) as info:
        check_binding(digest + bytes(32), OTHER, body)
    assert info.value.reason == "ai_report_data_mismatch"
    # each of the four inputs changes the digest
    parts = [TASK, MODEL_DIGEST, INPUT_DIGEST, OUTPUT_DIGEST]
    variants = {binding_digest(*(OTHER if j == i else p for j, p in enumerate(parts))) for i in range(4)}
    assert len(variants) == 4 and digest not in variants


def test_block_time_conversion() -> None:
    assert block_datetime(NOW_UNIX) == datetime(2025, 7, 1, tzinfo=UTC)
    assert block_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)
    for bad in (-1, True, 10**12, "0"):
        with pytest.raises(ValueError):
            block_datetime(bad)  # type: ignore[arg-type]


# --- real hardware evidence ---------------------------------------------------------


class RealEvidence:
    """The testdata evidence (a plain class, so Hypothesis prints a short repr)."""

    def __init__(self, root: Path) -> None:
        snp = root / "tee" / "sev-snp" / "milan_go-sev-guest"
        sgx = root / "tee" / "sgx-dcap" / "sgx-v3_dcap-qvl"
        self.snp_report = (snp / "attestation.bin").read_bytes()
        self.snp_tampered = (snp / "attestation_tampered_reportdata.bin").read_bytes()
        self.vcek = (snp / "vcek.der").read_bytes()
        self.quote = (sgx / "sgx_quote.bin").read_bytes()
        self.collateral = (sgx / "sgx_quote_collateral.json").read_bytes()

    def __repr__(self) -> str:
        return "<real TEE evidence>"


@pytest.fixture(scope="module")
def real(vectors: Path) -> RealEvidence:
    return RealEvidence(vectors)


def tee_context(**config: Any) -> VerifyContext:
    """A non-devnet chain trusting genesis's shipped roots."""
    ai = ai_verify_config(sevsnp_policy=SNP_DEBUG_OK, sgx_policy=SGX_ALLOW_SAMPLE)
    return context(
        chain_id="cairn-testnet-1",
        devnet=None,
        type_config={ProofType.AI_V1: dataclasses.replace(ai, **config)},
    )


def tee_body(attestation: SevSnpEvidence | SgxEvidence) -> AiBody:
    return dataclasses.replace(devnet_body(), attestation=attestation)


def test_real_sevsnp_evidence_passes_every_tee_check(real: RealEvidence) -> None:
    """Under genesis's ARKs and a policy allowing this debug guest, the Milan report verifies
    and yields its report_data: everything but the binding holds."""
    ctx = tee_context()
    report_data = verify_attestation(
        SevSnpEvidence(real.snp_report, real.vcek, amd_chain_pem("Milan")),
        chain_id=ctx.chain_id,
        now=ctx.now,
        config=ctx.type_config[ProofType.AI_V1],
        devnet=None,
        expected_report_data=bytes(64),
    )
    assert report_data == SNP_REPORT_DATA


@settings(max_examples=8)
@given(task=st.binary(min_size=32, max_size=32), output=st.binary(min_size=32, max_size=32))
def test_real_sevsnp_evidence_fails_the_binding_for_any_task(
    real: RealEvidence, task: bytes, output: bytes
) -> None:
    """The real report's report_data is 0102030405 + zeros, not H(task, ...) for any task:
    AI_V1 refuses it with ai_report_data_mismatch — the binding is enforced on real
    hardware evidence, after every TEE check passed."""
    evidence = SevSnpEvidence(real.snp_report, real.vcek, amd_chain_pem("Milan"))
    body = dataclasses.replace(tee_body(evidence), output_digest=Hash32(output))
    raw = seal_envelope(ProofType.AI_V1, task, body.encode(), chain_id="cairn-testnet-1", provider_key=KEY)
    assert reason(raw.encode(), tee_context()) == "ai_report_data_mismatch"


def test_real_sevsnp_tee_reasons_pass_through(real: RealEvidence) -> None:
    milan = amd_chain_pem("Milan")
    cases: list[tuple[AiBody, dict[str, Any], str]] = [
        (tee_body(SevSnpEvidence(real.snp_tampered, real.vcek, milan)), {}, "sevsnp_report_signature"),
        # the Milan VCEK presented with the Genoa chain
        (
            tee_body(SevSnpEvidence(real.snp_report, real.vcek, amd_chain_pem("Genoa"))),
            {},
            "sevsnp_product_mismatch",
        ),
        (tee_body(SevSnpEvidence(real.snp_report[:-1], real.vcek, milan)), {}, "sevsnp_report_length"),
        (
            tee_body(SevSnpEvidence(real.snp_report, real.vcek, milan)),
            {"sevsnp_policy": SevSnpPolicy()},
            "sevsnp_debug_not_allowed",
        ),
        (
            tee_body(SevSnpEvidence(real.snp_report, real.vcek, milan)),
            {"sevsnp_policy": SevSnpPolicy(allow_debug=True, measurements=frozenset({bytes(48)}))},
            "sevsnp_measurement_not_allowed",
        ),
        (
            tee_body(SevSnpEvidence(real.snp_report, real.vcek, milan)),
            {"amd_arks": (amd_arks()["Genoa"],)},
            "sevsnp_root_untrusted",
        ),
    ]
    for body, config, expected in cases:
        assert reason(seal(body, chain_id="cairn-testnet-1"), tee_context(**config)) == expected
    # a block time before the VCEK's notBefore (2022-09-24)
    early = dataclasses.replace(tee_context(), now=1_600_000_000)
    body = tee_body(SevSnpEvidence(real.snp_report, real.vcek, milan))
    assert reason(seal(body, chain_id="cairn-testnet-1"), early) == "sevsnp_cert_not_yet_valid"


def test_real_sgx_evidence_fails_the_binding(real: RealEvidence) -> None:
    """The dcap-qvl quote with its collateral verifies at NOW_UNIX under genesis's Intel
    root; its report_data ("Hello, world!") binds no task."""
    ctx = tee_context()
    evidence = SgxEvidence(real.quote, real.collateral)
    report_data = verify_attestation(
        evidence,
        chain_id=ctx.chain_id,
        now=ctx.now,
        config=ctx.type_config[ProofType.AI_V1],
        devnet=None,
        expected_report_data=bytes(64),
    )
    assert report_data == SGX_REPORT_DATA
    assert reason(seal(tee_body(evidence), chain_id="cairn-testnet-1"), ctx) == "ai_report_data_mismatch"
    # collateral is required by default; an enclave off the allowlist is refused
    no_collateral = seal(tee_body(SgxEvidence(real.quote)), chain_id="cairn-testnet-1")
    assert reason(no_collateral, ctx) == "sgx_collateral_required"
    assert reason(no_collateral, tee_context(sgx_policy=SgxPolicy())) == "ai_report_data_mismatch"
    other = tee_context(sgx_policy=SgxPolicy(mrenclaves=frozenset({bytes(32)})))
    assert reason(seal(tee_body(evidence), chain_id="cairn-testnet-1"), other) == "sgx_mrenclave_not_allowed"


def test_type_config_of_the_wrong_type_is_a_bug() -> None:
    ctx = context(type_config={ProofType.AI_V1: {"amd_arks": ()}})
    with pytest.raises(TypeError):
        verify_envelope(seal(dataclasses.replace(devnet_body(), attestation=SgxEvidence(b"q"))), ctx)
    with pytest.raises(TypeError):
        AiVerifyConfig(amd_arks=[b"der"])  # type: ignore[arg-type]


def test_body_verifier_uses_the_envelope_task() -> None:
    """verify_ai_body reads task_id from the envelope: the body carries none of its own."""
    envelope = seal_envelope(ProofType.AI_V1, TASK, devnet_body().encode(), chain_id=CHAIN, provider_key=KEY)
    assert verify_ai_body(envelope, context()).output_digest == OUTPUT_DIGEST
    moved = dataclasses.replace(envelope, task_id=OTHER)
    with pytest.raises(InvalidProof) as info:
        verify_ai_body(moved, context())
    assert info.value.reason == "ai_report_data_mismatch"


# --- redundancy quorum --------------------------------------------------------------

P = [Address(bytes([i]) * 20) for i in range(1, 8)]
D = [Hash32(bytes([0xD0 + i]) * 32) for i in range(4)]


def test_majority_threshold() -> None:
    assert [majority(r) for r in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]
    with pytest.raises(ValueError):
        majority(0)


def test_quorum_all_agree() -> None:
    verdict = quorum_verdict([(P[2], D[0]), (P[0], D[0]), (P[1], D[0])], majority(3))
    assert verdict == QuorumVerdict(D[0], agreeing=(P[0], P[1], P[2]), dissenters=())


def test_quorum_two_of_three_lists_the_dissenter() -> None:
    verdict = quorum_verdict([(P[0], D[1]), (P[1], D[0]), (P[2], D[1])], 2)
    assert verdict == QuorumVerdict(D[1], agreeing=(P[0], P[2]), dissenters=(P[1],))
    # the order of the results does not matter
    assert quorum_verdict([(P[2], D[1]), (P[1], D[0]), (P[0], D[1])], 2) == verdict


def test_quorum_three_way_split_and_ties_agree_on_nothing() -> None:
    split = quorum_verdict([(P[0], D[0]), (P[1], D[1]), (P[2], D[2])], 2)
    assert split == QuorumVerdict(None, (), (), unresolved=(P[0], P[1], P[2]))
    # a 2-2 tie under a 2-of-4 threshold: both reach k, neither has more votes
    tie = quorum_verdict([(P[0], D[0]), (P[1], D[1]), (P[2], D[0]), (P[3], D[1])], 2)
    assert tie.agreed_digest is None and tie.dissenters == () and tie.unresolved == tuple(P[:4])
    # a 1-1 tie with only two of three results in
    assert quorum_verdict([(P[0], D[0]), (P[1], D[1])], majority(3)).agreed_digest is None


def test_quorum_plurality_under_a_low_threshold() -> None:
    """k = 2 of r = 5: 3 votes beat 2, so the 2 are dissenters."""
    results = [(P[0], D[0]), (P[1], D[1]), (P[2], D[0]), (P[3], D[1]), (P[4], D[0])]
    verdict = quorum_verdict(results, 2)
    assert verdict == QuorumVerdict(D[0], agreeing=(P[0], P[2], P[4]), dissenters=(P[1], P[3]))


def test_quorum_too_few_results() -> None:
    assert quorum_verdict([], 1) == QuorumVerdict(None, (), ())
    assert quorum_verdict([(P[0], D[0])], majority(3)) == QuorumVerdict(None, (), (), unresolved=(P[0],))
    assert quorum_verdict([(P[0], D[0])], 1) == QuorumVerdict(D[0], (P[0],), ())


def test_quorum_rejects_bad_input() -> None:
    for results, threshold in (
        ([(P[0], D[0]), (P[0], D[1])], 1),
        ([(P[0], D[0])], 0),
        ([(bytes(19), D[0])], 1),
        ([(P[0], bytes(31))], 1),
    ):
        with pytest.raises(ValueError):
            quorum_verdict(results, threshold)


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), max_size=12), st.integers(1, 7))
def test_quorum_properties(pairs: list[tuple[int, int]], threshold: int) -> None:
    """Agreeing and dissenting providers partition the reporters; the agreed digest has at
    least ``threshold`` votes and strictly more than any other; the verdict is independent
    of input order."""
    unique = {p: d for p, d in pairs}
    results = [(Address(bytes([p]) * 20), Hash32(bytes([d]) * 32)) for p, d in unique.items()]
    verdict = quorum_verdict(results, threshold)
    assert verdict == quorum_verdict(list(reversed(results)), threshold)
    providers = sorted(p for p, _ in results)
    votes: dict[bytes, int] = {}
    for _, d in results:
        votes[d] = votes.get(d, 0) + 1
    if verdict.agreed_digest is None:
        assert verdict.unresolved == tuple(providers) and not verdict.agreeing and not verdict.dissenters
        top = sorted(votes.values(), reverse=True)
        assert not top or top[0] < threshold or (len(top) > 1 and top[0] == top[1])
    else:
        assert sorted(verdict.agreeing + verdict.dissenters) == providers
        assert list(verdict.agreeing) == sorted(verdict.agreeing)
        assert list(verdict.dissenters) == sorted(verdict.dissenters)
        count = votes[verdict.agreed_digest]
        assert count == len(verdict.agreeing) >= threshold
        assert all(n < count for d, n in votes.items() if d != verdict.agreed_digest)
