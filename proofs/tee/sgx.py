"""Intel SGX DCAP quotes (version 3, ECDSA P-256): parse, verify to Intel's root, apply a policy.

Sources: Intel "SGX ECDSA Quote Library API" (quote format, appendix A.4), Intel "SGX PCK
Certificate and Certificate Revocation List Profile Specification" (the SGX extension
1.2.840.113741.1.13.1), and Intel's "Provisioning Certification Service" API (TCB info v2/v3
and enclave identity v2 JSON, and the TCB status algorithm).

Quote layout (little-endian integers; offsets in bytes):

    0    header (48): version u16, att_key_type u16, tee_type u32, qe_svn u16, pce_svn u16,
         qe_vendor_id [16], user_data [20]
    48   ISV enclave report body (384): cpusvn [16], miscselect u32, reserved [28],
         attributes [16], mrenclave [32], reserved [32], mrsigner [32], reserved [96],
         isv_prod_id u16, isv_svn u16, reserved [60], report_data [64]
    432  signature_data_len u32, then signature data: quote signature [64] (r ‖ s),
         attestation public key [64] (x ‖ y), QE report (384, same layout), QE report
         signature [64], qe_auth_data_len u16, qe_auth_data, certification data type u16,
         certification data size u32, certification data

``verify_sgx_quote`` checks, in this order (reason at the first failure):

1. the quote parses (``parse_quote``): at most 64 KiB (``sgx_quote_too_large``), long enough
   for each part (``sgx_quote_truncated``), version 3 (``sgx_quote_unsupported_version``),
   attestation key type 2 = ECDSA P-256 (``sgx_quote_unsupported_key_type``), tee_type 0 =
   SGX (``sgx_quote_unsupported_tee_type``), Intel's QE vendor id
   (``sgx_quote_unsupported_qe_vendor``), no bytes beyond the declared lengths
   (``sgx_quote_trailing_bytes``), certification data type 5 = PCK chain in PEM
   (``sgx_quote_unsupported_cert_data``);
2. the certification data is a canonical PEM chain of exactly leaf, intermediate and root
   (``sgx_pck_chain_malformed``, ``sgx_pck_chain_malformed_noncanonical``,
   ``sgx_pck_chain_length``) whose subjects are "Intel SGX PCK Certificate" and "Intel SGX
   PCK Processor CA" or "... Platform CA" (``sgx_pck_chain_unexpected_subject``);
3. the chain verifies to ``trusted_root``: ECDSA P-256/SHA-256 only, issuer names, CA flags,
   validity at ``now`` (``sgx_root_untrusted``, ``sgx_cert_*``, see ``x509util``); the PCK
   key is a P-256 key (``sgx_pck_key_type``) and the PCK certificate's SGX extension parses
   (``sgx_pck_extension_malformed``);
4. the QE report's signature verifies under the PCK key (``sgx_qe_report_signature``);
5. QE ``report_data == SHA-256(attestation_key ‖ qe_auth_data) ‖ 32 zero bytes``
   (``sgx_qe_report_data_mismatch``);
6. the quote signature over header ‖ ISV report body verifies under the attestation key
   (``sgx_attestation_key_invalid``, ``sgx_quote_signature``);
7. collateral (``evaluate_collateral``), when given (``sgx_collateral_required`` when the
   policy demands it and none is given): TCB info and QE identity each signed (ECDSA
   P-256/SHA-256, raw ``r ‖ s``) by an "Intel SGX TCB Signing" certificate chaining to the
   same root, and each inside its issueDate..nextUpdate window at ``now``; the root CA CRL
   and the PCK CRL each signed by their issuer and current at ``now``; none of the PCK
   certificate, its CA and the TCB signing certificates revoked; TCB info for the PCK
   certificate's FMSPC and PCE-ID; the platform TCB level is the first level (in Intel's
   published order) whose 16 SGX TCB component SVNs and PCESVN are all at most the PCK
   certificate's; the QE report matches the QE identity (MRSIGNER, ISVPRODID, masked
   MISCSELECT and ATTRIBUTES) and its TCB level is the first whose ISVSVN is at most the
   QE's; the two statuses merge as Intel's quote verification library merges them.
   Reasons: ``sgx_collateral_malformed``, ``sgx_{tcb_info,qe_identity}_chain_length``,
   ``_unexpected_signer``, ``_signature``, ``_malformed``, ``_not_yet_valid``, ``_expired``;
   ``sgx_crl_issuer_mismatch``, ``sgx_crl_unsupported_extension``, ``sgx_crl_signature``,
   ``sgx_crl_malformed``, ``sgx_crl_not_yet_valid``, ``sgx_crl_expired``,
   ``sgx_cert_revoked``; ``sgx_tcb_info_fmspc_mismatch``, ``sgx_tcb_info_pceid_mismatch``,
   ``sgx_tcb_level_not_found``, ``sgx_qe_identity_mismatch``, ``sgx_qe_tcb_level_not_found``;
8. the policy (``check_policy``): DEBUG attribute clear unless allowed
   (``sgx_debug_not_allowed``), MRENCLAVE and MRSIGNER in their allowlists when given
   (``sgx_mrenclave_not_allowed``, ``sgx_mrsigner_not_allowed``), and with collateral the
   TCB status not Revoked (``sgx_tcb_revoked``) and in the accepted set
   (``sgx_tcb_status_not_accepted``).

The PCK chain, QE report, collateral and QE identity checks are shared with TDX quotes
(``proofs.tee.tdx``): those functions take a ``prefix`` (default ``"sgx"``) for their reasons,
``parse_tcb_info`` a ``tee`` ("SGX" or "TDX") and ``parse_qe_identity`` a ``qe_id`` ("QE" or
"TD_QE"); ``verify_collateral_documents`` is step 7 up to the TCB level.

Without collateral, nothing says whether the platform's TCB is current or whether the
quoting enclave is Intel's: steps 1-6 then prove only that an SGX platform holding an
Intel-certified PCK key vouched for the report.  ``SgxPolicy.require_collateral`` makes the
collateral mandatory.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import SignatureAlgorithmOID

from chain.errors import InvalidProof
from proofs.tee.verdicts import outside
from proofs.tee.x509util import (
    CRYPTO_ERRORS,
    PARSE_ERRORS,
    TAG_ENUMERATED,
    TAG_INTEGER,
    TAG_OCTET_STRING,
    TAG_OID,
    TAG_SEQUENCE,
    DerError,
    SignatureScheme,
    common_name,
    der_children,
    der_integer,
    der_oid,
    der_single,
    ec_public_key,
    fail,
    jsonable,
    load_canonical_pem_chain,
    load_pem_certificates,
    load_trust_anchor,
    p256_signature,
    raw_extension,
    require_aware,
    strict_parsing,
    verify_chain,
    verify_raw_ecdsa,
)

PREFIX = "sgx"

QUOTE_VERSION = 3
ATT_KEY_TYPE_ECDSA_P256 = 2
TEE_TYPE_SGX = 0
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
HEADER_SIZE = 48
REPORT_SIZE = 384
QUOTE_BODY_SIZE = HEADER_SIZE + REPORT_SIZE
"""Header ‖ ISV report body: what the attestation key signs."""
CERT_DATA_PCK_CHAIN_PEM = 5
MAX_QUOTE_SIZE = 64 * 1024
MAX_COLLATERAL_SIZE = 1024 * 1024
ATTRIBUTE_DEBUG = 0x02
"""Bit 1 of the attributes flags: the enclave was launched for debugging."""

OID_SGX_EXTENSION = "1.2.840.113741.1.13.1"
_OID_PPID = OID_SGX_EXTENSION + ".1"
_OID_TCB = OID_SGX_EXTENSION + ".2"
_OID_PCEID = OID_SGX_EXTENSION + ".3"
_OID_FMSPC = OID_SGX_EXTENSION + ".4"
_OID_SGX_TYPE = OID_SGX_EXTENSION + ".5"
_OID_PCESVN = _OID_TCB + ".17"
_OID_CPUSVN = _OID_TCB + ".18"
_TCB_COMPONENTS = 16

PCK_LEAF_CN = "Intel SGX PCK Certificate"
PCK_PROCESSOR_CA_CN = "Intel SGX PCK Processor CA"
PCK_CA_CNS = frozenset({PCK_PROCESSOR_CA_CN, "Intel SGX PCK Platform CA"})
TCB_SIGNING_CN = "Intel SGX TCB Signing"
NO_GRACE = timedelta(0)
"""Collateral is current only up to its ``nextUpdate`` (offline verification)."""

TCB_STATUSES = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
    }
)
QE_TCB_STATUSES = frozenset({"UpToDate", "OutOfDate", "Revoked"})
DEFAULT_ACCEPTED_TCB_STATUSES = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
    }
)
"""Statuses that say the platform is patched; the rest say it is not (or is revoked)."""



# --------------------------------------------------------------------------- quote structures


@dataclass(frozen=True, slots=True)
class SgxQuoteHeader:
    """The 48-byte quote header."""

    version: int
    att_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes


@dataclass(frozen=True, slots=True)
class SgxEnclaveReport:
    """A 384-byte SGX REPORT body (the ISV enclave's, or the quoting enclave's)."""

    cpusvn: bytes
    miscselect: int
    reserved1: bytes
    attributes: bytes
    """16 bytes: flags u64 then xfrm u64, little-endian."""
    mrenclave: bytes
    reserved2: bytes
    mrsigner: bytes
    reserved3: bytes
    isv_prod_id: int
    isv_svn: int
    reserved4: bytes
    report_data: bytes
    raw: bytes = field(repr=False, metadata={"json": False})

    @property
    def debug(self) -> bool:
        """Attributes bit 1: the enclave was launched for debugging."""
        return bool(self.attributes[0] & ATTRIBUTE_DEBUG)

    def to_json(self) -> dict[str, Any]:
        """Every field, bytes as hex, plus the DEBUG bit."""
        out: dict[str, Any] = jsonable(self)
        out["debug"] = self.debug
        return out


@dataclass(frozen=True, slots=True)
class SgxQuote:
    """A parsed DCAP quote v3 with ECDSA P-256 attestation key and PEM PCK chain."""

    header: SgxQuoteHeader
    report: SgxEnclaveReport
    signature: bytes
    """64 bytes, r ‖ s, by the attestation key over header ‖ report."""
    attestation_key: bytes
    """64 bytes, x ‖ y of the P-256 attestation key."""
    qe_report: SgxEnclaveReport
    qe_report_signature: bytes
    """64 bytes, r ‖ s, by the PCK key over the QE report."""
    qe_auth_data: bytes
    cert_data_type: int
    cert_data: bytes = field(repr=False, metadata={"json": False})
    raw: bytes = field(repr=False, metadata={"json": False})

    @property
    def signed_bytes(self) -> bytes:
        """Header ‖ ISV report body: what the attestation key signs."""
        return self.raw[:QUOTE_BODY_SIZE]

    def to_json(self) -> dict[str, Any]:
        """Every parsed field, bytes as hex (the PEM chain only by its size)."""
        out: dict[str, Any] = jsonable(self)
        out["report"] = self.report.to_json()
        out["qe_report"] = self.qe_report.to_json()
        out["cert_data_size"] = len(self.cert_data)
        return out


def take_bytes(data: bytes, offset: int, size: int, what: str, prefix: str = PREFIX) -> bytes:
    """``data[offset:offset + size]``, or ``<prefix>_quote_truncated`` when it ends sooner."""
    if offset + size > len(data):
        fail(prefix, "quote_truncated", f"quote ends inside {what}", offset=offset, need=size, have=len(data))
    return data[offset : offset + size]


def parse_enclave_report(raw: bytes) -> SgxEnclaveReport:
    """Decode a 384-byte report body."""
    if len(raw) != REPORT_SIZE:
        raise ValueError("an SGX report body is 384 bytes")
    return SgxEnclaveReport(
        cpusvn=raw[0:16],
        miscselect=int(struct.unpack_from("<I", raw, 16)[0]),
        reserved1=raw[20:48],
        attributes=raw[48:64],
        mrenclave=raw[64:96],
        reserved2=raw[96:128],
        mrsigner=raw[128:160],
        reserved3=raw[160:256],
        isv_prod_id=int(struct.unpack_from("<H", raw, 256)[0]),
        isv_svn=int(struct.unpack_from("<H", raw, 258)[0]),
        reserved4=raw[260:320],
        report_data=raw[320:384],
        raw=bytes(raw),
    )


def check_quote_header(head: bytes, *, version: int, tee_type: int, prefix: str = PREFIX) -> None:
    """The header rules every DCAP quote shares: ``version``, ECDSA P-256 attestation key,
    ``tee_type`` (0 SGX, 0x81 TDX) and Intel's QE vendor id (the first 48 bytes of ``head``)."""
    got_version, att_key_type, got_tee = struct.unpack_from("<HHI", head, 0)
    if got_version != version:
        fail(prefix, "quote_unsupported_version", f"quote version {got_version} is not {version}",
             version=got_version)
    if att_key_type != ATT_KEY_TYPE_ECDSA_P256:
        fail(
            prefix,
            "quote_unsupported_key_type",
            f"attestation key type {att_key_type} is not ECDSA P-256",
            att_key_type=att_key_type,
        )
    if got_tee != tee_type:
        name = "SGX" if tee_type == TEE_TYPE_SGX else "TDX"
        fail(prefix, "quote_unsupported_tee_type", f"tee type {got_tee:#x} is not {name}", tee_type=got_tee)
    if head[12:28] != INTEL_QE_VENDOR_ID:
        fail(
            prefix,
            "quote_unsupported_qe_vendor",
            "quoting enclave vendor is not Intel",
            qe_vendor_id=head[12:28].hex(),
        )


