"""Intel SGX DCAP quote verification against real evidence (tests/vectors/tee/sgx-dcap).

Times.  ``NOW = 2025-07-01T00:00:00Z`` lies inside every window that matters:

* the quote's PCK chain: PCK certificate 2023-09-20T21:53:43Z .. 2030-09-20T21:53:43Z,
  PCK Processor CA 2018-05-21 .. 2033-05-21, Intel SGX Root CA 2018-05-21 .. 2049-12-31;
* the collateral: TCB info 2025-06-19T10:56:11Z .. 2025-07-19T10:56:11Z, QE identity
  2025-06-19T10:01:18Z .. 2025-07-19T10:01:18Z, PCK CRL 2025-06-19T10:23:18Z ..
  2025-07-19T10:23:18Z, root CA CRL 2025-03-20 .. 2026-04-03, TCB signing certificate
  2025-05-06 .. 2032-05-06.

Their intersection is 2025-06-19T10:56:11Z .. 2025-07-19T10:01:18Z, the window the testdata
README gives; both ends are tested (bounds are inclusive) and one second outside each.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from chain.errors import InvalidProof
from proofs.tee.sgx import (
    DEFAULT_ACCEPTED_TCB_STATUSES,
    QUOTE_BODY_SIZE,
    PckChain,
    SgxPolicy,
    SgxQuote,
    check_crl,
    check_not_revoked,
    check_policy,
    check_qe_identity,
    evaluate_collateral,
    merge_tcb_status,
    parse_collateral,
    parse_qe_identity,
    parse_quote,
    parse_tcb_info,
    platform_tcb_level,
    verify_pck_chain,
    verify_quote_signatures,
    verify_sgx_quote,
)
from proofs.tee.x509util import load_trust_anchor

NOW = datetime(2025, 7, 1, tzinfo=UTC)
WINDOW_START = datetime(2025, 6, 19, 10, 56, 11, tzinfo=UTC)
WINDOW_END = datetime(2025, 7, 19, 10, 1, 18, tzinfo=UTC)
PCK_NOT_AFTER = datetime(2030, 9, 20, 21, 53, 43, tzinfo=UTC)
PCK_NOT_BEFORE = datetime(2023, 9, 20, 21, 53, 43, tzinfo=UTC)
SECOND = timedelta(seconds=1)

MRENCLAVE = bytes.fromhex("33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb")
MRSIGNER = bytes.fromhex("815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6")
REPORT_DATA = b"Hello, world!" + bytes(51)
ALLOW_SAMPLE = SgxPolicy(mrenclaves=frozenset({MRENCLAVE}), mrsigners=frozenset({MRSIGNER}))

GENESIS_ROOT = Path(__file__).resolve().parents[2] / "genesis" / "certs" / "intel_sgx_root_ca.pem"


class Evidence:
    """The test evidence (a plain class, so Hypothesis prints a short repr, not the bytes)."""

    def __init__(
        self, *, quote: bytes, tampered: bytes, collateral: bytes, root: bytes, amd_ark: bytes
    ) -> None:
        self.quote = quote
        self.tampered = tampered
        self.collateral = collateral
        self.root = root
        """The Intel SGX Root CA from genesis."""
        self.amd_ark = amd_ark
        """Some other real root, for the wrong-root test."""

    def __repr__(self) -> str:
        return "<SGX evidence>"


@pytest.fixture(scope="module")
def ev(vectors: Path) -> Evidence:
    sample = vectors / "tee" / "sgx-dcap" / "sgx-v3_dcap-qvl"
    milan = x509.load_pem_x509_certificates(
        (vectors / "tee" / "sev-snp" / "amd-certs" / "ask_ark_milan.pem").read_bytes()
    )
    return Evidence(
        quote=(sample / "sgx_quote.bin").read_bytes(),
        tampered=(sample / "sgx_quote_tampered_reportdata.bin").read_bytes(),
        collateral=(sample / "sgx_quote_collateral.json").read_bytes(),
        root=GENESIS_ROOT.read_bytes(),
        amd_ark=milan[1].public_bytes(serialization.Encoding.PEM),
    )


def verify(
    ev: Evidence,
    quote: bytes | None = None,
    *,
    collateral: bytes | None = None,
    root: bytes | None = None,
    now: datetime = NOW,
    policy: SgxPolicy = ALLOW_SAMPLE,
):
    return verify_sgx_quote(
        ev.quote if quote is None else quote,
        trusted_root=ev.root if root is None else root,
        now=now,
        policy=policy,
        collateral=collateral,
    )


def reason(exc: pytest.ExceptionInfo[InvalidProof]) -> str:
    return exc.value.reason


def patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def rebuild(
    quote: SgxQuote,
    *,
    qe_auth_data: bytes | None = None,
    cert_data_type: int | None = None,
    cert_data: bytes | None = None,
) -> bytes:
    """The quote's bytes with one variable-length part replaced and every length fixed up."""
    auth = quote.qe_auth_data if qe_auth_data is None else qe_auth_data
    certs = quote.cert_data if cert_data is None else cert_data
    kind = quote.cert_data_type if cert_data_type is None else cert_data_type
    sig = (
        quote.signature
        + quote.attestation_key
        + quote.qe_report.raw
        + quote.qe_report_signature
        + struct.pack("<H", len(auth))
        + auth
        + struct.pack("<HI", kind, len(certs))
        + certs
    )
    return quote.signed_bytes + struct.pack("<I", len(sig)) + sig


