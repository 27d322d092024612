"""Intel TDX DCAP quote v4 verification against real evidence (tests/vectors/tee/sgx-dcap).

Times.  The vector's collateral is valid together from 2025-06-19T10:32:27Z (the TD_QE
identity's issueDate) to 2025-07-19T10:00:35Z (the PCK CRL's nextUpdate), as the testdata
README says; ``NOW`` is one second before the end.  Both ends are tested (bounds are
inclusive) and one second outside each.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import InvalidProof
from chain.hashing import H
from chain.types import Hash32
from proofs.ai import (
    AiBody,
    AiVerifyConfig,
    QosReport,
    TdxEvidence,
    decode_attestation,
    verify_attestation,
)
from proofs.envelope import ProofType, address_of, seal_envelope
from proofs.registry import VerifyContext, verify_envelope
from proofs.tee.sgx import SgxPolicy, parse_pck_extension, parse_tcb_info, verify_sgx_quote
from proofs.tee.tdx import (
    QUOTE_BODY_SIZE,
    TdxPolicy,
    TdxQuote,
    check_tdx_module,
    check_tdx_policy,
    parse_tdx_quote,
    tdx_platform_tcb_level,
    verify_tdx_quote,
)
from proofs.tee.x509util import load_pem_certificates, load_trust_anchor

NOW = datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)
WINDOW_START = datetime(2025, 6, 19, 10, 32, 27, tzinfo=UTC)
WINDOW_END = datetime(2025, 7, 19, 10, 0, 35, tzinfo=UTC)
SECOND = timedelta(seconds=1)

MRTD = bytes.fromhex(
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
)
REPORT_DATA = bytes.fromhex(
    "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9"
    "eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20"
)
SIG_DATA_END = 4936
"""Where the declared signature data ends; 70 zero bytes of padding follow."""

GENESIS_ROOT = Path(__file__).resolve().parents[2] / "genesis" / "certs" / "intel_sgx_root_ca.pem"


class Evidence:
    """The test evidence (a plain class, so Hypothesis prints a short repr, not the bytes)."""

    def __init__(self, vectors: Path) -> None:
        tdx = vectors / "tee" / "sgx-dcap" / "tdx-v4_dcap-qvl"
        sgx = vectors / "tee" / "sgx-dcap" / "sgx-v3_dcap-qvl"
        self.quote = (tdx / "tdx_quote.bin").read_bytes()
        self.tampered = (tdx / "tdx_quote_tampered_mrtd.bin").read_bytes()
        self.collateral = (tdx / "tdx_quote_collateral.json").read_bytes()
        self.sgx_quote = (sgx / "sgx_quote.bin").read_bytes()
        self.sgx_collateral = (sgx / "sgx_quote_collateral.json").read_bytes()
        self.root = GENESIS_ROOT.read_bytes()

    def __repr__(self) -> str:
        return "<TDX evidence>"


@pytest.fixture(scope="module")
def ev(vectors: Path) -> Evidence:
    return Evidence(vectors)


def verify(
    ev: Evidence,
    quote: bytes | None = None,
    *,
    now: datetime = NOW,
    policy: TdxPolicy | None = None,
    collateral: bytes | None | bool = True,
) -> object:
    coll = ev.collateral if collateral is True else (None if collateral is False else collateral)
    assert not isinstance(coll, bool)
    return verify_tdx_quote(
        ev.quote if quote is None else quote,
        trusted_root=ev.root,
        now=now,
        policy=TdxPolicy() if policy is None else policy,
        collateral=coll,
    )


def reason(ev: Evidence, quote: bytes | None = None, **kwargs: object) -> str:
    with pytest.raises(InvalidProof) as info:
        verify(ev, quote, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def patched(quote: bytes, offset: int, value: bytes) -> bytes:
    return quote[:offset] + value + quote[offset + len(value) :]


# --------------------------------------------------------------------------- the vector


def test_vector_verifies_with_its_collateral(ev: Evidence) -> None:
    verdict = verify_tdx_quote(
        ev.quote, trusted_root=ev.root, now=NOW, policy=TdxPolicy(mrtds=frozenset({MRTD})), collateral=ev.collateral
    )
    assert verdict.mrtd == MRTD
    assert verdict.report_data == REPORT_DATA
    assert len(verdict.rtmrs) == 4 and all(len(r) == 48 for r in verdict.rtmrs)
    assert verdict.rtmrs[0].hex().startswith("44c0197b39157fdd") and verdict.rtmrs[3] == bytes(48)
    assert verdict.tcb_status == "UpToDate" and verdict.advisory_ids == ()
    assert verdict.collateral is not None
    assert verdict.collateral.platform_tcb_status == "UpToDate"
    assert verdict.collateral.tdx_module_tcb_status == "UpToDate"  # TDX_01, ISVSVN 6 >= 4
    assert verdict.collateral.qe_tcb_status == "UpToDate"
    assert verdict.pck.fmspc == bytes.fromhex("b0c06f000000")
    report = verdict.quote.report
    assert report.tee_tcb_svn[:3] == bytes([6, 1, 3]) and not report.debug
    assert verdict.quote.header.tee_type == 0x81 and verdict.quote.cert_data_type == 5
    doc = json.loads(json.dumps(verdict.to_json()))
    assert doc["kind"] == "tdx" and doc["quote"]["report"]["mrtd"] == MRTD.hex()
    assert doc["quote"]["report"]["debug"] is False and len(doc["quote"]["report"]["rtmrs"]) == 4


def test_vector_verifies_without_collateral_unless_required(ev: Evidence) -> None:
    verdict = verify_tdx_quote(ev.quote, trusted_root=ev.root, now=NOW, policy=TdxPolicy())
    assert verdict.tcb_status is None and verdict.collateral is None
    assert reason(ev, collateral=False, policy=TdxPolicy(require_collateral=True)) == "tdx_collateral_required"


def test_the_root_may_be_der(ev: Evidence) -> None:
    der = load_trust_anchor(ev.root).public_bytes(serialization.Encoding.DER)
    verdict = verify_tdx_quote(ev.quote, trusted_root=der, now=NOW, policy=TdxPolicy(), collateral=ev.collateral)
    assert verdict.tcb_status == "UpToDate"


def test_tampered_mrtd_breaks_the_quote_signature(ev: Evidence) -> None:
    assert ev.tampered[184] == ev.quote[184] ^ 1
    assert reason(ev, ev.tampered) == "tdx_quote_signature"
    assert reason(ev, ev.tampered, collateral=False) == "tdx_quote_signature"


def test_naive_time_and_bad_root_are_value_errors(ev: Evidence) -> None:
    with pytest.raises(ValueError):
        verify(ev, now=datetime(2025, 7, 19))
    with pytest.raises(ValueError):
        verify_tdx_quote(ev.quote, trusted_root=b"not a certificate", now=NOW, policy=TdxPolicy())


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("length", [0, 1, 2, 47, 48, 100, 631, 632, 635, 636, 700, 770, 1258, 3000, 4935])
def test_truncated_quotes(ev: Evidence, length: int) -> None:
    assert reason(ev, ev.quote[:length]) == "tdx_quote_truncated"


def test_truncations_inside_the_declared_signature_data(ev: Evidence) -> None:
    # the signature data length shrunk so each inner part runs past it
    for sig_len in (0, 63, 64, 127, 133, 134, 600, 1000, 4299):
        quote = patched(ev.quote, QUOTE_BODY_SIZE, struct.pack("<I", sig_len))
        assert reason(ev, quote) == "tdx_quote_truncated", sig_len
    # the outer certification data declared longer than it is
    quote = patched(ev.quote, QUOTE_BODY_SIZE + 4 + 130, struct.pack("<I", 4167))
    assert reason(ev, quote) == "tdx_quote_truncated"
    # QE auth data declared longer than the certification data holds
    auth_at = QUOTE_BODY_SIZE + 4 + 134 + 384 + 64
    assert struct.unpack_from("<H", ev.quote, auth_at)[0] == 32
    assert reason(ev, patched(ev.quote, auth_at, struct.pack("<H", 0xFFFF))) == "tdx_quote_truncated"


def test_bytes_beyond_the_signature_data_are_ignored(ev: Evidence) -> None:
    assert len(ev.quote) == SIG_DATA_END + 70 and ev.quote[SIG_DATA_END:] == bytes(70)
    for quote in (ev.quote[:SIG_DATA_END], ev.quote + b"\xff" * 1000, ev.quote[:SIG_DATA_END] + b"x"):
        assert verify(ev, quote) is not None
    assert parse_tdx_quote(ev.quote[:SIG_DATA_END]).raw == ev.quote[:SIG_DATA_END]


def test_declared_lengths_inside_the_signature_data_must_be_exact(ev: Evidence) -> None:
    # the signature data declared to include the padding: the certification data ends early
    quote = patched(ev.quote, QUOTE_BODY_SIZE, struct.pack("<I", 4300 + 70))
    assert reason(ev, quote) == "tdx_quote_trailing_bytes"
    # the inner PCK certification data shorter than the outer certification data
    inner_at = QUOTE_BODY_SIZE + 4 + 134 + 384 + 64 + 2 + 32
    assert struct.unpack_from("<HI", ev.quote, inner_at) == (5, 3678)
    assert reason(ev, patched(ev.quote, inner_at + 2, struct.pack("<I", 3677))) == "tdx_quote_trailing_bytes"


@pytest.mark.parametrize(
    ("offset", "value", "expected"),
    [
        (0, struct.pack("<H", 3), "tdx_quote_unsupported_version"),
        (0, struct.pack("<H", 5), "tdx_quote_unsupported_version"),
        (2, struct.pack("<H", 3), "tdx_quote_unsupported_key_type"),
        (4, struct.pack("<I", 0), "tdx_quote_unsupported_tee_type"),
        (4, struct.pack("<I", 0x80), "tdx_quote_unsupported_tee_type"),
        (12, bytes(16), "tdx_quote_unsupported_qe_vendor"),
        (QUOTE_BODY_SIZE + 4 + 128, struct.pack("<H", 5), "tdx_quote_unsupported_cert_data"),
        (QUOTE_BODY_SIZE + 4 + 134 + 384 + 64 + 2 + 32, struct.pack("<H", 4), "tdx_quote_unsupported_cert_data"),
    ],
)
def test_malformed_headers(ev: Evidence, offset: int, value: bytes, expected: str) -> None:
    assert reason(ev, patched(ev.quote, offset, value)) == expected


def test_too_large(ev: Evidence) -> None:
    assert reason(ev, ev.quote + bytes(64 * 1024)) == "tdx_quote_too_large"


def test_sgx_and_tdx_quotes_are_not_interchangeable(ev: Evidence) -> None:
    assert reason(ev, ev.sgx_quote) == "tdx_quote_unsupported_version"
    with pytest.raises(InvalidProof) as info:
        verify_sgx_quote(ev.quote, trusted_root=ev.root, now=NOW, policy=SgxPolicy())
    assert info.value.reason == "sgx_quote_unsupported_version"
    # the SGX collateral is Intel-signed and current, but its TCB info is not for TDX
    assert reason(ev, collateral=ev.sgx_collateral) == "tdx_tcb_info_malformed"


# --------------------------------------------------------------------------- signatures and chain


def test_signature_data_tampering_has_its_reason(ev: Evidence) -> None:
    sig_at = QUOTE_BODY_SIZE + 4
    flip = lambda q, i: patched(q, i, bytes([q[i] ^ 1]))  # noqa: E731
    assert reason(ev, flip(ev.quote, sig_at)) == "tdx_quote_signature"
    qe_at = sig_at + 134
    assert reason(ev, flip(ev.quote, qe_at + 320)) == "tdx_qe_report_signature"  # QE report data
    assert reason(ev, flip(ev.quote, qe_at + 384)) == "tdx_qe_report_signature"  # its signature
    assert reason(ev, flip(ev.quote, qe_at + 384 + 64 + 2)) == "tdx_qe_report_data_mismatch"  # auth data
    assert reason(ev, flip(ev.quote, sig_at + 64)) == "tdx_qe_report_data_mismatch"  # attestation key


def test_pck_chain_reasons(ev: Evidence) -> None:
    pem_at = QUOTE_BODY_SIZE + 4 + 134 + 384 + 64 + 2 + 32 + 6
    assert ev.quote[pem_at : pem_at + 11] == b"-----BEGIN "
    assert reason(ev, patched(ev.quote, pem_at, b"X")).startswith("tdx_pck_chain_malformed")
    # after every certificate expired
    late = datetime(2050, 1, 1, tzinfo=UTC)
    assert reason(ev, now=late, collateral=False).startswith("tdx_cert_")


# --------------------------------------------------------------------------- collateral and time


def test_collateral_window_bounds(ev: Evidence) -> None:
    for now in (WINDOW_START, WINDOW_END):
        assert verify(ev, now=now) is not None
    assert reason(ev, now=WINDOW_END + SECOND) == "tdx_crl_expired"
    assert reason(ev, now=WINDOW_START - SECOND) == "tdx_qe_identity_not_yet_valid"
    assert reason(ev, now=datetime(2025, 8, 1, tzinfo=UTC)) == "tdx_tcb_info_expired"
    assert reason(ev, now=datetime(2025, 6, 1, tzinfo=UTC)) == "tdx_tcb_info_not_yet_valid"
    # without collateral only the certificates' validity counts
    assert verify(ev, now=datetime(2025, 8, 1, tzinfo=UTC), collateral=False) is not None


def test_collateral_tampering(ev: Evidence) -> None:
    doc = json.loads(ev.collateral)
    signed = dict(doc, tcb_info=doc["tcb_info"].replace('"UpToDate"', '"OutOfDate"', 1))
    assert reason(ev, collateral=json.dumps(signed).encode()) == "tdx_tcb_info_signature"
    signed = dict(doc, qe_identity=doc["qe_identity"].replace('"isvprodid":2', '"isvprodid":1'))
    assert reason(ev, collateral=json.dumps(signed).encode()) == "tdx_qe_identity_signature"
    assert reason(ev, collateral=b"{}") == "tdx_collateral_malformed"
    assert reason(ev, collateral=b"\xff") == "tdx_collateral_malformed"


def _tcb_info(ev: Evidence):  # type: ignore[no-untyped-def]
    return parse_tcb_info(json.loads(ev.collateral)["tcb_info"].encode(), prefix="tdx", tee="TDX")


def test_tdx_tcb_info_parses_module_identities(ev: Evidence) -> None:
    info = _tcb_info(ev)
    assert info.id == "TDX" and info.tdx_module is not None
    assert [m.id for m in info.tdx_module_identities] == ["TDX_03", "TDX_01"]
    assert all(len(level.tdx_components) == 16 for level in info.levels)
    with pytest.raises(InvalidProof) as exc:
        parse_tcb_info(json.loads(ev.collateral)["tcb_info"].encode())  # as SGX
    assert exc.value.reason == "sgx_tcb_info_malformed"


def test_tdx_module_identity(ev: Evidence) -> None:
    info = _tcb_info(ev)
    report = parse_tdx_quote(ev.quote).report

    def with_svn(svn: bytes) -> object:
        return dataclasses.replace(report, tee_tcb_svn=svn + report.tee_tcb_svn[len(svn) :])

    level = check_tdx_module(report, info)
    assert level is not None and level.status == "UpToDate"
    assert check_tdx_module(with_svn(bytes([0, 0])), info) is None  # type: ignore[arg-type]
    level = check_tdx_module(with_svn(bytes([3, 1])), info)  # type: ignore[arg-type]
    assert level is not None and level.status == "OutOfDate"
    cases = [
        (with_svn(bytes([1, 1])), "tdx_module_tcb_level_not_found"),
        (with_svn(bytes([6, 2])), "tdx_module_identity_not_found"),
        (dataclasses.replace(report, mrsignerseam=b"\x01" * 48), "tdx_module_mismatch"),
        (dataclasses.replace(report, seam_attributes=b"\x01" + bytes(7)), "tdx_module_mismatch"),
    ]
    for changed, expected in cases:
        with pytest.raises(InvalidProof) as exc:
            check_tdx_module(changed, info)  # type: ignore[arg-type]
        assert exc.value.reason == expected


def test_tdx_platform_tcb_level(ev: Evidence) -> None:
    info = _tcb_info(ev)
    quote = parse_tdx_quote(ev.quote)
    pck = parse_pck_extension(load_pem_certificates(quote.cert_data, prefix="tdx", what="x")[0])
    svn = quote.report.tee_tcb_svn
    assert tdx_platform_tcb_level(pck, svn, info).status == "UpToDate"
    # module version > 0: the first two SVNs belong to the module identity, not the level
    assert tdx_platform_tcb_level(pck, bytes([0, 1]) + svn[2:], info).status == "UpToDate"
    # module version 0: all sixteen count, and 4 < 5 at index 0
    with pytest.raises(InvalidProof) as exc:
        tdx_platform_tcb_level(pck, bytes([4, 0]) + svn[2:], info)
    assert exc.value.reason == "tdx_tcb_level_not_found"
    with pytest.raises(InvalidProof) as exc:
        tdx_platform_tcb_level(pck, svn[:2] + bytes([1]) + svn[3:], info)
    assert exc.value.reason == "tdx_tcb_level_not_found"
    older = dataclasses.replace(pck, pcesvn=10)
    assert tdx_platform_tcb_level(older, svn, info).status == "OutOfDate"


# --------------------------------------------------------------------------- policy


def test_mrtd_allowlist(ev: Evidence) -> None:
    assert verify(ev, policy=TdxPolicy(mrtds=frozenset({MRTD, bytes(48)}))) is not None
    assert reason(ev, policy=TdxPolicy(mrtds=frozenset({bytes(48)}))) == "tdx_mrtd_not_allowed"
    assert reason(ev, policy=TdxPolicy(mrtds=frozenset())) == "tdx_mrtd_not_allowed"


def test_rtmr_allowlist(ev: Evidence) -> None:
    rtmrs = parse_tdx_quote(ev.quote).report.rtmrs
    ok = TdxPolicy(rtmrs=(frozenset({rtmrs[0]}), None, frozenset({rtmrs[2]}), frozenset({bytes(48)})))
    assert verify(ev, policy=ok) is not None
    with pytest.raises(InvalidProof) as info:
        verify(ev, policy=TdxPolicy(rtmrs=(None, frozenset({bytes(48)}))))
    assert info.value.reason == "tdx_rtmr_not_allowed" and info.value.details["index"] == 1
    with pytest.raises(TypeError):
        TdxPolicy(rtmrs=(None,) * 5)
    with pytest.raises(TypeError):
        TdxPolicy(mrtds=frozenset({b"short"}))


def test_debug_td_refused_unless_allowed(ev: Evidence) -> None:
    quote = parse_tdx_quote(ev.quote)
    debug: TdxQuote = dataclasses.replace(
        quote, report=dataclasses.replace(quote.report, td_attributes=b"\x01" + quote.report.td_attributes[1:])
    )
    assert debug.report.debug
    with pytest.raises(InvalidProof) as info:
        check_tdx_policy(debug, None, TdxPolicy())
    assert info.value.reason == "tdx_debug_not_allowed"
    check_tdx_policy(debug, None, TdxPolicy(allow_debug=True))
    # a debug TD cannot be faked by flipping the bit in a signed quote
    assert reason(ev, patched(ev.quote, 48 + 120, b"\x01"), policy=TdxPolicy(allow_debug=True)) == (
        "tdx_quote_signature"
    )


def test_tcb_status_policy(ev: Evidence) -> None:
    only_old = TdxPolicy(accepted_tcb_statuses=frozenset({"OutOfDate"}))
    assert reason(ev, policy=only_old) == "tdx_tcb_status_not_accepted"
    verdict = verify(ev, policy=only_old, collateral=False)  # no collateral: status unknown
    assert verdict is not None


# --------------------------------------------------------------------------- fuzz


@settings(max_examples=150, deadline=None)
@given(
    flips=st.lists(
        st.tuples(st.integers(0, SIG_DATA_END + 69), st.integers(1, 255)), min_size=1, max_size=4
    ),
    cut=st.one_of(st.none(), st.integers(0, SIG_DATA_END + 70)),
    with_collateral=st.booleans(),
)
def test_fuzz_byte_flips_give_invalid_proof_or_a_verdict(
    ev: Evidence, flips: list[tuple[int, int]], cut: int | None, with_collateral: bool
) -> None:
    quote = bytearray(ev.quote)
    for index, mask in flips:
        quote[index] ^= mask
    data = bytes(quote if cut is None else quote[:cut])
    try:
        verdict = verify(ev, data, collateral=with_collateral)
    except InvalidProof as exc:
        assert exc.reason.startswith("tdx_")
        return
    # only changes to the unsigned padding (or a benign cut of it) may still verify
    assert data[:SIG_DATA_END] == ev.quote[:SIG_DATA_END], flips
    assert verdict is not None


# --------------------------------------------------------------------------- AI_V1


KEY = Ed25519PrivateKey.from_private_bytes(H(b"test/tdx-provider", b""))
PUB = KEY.public_key().public_bytes_raw()
TASK, MODEL_DIGEST, INPUT_DIGEST, OUTPUT_DIGEST = (Hash32(H(b"test/tdx", bytes([i]))) for i in range(4))
NOW_UNIX = int(NOW.timestamp())
CHAIN = "cairn-testnet-1"


def ai_body(evidence: TdxEvidence) -> AiBody:
    return AiBody(
        model="llama3-8b",
        model_digest=MODEL_DIGEST,
        input_digest=INPUT_DIGEST,
        output_digest=OUTPUT_DIGEST,
        runtime_ms=2_500,
        qos=QosReport(p95_latency_ms=250, availability_ppm=999_500),
        attestation=evidence,
    )


def ai_reason(body: AiBody, config: AiVerifyConfig | None) -> str:
    envelope = seal_envelope(ProofType.AI_V1, TASK, body.encode(), chain_id=CHAIN, provider_key=KEY).encode()
    ctx = VerifyContext(
        chain_id=CHAIN,
        provider_pubkey=lambda address: PUB if address == address_of(PUB) else None,
        devnet=None,
        now=NOW_UNIX,
        type_config={} if config is None else {ProofType.AI_V1: config},
    )
    with pytest.raises(InvalidProof) as info:
        verify_envelope(envelope, ctx)
    return info.value.reason


def test_ai_v1_tdx_class_round_trips() -> None:
    for evidence in (TdxEvidence(b"quote"), TdxEvidence(b"quote", b"{}")):
        body = ai_body(evidence)
        assert AiBody.decode(body.encode()) == body
        assert decode_attestation(evidence.to_value()) == evidence
    assert TdxEvidence(b"q").to_value() == ["tdx", b"q", None]
    with pytest.raises(InvalidProof):
        TdxEvidence("q")  # type: ignore[arg-type]


def test_ai_v1_tdx_attestation(ev: Evidence) -> None:
    root_der = load_trust_anchor(ev.root).public_bytes(serialization.Encoding.DER)
    config = AiVerifyConfig(intel_sgx_root=root_der, tdx_policy=TdxPolicy(mrtds=frozenset({MRTD})))
    report_data = verify_attestation(
        TdxEvidence(ev.quote, ev.collateral),
        chain_id=CHAIN,
        now=NOW_UNIX,
        config=config,
        devnet=None,
        expected_report_data=bytes(64),
    )
    assert report_data == REPORT_DATA
    # the real quote's report data binds no task of ours
    assert ai_reason(ai_body(TdxEvidence(ev.quote, ev.collateral)), config) == "ai_report_data_mismatch"
    # tdx reasons pass through; collateral is required by default; the class needs the root
    assert ai_reason(ai_body(TdxEvidence(ev.tampered, ev.collateral)), config) == "tdx_quote_signature"
    default_policy = dataclasses.replace(config, tdx_policy=AiVerifyConfig().tdx_policy)
    assert ai_reason(ai_body(TdxEvidence(ev.quote)), default_policy) == "tdx_collateral_required"
    other = dataclasses.replace(config, tdx_policy=TdxPolicy(mrtds=frozenset({bytes(48)})))
    assert ai_reason(ai_body(TdxEvidence(ev.quote, ev.collateral)), other) == "tdx_mrtd_not_allowed"
    assert ai_reason(ai_body(TdxEvidence(ev.quote, ev.collateral)), None) == "ai_attestation_class_not_configured"