@dataclass(frozen=True, slots=True)
class QeCertification:
    """The QE report, its signature, the QE auth data and the PCK chain that end every quote."""

    qe_report: SgxEnclaveReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    cert_data_type: int
    cert_data: bytes


def parse_qe_certification(buf: bytes, pos: int, *, prefix: str = PREFIX) -> QeCertification:
    """From ``pos`` to the end of ``buf``: ``QE report (384) ‖ QE report signature (64) ‖ u16
    auth length ‖ auth data ‖ u16 type ‖ u32 size ‖ certification data``, the data ending
    exactly at ``len(buf)`` (``quote_trailing_bytes``) and of type 5, the PCK chain in PEM
    (``quote_unsupported_cert_data``).  A quote v3 holds it in its signature data, a TDX quote
    v4 inside its type-6 certification data."""
    qe_report = parse_enclave_report(take_bytes(buf, pos, REPORT_SIZE, "the QE report", prefix))
    qe_report_signature = take_bytes(buf, pos + REPORT_SIZE, 64, "the QE report signature", prefix)
    apos = pos + REPORT_SIZE + 64
    (auth_len,) = struct.unpack("<H", take_bytes(buf, apos, 2, "the QE auth data length", prefix))
    qe_auth_data = take_bytes(buf, apos + 2, auth_len, "the QE auth data", prefix)
    cpos = apos + 2 + auth_len
    cert_data_type, cert_size = struct.unpack("<HI", take_bytes(buf, cpos, 6, "the certification data header",
                                                                prefix))
    cert_data = take_bytes(buf, cpos + 6, cert_size, "the certification data", prefix)
    if cpos + 6 + cert_size != len(buf):
        fail(
            prefix,
            "quote_trailing_bytes",
            "bytes after the certification data",
            extra=len(buf) - (cpos + 6 + cert_size),
        )
    if cert_data_type != CERT_DATA_PCK_CHAIN_PEM:
        fail(
            prefix,
            "quote_unsupported_cert_data",
            f"certification data type {cert_data_type} is not 5",
            cert_data_type=cert_data_type,
        )
    return QeCertification(qe_report, qe_report_signature, qe_auth_data, cert_data_type, cert_data)