def collateral_with(ev: Evidence, **change: str) -> bytes:
    doc = json.loads(ev.collateral)
    doc.update(change)
    return json.dumps(doc).encode()


# --------------------------------------------------------------------------- trust anchor


def test_genesis_root_is_the_testdata_root(vectors: Path) -> None:
    sgx = vectors / "tee" / "sgx-dcap"
    assert GENESIS_ROOT.read_bytes() == (sgx / "intel_sgx_root_ca.pem").read_bytes()
    der = load_trust_anchor(GENESIS_ROOT.read_bytes()).public_bytes(serialization.Encoding.DER)
    assert der == (sgx / "intel_sgx_root_ca.der").read_bytes()


# --------------------------------------------------------------------------- the README's verdicts


def test_quote_is_valid(ev: Evidence) -> None:
    verdict = verify(ev)
    assert verdict.mrenclave == MRENCLAVE
    assert verdict.mrsigner == MRSIGNER
    assert verdict.report_data == REPORT_DATA
    assert not verdict.quote.report.debug
    assert verdict.tcb_status is None and verdict.advisory_ids == ()
    assert verdict.pck.fmspc == bytes.fromhex("00a067110000")
    out = verdict.to_json()
    assert json.loads(json.dumps(out)) == out
    assert out["quote"]["report"]["mrenclave"] == MRENCLAVE.hex()
    assert out["quote"]["report"]["debug"] is False


def test_quote_with_collateral_has_upstream_tcb_status(ev: Evidence) -> None:
    verdict = verify(ev, collateral=ev.collateral)
    assert verdict.tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert verdict.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    assert verdict.collateral is not None
    assert verdict.collateral.platform_tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert verdict.collateral.qe_tcb_status == "UpToDate"
    out = verdict.to_json()
    assert json.loads(json.dumps(out)) == out
    assert out["tcb_status"] == "ConfigurationAndSWHardeningNeeded"


def test_tampered_report_data_is_rejected(ev: Evidence) -> None:
    assert [i for i in range(len(ev.quote)) if ev.quote[i] != ev.tampered[i]] == [48 + 320]
    with pytest.raises(InvalidProof) as exc:
        verify(ev, ev.tampered)
    assert reason(exc) == "sgx_quote_signature"
    with pytest.raises(InvalidProof) as exc:
        verify(ev, ev.tampered, collateral=ev.collateral)
    assert reason(exc) == "sgx_quote_signature"


