"""Intel TDX DCAP quotes (version 4, ECDSA P-256): parse, verify to Intel's root, apply a policy.

Sources: Intel "TDX DCAP Quoting Library API" (quote v4 format), Intel "SGX ECDSA Quote
Library API" (the QE report certification data), and Intel's "Provisioning Certification
Service" API (TDX TCB info v3, TD_QE identity, and the TCB status algorithm).  Everything a
TDX quote shares with an SGX quote (the PCK chain, the QE report and its binding, the
collateral's signatures, windows and CRLs, the QE identity) is checked by the functions of
``proofs.tee.sgx``, with reasons prefixed ``tdx_`` instead of ``sgx_``.

Quote layout (little-endian integers; offsets in bytes):

    0    header (48): version u16 = 4, att_key_type u16 = 2, tee_type u32 = 0x81,
         reserved [4], qe_vendor_id [16], user_data [20]
    48   TD report (TD10, 584): tee_tcb_svn [16], mrseam [48], mrsignerseam [48],
         seam_attributes [8], td_attributes [8], xfam [8], mrtd [48], mrconfigid [48],
         mrowner [48], mrownerconfig [48], rtmr0..3 [48 each], report_data [64]
    632  signature_data_len u32, then signature data: quote signature [64] (r ‖ s over
         header ‖ TD report), attestation public key [64] (x ‖ y), certification data
         type u16 = 6 (QE report certification data), size u32, then: QE report (384, an
         SGX report body), QE report signature [64], qe_auth_data_len u16, qe_auth_data,
         certification data type u16 = 5 (PCK chain in PEM), size u32, the PEM chain

Bytes after the signature data are ignored (quotes are often padded); inside it, every
declared length must be exact.

``verify_tdx_quote`` checks, in this order (reason at the first failure):

1. the quote parses (``parse_tdx_quote``): at most 64 KiB (``tdx_quote_too_large``), long
   enough for each part (``tdx_quote_truncated``), version 4
   (``tdx_quote_unsupported_version``), attestation key type 2
   (``tdx_quote_unsupported_key_type``), tee_type 0x81 (``tdx_quote_unsupported_tee_type``),
   Intel's QE vendor id (``tdx_quote_unsupported_qe_vendor``), certification data types 6
   then 5 (``tdx_quote_unsupported_cert_data``), no bytes inside the signature data beyond
   the declared lengths (``tdx_quote_trailing_bytes``);
2. the PCK chain verifies to ``trusted_root`` (as SGX's steps 2-3: ``tdx_pck_chain_*``,
   ``tdx_root_untrusted``, ``tdx_cert_*``, ``tdx_pck_key_type``,
   ``tdx_pck_extension_malformed``);
3. the QE report's signature verifies under the PCK key (``tdx_qe_report_signature``) and
   its report data is ``SHA-256(attestation_key ‖ qe_auth_data) ‖ 32 zero bytes``
   (``tdx_qe_report_data_mismatch``);
4. the quote signature over header ‖ TD report verifies under the attestation key
   (``tdx_attestation_key_invalid``, ``tdx_quote_signature``);
5. collateral (``evaluate_tdx_collateral``), when given (``tdx_collateral_required`` when
   the policy demands it and none is given): the signatures, windows, CRLs and FMSPC/PCE-ID
   checks of SGX's step 7, with a TCB info of id "TDX" (version 3) and a QE identity of id
   "TD_QE" (``tdx_collateral_*``, ``tdx_tcb_info_*``, ``tdx_qe_identity_*``, ``tdx_crl_*``,
   ``tdx_cert_revoked``); then

   * the TDX module: MRSIGNERSEAM and the masked SEAM attributes match ``tdxModule``
     (``tdx_module_mismatch``); when ``tee_tcb_svn[1]`` (the module's major version) is not
     0, they must also match the ``tdxModuleIdentities`` entry with id
     ``TDX_<tee_tcb_svn[1], 2 hex digits>`` (``tdx_module_identity_not_found``,
     ``tdx_module_mismatch``), whose first TCB level with ISVSVN at most ``tee_tcb_svn[0]``
     gives the module's status (``tdx_module_tcb_level_not_found``);
   * the platform TCB level is the first whose SGX component SVNs and PCESVN are at most the
     PCK certificate's and whose TDX component SVNs are at most ``tee_tcb_svn``'s (all 16
     when ``tee_tcb_svn[1]`` is 0, else from index 2: the module identity covers the first
     two) (``tdx_tcb_level_not_found``);
   * the QE report matches the TD_QE identity (``tdx_qe_identity_mismatch``,
     ``tdx_qe_tcb_level_not_found``);
   * the status is the platform's, merged with the module's and then the QE's by
     ``sgx.merge_tcb_status``;
6. the policy (``check_tdx_policy``): TD attributes bit 0 (DEBUG) clear unless allowed
   (``tdx_debug_not_allowed``), MRTD and each RTMR in their allowlists when given
   (``tdx_mrtd_not_allowed``, ``tdx_rtmr_not_allowed``), and with collateral the TCB status
   not Revoked (``tdx_tcb_revoked``) and in the accepted set
   (``tdx_tcb_status_not_accepted``).

Without collateral, steps 1-4 prove only that a platform holding an Intel-certified PCK key
vouched for the TD report; ``TdxPolicy.require_collateral`` makes the collateral mandatory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from chain.errors import InvalidProof
from proofs.tee.sgx import (
    DEFAULT_ACCEPTED_TCB_STATUSES,
    HEADER_SIZE,
    MAX_QUOTE_SIZE,
    NO_GRACE,
    PckChain,
    PckExtension,
    QeTcbLevel,
    SgxCollateral,
    SgxEnclaveReport,
    TcbInfo,
    TcbLevel,
    check_qe_identity,
    check_quote_header,
    merge_tcb_status,
    parse_collateral,
    parse_qe_certification,
    take_bytes,
    verify_attestation_signature,
    verify_collateral_documents,
    verify_pck_chain,
    verify_qe_report,
)
from proofs.tee.x509util import fail, jsonable, load_trust_anchor, require_aware

PREFIX = "tdx"

QUOTE_VERSION = 4
TEE_TYPE_TDX = 0x81
TD_REPORT_SIZE = 584
QUOTE_BODY_SIZE = HEADER_SIZE + TD_REPORT_SIZE
"""Header ‖ TD report: what the attestation key signs."""
CERT_DATA_QE_REPORT = 6
RTMR_COUNT = 4
MEASUREMENT_SIZE = 48
TD_ATTRIBUTE_DEBUG = 0x01
"""Bit 0 of the TD attributes: the TD is debuggable (the host can read its state)."""
TCB_SVN_SIZE = 16


# --------------------------------------------------------------------------- quote structures


@dataclass(frozen=True, slots=True)
class TdxQuoteHeader:
    """The 48-byte quote v4 header."""

    version: int
    att_key_type: int
    tee_type: int
    reserved: bytes
    qe_vendor_id: bytes
    user_data: bytes


@dataclass(frozen=True, slots=True)
class TdReport:
    """The 584-byte TD report body (TD10) of a quote v4."""

    tee_tcb_svn: bytes
    """16 bytes: [0] TDX module minor SVN, [1] module major version, [2..] other TCB SVNs."""
    mrseam: bytes
    mrsignerseam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mrtd: bytes
    """48 bytes: the measurement of the TD's initial contents."""
    mrconfigid: bytes
    mrowner: bytes
    mrownerconfig: bytes
    rtmrs: tuple[bytes, ...]
    """RTMR0..3, 48 bytes each: the runtime measurement registers."""
    report_data: bytes
    raw: bytes = field(repr=False, metadata={"json": False})

    @property
    def debug(self) -> bool:
        """TD attributes bit 0: the TD runs in debug mode."""
        return bool(self.td_attributes[0] & TD_ATTRIBUTE_DEBUG)

    def to_json(self) -> dict[str, Any]:
        """Every field, bytes as hex, plus the DEBUG bit."""
        out: dict[str, Any] = jsonable(self)
        out["debug"] = self.debug
        return out