def parse_quote(data: bytes) -> SgxQuote:
    """Decode a quote; refuse what is not a well-formed v3 ECDSA P-256 quote (step 1)."""
    raw = bytes(data)
    if len(raw) > MAX_QUOTE_SIZE:
        fail(PREFIX, "quote_too_large", f"quote of {len(raw)} bytes exceeds {MAX_QUOTE_SIZE}", size=len(raw))
    head = take_bytes(raw, 0, HEADER_SIZE, "the header")
    check_quote_header(head, version=QUOTE_VERSION, tee_type=TEE_TYPE_SGX)
    version, att_key_type, tee_type, qe_svn, pce_svn = struct.unpack_from("<HHIHH", head, 0)
    header = SgxQuoteHeader(
        version=version,
        att_key_type=att_key_type,
        tee_type=tee_type,
        qe_svn=qe_svn,
        pce_svn=pce_svn,
        qe_vendor_id=head[12:28],
        user_data=head[28:48],
    )
    report = parse_enclave_report(take_bytes(raw, HEADER_SIZE, REPORT_SIZE, "the report body"))
    (sig_len,) = struct.unpack("<I", take_bytes(raw, QUOTE_BODY_SIZE, 4, "the signature data length"))
    pos = QUOTE_BODY_SIZE + 4
    if pos + sig_len < len(raw):
        fail(
            PREFIX,
            "quote_trailing_bytes",
            "bytes after the signature data",
            declared=sig_len,
            actual=len(raw) - pos,
        )
    if pos + sig_len > len(raw):
        fail(
            PREFIX,
            "quote_truncated",
            "signature data shorter than declared",
            declared=sig_len,
            actual=len(raw) - pos,
        )
    signature = take_bytes(raw, pos, 64, "the quote signature")
    attestation_key = take_bytes(raw, pos + 64, 64, "the attestation key")
    qe = parse_qe_certification(raw, pos + 128)
    return SgxQuote(
        header=header,
        report=report,
        signature=signature,
        attestation_key=attestation_key,
        qe_report=qe.qe_report,
        qe_report_signature=qe.qe_report_signature,
        qe_auth_data=qe.qe_auth_data,
        cert_data_type=qe.cert_data_type,
        cert_data=qe.cert_data,
        raw=raw,
    )


# --------------------------------------------------------------------------- the PCK certificate


@dataclass(frozen=True, slots=True)
class PckExtension:
    """The SGX extension of a PCK certificate: what Intel certified about the platform."""

    ppid: bytes
    tcb_components: tuple[int, ...]
    """SGX TCB component SVNs 1-16."""
    pcesvn: int
    cpusvn: bytes
    pceid: bytes
    fmspc: bytes
    """Family-model-stepping-platform-custom SKU: selects the TCB info."""
    sgx_type: int
    """0 Standard, 1 Scalable, 2 Scalable with integrity."""


def _expect(tag: int, want: int, what: str) -> None:
    if tag != want:
        raise DerError(f"{what}: unexpected DER tag {tag:#x}")


def _octets(tag: int, content: bytes, size: int, what: str) -> bytes:
    _expect(tag, TAG_OCTET_STRING, what)
    if len(content) != size:
        raise DerError(f"{what} must be {size} bytes")
    return content


def _oid_value_pairs(content: bytes) -> dict[str, tuple[int, bytes]]:
    pairs: dict[str, tuple[int, bytes]] = {}
    for tag, item in der_children(content):
        _expect(tag, TAG_SEQUENCE, "SGX extension entry")
        parts = der_children(item)
        if len(parts) != 2:
            raise DerError("SGX extension entry is not (OID, value)")
        _expect(parts[0][0], TAG_OID, "SGX extension entry")
        oid = der_oid(parts[0][1])
        if oid in pairs:
            raise DerError(f"duplicate SGX extension entry {oid}")
        pairs[oid] = parts[1]
    return pairs


def parse_pck_extension(cert: x509.Certificate, *, prefix: str = PREFIX) -> PckExtension:
    """Decode extension 1.2.840.113741.1.13.1 (``sgx_pck_extension_malformed``)."""
    value = raw_extension(cert, OID_SGX_EXTENSION)
    if value is None:
        fail(prefix, "pck_extension_malformed", "PCK certificate has no SGX extension")
    try:
        tag, content = der_single(value)
        _expect(tag, TAG_SEQUENCE, "SGX extension")
        top = _oid_value_pairs(content)
        for oid in (_OID_PPID, _OID_TCB, _OID_PCEID, _OID_FMSPC, _OID_SGX_TYPE):
            if oid not in top:
                raise DerError(f"SGX extension lacks {oid}")
        _expect(top[_OID_TCB][0], TAG_SEQUENCE, "TCB")
        tcb = _oid_value_pairs(top[_OID_TCB][1])
        components: list[int] = []
        for i in range(1, _TCB_COMPONENTS + 1):
            ctag, ccontent = tcb.get(f"{_OID_TCB}.{i}", (-1, b""))
            _expect(ctag, TAG_INTEGER, f"TCB component {i}")
            svn = der_integer(ccontent)
            if svn > 0xFF:
                raise DerError(f"TCB component {i} out of range")
            components.append(svn)
        ptag, pcontent = tcb.get(_OID_PCESVN, (-1, b""))
        _expect(ptag, TAG_INTEGER, "PCESVN")
        pcesvn = der_integer(pcontent)
        if pcesvn > 0xFFFF:
            raise DerError("PCESVN out of range")
        stag, scontent = top[_OID_SGX_TYPE]
        _expect(stag, TAG_ENUMERATED, "SGX type")
        return PckExtension(
            ppid=_octets(*top[_OID_PPID], 16, "PPID"),
            tcb_components=tuple(components),
            pcesvn=pcesvn,
            cpusvn=_octets(*tcb.get(_OID_CPUSVN, (-1, b"")), 16, "CPUSVN"),
            pceid=_octets(*top[_OID_PCEID], 2, "PCE-ID"),
            fmspc=_octets(*top[_OID_FMSPC], 6, "FMSPC"),
            sgx_type=der_integer(scontent),
        )
    except DerError as exc:
        fail(prefix, "pck_extension_malformed", f"SGX extension: {exc}")


@dataclass(frozen=True, slots=True)
class PckChain:
    """A verified PCK chain."""

    leaf: x509.Certificate
    ca: x509.Certificate
    root: x509.Certificate
    key: ec.EllipticCurvePublicKey
    extension: PckExtension


def verify_pck_chain(
    cert_data: bytes, *, root: x509.Certificate, now: datetime, prefix: str = PREFIX
) -> PckChain:
    """Steps 2-3: the PCK chain from the certification data, verified to ``root``."""
    certs = load_canonical_pem_chain(cert_data, prefix=prefix, what="pck_chain_malformed")
    if len(certs) != 3:
        fail(
            prefix,
            "pck_chain_length",
            f"PCK chain must hold 3 certificates, got {len(certs)}",
            count=len(certs),
        )
    leaf, ca, anchor = certs
    if common_name(leaf.subject) != PCK_LEAF_CN or common_name(ca.subject) not in PCK_CA_CNS:
        fail(
            prefix,
            "pck_chain_unexpected_subject",
            "PCK chain subjects are not Intel's PCK profile",
            leaf=leaf.subject.rfc4514_string(),
            ca=ca.subject.rfc4514_string(),
        )
    verify_chain(
        [leaf, ca, anchor],
        ["pck", "pck_ca", "root"],
        trusted=[root],
        now=now,
        scheme=SignatureScheme.ECDSA_P256_SHA256,
        prefix=prefix,
    )
    key = ec_public_key(leaf, ec.SECP256R1, prefix=prefix, reason="pck_key_type", what="PCK certificate")
    return PckChain(leaf=leaf, ca=ca, root=anchor, key=key, extension=parse_pck_extension(leaf, prefix=prefix))