@pytest.mark.parametrize("now", [WINDOW_START, WINDOW_END])
def test_collateral_window_bounds_are_inclusive(ev: Evidence, now: datetime) -> None:
    assert verify(ev, collateral=ev.collateral, now=now).tcb_status == "ConfigurationAndSWHardeningNeeded"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (WINDOW_START - SECOND, "sgx_tcb_info_not_yet_valid"),
        (WINDOW_END + SECOND, "sgx_qe_identity_expired"),
        (datetime(2025, 8, 1, tzinfo=UTC), "sgx_tcb_info_expired"),
        (datetime(2025, 5, 1, tzinfo=UTC), "sgx_cert_not_yet_valid"),  # TCB signing cert
    ],
)
def test_collateral_outside_its_window_is_rejected(ev: Evidence, now: datetime, expected: str) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, collateral=ev.collateral, now=now)
    assert reason(exc) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [(PCK_NOT_AFTER + SECOND, "sgx_cert_expired"), (PCK_NOT_BEFORE - SECOND, "sgx_cert_not_yet_valid")],
)
def test_now_outside_pck_validity_is_rejected(ev: Evidence, now: datetime, expected: str) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, now=now)
    assert reason(exc) == expected
    assert exc.value.details["cert"] == "pck"


def test_wrong_root_is_rejected(ev: Evidence) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, root=ev.amd_ark)
    assert reason(exc) == "sgx_root_untrusted"


def test_misconfiguration_is_a_usage_error(ev: Evidence) -> None:
    with pytest.raises(ValueError):
        verify(ev, root=b"not a certificate")
    with pytest.raises(ValueError):
        verify(ev, now=datetime(2025, 7, 1))


# --------------------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (SgxPolicy(mrenclaves=frozenset({bytes(32)})), "sgx_mrenclave_not_allowed"),
        (SgxPolicy(mrsigners=frozenset({MRENCLAVE})), "sgx_mrsigner_not_allowed"),
        (SgxPolicy(require_collateral=True), "sgx_collateral_required"),
    ],
)
def test_policy_refusals(ev: Evidence, policy: SgxPolicy, expected: str) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, policy=policy)
    assert reason(exc) == expected


def test_tcb_status_must_be_accepted(ev: Evidence) -> None:
    strict = SgxPolicy(accepted_tcb_statuses=frozenset({"UpToDate"}))
    with pytest.raises(InvalidProof) as exc:
        verify(ev, collateral=ev.collateral, policy=strict)
    assert reason(exc) == "sgx_tcb_status_not_accepted"
    assert exc.value.details["advisory_ids"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
    assert "ConfigurationAndSWHardeningNeeded" in DEFAULT_ACCEPTED_TCB_STATUSES


def test_debug_enclave_refused_unless_allowed(ev: Evidence) -> None:
    quote = parse_quote(ev.quote)
    attributes = bytes([quote.report.attributes[0] | 0x02]) + quote.report.attributes[1:]
    debug = dataclasses.replace(quote, report=dataclasses.replace(quote.report, attributes=attributes))
    with pytest.raises(InvalidProof) as exc:
        check_policy(debug, None, SgxPolicy())
    assert reason(exc) == "sgx_debug_not_allowed"
    check_policy(debug, None, SgxPolicy(allow_debug=True))
    # In the bytes, the attributes are signed: setting DEBUG breaks the quote signature.
    with pytest.raises(InvalidProof) as exc:
        verify(ev, patched(ev.quote, 48 + 48, attributes[:1]))
    assert reason(exc) == "sgx_quote_signature"


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("offset", "value", "expected"),
    [
        (0, struct.pack("<H", 4), "sgx_quote_unsupported_version"),
        (0, struct.pack("<H", 2), "sgx_quote_unsupported_version"),
        (2, struct.pack("<H", 3), "sgx_quote_unsupported_key_type"),
        (4, struct.pack("<I", 0x81), "sgx_quote_unsupported_tee_type"),
        (12, b"\x00", "sgx_quote_unsupported_qe_vendor"),
        (QUOTE_BODY_SIZE, struct.pack("<I", 4163), "sgx_quote_trailing_bytes"),
        (QUOTE_BODY_SIZE, struct.pack("<I", 4165), "sgx_quote_truncated"),
    ],
)
def test_header_refusals(ev: Evidence, offset: int, value: bytes, expected: str) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, patched(ev.quote, offset, value))
    assert reason(exc) == expected


@pytest.mark.parametrize("size", [0, 1, 47, 48, 431, 432, 435, 436, 1000, 4599])
def test_truncated(ev: Evidence, size: int) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, ev.quote[:size])
    assert reason(exc) == "sgx_quote_truncated"


