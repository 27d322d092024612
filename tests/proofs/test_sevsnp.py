"""AMD SEV-SNP verification against real evidence (tests/vectors/tee/sev-snp).

Times.  ``NOW = 2025-07-01T00:00:00Z`` lies inside every certificate's validity: the
go-sev-guest Milan VCEK (2022-09-24T00:55:28Z .. 2029-09-24T00:55:28Z), the Milan ASK and
ARK (2020-10-22 .. 2045-10-22) and the Genoa ASK and ARK (2022-01-26 / 2022-10-31 .. 2047).
``AFTER_VCEK`` (one second past the VCEK's notAfter) and ``BEFORE_VCEK`` (one second before
its notBefore) each fall outside the VCEK alone.

The go-sev-guest report's guest policy is 0x0b0000: bit 16 (SMT), bit 17 (reserved, must be
one) and bit 19 (DEBUG).  It is a debug guest, so the VALID verdict of tests/vectors/README.md
holds under a policy that allows debugging; the default policy refuses it.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from chain.errors import InvalidProof
from proofs.tee.sevsnp import (
    REPORT_SIZE,
    AmdRevocation,
    SevSnpPolicy,
    SevSnpReport,
    SigningKey,
    TcbVersion,
    check_amd_crl,
    check_policy,
    check_report_binding,
    load_chain,
    parse_report,
    verify_key_certificate,
    verify_report_signature,
    verify_sevsnp,
)
from proofs.tee.x509util import load_trust_anchor, split_pem_certificates

NOW = datetime(2025, 7, 1, tzinfo=UTC)
VCEK_NOT_BEFORE = datetime(2022, 9, 24, 0, 55, 28, tzinfo=UTC)
VCEK_NOT_AFTER = datetime(2029, 9, 24, 0, 55, 28, tzinfo=UTC)
AFTER_VCEK = VCEK_NOT_AFTER + timedelta(seconds=1)
BEFORE_VCEK = VCEK_NOT_BEFORE - timedelta(seconds=1)

MEASUREMENT = bytes.fromhex(
    "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
)
REPORT_DATA = bytes([1, 2, 3, 4, 5]) + bytes(59)
DEBUG_OK = SevSnpPolicy(allow_debug=True, measurements=frozenset({MEASUREMENT}))

GENESIS_CERTS = Path(__file__).resolve().parents[2] / "genesis" / "certs"


class Evidence:
    """The test evidence (a plain class, so Hypothesis prints a short repr, not the bytes)."""

    def __init__(
        self,
        *,
        report: bytes,
        tampered: bytes,
        vcek: bytes,
        milan_chain: bytes,
        genoa_chain: bytes,
        vlek_chain: bytes,
        trusted_arks: tuple[bytes, ...],
    ) -> None:
        self.report = report
        self.tampered = tampered
        self.vcek = vcek
        self.milan_chain = milan_chain
        self.genoa_chain = genoa_chain
        self.vlek_chain = vlek_chain
        self.trusted_arks = trusted_arks
        """The Milan and Genoa ARKs, taken from the genesis chain files."""

    def __repr__(self) -> str:
        return "<SEV-SNP evidence>"


@pytest.fixture(scope="module")
def ev(vectors: Path) -> Evidence:
    snp = vectors / "tee" / "sev-snp"
    milan = (GENESIS_CERTS / "ask_ark_milan.pem").read_bytes()
    genoa = (GENESIS_CERTS / "ask_ark_genoa.pem").read_bytes()
    return Evidence(
        report=(snp / "milan_go-sev-guest" / "attestation.bin").read_bytes(),
        tampered=(snp / "milan_go-sev-guest" / "attestation_tampered_reportdata.bin").read_bytes(),
        vcek=(snp / "milan_go-sev-guest" / "vcek.der").read_bytes(),
        milan_chain=milan,
        genoa_chain=genoa,
        vlek_chain=(GENESIS_CERTS / "asvk_ark_milan_vlek.pem").read_bytes(),
        trusted_arks=(split_pem_certificates(milan)[-1], split_pem_certificates(genoa)[-1]),
    )


def verify(
    ev: Evidence,
    report: bytes | None = None,
    *,
    vcek: bytes | None = None,
    chain: bytes | None = None,
    arks: tuple[bytes, ...] | None = None,
    now: datetime = NOW,
    policy: SevSnpPolicy = DEBUG_OK,
):
    return verify_sevsnp(
        ev.report if report is None else report,
        ev.vcek if vcek is None else vcek,
        ev.milan_chain if chain is None else chain,
        trusted_arks=ev.trusted_arks if arks is None else arks,
        now=now,
        policy=policy,
    )


def reason(exc: pytest.ExceptionInfo[InvalidProof]) -> str:
    return exc.value.reason


def patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


# --------------------------------------------------------------------------- trust anchors


def test_genesis_certs_are_the_testdata_files(vectors: Path) -> None:
    amd = vectors / "tee" / "sev-snp" / "amd-certs"
    for name in ("ask_ark_milan.pem", "ask_ark_genoa.pem", "asvk_ark_milan_vlek.pem"):
        assert (GENESIS_CERTS / name).read_bytes() == (amd / name).read_bytes()
    readme = (GENESIS_CERTS / "README.md").read_text()
    assert "google/go-sev-guest" in readme and "verify/trust/ask_ark_milan.pem" in readme


# --------------------------------------------------------------------------- the README's verdicts


def test_milan_report_is_valid(ev: Evidence) -> None:
    verdict = verify(ev)
    report = verdict.report
    assert verdict.product == "Milan"
    assert verdict.signing_key is SigningKey.VCEK
    assert verdict.measurement == MEASUREMENT
    assert verdict.report_data == REPORT_DATA
    assert report.version == 2
    assert report.vmpl == 0
    assert report.debug
    assert report.reported_tcb == TcbVersion(bootloader=2, tee=0, snp=5, microcode=0x44)
    out = verdict.to_json()
    assert json.loads(json.dumps(out)) == out
    assert out["report"]["measurement"] == MEASUREMENT.hex()
    assert out["report"]["signing_key"] == "vcek"
    assert "raw" not in out["report"]


def test_vcek_may_be_pem(ev: Evidence) -> None:
    der_cert = load_trust_anchor(ev.vcek)  # same loader; quiet about serial number 0
    pem = der_cert.public_bytes(Encoding.PEM)
    assert verify(ev, vcek=pem).measurement == MEASUREMENT


def test_tampered_report_data_is_rejected(ev: Evidence) -> None:
    assert [i for i in range(REPORT_SIZE) if ev.report[i] != ev.tampered[i]] == [0x50]
    with pytest.raises(InvalidProof) as exc:
        verify(ev, ev.tampered)
    assert reason(exc) == "sevsnp_report_signature"


def test_debug_guest_refused_by_default(ev: Evidence) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, policy=SevSnpPolicy())
    assert reason(exc) == "sevsnp_debug_not_allowed"


def test_milan_report_against_genoa_chain_is_rejected(ev: Evidence) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, chain=ev.genoa_chain)
    assert reason(exc) == "sevsnp_product_mismatch"


def test_milan_chain_untrusted_when_only_genoa_is_trusted(ev: Evidence) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, arks=(ev.trusted_arks[1],))
    assert reason(exc) == "sevsnp_root_untrusted"


def test_vcek_under_vlek_chain_is_rejected(ev: Evidence) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, chain=ev.vlek_chain)
    assert reason(exc) == "sevsnp_chain_kind_mismatch"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (AFTER_VCEK, "sevsnp_cert_expired"),
        (BEFORE_VCEK, "sevsnp_cert_not_yet_valid"),
        (datetime(2046, 1, 1, tzinfo=UTC), "sevsnp_cert_expired"),
    ],
)
def test_now_outside_validity_is_rejected(ev: Evidence, now: datetime, expected: str) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, now=now)
    assert reason(exc) == expected
    assert exc.value.details["cert"] == "vcek"


@pytest.mark.parametrize("now", [VCEK_NOT_BEFORE, VCEK_NOT_AFTER])
def test_validity_bounds_are_inclusive(ev: Evidence, now: datetime) -> None:
    assert verify(ev, now=now).measurement == MEASUREMENT


def test_measurement_not_in_allowlist_is_rejected(ev: Evidence) -> None:
    policy = SevSnpPolicy(allow_debug=True, measurements=frozenset({bytes(48)}))
    with pytest.raises(InvalidProof) as exc:
        verify(ev, policy=policy)
    assert reason(exc) == "sevsnp_measurement_not_allowed"


def test_no_allowlist_accepts_any_measurement(ev: Evidence) -> None:
    assert verify(ev, policy=SevSnpPolicy(allow_debug=True)).measurement == MEASUREMENT


# --------------------------------------------------------------------------- parsing


def test_parse_decodes_every_field(ev: Evidence) -> None:
    r = parse_report(ev.report)
    assert r.guest_svn == 0 and r.policy == 0x0B0000 and r.signature_algo == 1
    assert r.current_tcb == r.reported_tcb == r.committed_tcb == r.launch_tcb
    assert r.platform_info == 1 and r.flags == 0 and not r.author_key_en and not r.mask_chip_key
    assert r.report_id_ma == b"\xff" * 32
    assert (r.current_major, r.current_minor, r.current_build) == (1, 0x31, 3)
    assert (r.committed_major, r.committed_minor, r.committed_build) == (1, 0x31, 3)
    assert r.cpuid_fam_id is None and r.launch_mit_vector is None
    assert r.chip_id[:4] == bytes.fromhex("3ac3fe21")
    assert 0 < r.signature_r < 2**384 and 0 < r.signature_s < 2**384


@pytest.mark.parametrize("version", [3, 5])
def test_parse_later_versions(ev: Evidence, version: int) -> None:
    data = patched(ev.report, 0, version.to_bytes(4, "little"))
    data = patched(data, 0x188, bytes([0x19, 0x01, 0x01]))
    data = patched(data, 0x1F8, (7).to_bytes(8, "little"))
    r = parse_report(data)
    assert (r.cpuid_fam_id, r.cpuid_mod_id, r.cpuid_step) == (0x19, 1, 1)
    assert r.launch_mit_vector == (7 if version == 5 else None)


@pytest.mark.parametrize("size", [0, 1, REPORT_SIZE - 1, REPORT_SIZE + 1, 2 * REPORT_SIZE])
def test_wrong_length(ev: Evidence, size: int) -> None:
    data = (ev.report * 2)[:size]
    with pytest.raises(InvalidProof) as exc:
        parse_report(data)
    assert reason(exc) == "sevsnp_report_length"


@pytest.mark.parametrize("version", [0, 1, 4, 6, 0xFFFFFFFF])
def test_unknown_version(ev: Evidence, version: int) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, patched(ev.report, 0, version.to_bytes(4, "little")))
    assert reason(exc) == "sevsnp_unsupported_version"


@pytest.mark.parametrize("algo", [0, 2, 0x101])
def test_wrong_signature_algorithm(ev: Evidence, algo: int) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, patched(ev.report, 0x34, algo.to_bytes(4, "little")))
    assert reason(exc) == "sevsnp_unsupported_signature_algorithm"


@pytest.mark.parametrize("code", [2, 6, 7])
def test_unsupported_signing_key(ev: Evidence, code: int) -> None:
    with pytest.raises(InvalidProof) as exc:
        parse_report(patched(ev.report, 0x48, (code << 2).to_bytes(4, "little")))
    assert reason(exc) == "sevsnp_unsupported_signing_key"


@pytest.mark.parametrize("offset", [0x2A0 + 48, 0x2A0 + 71, 0x2A0 + 72 + 50, 0x2A0 + 144, REPORT_SIZE - 1])
def test_nonzero_unsigned_signature_bytes(ev: Evidence, offset: int) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, patched(ev.report, offset, b"\x01"))
    assert reason(exc) == "sevsnp_signature_malformed"


# --------------------------------------------------------------------------- certificates


def test_garbage_vcek(ev: Evidence) -> None:
    for junk in (b"", b"\x30\x03\x02\x01\x00", ev.vcek[:-1], b"-----BEGIN CERTIFICATE-----\nAAAA\n"):
        with pytest.raises(InvalidProof) as exc:
            verify(ev, vcek=junk)
        assert reason(exc) == "sevsnp_vcek_malformed"


def test_garbage_chain(ev: Evidence) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, chain=b"not a pem file")
    assert reason(exc) == "sevsnp_chain_malformed"
    ask, ark = split_pem_certificates(ev.milan_chain)
    only_ark = x509.load_der_x509_certificate(ark).public_bytes(Encoding.PEM)
    with pytest.raises(InvalidProof) as exc:
        verify(ev, chain=only_ark)
    assert reason(exc) == "sevsnp_chain_length"
    reversed_chain = only_ark + x509.load_der_x509_certificate(ask).public_bytes(Encoding.PEM)
    with pytest.raises(InvalidProof) as exc:
        verify(ev, chain=reversed_chain)
    assert reason(exc) == "sevsnp_root_untrusted"


def test_vcek_as_its_own_chain_is_rejected(ev: Evidence) -> None:
    vcek_pem = load_trust_anchor(ev.vcek).public_bytes(Encoding.PEM)
    with pytest.raises(InvalidProof) as exc:
        verify(ev, chain=vcek_pem + vcek_pem)
    assert reason(exc) == "sevsnp_root_untrusted"


def test_misconfigured_trust_is_a_usage_error(ev: Evidence) -> None:
    with pytest.raises(ValueError):
        verify(ev, arks=(ev.milan_chain,))  # two certificates where one root belongs
    with pytest.raises(ValueError):
        verify(ev, now=datetime(2025, 7, 1))  # naive time


# --------------------------------------------------------------------------- binding and policy, by mutation


@pytest.fixture(scope="module")
def verified(ev: Evidence):
    key_cert, ask, ark = load_chain(ev.vcek, ev.milan_chain)
    anchors = [load_trust_anchor(a) for a in ev.trusted_arks]
    return parse_report(ev.report), verify_key_certificate(key_cert, ask, ark, trusted_arks=anchors, now=NOW)


def test_key_certificate_facts(verified) -> None:
    report, key = verified
    assert key.kind is SigningKey.VCEK and key.product == "Milan"
    assert key.hwid == report.chip_id
    assert key.tcb == report.reported_tcb
    check_report_binding(report, key)
    verify_report_signature(report, key.public_key)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"chip_id": bytes(63) + b"\x01"}, "sevsnp_hwid_mismatch"),
        ({"chip_id": bytes(64)}, "sevsnp_chip_id_masked"),
        ({"flags": 0b10}, "sevsnp_chip_id_masked"),
        ({"flags": 1 << 2}, "sevsnp_signing_key_mismatch"),
        ({"reported_tcb": TcbVersion(bootloader=2, tee=0, snp=6, microcode=0x44)}, "sevsnp_tcb_mismatch"),
        ({"reported_tcb": TcbVersion(bootloader=2, tee=1, snp=5, microcode=0x44)}, "sevsnp_tcb_mismatch"),
        ({"reported_tcb": TcbVersion(bootloader=1, tee=0, snp=5, microcode=0x44)}, "sevsnp_tcb_mismatch"),
        ({"reported_tcb": TcbVersion(bootloader=2, tee=0, snp=5, microcode=0x45)}, "sevsnp_tcb_mismatch"),
    ],
)
def test_binding_to_the_vcek(verified, change: dict[str, object], expected: str) -> None:
    report, key = verified
    with pytest.raises(InvalidProof) as exc:
        check_report_binding(dataclasses.replace(report, **change), key)
    assert reason(exc) == expected


def test_reported_tcb_in_the_bytes_is_compared_with_the_vcek(ev: Evidence) -> None:
    # current_tcb is not what the VCEK was derived for: changing it only breaks the signature.
    with pytest.raises(InvalidProof) as exc:
        verify(ev, patched(ev.report, 0x186, b"\x06"))
    assert reason(exc) == "sevsnp_tcb_mismatch"
    with pytest.raises(InvalidProof) as exc:
        verify(ev, patched(ev.report, 0x3E, b"\x06"))
    assert reason(exc) == "sevsnp_report_signature"


def _report_with(report: SevSnpReport, **change: object) -> SevSnpReport:
    return dataclasses.replace(report, **change)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "policy", "expected"),
    [
        ({"vmpl": 1}, SevSnpPolicy(allow_debug=True), "sevsnp_vmpl_not_allowed"),
        ({"vmpl": 3}, SevSnpPolicy(allow_debug=True, max_vmpl=2), "sevsnp_vmpl_not_allowed"),
        ({"flags": 1 << 2}, SevSnpPolicy(allow_debug=True, allow_vlek=False), "sevsnp_vlek_not_allowed"),
        ({}, SevSnpPolicy(), "sevsnp_debug_not_allowed"),
        (
            {},
            SevSnpPolicy(allow_debug=True, min_tcb=TcbVersion(bootloader=0, tee=0, snp=6, microcode=0)),
            "sevsnp_tcb_too_low",
        ),
        ({}, SevSnpPolicy(allow_debug=True, measurements=frozenset()), "sevsnp_measurement_not_allowed"),
    ],
)
def test_policy(verified, change: dict[str, object], policy: SevSnpPolicy, expected: str) -> None:
    report, _ = verified
    with pytest.raises(InvalidProof) as exc:
        check_policy(_report_with(report, **change), policy)
    assert reason(exc) == expected


def test_policy_accepts(verified) -> None:
    report, _ = verified
    check_policy(_report_with(report, vmpl=1), SevSnpPolicy(allow_debug=True, max_vmpl=1))
    check_policy(_report_with(report, policy=0x030000), SevSnpPolicy())
    check_policy(
        report,
        SevSnpPolicy(allow_debug=True, min_tcb=TcbVersion(bootloader=2, tee=0, snp=5, microcode=0x44)),
    )


# --------------------------------------------------------------------------- fuzzing


def test_every_byte_flipped_once_is_rejected(ev: Evidence, verified) -> None:
    """One flipped bit in each byte (bit = offset mod 8): never a valid report."""
    _, key = verified
    for offset in range(REPORT_SIZE):
        data = patched(ev.report, offset, bytes([ev.report[offset] ^ (1 << (offset % 8))]))
        with pytest.raises(InvalidProof):
            report = parse_report(data)
            check_report_binding(report, key)
            verify_report_signature(report, key.public_key)


@given(bit=st.integers(0, REPORT_SIZE * 8 - 1))
def test_fuzz_bit_flip_never_verifies(ev: Evidence, bit: int) -> None:
    data = bytearray(ev.report)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidProof):
        verify(ev, bytes(data))


@given(cut=st.integers(0, REPORT_SIZE - 1))
def test_fuzz_truncation(ev: Evidence, cut: int) -> None:
    with pytest.raises(InvalidProof) as exc:
        verify(ev, ev.report[:cut])
    assert reason(exc) == "sevsnp_report_length"


@given(
    data=st.one_of(st.binary(max_size=2 * REPORT_SIZE), st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE))
)
def test_fuzz_random_report(ev: Evidence, data: bytes) -> None:
    with pytest.raises(InvalidProof):
        verify(ev, data)


@given(bit=st.integers(0, 1360 * 8 - 1))
def test_fuzz_vcek_bit_flip_never_verifies(ev: Evidence, bit: int) -> None:
    data = bytearray(ev.vcek)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidProof):
        verify(ev, vcek=bytes(data))


@given(data=st.binary(max_size=2000))
def test_fuzz_random_vcek(ev: Evidence, data: bytes) -> None:
    with pytest.raises(InvalidProof):
        verify(ev, vcek=data)


@given(bit=st.integers(0, 4602 * 8 - 1))
def test_fuzz_chain_bit_flip(ev: Evidence, bit: int) -> None:
    """A flipped bit in the PEM chain either is refused or leaves the same certificates.

    (PEM is text: a flip in the armour's whitespace can decode to identical certificates.)
    """
    data = bytearray(ev.milan_chain)
    data[bit // 8] ^= 1 << (bit % 8)
    try:
        verdict = verify(ev, chain=bytes(data))
    except InvalidProof:
        return
    assert split_pem_certificates(bytes(data)) == split_pem_certificates(ev.milan_chain)
    assert verdict.measurement == MEASUREMENT


@pytest.mark.parametrize(
    "bit",
    [
        96,  # certificate version v3 -> v4: cryptography raises x509.InvalidVersion
        1064,  # a name attribute's length: cryptography warns about the country name
    ],
)
def test_vcek_flips_found_by_fuzzing(ev: Evidence, bit: int) -> None:
    data = bytearray(ev.vcek)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidProof) as exc:
        verify(ev, vcek=bytes(data))
    assert reason(exc) == "sevsnp_vcek_malformed"


# --------------------------------------------------------------------------- revocation (AMD CRLs)

AMD_CRLS = Path(__file__).resolve().parents[1] / "vectors" / "tee" / "sev-snp" / "amd-crls"


def _chain_certs(chain: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(chain)


def test_amds_crls_verify_under_their_arks(ev: Evidence) -> None:
    for name, chain in (("genoa", ev.genoa_chain), ("milan", ev.milan_chain)):
        crl = x509.load_pem_x509_crl((AMD_CRLS / f"{name}_crl.pem").read_bytes())
        ask, ark = _chain_certs(chain)
        assert check_amd_crl(crl, ark) == crl.next_update_utc
        with pytest.raises(InvalidProof) as exc:
            check_amd_crl(crl, ask)
        assert reason(exc) == "sevsnp_crl_issuer_mismatch"
    genoa = x509.load_pem_x509_crl((AMD_CRLS / "genoa_crl.pem").read_bytes())
    assert [entry.serial_number for entry in genoa] == [0x20001]
    milan_ark = _chain_certs(ev.milan_chain)[1]
    with pytest.raises(InvalidProof) as exc:
        check_amd_crl(genoa, milan_ark)
    assert reason(exc) == "sevsnp_crl_issuer_mismatch"


def test_a_crl_with_a_broken_signature_is_refused(ev: Evidence) -> None:
    der = bytearray(x509.load_pem_x509_crl((AMD_CRLS / "milan_crl.pem").read_bytes()).public_bytes(
        Encoding.DER))
    der[-5] ^= 1  # inside the signature value
    with pytest.raises(InvalidProof) as exc:
        check_amd_crl(x509.load_der_x509_crl(bytes(der)), _chain_certs(ev.milan_chain)[1])
    assert reason(exc) == "sevsnp_crl_signature"


def test_a_revoked_ask_or_a_stale_crl_refuses_the_report(ev: Evidence) -> None:
    ask = _chain_certs(ev.milan_chain)[0]
    current = AmdRevocation(revoked=frozenset({0x20001}), next_update=NOW + timedelta(days=30))
    assert verify_sevsnp(ev.report, ev.vcek, ev.milan_chain, trusted_arks=ev.trusted_arks, now=NOW,
                         policy=DEBUG_OK, revocation=current).report.report_data[:5] == bytes([1, 2, 3, 4, 5])
    revoked = AmdRevocation(revoked=frozenset({ask.serial_number}), next_update=NOW + timedelta(days=30))
    stale = AmdRevocation(revoked=frozenset(), next_update=NOW - timedelta(days=2))
    for revocation, grace, expected in ((revoked, timedelta(0), "sevsnp_cert_revoked"),
                                        (stale, timedelta(days=1), "sevsnp_crl_expired")):
        with pytest.raises(InvalidProof) as exc:
            verify_sevsnp(ev.report, ev.vcek, ev.milan_chain, trusted_arks=ev.trusted_arks, now=NOW,
                          policy=DEBUG_OK, revocation=revocation, grace=grace)
        assert reason(exc) == expected
    # inside the grace window the stale CRL still counts
    verify_sevsnp(ev.report, ev.vcek, ev.milan_chain, trusted_arks=ev.trusted_arks, now=NOW, policy=DEBUG_OK,
                  revocation=stale, grace=timedelta(days=3))


def test_the_revocation_document_round_trips_and_refuses_garbage() -> None:
    rev = AmdRevocation(revoked=frozenset({1, 0x20001}), next_update=NOW)
    assert AmdRevocation.from_document(rev.document(b"\x30\x00", 4)) == rev
    with pytest.raises(InvalidProof) as exc:
        AmdRevocation.from_document(b"{}")
    assert reason(exc) == "sevsnp_crl_malformed"