def pck_platform(cert_data: bytes) -> tuple[bytes, str] | None:
    """``(FMSPC, CA kind)`` named by a quote's PCK chain, without verifying it: which stored
    collateral applies (``aicf.collateral``).  The kind is ``"processor"`` or ``"platform"``
    (the PCK CA, whose CRL applies).  None when the chain or its extension does not parse;
    verification then fails on its own with the precise reason."""
    try:
        certs = load_canonical_pem_chain(cert_data, prefix=PREFIX, what="pck_chain_malformed")
        if len(certs) != 3:
            return None
        ext = parse_pck_extension(certs[0])
    except InvalidProof:
        return None
    kind = "processor" if common_name(certs[1].subject) == PCK_PROCESSOR_CA_CN else "platform"
    return ext.fmspc, kind


def verify_qe_report(
    qe_report: SgxEnclaveReport,
    qe_report_signature: bytes,
    attestation_key: bytes,
    qe_auth_data: bytes,
    pck_key: ec.EllipticCurvePublicKey,
    *,
    prefix: str = PREFIX,
) -> None:
    """Steps 4-5: the PCK key signed the QE report, which binds the attestation key."""
    if not verify_raw_ecdsa(pck_key, p256_signature(qe_report_signature), qe_report.raw, hashes.SHA256()):
        fail(prefix, "qe_report_signature", "QE report signature does not verify under the PCK key")
    expected = hashlib.sha256(attestation_key + qe_auth_data).digest() + bytes(32)
    if qe_report.report_data != expected:
        fail(
            prefix,
            "qe_report_data_mismatch",
            "QE report data does not bind the attestation key and QE auth data",
            expected=expected.hex(),
            actual=qe_report.report_data.hex(),
        )


def verify_attestation_signature(
    attestation_key: bytes, signature: bytes, signed: bytes, *, prefix: str = PREFIX
) -> None:
    """Step 6: ``signature`` (raw ``r ‖ s``) over ``signed`` verifies under the attestation key."""
    try:
        att_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + attestation_key)
    except CRYPTO_ERRORS:
        fail(prefix, "attestation_key_invalid", "attestation key is not a P-256 point")
    if not verify_raw_ecdsa(att_key, p256_signature(signature), signed, hashes.SHA256()):
        fail(prefix, "quote_signature", "quote signature does not verify under the attestation key")


def verify_quote_signatures(quote: SgxQuote, pck_key: ec.EllipticCurvePublicKey) -> None:
    """Steps 4-6: PCK → QE report → attestation key → quote."""
    verify_qe_report(quote.qe_report, quote.qe_report_signature, quote.attestation_key, quote.qe_auth_data, pck_key)
    verify_attestation_signature(quote.attestation_key, quote.signature, quote.signed_bytes)


# --------------------------------------------------------------------------- collateral


@dataclass(frozen=True, slots=True)
class TcbLevel:
    """One platform TCB level of a TCB info."""

    components: tuple[int, ...]
    pcesvn: int
    tcb_date: str
    status: str
    advisory_ids: tuple[str, ...]
    tdx_components: tuple[int, ...] = ()
    """TDX TCB component SVNs 1-16 (``tdxtcbcomponents``), in a TDX TCB info only."""


@dataclass(frozen=True, slots=True)
class QeTcbLevel:
    """One TCB level of the quoting enclave's identity (or of a TDX module identity)."""

    isvsvn: int
    tcb_date: str
    status: str
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TdxModuleIdentity:
    """A TDX module's identity in a TDX TCB info: ``tdxModule`` or a ``tdxModuleIdentities`` entry."""

    id: str
    """``""`` for ``tdxModule``; ``"TDX_<major version, 2 hex digits>"`` for an identity entry."""
    mrsigner: bytes
    """48 bytes: the module signer's measurement (MRSIGNERSEAM)."""
    attributes: bytes
    """8 bytes: the expected SEAM attributes under the mask."""
    attributes_mask: bytes
    levels: tuple[QeTcbLevel, ...] = ()
    """TCB levels by the module's ISVSVN (an identity entry only)."""


@dataclass(frozen=True, slots=True)
class TcbInfo:
    """Intel's signed TCB info for one FMSPC (version 2 or 3 for SGX, version 3 for TDX)."""

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    fmspc: bytes
    pce_id: bytes
    tcb_type: int
    tcb_evaluation_data_number: int
    levels: tuple[TcbLevel, ...]
    tdx_module: TdxModuleIdentity | None = None
    """``tdxModule``, in a TDX TCB info only."""
    tdx_module_identities: tuple[TdxModuleIdentity, ...] = ()
    """``tdxModuleIdentities``, in a TDX TCB info only (may be absent)."""


@dataclass(frozen=True, slots=True)
class QeIdentity:
    """Intel's signed identity of its quoting enclave (version 2)."""

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    tcb_evaluation_data_number: int
    miscselect: int
    miscselect_mask: int
    attributes: bytes
    attributes_mask: bytes
    mrsigner: bytes
    isvprodid: int
    levels: tuple[QeTcbLevel, ...]


@dataclass(frozen=True, slots=True)
class SgxCollateral:
    """The collateral document: signed JSON bodies, their signatures, chains and CRLs."""

    tcb_info_body: bytes
    """The exact bytes Intel signed."""
    tcb_info_signature: bytes
    tcb_info_chain: tuple[x509.Certificate, ...]
    qe_identity_body: bytes
    qe_identity_signature: bytes
    qe_identity_chain: tuple[x509.Certificate, ...]
    root_ca_crl: x509.CertificateRevocationList
    pck_crl: x509.CertificateRevocationList
    pck_crl_issuer_chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class CollateralResult:
    """What the collateral says about the platform and the quoting enclave."""

    tcb_status: str
    """The merged status (``merge_tcb_status``)."""
    platform_tcb_status: str
    qe_tcb_status: str
    advisory_ids: tuple[str, ...]
    tcb_date: str
    tcb_info_issue_date: datetime
    tcb_info_next_update: datetime
    qe_identity_issue_date: datetime
    qe_identity_next_update: datetime


class _Malformed(Exception):
    """Internal: a JSON value of the wrong shape; converted to InvalidProof by the caller."""


def _field(obj: Mapping[str, Any], key: str, kind: type) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise _Malformed(f"missing {key!r}")
    value = obj[key]
    # bool is an int in Python; JSON true/false must not pass for a number.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Malformed(f"{key!r} is not a {kind.__name__}")
    return value


def _hex_field(obj: Mapping[str, Any], key: str, size: int) -> bytes:
    text = _field(obj, key, str)
    try:
        value = bytes.fromhex(text)
    except ValueError as exc:
        raise _Malformed(f"{key!r} is not hex") from exc
    if len(value) != size or len(text) != 2 * size:
        raise _Malformed(f"{key!r} must be {size} bytes")
    return value


def _time_field(obj: Mapping[str, Any], key: str) -> datetime:
    text = _field(obj, key, str)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _Malformed(f"{key!r} is not an ISO 8601 time") from exc
    if value.tzinfo is None:
        raise _Malformed(f"{key!r} has no time zone")
    return value