def test_trailing_and_oversize(ev: Evidence) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, ev.quote + b"\x00")
    assert reason(exc) == "sgx_quote_trailing_bytes"
    with pytest.raises(InvalidProof) as exc:
        verify(ev, ev.quote + bytes(64 * 1024))
    assert reason(exc) == "sgx_quote_too_large"


def test_parse_fields(ev: Evidence) -> None:
    quote = parse_quote(ev.quote)
    assert (quote.header.version, quote.header.att_key_type, quote.header.tee_type) == (3, 2, 0)
    assert (quote.header.qe_svn, quote.header.pce_svn) == (10, 15)
    assert quote.report.cpusvn == bytes.fromhex("0b0b1a18ffff04000000000000000000")
    assert (quote.report.isv_prod_id, quote.report.isv_svn, quote.report.miscselect) == (0, 0, 0)
    assert quote.qe_report.mrsigner.hex().startswith("8c4f5775")
    assert quote.qe_auth_data == bytes(range(32))
    assert quote.cert_data_type == 5 and quote.cert_data.endswith(b"-----END CERTIFICATE-----\n\x00")
    assert rebuild(quote) == ev.quote


def test_unsupported_cert_data_type(ev: Evidence) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, rebuild(parse_quote(ev.quote), cert_data_type=1))
    assert reason(exc) == "sgx_quote_unsupported_cert_data"


def test_pck_chain_refusals(ev: Evidence) -> None:
    quote = parse_quote(ev.quote)
    pem = quote.cert_data[:-1]
    blocks = [b + b"-----END CERTIFICATE-----\n" for b in pem.split(b"-----END CERTIFICATE-----\n")[:-1]]
    cases = [
        (pem.replace(b"\n", b"\r\n"), "sgx_pck_chain_malformed_noncanonical"),
        (b"junk\n" + pem, "sgx_pck_chain_malformed_noncanonical"),
        (pem + b"\x00\x00", "sgx_pck_chain_malformed_noncanonical"),
        (b"".join(blocks[:2]), "sgx_pck_chain_length"),
        (b"".join(blocks + blocks[2:]), "sgx_pck_chain_length"),
        (b"garbage", "sgx_pck_chain_malformed"),
        (blocks[1] + blocks[0] + blocks[2], "sgx_pck_chain_unexpected_subject"),
        (blocks[0] + blocks[2] + blocks[2], "sgx_pck_chain_unexpected_subject"),
    ]
    assert verify(ev, rebuild(quote, cert_data=pem)).mrenclave == MRENCLAVE  # the NUL is optional
    for cert_data, expected in cases:
        with pytest.raises(InvalidProof) as exc:
            verify(ev, rebuild(quote, cert_data=cert_data))
        assert reason(exc) == expected, cert_data[:40]


def test_signature_chain_refusals(ev: Evidence) -> None:
    quote = parse_quote(ev.quote)
    sig_data = QUOTE_BODY_SIZE + 4
    cases = [
        (rebuild(quote, qe_auth_data=bytes(32)), "sgx_qe_report_data_mismatch"),
        (rebuild(quote, qe_auth_data=b""), "sgx_qe_report_data_mismatch"),
        (patched(ev.quote, sig_data + 64, b"\x00"), "sgx_qe_report_data_mismatch"),  # attestation key
        (patched(ev.quote, sig_data + 128 + 258, b"\x09"), "sgx_qe_report_signature"),  # QE isv_svn
        (patched(ev.quote, sig_data + 512, b"\x00"), "sgx_qe_report_signature"),
        (patched(ev.quote, sig_data, b"\x00"), "sgx_quote_signature"),
        (patched(ev.quote, 28, b"\x00"), "sgx_quote_signature"),  # header user_data
    ]
    for data, expected in cases:
        with pytest.raises(InvalidProof) as exc:
            verify(ev, data)
        assert reason(exc) == expected


# --------------------------------------------------------------------------- collateral