@dataclass(frozen=True, slots=True)
class TdxQuote:
    """A parsed quote v4 for a TD, with ECDSA P-256 attestation key and QE report certification."""

    header: TdxQuoteHeader
    report: TdReport
    signature: bytes
    """64 bytes, r ‖ s, by the attestation key over header ‖ TD report."""
    attestation_key: bytes
    """64 bytes, x ‖ y of the P-256 attestation key."""
    qe_report: SgxEnclaveReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    cert_data_type: int
    """The inner certification data type (5: PCK chain in PEM)."""
    cert_data: bytes = field(repr=False, metadata={"json": False})
    raw: bytes = field(repr=False, metadata={"json": False})

    @property
    def signed_bytes(self) -> bytes:
        """Header ‖ TD report: what the attestation key signs."""
        return self.raw[:QUOTE_BODY_SIZE]

    def to_json(self) -> dict[str, Any]:
        """Every parsed field, bytes as hex (the PEM chain only by its size)."""
        out: dict[str, Any] = jsonable(self)
        out["report"] = self.report.to_json()
        out["qe_report"] = self.qe_report.to_json()
        out["cert_data_size"] = len(self.cert_data)
        return out


def _take_tdx(data: bytes, offset: int, size: int, what: str) -> bytes:
    return take_bytes(data, offset, size, what, PREFIX)