def _advisories(obj: Mapping[str, Any]) -> tuple[str, ...]:
    if "advisoryIDs" not in obj:
        return ()
    ids = _field(obj, "advisoryIDs", list)
    if not all(isinstance(i, str) for i in ids):
        raise _Malformed("advisoryIDs must be strings")
    return tuple(ids)


def _svn(value: Any, limit: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise _Malformed(f"{what} out of range")
    return value


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise _Malformed(f"{what} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise _Malformed(f"{what} is not a JSON object")
    return value


def _svn_list(obj: Mapping[str, Any], key: str) -> tuple[int, ...]:
    comps = _field(obj, key, list)
    if len(comps) != _TCB_COMPONENTS:
        raise _Malformed(f"{key} must list 16 components")
    return tuple(_svn(_field(c, "svn", int), 0xFF, "svn") for c in comps)


def _module_identity(obj: Mapping[str, Any], *, with_levels: bool) -> TdxModuleIdentity:
    levels: list[QeTcbLevel] = []
    if with_levels:
        for level in _field(obj, "tcbLevels", list):
            status = _field(level, "tcbStatus", str)
            if status not in QE_TCB_STATUSES:
                raise _Malformed(f"unknown TDX module TCB status {status!r}")
            levels.append(
                QeTcbLevel(
                    isvsvn=_svn(_field(_field(level, "tcb", dict), "isvsvn", int), 0xFF, "isvsvn"),
                    tcb_date=_field(level, "tcbDate", str),
                    status=status,
                    advisory_ids=_advisories(level),
                )
            )
    return TdxModuleIdentity(
        id=_field(obj, "id", str) if with_levels else "",
        mrsigner=_hex_field(obj, "mrsigner", 48),
        attributes=_hex_field(obj, "attributes", 8),
        attributes_mask=_hex_field(obj, "attributesMask", 8),
        levels=tuple(levels),
    )


def parse_tcb_info(body: bytes, *, prefix: str = PREFIX, tee: str = "SGX") -> TcbInfo:
    """Decode a signed TCB info body (``sgx_tcb_info_malformed``).

    ``tee`` is the id the TCB info must carry: ``"SGX"`` (version 2 or 3) or ``"TDX"``
    (version 3, with ``tdxtcbcomponents`` in every level, ``tdxModule`` and optionally
    ``tdxModuleIdentities``).
    """
    tdx = tee == "TDX"
    try:
        obj = _json_object(body, "TCB info")
        version = _field(obj, "version", int)
        if version not in ((3,) if tdx else (2, 3)):
            raise _Malformed(f"TCB info version {version} is not {'3' if tdx else '2 or 3'}")
        ident = _field(obj, "id", str) if version == 3 else "SGX"
        if ident != tee:
            raise _Malformed(f"TCB info id {ident!r} is not {tee}")
        tcb_type = _field(obj, "tcbType", int)
        if tcb_type != 0:
            raise _Malformed(f"TCB type {tcb_type} is not 0")
        levels: list[TcbLevel] = []
        for level in _field(obj, "tcbLevels", list):
            tcb = _field(level, "tcb", dict)
            if version == 3:
                svns = _svn_list(tcb, "sgxtcbcomponents")
            else:
                svns = tuple(
                    _svn(_field(tcb, f"sgxtcbcomp{i:02d}svn", int), 0xFF, "svn")
                    for i in range(1, _TCB_COMPONENTS + 1)
                )
            status = _field(level, "tcbStatus", str)
            if status not in TCB_STATUSES:
                raise _Malformed(f"unknown TCB status {status!r}")
            levels.append(
                TcbLevel(
                    components=svns,
                    pcesvn=_svn(_field(tcb, "pcesvn", int), 0xFFFF, "pcesvn"),
                    tcb_date=_field(level, "tcbDate", str),
                    status=status,
                    advisory_ids=_advisories(level),
                    tdx_components=_svn_list(tcb, "tdxtcbcomponents") if tdx else (),
                )
            )
        module = _module_identity(_field(obj, "tdxModule", dict), with_levels=False) if tdx else None
        identities = (
            tuple(_module_identity(m, with_levels=True) for m in _field(obj, "tdxModuleIdentities", list))
            if tdx and "tdxModuleIdentities" in obj
            else ()
        )
        return TcbInfo(
            id=ident,
            version=version,
            issue_date=_time_field(obj, "issueDate"),
            next_update=_time_field(obj, "nextUpdate"),
            fmspc=_hex_field(obj, "fmspc", 6),
            pce_id=_hex_field(obj, "pceId", 2),
            tcb_type=tcb_type,
            tcb_evaluation_data_number=_field(obj, "tcbEvaluationDataNumber", int),
            levels=tuple(levels),
            tdx_module=module,
            tdx_module_identities=identities,
        )
    except _Malformed as exc:
        fail(prefix, "tcb_info_malformed", f"TCB info: {exc}")


def parse_qe_identity(body: bytes, *, prefix: str = PREFIX, qe_id: str = "QE") -> QeIdentity:
    """Decode a signed QE identity body (``sgx_qe_identity_malformed``); its id must be ``qe_id``."""
    try:
        obj = _json_object(body, "QE identity")
        version = _field(obj, "version", int)
        if version != 2:
            raise _Malformed(f"QE identity version {version} is not 2")
        ident = _field(obj, "id", str)
        if ident != qe_id:
            raise _Malformed(f"enclave identity id {ident!r} is not {qe_id}")
        levels: list[QeTcbLevel] = []
        for level in _field(obj, "tcbLevels", list):
            status = _field(level, "tcbStatus", str)
            if status not in QE_TCB_STATUSES:
                raise _Malformed(f"unknown QE TCB status {status!r}")
            levels.append(
                QeTcbLevel(
                    isvsvn=_svn(_field(_field(level, "tcb", dict), "isvsvn", int), 0xFFFF, "isvsvn"),
                    tcb_date=_field(level, "tcbDate", str),
                    status=status,
                    advisory_ids=_advisories(level),
                )
            )
        return QeIdentity(
            id=ident,
            version=version,
            issue_date=_time_field(obj, "issueDate"),
            next_update=_time_field(obj, "nextUpdate"),
            tcb_evaluation_data_number=_field(obj, "tcbEvaluationDataNumber", int),
            # MISCSELECT is written as a 32-bit number in hex; ATTRIBUTES as the report's bytes.
            miscselect=int.from_bytes(_hex_field(obj, "miscselect", 4), "big"),
            miscselect_mask=int.from_bytes(_hex_field(obj, "miscselectMask", 4), "big"),
            attributes=_hex_field(obj, "attributes", 16),
            attributes_mask=_hex_field(obj, "attributesMask", 16),
            mrsigner=_hex_field(obj, "mrsigner", 32),
            isvprodid=_svn(_field(obj, "isvprodid", int), 0xFFFF, "isvprodid"),
            levels=tuple(levels),
        )
    except _Malformed as exc:
        fail(prefix, "qe_identity_malformed", f"QE identity: {exc}")


def _load_crl(text: str) -> x509.CertificateRevocationList:
    try:
        with strict_parsing():
            if text.lstrip().startswith("-----BEGIN"):
                crl = x509.load_pem_x509_crl(text.encode("ascii"))
            else:
                crl = x509.load_der_x509_crl(bytes.fromhex(text))
            # Parse the lazily decoded parts now, so later access cannot fail or warn.
            crl.extensions  # noqa: B018
            crl.issuer  # noqa: B018
            for entry in crl:
                entry.serial_number  # noqa: B018
                entry.extensions  # noqa: B018
    except PARSE_ERRORS as exc:  # UnicodeEncodeError is a ValueError
        raise _Malformed(f"CRL: {exc}") from exc
    return crl


COLLATERAL_PARTS: dict[str, tuple[str, ...]] = {
    "tcb_info": ("tcb_info", "tcb_info_signature", "tcb_info_issuer_chain"),
    "qe_identity": ("qe_identity", "qe_identity_signature", "qe_identity_issuer_chain"),
    "root_ca_crl": ("root_ca_crl",),
    "pck_crl": ("pck_crl", "pck_crl_issuer_chain"),
}
"""The four parts of a collateral document and the fields each is made of."""


@dataclass(frozen=True, slots=True)
class CollateralParts:
    """The parts a (possibly partial) collateral document holds; None where absent."""

    fields: dict[str, dict[str, str]]
    """Each present part's raw string fields, as in the document."""
    tcb_info: tuple[bytes, bytes, tuple[x509.Certificate, ...]] | None = None
    """(signed body, signature ``r ‖ s``, issuer chain)."""
    qe_identity: tuple[bytes, bytes, tuple[x509.Certificate, ...]] | None = None
    root_ca_crl: x509.CertificateRevocationList | None = None
    pck_crl: tuple[x509.CertificateRevocationList, tuple[x509.Certificate, ...]] | None = None
    """(CRL, issuer chain)."""


def parse_collateral_parts(data: bytes, *, prefix: str = PREFIX) -> CollateralParts:
    """Decode a collateral JSON document that may hold any of the four parts
    (``COLLATERAL_PARTS``); a part is present when its first field is, and then needs all
    of its fields (``{prefix}_collateral_malformed``, ``{prefix}_collateral_too_large``).
    Other keys are ignored."""
    raw = bytes(data)
    if len(raw) > MAX_COLLATERAL_SIZE:
        fail(prefix, "collateral_too_large", f"collateral exceeds {MAX_COLLATERAL_SIZE} bytes", size=len(raw))
    try:
        obj = _json_object(raw, "collateral")
        fields = {
            part: {key: _field(obj, key, str) for key in keys}
            for part, keys in COLLATERAL_PARTS.items()
            if keys[0] in obj
        }
        signed = {
            part: (fields[part][part].encode("utf-8"), _hex_field(obj, f"{part}_signature", 64))
            for part in ("tcb_info", "qe_identity")
            if part in fields
        }
        crls = {part: _load_crl(fields[part][part]) for part in ("root_ca_crl", "pck_crl") if part in fields}
    except (_Malformed, UnicodeEncodeError) as exc:
        fail(prefix, "collateral_malformed", f"collateral: {exc}")

    def chain(key: str) -> tuple[x509.Certificate, ...]:
        part = key.removesuffix("_issuer_chain")
        return load_pem_certificates(
            fields[part][key].encode("utf-8"), prefix=prefix, what="collateral_malformed"
        )

    return CollateralParts(
        fields=fields,
        tcb_info=(*signed["tcb_info"], chain("tcb_info_issuer_chain")) if "tcb_info" in signed else None,
        qe_identity=(*signed["qe_identity"], chain("qe_identity_issuer_chain")) if "qe_identity" in signed else None,
        root_ca_crl=crls.get("root_ca_crl"),
        pck_crl=(crls["pck_crl"], chain("pck_crl_issuer_chain")) if "pck_crl" in crls else None,
    )


def parse_collateral(data: bytes, *, prefix: str = PREFIX) -> SgxCollateral:
    """Decode the collateral JSON document (``sgx_collateral_malformed``).

    The document is an object whose string fields are: ``tcb_info`` and ``qe_identity``
    (the exact JSON text Intel signed), ``tcb_info_signature`` and
    ``qe_identity_signature`` (hex of the 64-byte ``r ‖ s``), ``*_issuer_chain`` (PEM),
    ``root_ca_crl`` and ``pck_crl`` (hex DER, or PEM).  All four parts must be present.
    """
    parts = parse_collateral_parts(data, prefix=prefix)
    if parts.tcb_info is None or parts.qe_identity is None or parts.root_ca_crl is None or parts.pck_crl is None:
        missing = [p for p in COLLATERAL_PARTS if p not in parts.fields]
        fail(prefix, "collateral_malformed", f"collateral: missing {', '.join(missing)}")
    return SgxCollateral(
        tcb_info_body=parts.tcb_info[0],
        tcb_info_signature=parts.tcb_info[1],
        tcb_info_chain=parts.tcb_info[2],
        qe_identity_body=parts.qe_identity[0],
        qe_identity_signature=parts.qe_identity[1],
        qe_identity_chain=parts.qe_identity[2],
        root_ca_crl=parts.root_ca_crl,
        pck_crl=parts.pck_crl[0],
        pck_crl_issuer_chain=parts.pck_crl[1],
    )


def verify_signed_body(
    body: bytes,
    signature: bytes,
    chain: tuple[x509.Certificate, ...],
    *,
    root: x509.Certificate,
    now: datetime,
    what: str,
    prefix: str = PREFIX,
) -> None:
    """``body`` is signed (raw ECDSA P-256 ``r ‖ s``) by an "Intel SGX TCB Signing"
    certificate whose ``chain`` (signer, root) verifies to ``root`` at ``now``
    (``{what}_chain_length``, ``{what}_unexpected_signer``, ``{what}_signature``, ``*_cert_*``)."""
    if len(chain) != 2:
        fail(
            prefix, f"{what}_chain_length", f"{what} issuer chain must be signer then root", count=len(chain)
        )
    signer = chain[0]
    if common_name(signer.subject) != TCB_SIGNING_CN:
        fail(
            prefix,
            f"{what}_unexpected_signer",
            f"{what} signer is not {TCB_SIGNING_CN}",
            subject=signer.subject.rfc4514_string(),
        )
    verify_chain(
        list(chain),
        ["tcb_signing", "root"],
        trusted=[root],
        now=now,
        scheme=SignatureScheme.ECDSA_P256_SHA256,
        prefix=prefix,
    )
    try:
        key = signer.public_key()
    except CRYPTO_ERRORS:
        fail(prefix, f"{what}_signature", f"{what} signer has an unsupported key")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not verify_raw_ecdsa(
        key, p256_signature(signature), body, hashes.SHA256()
    ):
        fail(prefix, f"{what}_signature", f"{what} signature does not verify")


def _check_window(
    issue: datetime,
    next_update: datetime,
    now: datetime,
    what: str,
    *,
    prefix: str = PREFIX,
    grace: timedelta = NO_GRACE,
) -> None:
    """``issue <= now <= next_update + grace`` (``*_not_yet_valid``, ``*_expired``)."""
    where = outside(now, issue, next_update + grace)
    if where == "early":
        fail(
            prefix,
            f"{what}_not_yet_valid",
            f"{what} issued at {issue.isoformat()}, after now",
            issue_date=issue.isoformat(),
            now=now.isoformat(),
        )
    if where == "late":
        fail(
            prefix,
            f"{what}_expired",
            f"{what} expired at {next_update.isoformat()}" + (f" (grace {grace} ended)" if grace else ""),
            next_update=next_update.isoformat(),
            now=now.isoformat(),
        )


def check_crl(
    crl: x509.CertificateRevocationList,
    issuer: x509.Certificate,
    now: datetime,
    what: str,
    *,
    prefix: str = PREFIX,
    grace: timedelta = NO_GRACE,
) -> None:
    """``crl`` is issued and signed (ECDSA P-256/SHA-256) by ``issuer`` and current at ``now``
    (``thisUpdate <= now <= nextUpdate + grace``)."""
    next_update = check_crl_signature(crl, issuer, what, prefix=prefix)
    where = outside(now, crl.last_update_utc, next_update + grace)
    if where == "early":
        fail(prefix, "crl_not_yet_valid", f"{what} issued after now", crl=what)
    if where == "late":
        fail(prefix, "crl_expired", f"{what} expired at {next_update.isoformat()}", crl=what)


def check_crl_signature(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, what: str, *, prefix: str = PREFIX
) -> datetime:
    """``crl`` is issued and signed (ECDSA P-256/SHA-256) by ``issuer`` and has no unknown
    critical extension; returns its ``nextUpdate`` (``crl_malformed`` when absent)."""
    if crl.issuer != issuer.subject:
        fail(
            prefix,
            "crl_issuer_mismatch",
            f"{what} is not issued by {issuer.subject.rfc4514_string()}",
            crl=what,
        )
    for ext in crl.extensions:
        if ext.critical:
            fail(
                prefix,
                "crl_unsupported_extension",
                f"{what} has a critical extension {ext.oid.dotted_string}",
                crl=what,
            )
    try:
        key = issuer.public_key()
    except CRYPTO_ERRORS:
        fail(prefix, "crl_signature", f"{what} issuer has an unsupported key", crl=what)
    if crl.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256 or not isinstance(
        key, ec.EllipticCurvePublicKey
    ):
        fail(prefix, "crl_signature", f"{what} is not signed with ECDSA P-256/SHA-256", crl=what)
    try:
        key.verify(crl.signature, crl.tbs_certlist_bytes, ec.ECDSA(hashes.SHA256()))
    except CRYPTO_ERRORS:
        fail(prefix, "crl_signature", f"{what} signature does not verify", crl=what)
    next_update = crl.next_update_utc
    if next_update is None:
        fail(prefix, "crl_malformed", f"{what} has no nextUpdate", crl=what)
    return next_update


def check_not_revoked(
    crl: x509.CertificateRevocationList, cert: x509.Certificate, name: str, *, prefix: str = PREFIX
) -> None:
    """``cert``'s serial number is not on ``crl`` (``sgx_cert_revoked``)."""
    if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
        fail(
            prefix,
            "cert_revoked",
            f"{name} certificate is revoked",
            cert=name,
            serial=format(cert.serial_number, "x"),
        )


def platform_tcb_level(pck: PckExtension, tcb_info: TcbInfo) -> TcbLevel:
    """The first level whose component SVNs and PCESVN the PCK certificate all meets."""
    for level in tcb_info.levels:
        if pck.pcesvn >= level.pcesvn and all(
            mine >= theirs for mine, theirs in zip(pck.tcb_components, level.components, strict=True)
        ):
            return level
    fail(PREFIX, "tcb_level_not_found", "the platform is below every TCB level", fmspc=pck.fmspc.hex())


def check_qe_identity(
    qe_report: SgxEnclaveReport, identity: QeIdentity, *, prefix: str = PREFIX
) -> QeTcbLevel:
    """The QE report is Intel's QE; return its TCB level (``sgx_qe_identity_mismatch``)."""
    if qe_report.mrsigner != identity.mrsigner:
        fail(prefix, "qe_identity_mismatch", "QE MRSIGNER is not Intel's", field="mrsigner")
    if qe_report.isv_prod_id != identity.isvprodid:
        fail(prefix, "qe_identity_mismatch", "QE ISVPRODID differs", field="isvprodid")
    if qe_report.miscselect & identity.miscselect_mask != identity.miscselect:
        fail(prefix, "qe_identity_mismatch", "QE MISCSELECT differs", field="miscselect")
    masked = bytes(a & m for a, m in zip(qe_report.attributes, identity.attributes_mask, strict=True))
    if masked != identity.attributes:
        fail(prefix, "qe_identity_mismatch", "QE ATTRIBUTES differ", field="attributes")
    for level in identity.levels:
        if qe_report.isv_svn >= level.isvsvn:
            return level
    fail(prefix, "qe_tcb_level_not_found", "the QE is below every TCB level", isvsvn=qe_report.isv_svn)


def merge_tcb_status(platform: str, qe: str) -> str:
    """Combine the platform and QE statuses (Intel QVL's convergence rule).

    A revoked QE makes the result Revoked; an out-of-date QE turns UpToDate and
    SWHardeningNeeded into OutOfDate and the two Configuration statuses into
    OutOfDateConfigurationNeeded; otherwise the platform status stands.
    """
    if qe == "Revoked":
        return "Revoked"
    if qe == "OutOfDate":
        if platform in ("UpToDate", "SWHardeningNeeded"):
            return "OutOfDate"
        if platform in ("ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"):
            return "OutOfDateConfigurationNeeded"
    return platform


def verify_collateral_documents(
    collateral: SgxCollateral,
    pck: PckChain,
    *,
    root: x509.Certificate,
    now: datetime,
    prefix: str = PREFIX,
    tee: str = "SGX",
    qe_id: str = "QE",
    grace: timedelta = NO_GRACE,
) -> tuple[TcbInfo, QeIdentity]:
    """The part of step 7 SGX and TDX share: signatures, windows, CRLs, FMSPC and PCE-ID.

    Returns the TCB info (whose id must be ``tee``) and the QE identity (id ``qe_id``),
    both signed by Intel, current at ``now`` and for the PCK certificate's platform.
    ``grace`` extends every ``nextUpdate`` (TCB info, QE identity, both CRLs): inside blocks
    it is genesis's collateral grace window, offline it is zero.
    """
    require_aware(now)
    verify_signed_body(
        collateral.tcb_info_body,
        collateral.tcb_info_signature,
        collateral.tcb_info_chain,
        root=root,
        now=now,
        what="tcb_info",
        prefix=prefix,
    )
    tcb_info = parse_tcb_info(collateral.tcb_info_body, prefix=prefix, tee=tee)
    _check_window(tcb_info.issue_date, tcb_info.next_update, now, "tcb_info", prefix=prefix, grace=grace)
    verify_signed_body(
        collateral.qe_identity_body,
        collateral.qe_identity_signature,
        collateral.qe_identity_chain,
        root=root,
        now=now,
        what="qe_identity",
        prefix=prefix,
    )
    identity = parse_qe_identity(collateral.qe_identity_body, prefix=prefix, qe_id=qe_id)
    _check_window(identity.issue_date, identity.next_update, now, "qe_identity", prefix=prefix, grace=grace)

    # CRLs.  The PCK CRL's issuer chain must be the quote's own CA under the same root; the
    # CRL is then checked with that CA's key.
    issuer_chain = collateral.pck_crl_issuer_chain
    if len(issuer_chain) != 2 or issuer_chain[0].public_bytes(
        serialization.Encoding.DER
    ) != pck.ca.public_bytes(serialization.Encoding.DER):
        fail(prefix, "crl_issuer_mismatch", "PCK CRL issuer chain is not the quote's PCK CA and root")
    verify_chain(
        list(issuer_chain),
        ["pck_ca", "root"],
        trusted=[root],
        now=now,
        scheme=SignatureScheme.ECDSA_P256_SHA256,
        prefix=prefix,
    )
    check_crl(collateral.root_ca_crl, root, now, "root_ca_crl", prefix=prefix, grace=grace)
    check_crl(collateral.pck_crl, pck.ca, now, "pck_crl", prefix=prefix, grace=grace)
    check_not_revoked(collateral.root_ca_crl, pck.ca, "pck_ca", prefix=prefix)
    for cert in {
        c.serial_number: c for c in collateral.tcb_info_chain[:1] + collateral.qe_identity_chain[:1]
    }.values():
        check_not_revoked(collateral.root_ca_crl, cert, "tcb_signing", prefix=prefix)
    check_not_revoked(collateral.pck_crl, pck.leaf, "pck", prefix=prefix)

    ext = pck.extension
    if tcb_info.fmspc != ext.fmspc:
        fail(
            prefix,
            "tcb_info_fmspc_mismatch",
            "TCB info is for another FMSPC",
            tcb_info=tcb_info.fmspc.hex(),
            pck=ext.fmspc.hex(),
        )
    if tcb_info.pce_id != ext.pceid:
        fail(
            prefix,
            "tcb_info_pceid_mismatch",
            "TCB info is for another PCE",
            tcb_info=tcb_info.pce_id.hex(),
            pck=ext.pceid.hex(),
        )
    return tcb_info, identity


def evaluate_collateral(
    collateral: SgxCollateral,
    quote: SgxQuote,
    pck: PckChain,
    *,
    root: x509.Certificate,
    now: datetime,
    grace: timedelta = NO_GRACE,
) -> CollateralResult:
    """Step 7: the collateral's signatures, windows, CRLs, and the TCB status at ``now``."""
    tcb_info, identity = verify_collateral_documents(collateral, pck, root=root, now=now, grace=grace)
    ext = pck.extension
    platform = platform_tcb_level(ext, tcb_info)
    qe_level = check_qe_identity(quote.qe_report, identity)
    advisories = list(platform.advisory_ids)
    advisories += [a for a in qe_level.advisory_ids if a not in advisories]
    return CollateralResult(
        tcb_status=merge_tcb_status(platform.status, qe_level.status),
        platform_tcb_status=platform.status,
        qe_tcb_status=qe_level.status,
        advisory_ids=tuple(advisories),
        tcb_date=platform.tcb_date,
        tcb_info_issue_date=tcb_info.issue_date,
        tcb_info_next_update=tcb_info.next_update,
        qe_identity_issue_date=identity.issue_date,
        qe_identity_next_update=identity.next_update,
    )


# --------------------------------------------------------------------------- policy and entry point


@dataclass(frozen=True, slots=True)
class SgxPolicy:
    """What a verified quote must also satisfy."""

    mrenclaves: frozenset[bytes] | None = None
    """Allowed MRENCLAVE values (32 bytes each); None accepts any."""
    mrsigners: frozenset[bytes] | None = None
    """Allowed MRSIGNER values (32 bytes each); None accepts any."""
    allow_debug: bool = False
    """Accept enclaves launched with the DEBUG attribute."""
    require_collateral: bool = False
    """Refuse quotes verified without TCB info and QE identity."""
    accepted_tcb_statuses: frozenset[str] = DEFAULT_ACCEPTED_TCB_STATUSES
    """Merged TCB statuses accepted when collateral is given (Revoked never is)."""


@dataclass(frozen=True, slots=True)
class SgxVerdict:
    """A quote that passed every check in the module docstring."""

    quote: SgxQuote
    pck: PckExtension
    collateral: CollateralResult | None
    """None when verified without collateral: the TCB status is then unknown."""

    @property
    def report_data(self) -> bytes:
        """The ISV enclave's 64 report-data bytes the caller binds its task to."""
        return self.quote.report.report_data

    @property
    def mrenclave(self) -> bytes:
        """The ISV enclave's MRENCLAVE."""
        return self.quote.report.mrenclave

    @property
    def mrsigner(self) -> bytes:
        """The ISV enclave's MRSIGNER."""
        return self.quote.report.mrsigner

    @property
    def tcb_status(self) -> str | None:
        """The merged TCB status, or None when verified without collateral."""
        return None if self.collateral is None else self.collateral.tcb_status

    @property
    def advisory_ids(self) -> tuple[str, ...]:
        """Intel advisories for the platform's and the QE's TCB levels (platform's first)."""
        return () if self.collateral is None else self.collateral.advisory_ids

    def to_json(self) -> dict[str, Any]:
        """The verdict and every parsed field, JSON-ready (for ``--json`` output)."""
        return {
            "kind": "sgx",
            "valid": True,
            "tcb_status": self.tcb_status,
            "advisory_ids": list(self.advisory_ids),
            "quote": self.quote.to_json(),
            "pck": jsonable(self.pck),
            "collateral": jsonable(self.collateral),
        }


def check_policy(quote: SgxQuote, collateral: CollateralResult | None, policy: SgxPolicy) -> None:
    """Step 8: the caller's policy."""
    report = quote.report
    if report.debug and not policy.allow_debug:
        fail(PREFIX, "debug_not_allowed", "enclave has the DEBUG attribute")
    if policy.mrenclaves is not None and report.mrenclave not in policy.mrenclaves:
        fail(
            PREFIX,
            "mrenclave_not_allowed",
            "MRENCLAVE not in the allowlist",
            mrenclave=report.mrenclave.hex(),
        )
    if policy.mrsigners is not None and report.mrsigner not in policy.mrsigners:
        fail(PREFIX, "mrsigner_not_allowed", "MRSIGNER not in the allowlist", mrsigner=report.mrsigner.hex())
    if collateral is not None:
        if collateral.tcb_status == "Revoked":
            fail(PREFIX, "tcb_revoked", "platform or quoting enclave TCB is revoked")
        if collateral.tcb_status not in policy.accepted_tcb_statuses:
            fail(
                PREFIX,
                "tcb_status_not_accepted",
                f"TCB status {collateral.tcb_status} not accepted",
                tcb_status=collateral.tcb_status,
                advisory_ids=list(collateral.advisory_ids),
            )


def verify_sgx_quote(
    quote: bytes,
    *,
    trusted_root: bytes,
    now: datetime,
    policy: SgxPolicy,
    collateral: bytes | None = None,
    grace: timedelta = NO_GRACE,
) -> SgxVerdict:
    """Verify an SGX DCAP v3 quote end to end (module docstring, steps 1-8).

    ``trusted_root`` is the Intel SGX Root CA (DER or one PEM block); ``collateral`` is the
    JSON document described in ``parse_collateral``; ``grace`` extends its ``nextUpdate``
    dates (``verify_collateral_documents``).  ``now`` must be timezone-aware.
    Raises ``InvalidProof`` for anything wrong with the evidence and ``ValueError`` for a
    naive ``now`` or a malformed trusted root.
    """
    require_aware(now)
    root = load_trust_anchor(trusted_root)
    parsed = parse_quote(quote)
    pck = verify_pck_chain(parsed.cert_data, root=root, now=now)
    verify_quote_signatures(parsed, pck.key)
    result: CollateralResult | None = None
    if collateral is not None:
        result = evaluate_collateral(parse_collateral(collateral), parsed, pck, root=root, now=now, grace=grace)
    elif policy.require_collateral:
        fail(PREFIX, "collateral_required", "policy requires TCB collateral and none was given")
    check_policy(parsed, result, policy)
    return SgxVerdict(quote=parsed, pck=pck.extension, collateral=result)


__all__ = [
    "COLLATERAL_PARTS",
    "CollateralParts",
    "CollateralResult",
    "InvalidProof",
    "PckExtension",
    "QeIdentity",
    "SgxCollateral",
    "SgxEnclaveReport",
    "SgxPolicy",
    "SgxQuote",
    "SgxQuoteHeader",
    "SgxVerdict",
    "TcbInfo",
    "TdxModuleIdentity",
    "check_crl",
    "check_crl_signature",
    "check_not_revoked",
    "check_policy",
    "check_qe_identity",
    "evaluate_collateral",
    "merge_tcb_status",
    "parse_collateral",
    "parse_collateral_parts",
    "parse_enclave_report",
    "parse_pck_extension",
    "parse_qe_identity",
    "parse_quote",
    "parse_tcb_info",
    "pck_platform",
    "platform_tcb_level",
    "take_bytes",
    "verify_attestation_signature",
    "verify_collateral_documents",
    "verify_pck_chain",
    "verify_qe_report",
    "verify_quote_signatures",
    "verify_signed_body",
    "verify_sgx_quote",
]