def test_collateral_refusals(ev: Evidence) -> None:
    doc = json.loads(ev.collateral)
    cases = [
        (b"not json", "sgx_collateral_malformed"),
        (b"[]", "sgx_collateral_malformed"),
        (collateral_with(ev, tcb_info_signature="00" * 63), "sgx_collateral_malformed"),
        (collateral_with(ev, root_ca_crl="zz"), "sgx_collateral_malformed"),
        (collateral_with(ev, pck_crl="3000"), "sgx_collateral_malformed"),
        (
            collateral_with(ev, tcb_info=doc["tcb_info"].replace('"OutOfDate"', '"UpToDate"', 1)),
            "sgx_tcb_info_signature",
        ),
        (collateral_with(ev, tcb_info=doc["tcb_info"] + " "), "sgx_tcb_info_signature"),
        (
            collateral_with(ev, qe_identity=doc["qe_identity"].replace('"isvsvn":8', '"isvsvn":1')),
            "sgx_qe_identity_signature",
        ),
        (collateral_with(ev, tcb_info_signature=doc["qe_identity_signature"]), "sgx_tcb_info_signature"),
        (
            collateral_with(ev, tcb_info_issuer_chain=doc["pck_crl_issuer_chain"]),
            "sgx_tcb_info_unexpected_signer",
        ),
        (collateral_with(ev, pck_crl=doc["root_ca_crl"]), "sgx_crl_issuer_mismatch"),
        (collateral_with(ev, root_ca_crl=doc["pck_crl"]), "sgx_crl_issuer_mismatch"),
        (collateral_with(ev, pck_crl_issuer_chain=doc["tcb_info_issuer_chain"]), "sgx_crl_issuer_mismatch"),
    ]
    del doc["pck_crl"]
    cases.append((json.dumps(doc).encode(), "sgx_collateral_malformed"))
    for data, expected in cases:
        with pytest.raises(InvalidProof) as exc:
            verify(ev, collateral=data)
        assert reason(exc) == expected, expected


@pytest.fixture(scope="module")
def collateral_parts(ev: Evidence):
    root = load_trust_anchor(ev.root)
    quote = parse_quote(ev.quote)
    pck = verify_pck_chain(quote.cert_data, root=root, now=NOW)
    collateral = parse_collateral(ev.collateral)
    return root, quote, pck, collateral


def test_tcb_info_for_another_platform(collateral_parts) -> None:
    root, quote, pck, collateral = collateral_parts
    for change, expected in [
        ({"fmspc": bytes(6)}, "sgx_tcb_info_fmspc_mismatch"),
        ({"pceid": b"\x00\x01"}, "sgx_tcb_info_pceid_mismatch"),
    ]:
        other: PckChain = dataclasses.replace(pck, extension=dataclasses.replace(pck.extension, **change))
        with pytest.raises(InvalidProof) as exc:
            evaluate_collateral(collateral, quote, other, root=root, now=NOW)
        assert reason(exc) == expected


def test_platform_tcb_levels(collateral_parts) -> None:
    _, _, pck, collateral = collateral_parts
    tcb_info = parse_tcb_info(collateral.tcb_info_body)
    ext = pck.extension
    assert ext.tcb_components == (11, 11, 2, 2, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert ext.pcesvn == 13
    assert platform_tcb_level(ext, tcb_info).status == "ConfigurationAndSWHardeningNeeded"

    def status(components: tuple[int, ...], pcesvn: int = 13) -> str:
        changed = dataclasses.replace(ext, tcb_components=components, pcesvn=pcesvn)
        return platform_tcb_level(changed, tcb_info).status

    assert status((11, 11, 2, 2, 255, 1, 12) + (0,) * 9) == "SWHardeningNeeded"
    assert status((10, 10, 2, 2, 255, 1, 12) + (0,) * 9) == "OutOfDate"
    assert status((10, 10, 2, 2, 255, 1, 0) + (0,) * 9) == "OutOfDateConfigurationNeeded"
    assert status((255,) * 16, pcesvn=12) != "ConfigurationAndSWHardeningNeeded"
    with pytest.raises(InvalidProof) as exc:
        status((0,) * 16, pcesvn=0)
    assert reason(exc) == "sgx_tcb_level_not_found"


def test_qe_identity(collateral_parts) -> None:
    _, quote, _, collateral = collateral_parts
    identity = parse_qe_identity(collateral.qe_identity_body)
    qe = quote.qe_report
    assert check_qe_identity(qe, identity).status == "UpToDate"
    level = check_qe_identity(dataclasses.replace(qe, isv_svn=7), identity)
    assert (level.status, level.advisory_ids) == ("OutOfDate", ("INTEL-SA-00615",))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"mrsigner": bytes(32)}, "sgx_qe_identity_mismatch"),
        ({"isv_prod_id": 2}, "sgx_qe_identity_mismatch"),
        ({"miscselect": 1}, "sgx_qe_identity_mismatch"),
        ({"attributes": b"\x17" + qe.attributes[1:]}, "sgx_qe_identity_mismatch"),
        ({"isv_svn": 0}, "sgx_qe_tcb_level_not_found"),
    ]
    for change, expected in cases:
        with pytest.raises(InvalidProof) as exc:
            check_qe_identity(dataclasses.replace(qe, **change), identity)
        assert reason(exc) == expected
    # A masked-out attribute bit (bit 2 of byte 0: the mask is FB) does not matter.
    check_qe_identity(dataclasses.replace(qe, attributes=b"\x11" + qe.attributes[1:]), identity)