def parse_td_report(raw: bytes) -> TdReport:
    """Decode a 584-byte TD report body."""
    if len(raw) != TD_REPORT_SIZE:
        raise ValueError("a TD report body is 584 bytes")

    def at(offset: int, size: int) -> bytes:
        return bytes(raw[offset : offset + size])

    return TdReport(
        tee_tcb_svn=at(0, 16),
        mrseam=at(16, 48),
        mrsignerseam=at(64, 48),
        seam_attributes=at(112, 8),
        td_attributes=at(120, 8),
        xfam=at(128, 8),
        mrtd=at(136, 48),
        mrconfigid=at(184, 48),
        mrowner=at(232, 48),
        mrownerconfig=at(280, 48),
        rtmrs=tuple(at(328 + 48 * i, 48) for i in range(RTMR_COUNT)),
        report_data=at(520, 64),
        raw=bytes(raw),
    )


def parse_tdx_quote(data: bytes) -> TdxQuote:
    """Decode a quote; refuse what is not a well-formed v4 TDX ECDSA P-256 quote (step 1)."""
    raw = bytes(data)
    if len(raw) > MAX_QUOTE_SIZE:
        fail(PREFIX, "quote_too_large", f"quote of {len(raw)} bytes exceeds {MAX_QUOTE_SIZE}", size=len(raw))
    head = _take_tdx(raw, 0, HEADER_SIZE, "the header")
    check_quote_header(head, version=QUOTE_VERSION, tee_type=TEE_TYPE_TDX, prefix=PREFIX)
    version, att_key_type, tee_type = struct.unpack_from("<HHI", head, 0)
    header = TdxQuoteHeader(
        version=version,
        att_key_type=att_key_type,
        tee_type=tee_type,
        reserved=head[8:12],
        qe_vendor_id=head[12:28],
        user_data=head[28:48],
    )
    report = parse_td_report(_take_tdx(raw, HEADER_SIZE, TD_REPORT_SIZE, "the TD report"))
    (sig_len,) = struct.unpack("<I", _take_tdx(raw, QUOTE_BODY_SIZE, 4, "the signature data length"))
    pos = QUOTE_BODY_SIZE + 4
    if pos + sig_len > len(raw):
        fail(
            PREFIX,
            "quote_truncated",
            "signature data shorter than declared",
            declared=sig_len,
            actual=len(raw) - pos,
        )
    # From here on, read only inside the declared signature data; what follows it is padding.
    sig = raw[: pos + sig_len]
    signature = _take_tdx(sig, pos, 64, "the quote signature")
    attestation_key = _take_tdx(sig, pos + 64, 64, "the attestation key")
    outer_type, outer_size = struct.unpack(
        "<HI", _take_tdx(sig, pos + 128, 6, "the certification data header")
    )
    if outer_type != CERT_DATA_QE_REPORT:
        fail(
            PREFIX,
            "quote_unsupported_cert_data",
            f"certification data type {outer_type} is not 6 (QE report)",
            cert_data_type=outer_type,
        )
    opos = pos + 134
    _take_tdx(sig, opos, outer_size, "the certification data")
    if opos + outer_size != len(sig):
        fail(
            PREFIX,
            "quote_trailing_bytes",
            "bytes after the certification data inside the signature data",
            extra=len(sig) - (opos + outer_size),
        )
    qe = parse_qe_certification(sig, opos, prefix=PREFIX)
    return TdxQuote(
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


# --------------------------------------------------------------------------- collateral


@dataclass(frozen=True, slots=True)
class TdxCollateralResult:
    """What the collateral says about the platform, the TDX module and the quoting enclave."""

    tcb_status: str
    """The merged status: platform, then TDX module, then QE (``sgx.merge_tcb_status``)."""
    platform_tcb_status: str
    tdx_module_tcb_status: str | None
    """None when the module's major version is 0 (no ``tdxModuleIdentities`` entry applies)."""
    qe_tcb_status: str
    advisory_ids: tuple[str, ...]
    tcb_date: str
    tcb_info_issue_date: datetime
    tcb_info_next_update: datetime
    qe_identity_issue_date: datetime
    qe_identity_next_update: datetime


def _module_matches(report: TdReport, mrsigner: bytes, attributes: bytes, mask: bytes) -> bool:
    masked = bytes(a & m for a, m in zip(report.seam_attributes, mask, strict=True))
    return report.mrsignerseam == mrsigner and masked == attributes


def check_tdx_module(report: TdReport, tcb_info: TcbInfo) -> QeTcbLevel | None:
    """The TDX module is the one the TCB info names; its TCB level when its version is not 0."""
    module = tcb_info.tdx_module
    if module is None:  # parse_tcb_info(tee="TDX") requires it
        fail(PREFIX, "tcb_info_malformed", "TCB info has no tdxModule")
    if not _module_matches(report, module.mrsigner, module.attributes, module.attributes_mask):
        fail(PREFIX, "module_mismatch", "MRSIGNERSEAM or SEAM attributes differ from tdxModule")
    version = report.tee_tcb_svn[1]
    if version == 0:
        return None
    wanted = f"TDX_{version:02X}"
    for identity in tcb_info.tdx_module_identities:
        if identity.id.upper() == wanted:
            break
    else:
        fail(PREFIX, "module_identity_not_found", f"TCB info has no module identity {wanted}", id=wanted)
    if not _module_matches(report, identity.mrsigner, identity.attributes, identity.attributes_mask):
        fail(PREFIX, "module_mismatch", f"MRSIGNERSEAM or SEAM attributes differ from {wanted}", id=wanted)
    for level in identity.levels:
        if report.tee_tcb_svn[0] >= level.isvsvn:
            return level
    fail(
        PREFIX,
        "module_tcb_level_not_found",
        "the TDX module is below every TCB level",
        id=wanted,
        isvsvn=report.tee_tcb_svn[0],
    )


def tdx_platform_tcb_level(pck: PckExtension, tee_tcb_svn: bytes, tcb_info: TcbInfo) -> TcbLevel:
    """The first level whose SGX SVNs, PCESVN and TDX SVNs the platform all meets."""
    start = 0 if tee_tcb_svn[1] == 0 else 2
    for level in tcb_info.levels:
        if (
            pck.pcesvn >= level.pcesvn
            and all(mine >= theirs for mine, theirs in zip(pck.tcb_components, level.components, strict=True))
            and all(
                mine >= theirs
                for mine, theirs in zip(tee_tcb_svn[start:], level.tdx_components[start:], strict=True)
            )
        ):
            return level
    fail(PREFIX, "tcb_level_not_found", "the platform is below every TCB level", fmspc=pck.fmspc.hex())


def evaluate_tdx_collateral(
    collateral: SgxCollateral,
    quote: TdxQuote,
    pck: PckChain,
    *,
    root: x509.Certificate,
    now: datetime,
    grace: timedelta = NO_GRACE,
) -> TdxCollateralResult:
    """Step 5: the collateral's signatures, windows, CRLs, and the TCB status at ``now``."""
    tcb_info, identity = verify_collateral_documents(
        collateral, pck, root=root, now=now, prefix=PREFIX, tee="TDX", qe_id="TD_QE", grace=grace
    )
    report = quote.report
    module_level = check_tdx_module(report, tcb_info)
    platform = tdx_platform_tcb_level(pck.extension, report.tee_tcb_svn, tcb_info)
    qe_level = check_qe_identity(quote.qe_report, identity, prefix=PREFIX)
    status = platform.status
    advisories = list(platform.advisory_ids)
    if module_level is not None:
        status = merge_tcb_status(status, module_level.status)
        advisories += [a for a in module_level.advisory_ids if a not in advisories]
    advisories += [a for a in qe_level.advisory_ids if a not in advisories]
    return TdxCollateralResult(
        tcb_status=merge_tcb_status(status, qe_level.status),
        platform_tcb_status=platform.status,
        tdx_module_tcb_status=None if module_level is None else module_level.status,
        qe_tcb_status=qe_level.status,
        advisory_ids=tuple(advisories),
        tcb_date=platform.tcb_date,
        tcb_info_issue_date=tcb_info.issue_date,
        tcb_info_next_update=tcb_info.next_update,
        qe_identity_issue_date=identity.issue_date,
        qe_identity_next_update=identity.next_update,
    )


# --------------------------------------------------------------------------- policy and entry point


def _check_allowlist(values: frozenset[bytes] | None, what: str) -> None:
    if values is None:
        return
    if not isinstance(values, frozenset) or not all(
        isinstance(v, bytes) and len(v) == MEASUREMENT_SIZE for v in values
    ):
        raise TypeError(f"{what} must be a frozenset of 48-byte values or None")


@dataclass(frozen=True, slots=True)
class TdxPolicy:
    """What a verified TDX quote must also satisfy."""

    mrtds: frozenset[bytes] | None = None
    """Allowed MRTD values (48 bytes each); None accepts any."""
    rtmrs: tuple[frozenset[bytes] | None, ...] = ()
    """Per-register allowlists: entry ``i`` (48-byte values) restricts RTMR ``i``; a missing
    or None entry accepts any.  At most four entries."""
    allow_debug: bool = False
    """Accept TDs with the DEBUG attribute."""
    require_collateral: bool = False
    """Refuse quotes verified without TCB info and QE identity."""
    accepted_tcb_statuses: frozenset[str] = DEFAULT_ACCEPTED_TCB_STATUSES
    """Merged TCB statuses accepted when collateral is given (Revoked never is)."""

    def __post_init__(self) -> None:
        _check_allowlist(self.mrtds, "mrtds")
        if not isinstance(self.rtmrs, tuple) or len(self.rtmrs) > RTMR_COUNT:
            raise TypeError("rtmrs must be a tuple of at most four allowlists")
        for i, allowed in enumerate(self.rtmrs):
            _check_allowlist(allowed, f"rtmrs[{i}]")


@dataclass(frozen=True, slots=True)
class TdxVerdict:
    """A quote that passed every check in the module docstring."""

    quote: TdxQuote
    pck: PckExtension
    collateral: TdxCollateralResult | None
    """None when verified without collateral: the TCB status is then unknown."""

    @property
    def report_data(self) -> bytes:
        """The TD's 64 report-data bytes the caller binds its task to."""
        return self.quote.report.report_data

    @property
    def mrtd(self) -> bytes:
        """The TD's MRTD."""
        return self.quote.report.mrtd

    @property
    def rtmrs(self) -> tuple[bytes, ...]:
        """RTMR0..3."""
        return self.quote.report.rtmrs

    @property
    def tcb_status(self) -> str | None:
        """The merged TCB status, or None when verified without collateral."""
        return None if self.collateral is None else self.collateral.tcb_status

    @property
    def advisory_ids(self) -> tuple[str, ...]:
        """Intel advisories for the platform's, the module's and the QE's TCB levels."""
        return () if self.collateral is None else self.collateral.advisory_ids

    def to_json(self) -> dict[str, Any]:
        """The verdict and every parsed field, JSON-ready (for ``--json`` output)."""
        return {
            "kind": "tdx",
            "valid": True,
            "tcb_status": self.tcb_status,
            "advisory_ids": list(self.advisory_ids),
            "quote": self.quote.to_json(),
            "pck": jsonable(self.pck),
            "collateral": jsonable(self.collateral),
        }


def check_tdx_policy(quote: TdxQuote, collateral: TdxCollateralResult | None, policy: TdxPolicy) -> None:
    """Step 6: the caller's policy."""
    report = quote.report
    if report.debug and not policy.allow_debug:
        fail(PREFIX, "debug_not_allowed", "TD has the DEBUG attribute")
    if policy.mrtds is not None and report.mrtd not in policy.mrtds:
        fail(PREFIX, "mrtd_not_allowed", "MRTD not in the allowlist", mrtd=report.mrtd.hex())
    for i, allowed in enumerate(policy.rtmrs):
        if allowed is not None and report.rtmrs[i] not in allowed:
            fail(
                PREFIX,
                "rtmr_not_allowed",
                f"RTMR{i} not in the allowlist",
                index=i,
                rtmr=report.rtmrs[i].hex(),
            )
    if collateral is not None:
        if collateral.tcb_status == "Revoked":
            fail(PREFIX, "tcb_revoked", "platform, TDX module or quoting enclave TCB is revoked")
        if collateral.tcb_status not in policy.accepted_tcb_statuses:
            fail(
                PREFIX,
                "tcb_status_not_accepted",
                f"TCB status {collateral.tcb_status} not accepted",
                tcb_status=collateral.tcb_status,
                advisory_ids=list(collateral.advisory_ids),
            )


def verify_tdx_quote(
    quote: bytes,
    *,
    trusted_root: bytes,
    now: datetime,
    policy: TdxPolicy,
    collateral: bytes | None = None,
    grace: timedelta = NO_GRACE,
) -> TdxVerdict:
    """Verify a TDX DCAP v4 quote end to end (module docstring, steps 1-6).

    ``trusted_root`` is the Intel SGX Root CA (DER or one PEM block), which anchors TDX PCK
    chains too; ``collateral`` is the JSON document ``sgx.parse_collateral`` describes, with
    a TDX TCB info and the TD_QE identity; ``grace`` extends its ``nextUpdate`` dates
    (``sgx.verify_collateral_documents``).  ``now`` must be timezone-aware.  Raises
    ``InvalidProof`` for anything wrong with the evidence and ``ValueError`` for a naive
    ``now`` or a malformed trusted root.
    """
    require_aware(now)
    root = load_trust_anchor(trusted_root)
    parsed = parse_tdx_quote(quote)
    pck = verify_pck_chain(parsed.cert_data, root=root, now=now, prefix=PREFIX)
    verify_qe_report(
        parsed.qe_report,
        parsed.qe_report_signature,
        parsed.attestation_key,
        parsed.qe_auth_data,
        pck.key,
        prefix=PREFIX,
    )
    verify_attestation_signature(parsed.attestation_key, parsed.signature, parsed.signed_bytes, prefix=PREFIX)
    result: TdxCollateralResult | None = None
    if collateral is not None:
        result = evaluate_tdx_collateral(
            parse_collateral(collateral, prefix=PREFIX), parsed, pck, root=root, now=now, grace=grace
        )
    elif policy.require_collateral:
        fail(PREFIX, "collateral_required", "policy requires TCB collateral and none was given")
    check_tdx_policy(parsed, result, policy)
    return TdxVerdict(quote=parsed, pck=pck.extension, collateral=result)


__all__ = [
    "InvalidProof",
    "TdReport",
    "TdxCollateralResult",
    "TdxPolicy",
    "TdxQuote",
    "TdxQuoteHeader",
    "TdxVerdict",
    "check_tdx_module",
    "check_tdx_policy",
    "evaluate_tdx_collateral",
    "parse_td_report",
    "parse_tdx_quote",
    "tdx_platform_tcb_level",
    "verify_tdx_quote",
]