@pytest.mark.parametrize(
    ("platform", "qe", "merged"),
    [
        ("UpToDate", "UpToDate", "UpToDate"),
        ("ConfigurationAndSWHardeningNeeded", "UpToDate", "ConfigurationAndSWHardeningNeeded"),
        ("UpToDate", "OutOfDate", "OutOfDate"),
        ("SWHardeningNeeded", "OutOfDate", "OutOfDate"),
        ("ConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"),
        ("ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"),
        ("OutOfDate", "OutOfDate", "OutOfDate"),
        ("UpToDate", "Revoked", "Revoked"),
        ("Revoked", "UpToDate", "Revoked"),
    ],
)
def test_merge_tcb_status(platform: str, qe: str, merged: str) -> None:
    assert merge_tcb_status(platform, qe) == merged


def test_revoked_status_is_never_accepted(ev: Evidence) -> None:
    quote = parse_quote(ev.quote)
    verdict = verify(ev, collateral=ev.collateral)
    assert verdict.collateral is not None
    revoked = dataclasses.replace(verdict.collateral, tcb_status="Revoked")
    everything = SgxPolicy(accepted_tcb_statuses=frozenset({"Revoked", "UpToDate"}))
    with pytest.raises(InvalidProof) as exc:
        check_policy(quote, revoked, everything)
    assert reason(exc) == "sgx_tcb_revoked"


def test_sample_crls_list_nothing(collateral_parts) -> None:
    root, _, pck, collateral = collateral_parts
    check_crl(collateral.root_ca_crl, root, NOW, "root_ca_crl")
    check_crl(collateral.pck_crl, pck.ca, NOW, "pck_crl")
    check_not_revoked(collateral.pck_crl, pck.leaf, "pck")
    with pytest.raises(InvalidProof) as exc:
        check_crl(collateral.pck_crl, pck.ca, datetime(2025, 7, 19, 10, 23, 19, tzinfo=UTC), "pck_crl")
    assert reason(exc) == "sgx_crl_expired"
    with pytest.raises(InvalidProof) as exc:
        check_crl(collateral.pck_crl, root, NOW, "pck_crl")
    assert reason(exc) == "sgx_crl_issuer_mismatch"


def test_revocation_with_a_synthetic_ca() -> None:
    """The sample CRLs are empty, so revocation is checked on a CA made here (fixed keys)."""
    ca_key = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
    other_key = ec.derive_private_key(0xBEEF, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(name)
        .public_key(other_key.public_key())
        .serial_number(42)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365))
        .sign(ca_key, hashes.SHA256())
    )

    def crl(serials: list[int], key: ec.EllipticCurvePrivateKey = ca_key) -> x509.CertificateRevocationList:
        builder = x509.CertificateRevocationListBuilder().issuer_name(name)
        builder = builder.last_update(start).next_update(start + timedelta(days=30))
        for serial in serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(start).build()
            )
        return builder.sign(key, hashes.SHA256())

    now = start + timedelta(days=1)
    clean, revoking = crl([7]), crl([7, 42])
    check_crl(clean, ca, now, "test")
    check_not_revoked(clean, leaf, "leaf")
    check_crl(revoking, ca, now, "test")
    with pytest.raises(InvalidProof) as exc:
        check_not_revoked(revoking, leaf, "leaf")
    assert reason(exc) == "sgx_cert_revoked"
    with pytest.raises(InvalidProof) as exc:
        check_crl(crl([], other_key), ca, now, "test")
    assert reason(exc) == "sgx_crl_signature"
    with pytest.raises(InvalidProof) as exc:
        check_crl(clean, ca, start - SECOND, "test")
    assert reason(exc) == "sgx_crl_not_yet_valid"


# --------------------------------------------------------------------------- fuzzing


@given(bit=st.integers(0, 4600 * 8 - 1))
def test_fuzz_bit_flip_never_verifies(ev: Evidence, bit: int) -> None:
    data = bytearray(ev.quote)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidProof):
        verify(ev, bytes(data), policy=SgxPolicy())


def test_every_byte_of_the_signed_parts_flipped_once_is_rejected(ev: Evidence, collateral_parts) -> None:
    """One flipped bit (bit = offset mod 8) in each byte before the certification data.

    The certification data is untouched here, so the PCK chain verified once stands in for
    ``verify_pck_chain``; the fuzz tests above run the whole verifier.
    """
    _, quote, pck, _ = collateral_parts
    end = len(ev.quote) - len(quote.cert_data)
    for offset in range(end):
        data = patched(ev.quote, offset, bytes([ev.quote[offset] ^ (1 << (offset % 8))]))
        with pytest.raises(InvalidProof):
            flipped = parse_quote(data)
            assert flipped.cert_data == quote.cert_data
            verify_quote_signatures(flipped, pck.key)
            check_policy(flipped, None, SgxPolicy())


@given(cut=st.integers(0, 4599))
def test_fuzz_truncation(ev: Evidence, cut: int) -> None:
    with pytest.raises(InvalidProof):
        verify(ev, ev.quote[:cut])


@given(data=st.binary(max_size=5000))
def test_fuzz_random_quote(ev: Evidence, data: bytes) -> None:
    with pytest.raises(InvalidProof):
        verify(ev, data)


@given(data=st.binary(min_size=436, max_size=1200))
def test_fuzz_random_body_after_valid_header(ev: Evidence, data: bytes) -> None:
    with pytest.raises(InvalidProof):
        verify(ev, ev.quote[:48] + data)


@given(bit=st.integers(0, 14050 * 8 - 1))
def test_fuzz_collateral_bit_flip(ev: Evidence, bit: int) -> None:
    """A flipped bit in the collateral is refused or changes nothing.

    The document is JSON text: flipping the case of a hex digit, say, keeps its meaning.
    """
    data = bytearray(ev.collateral)
    data[bit // 8] ^= 1 << (bit % 8)
    try:
        verdict = verify(ev, collateral=bytes(data))
    except InvalidProof:
        return
    assert verdict.tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert verdict.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")


@given(data=st.binary(max_size=3000))
def test_fuzz_random_collateral(ev: Evidence, data: bytes) -> None:
    with pytest.raises(InvalidProof):
        verify(ev, collateral=data)


@given(
    doc=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=20,
    )
)
def test_fuzz_structured_collateral(ev: Evidence, doc: object) -> None:
    with pytest.raises(InvalidProof):
        verify(ev, collateral=json.dumps(doc).encode())


@pytest.mark.parametrize(("bit", "cert"), [(20540, "pck"), (35786, "root")])
def test_signature_bit_string_with_unused_bits_is_rejected(ev: Evidence, bit: int, cert: str) -> None:
    """Found by flipping every bit: the signatureValue's unused-bits octet 0 → 1.

    That is still valid DER (the last signature octet is even) and decodes to the same
    signature octets, but it is not the certificate Intel issued.
    """
    data = bytearray(ev.quote)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidProof) as exc:
        verify(ev, bytes(data))
    assert reason(exc) == "sgx_cert_signature"
    assert exc.value.details["cert"] == cert


def test_an_unknown_signature_algorithm_in_the_collateral_chain_is_refused(ev: Evidence) -> None:
    """Bit 91,169 of the sample collateral turns an ECDSA-with-SHA256 OID into one
    ``cryptography`` does not know (found by the fuzz test above): a refusal, not a crash."""
    data = bytearray(ev.collateral)
    data[91_169 // 8] ^= 1 << (91_169 % 8)
    with pytest.raises(InvalidProof):
        verify(ev, collateral=bytes(data))
