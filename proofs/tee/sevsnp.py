"""AMD SEV-SNP attestation reports: parse, verify against AMD's roots, apply a policy.

Sources: AMD "SEV Secure Nested Paging Firmware ABI Specification" (publication 56860),
section "ATTESTATION_REPORT Structure" and "TCB_VERSION"; AMD "Versioned Chip Endorsement
Key (VCEK) Certificate and KDS Interface Specification" (publication 57230) for the
certificate extensions.

Report layout (1184 bytes, little-endian integers; offsets in hex):

    000 version u32         004 guest_svn u32        008 policy u64
    010 family_id [16]      020 image_id [16]        030 vmpl u32
    034 signature_algo u32  038 current_tcb u64      040 platform_info u64
    048 flags u32: bit 0 author_key_en, bit 1 mask_chip_key, bits 2-4 signing_key
        (0 = VCEK, 1 = VLEK, 7 = none)               04C reserved u32
    050 report_data [64]    090 measurement [48]     0C0 host_data [32]
    0E0 id_key_digest [48]  110 author_key_digest [48]
    140 report_id [32]      160 report_id_ma [32]    180 reported_tcb u64
    188 cpuid_fam_id u8, 189 cpuid_mod_id u8, 18A cpuid_step u8 (version >= 3)
    1A0 chip_id [64]        1E0 committed_tcb u64
    1E8 current_build, current_minor, current_major u8, reserved u8
    1EC committed_build, committed_minor, committed_major u8, reserved u8
    1F0 launch_tcb u64      1F8 launch_mit_vector u64, 200 current_mit_vector u64 (version >= 5)
    2A0 signature: r [72], s [72] (little-endian), reserved [368]

TCB_VERSION on Milan and Genoa: byte 0 boot loader SPL, byte 1 TEE SPL, bytes 2-5 reserved,
byte 6 SNP SPL, byte 7 microcode SPL.  (Turin uses another layout; Turin is refused.)

``verify_sevsnp`` checks, in this order, and raises ``InvalidProof`` with the reason shown
at the first failure:

1. the report parses (``parse_report``): exactly 1184 bytes (``sevsnp_report_length``),
   version 2, 3 or 5 (``sevsnp_unsupported_version``), signature_algo 1 = ECDSA P-384 with
   SHA-384 (``sevsnp_unsupported_signature_algorithm``), signing_key VCEK or VLEK
   (``sevsnp_unsupported_signing_key``), and the unsigned signature area is exactly ``r``
   and ``s`` below 2^384 followed by zeros (``sevsnp_signature_malformed``), so that no
   byte of the report can change without the signature check noticing;
2. the key certificate (DER or PEM) and the chain (PEM: ASK or ASVK, then ARK) parse
   (``sevsnp_vcek_malformed``, ``sevsnp_chain_malformed``, ``sevsnp_chain_length``);
3. the chain's ARK is one of ``trusted_arks`` (``sevsnp_root_untrusted``);
4. the names are consistent: ARK ``ARK-<P>`` and ASK ``SEV-<P>`` or ASVK ``SEV-VLEK-<P>``
   (``sevsnp_product_mismatch``); a ``SEV-VCEK`` key certificate under an ASK, a
   ``SEV-VLEK`` one under an ASVK (``sevsnp_chain_kind_mismatch``); the key certificate's
   productName extension (1.3.6.1.4.1.3704.1.2), when present, is ``<P>-<stepping>``
   (``sevsnp_product_mismatch``); ``P`` is Milan or Genoa (``sevsnp_unsupported_product``);
5. key ← ASK ← ARK ← ARK signatures, RSA-PSS/SHA-384 only, issuer names, CA flags, and
   each certificate's validity at ``now`` (``sevsnp_cert_*``, see ``x509util``);
6. the key is an EC P-384 key (``sevsnp_vcek_key_type``); the report's signing_key field
   names the same kind of key as the certificate (``sevsnp_signing_key_mismatch``);
7. for a VCEK, the hwID extension (1.3.6.1.4.1.3704.1.4) equals ``chip_id``
   (``sevsnp_chip_id_masked`` if the report hides it, ``sevsnp_hwid_mismatch``);
8. ``reported_tcb``'s boot loader, TEE, SNP and microcode SPLs equal the certificate's
   blSPL (…3704.1.3.1), teeSPL (.3.2), snpSPL (.3.3) and ucodeSPL (.3.8) extensions
   (``sevsnp_tcb_mismatch``; ``sevsnp_vcek_missing_extension`` when one is absent);
9. the ECDSA P-384/SHA-384 signature over bytes [0, 0x2A0) verifies under the key
   (``sevsnp_report_signature``);
10. the policy (``check_policy``): VLEK allowed (``sevsnp_vlek_not_allowed``), vmpl at most
    ``max_vmpl`` (``sevsnp_vmpl_not_allowed``), guest policy bit 19 (DEBUG) clear unless
    allowed (``sevsnp_debug_not_allowed``), ``reported_tcb`` at least ``min_tcb``
    (``sevsnp_tcb_too_low``), ``measurement`` in the allowlist when one is given
    (``sevsnp_measurement_not_allowed``).

With ``revocation`` (inside blocks: what the chain's collateral store holds for the chain's
ARK, ``aicf.collateral``), between steps 5 and 6: the stored CRL is still current at ``now``
(its ``nextUpdate`` plus ``grace``; ``sevsnp_crl_expired``) and the ASK or ASVK is not among the
serials any CRL of that ARK has revoked (``sevsnp_cert_revoked``).  :func:`check_amd_crl` is
the check a CRL passes before it is stored: issued and signed by the ARK with AMD's RSA-PSS
parameters (``sevsnp_crl_issuer_mismatch``, ``sevsnp_crl_signature``), a ``nextUpdate``
(``sevsnp_crl_malformed``), no unknown critical extension (``sevsnp_crl_unsupported_extension``).

The binding of ``report_data`` to a task is the caller's check: the verdict exposes it.
Reserved bytes inside the signed region are not judged: the signature covers them.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chain.errors import InvalidProof
from proofs.tee.verdicts import EARLIEST, outside
from proofs.tee.x509util import (
    TAG_IA5_STRING,
    TAG_INTEGER,
    TAG_OCTET_STRING,
    TAG_UTF8_STRING,
    DerError,
    SignatureScheme,
    common_name,
    crl_signed_by,
    der_integer,
    der_single,
    ec_public_key,
    fail,
    jsonable,
    load_certificate,
    load_pem_certificates,
    load_trust_anchor,
    matches_trusted,
    raw_extension,
    require_aware,
    verify_chain,
    verify_raw_ecdsa,
)

PREFIX = "sevsnp"

REPORT_SIZE = 0x4A0
"""An ATTESTATION_REPORT is exactly 1184 bytes."""
SIGNED_SIZE = 0x2A0
"""The signature covers bytes [0, 0x2A0)."""
SIGNATURE_COMPONENT_SIZE = 72
"""r and s are each stored in 72 little-endian bytes; P-384 values use the low 48."""
SUPPORTED_VERSIONS = frozenset({2, 3, 5})
"""Report versions whose layout this module knows."""
SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1
POLICY_DEBUG_BIT = 19
SUPPORTED_PRODUCTS = frozenset({"Milan", "Genoa"})
"""Products whose TCB_VERSION layout is bl|tee|rsvd*4|snp|ucode."""

OID_PRODUCT_NAME = "1.3.6.1.4.1.3704.1.2"
OID_BL_SPL = "1.3.6.1.4.1.3704.1.3.1"
OID_TEE_SPL = "1.3.6.1.4.1.3704.1.3.2"
OID_SNP_SPL = "1.3.6.1.4.1.3704.1.3.3"
OID_UCODE_SPL = "1.3.6.1.4.1.3704.1.3.8"
OID_HWID = "1.3.6.1.4.1.3704.1.4"
_SPL_OIDS = (
    ("bootloader", OID_BL_SPL),
    ("tee", OID_TEE_SPL),
    ("snp", OID_SNP_SPL),
    ("microcode", OID_UCODE_SPL),
)
_CHIP_ID_SIZE = 64


class SigningKey(enum.Enum):
    """Which AMD key signed a report (flags bits 2-4)."""

    VCEK = "vcek"
    """Versioned Chip Endorsement Key: per chip and TCB, chained to the ASK."""
    VLEK = "vlek"
    """Versioned Loaded Endorsement Key: per cloud provider and TCB, chained to the ASVK."""


_SIGNING_KEY_CODES = {0: SigningKey.VCEK, 1: SigningKey.VLEK}


@dataclass(frozen=True, slots=True)
class TcbVersion:
    """A TCB_VERSION (Milan/Genoa layout): the security patch level of each component."""

    bootloader: int
    """Byte 0: SPL of the PSP boot loader."""
    tee: int
    """Byte 1: SPL of the PSP operating system."""
    snp: int
    """Byte 6: SPL of the SNP firmware."""
    microcode: int
    """Byte 7: lowest microcode patch level of all cores."""
    reserved: bytes = bytes(4)
    """Bytes 2-5, reserved on Milan and Genoa."""

    @classmethod
    def from_bytes(cls, raw: bytes) -> TcbVersion:
        """Decode the 8 little-endian bytes of a TCB_VERSION."""
        if len(raw) != 8:
            raise ValueError("TCB_VERSION is 8 bytes")
        return cls(bootloader=raw[0], tee=raw[1], snp=raw[6], microcode=raw[7], reserved=bytes(raw[2:6]))

    def components(self) -> dict[str, int]:
        """The four security patch levels by name."""
        return {"bootloader": self.bootloader, "tee": self.tee, "snp": self.snp, "microcode": self.microcode}

    def at_least(self, other: TcbVersion) -> bool:
        """True when every component is at least ``other``'s."""
        mine = self.components()
        return all(mine[k] >= v for k, v in other.components().items())


@dataclass(frozen=True, slots=True)
class SevSnpReport:
    """Every field of an ATTESTATION_REPORT, decoded; ``raw`` keeps the exact bytes."""

    version: int
    guest_svn: int
    policy: int
    """Guest policy set at launch; bit 19 allows debugging."""
    family_id: bytes
    image_id: bytes
    vmpl: int
    """The VM privilege level that requested the report (0 is the most privileged)."""
    signature_algo: int
    current_tcb: TcbVersion
    platform_info: int
    flags: int
    """Bit 0 author_key_en, bit 1 mask_chip_key, bits 2-4 signing_key."""
    report_data: bytes
    """64 bytes chosen by the guest: the caller binds its task here."""
    measurement: bytes
    """48-byte launch digest of the guest."""
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: TcbVersion
    """The TCB the VCEK/VLEK was derived for; compared with the certificate."""
    cpuid_fam_id: int | None
    """Report version 3 and later; None before."""
    cpuid_mod_id: int | None
    cpuid_step: int | None
    chip_id: bytes
    committed_tcb: TcbVersion
    current_build: int
    current_minor: int
    current_major: int
    committed_build: int
    committed_minor: int
    committed_major: int
    launch_tcb: TcbVersion
    launch_mit_vector: int | None
    """Report version 5 and later; None before."""
    current_mit_vector: int | None
    signature_r: int
    signature_s: int
    raw: bytes = field(repr=False, metadata={"json": False})

    @property
    def author_key_en(self) -> bool:
        """Flags bit 0: the launch's ID block was signed by an author key."""
        return bool(self.flags & 1)

    @property
    def mask_chip_key(self) -> bool:
        """Flags bit 1: the guest asked for ``chip_id`` to be zeroed."""
        return bool(self.flags & 2)

    @property
    def signing_key(self) -> SigningKey:
        """Flags bits 2-4: which kind of AMD key signed the report."""
        return _SIGNING_KEY_CODES[(self.flags >> 2) & 7]

    @property
    def debug(self) -> bool:
        """Guest policy bit 19: the hypervisor may debug (read and write) the guest."""
        return bool(self.policy >> POLICY_DEBUG_BIT & 1)

    @property
    def signed_bytes(self) -> bytes:
        """Bytes [0, 0x2A0): what the signature covers."""
        return self.raw[:SIGNED_SIZE]

    def to_json(self) -> dict[str, Any]:
        """Every parsed field, bytes as hex, plus the decoded flag and policy bits."""
        out: dict[str, Any] = jsonable(self)
        # 64-bit and larger integers as hex, so JSON readers with 53-bit numbers keep them.
        for name in ("policy", "platform_info", "launch_mit_vector", "current_mit_vector"):
            value = getattr(self, name)
            out[name] = None if value is None else f"0x{value:016x}"
        out["signature_r"] = f"{self.signature_r:096x}"
        out["signature_s"] = f"{self.signature_s:096x}"
        out["author_key_en"] = self.author_key_en
        out["mask_chip_key"] = self.mask_chip_key
        out["signing_key"] = self.signing_key.value
        out["debug"] = self.debug
        return out


@dataclass(frozen=True, slots=True)
class SevSnpPolicy:
    """What a verified report must also satisfy."""

    measurements: frozenset[bytes] | None = None
    """Allowed launch measurements (48 bytes each); None accepts any measurement."""
    max_vmpl: int = 0
    """Highest VMPL allowed to have requested the report."""
    allow_debug: bool = False
    """Accept guests launched with the DEBUG policy bit (bit 19)."""
    allow_vlek: bool = True
    """Accept reports signed by a cloud provider's VLEK instead of the chip's VCEK."""
    min_tcb: TcbVersion | None = None
    """Lowest acceptable ``reported_tcb``, per component; None accepts any."""


@dataclass(frozen=True, slots=True)
class AmdKeyCertificate:
    """The facts a verified VCEK or VLEK certificate vouches for."""

    kind: SigningKey
    product: str
    public_key: ec.EllipticCurvePublicKey = field(repr=False, metadata={"json": False})
    hwid: bytes | None
    """The chip id (VCEK only)."""
    tcb: TcbVersion
    """The SPLs from the certificate's extensions."""


@dataclass(frozen=True, slots=True)
class SevSnpVerdict:
    """A report that passed every check in the module docstring."""

    report: SevSnpReport
    product: str
    signing_key: SigningKey

    @property
    def report_data(self) -> bytes:
        """The 64 guest-chosen bytes the caller binds its task to."""
        return self.report.report_data

    @property
    def measurement(self) -> bytes:
        """The guest's 48-byte launch measurement."""
        return self.report.measurement

    def to_json(self) -> dict[str, Any]:
        """The verdict and every parsed field, JSON-ready (for ``--json`` output)."""
        return {
            "kind": "sev-snp",
            "valid": True,
            "product": self.product,
            "signing_key": self.signing_key.value,
            "report": self.report.to_json(),
        }


# --------------------------------------------------------------------------- parsing


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _u64(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<Q", data, offset)[0])


def _tcb(data: bytes, offset: int) -> TcbVersion:
    return TcbVersion.from_bytes(data[offset : offset + 8])


def parse_report(data: bytes) -> SevSnpReport:
    """Decode an ATTESTATION_REPORT; refuse what cannot be a well-formed one (step 1)."""
    raw = bytes(data)
    if len(raw) != REPORT_SIZE:
        fail(
            PREFIX,
            "report_length",
            f"report must be {REPORT_SIZE} bytes, got {len(raw)}",
            expected=REPORT_SIZE,
            got=len(raw),
        )
    version = _u32(raw, 0x00)
    if version not in SUPPORTED_VERSIONS:
        fail(PREFIX, "unsupported_version", f"unsupported report version {version}", version=version)
    signature_algo = _u32(raw, 0x34)
    if signature_algo != SIGNATURE_ALGO_ECDSA_P384_SHA384:
        fail(
            PREFIX,
            "unsupported_signature_algorithm",
            f"signature algorithm {signature_algo} is not ECDSA P-384/SHA-384",
            signature_algo=signature_algo,
        )
    flags = _u32(raw, 0x48)
    signing_key_code = (flags >> 2) & 7
    if signing_key_code not in _SIGNING_KEY_CODES:
        fail(
            PREFIX,
            "unsupported_signing_key",
            f"signing key field {signing_key_code} is not VCEK or VLEK",
            signing_key=signing_key_code,
        )
    sig = raw[SIGNED_SIZE:]
    r_bytes = sig[:SIGNATURE_COMPONENT_SIZE]
    s_bytes = sig[SIGNATURE_COMPONENT_SIZE : 2 * SIGNATURE_COMPONENT_SIZE]
    if any(r_bytes[48:]) or any(s_bytes[48:]) or any(sig[2 * SIGNATURE_COMPONENT_SIZE :]):
        fail(PREFIX, "signature_malformed", "nonzero bytes outside r and s in the signature area")
    has_cpuid = version >= 3
    has_mit = version >= 5
    return SevSnpReport(
        version=version,
        guest_svn=_u32(raw, 0x04),
        policy=_u64(raw, 0x08),
        family_id=raw[0x10:0x20],
        image_id=raw[0x20:0x30],
        vmpl=_u32(raw, 0x30),
        signature_algo=signature_algo,
        current_tcb=_tcb(raw, 0x38),
        platform_info=_u64(raw, 0x40),
        flags=flags,
        report_data=raw[0x50:0x90],
        measurement=raw[0x90:0xC0],
        host_data=raw[0xC0:0xE0],
        id_key_digest=raw[0xE0:0x110],
        author_key_digest=raw[0x110:0x140],
        report_id=raw[0x140:0x160],
        report_id_ma=raw[0x160:0x180],
        reported_tcb=_tcb(raw, 0x180),
        cpuid_fam_id=raw[0x188] if has_cpuid else None,
        cpuid_mod_id=raw[0x189] if has_cpuid else None,
        cpuid_step=raw[0x18A] if has_cpuid else None,
        chip_id=raw[0x1A0:0x1E0],
        committed_tcb=_tcb(raw, 0x1E0),
        current_build=raw[0x1E8],
        current_minor=raw[0x1E9],
        current_major=raw[0x1EA],
        committed_build=raw[0x1EC],
        committed_minor=raw[0x1ED],
        committed_major=raw[0x1EE],
        launch_tcb=_tcb(raw, 0x1F0),
        launch_mit_vector=_u64(raw, 0x1F8) if has_mit else None,
        current_mit_vector=_u64(raw, 0x200) if has_mit else None,
        signature_r=int.from_bytes(r_bytes, "little"),
        signature_s=int.from_bytes(s_bytes, "little"),
        raw=raw,
    )


# --------------------------------------------------------------------------- certificates


def _spl_extension(cert: x509.Certificate, oid: str, name: str) -> int:
    value = raw_extension(cert, oid)
    if value is None:
        fail(PREFIX, "vcek_missing_extension", f"key certificate lacks the {name} SPL extension", oid=oid)
    try:
        tag, content = der_single(value)
        if tag != TAG_INTEGER:
            raise DerError("SPL is not an INTEGER")
        spl = der_integer(content)
    except DerError as exc:
        fail(PREFIX, "vcek_malformed_extension", f"{name} SPL extension: {exc}", oid=oid)
    if spl > 0xFF:
        fail(PREFIX, "vcek_malformed_extension", f"{name} SPL {spl} does not fit a byte", oid=oid)
    return spl


def _hwid_extension(cert: x509.Certificate) -> bytes | None:
    value = raw_extension(cert, OID_HWID)
    if value is None:
        return None
    if len(value) == _CHIP_ID_SIZE:  # the 64 raw bytes, as in the go-sev-guest Milan VCEK
        return value
    try:  # also accept the same 64 bytes wrapped in a DER OCTET STRING
        tag, content = der_single(value)
    except DerError:
        tag, content = -1, b""
    if tag != TAG_OCTET_STRING or len(content) != _CHIP_ID_SIZE:
        fail(PREFIX, "vcek_malformed_extension", "hwID extension is not 64 bytes", oid=OID_HWID)
    return content


def _product_name_extension(cert: x509.Certificate) -> str | None:
    value = raw_extension(cert, OID_PRODUCT_NAME)
    if value is None:
        return None
    try:
        tag, content = der_single(value)
        if tag not in (TAG_IA5_STRING, TAG_UTF8_STRING):
            raise DerError("productName is not a string")
        return content.decode("ascii")
    except (DerError, UnicodeDecodeError) as exc:
        fail(PREFIX, "vcek_malformed_extension", f"productName extension: {exc}", oid=OID_PRODUCT_NAME)


def _chain_product(ask: x509.Certificate, ark: x509.Certificate) -> tuple[str, SigningKey]:
    ark_cn = common_name(ark.subject) or ""
    ask_cn = common_name(ask.subject) or ""
    if not ark_cn.startswith("ARK-"):
        fail(PREFIX, "product_mismatch", f"root common name {ark_cn!r} is not ARK-<product>")
    product = ark_cn[len("ARK-") :]
    if ask_cn == f"SEV-{product}":
        return product, SigningKey.VCEK
    if ask_cn == f"SEV-VLEK-{product}":
        return product, SigningKey.VLEK
    fail(
        PREFIX,
        "product_mismatch",
        f"intermediate {ask_cn!r} does not belong to ARK-{product}",
        ark=ark_cn,
        ask=ask_cn,
    )


def verify_key_certificate(
    key_cert: x509.Certificate,
    ask: x509.Certificate,
    ark: x509.Certificate,
    *,
    trusted_arks: Sequence[x509.Certificate],
    now: datetime,
) -> AmdKeyCertificate:
    """Steps 3-6 and the extension parsing: the VCEK/VLEK's chain to a trusted ARK."""
    require_aware(now)
    if not matches_trusted(ark, trusted_arks):
        # Checked before the names, so an unknown root is always reported as untrusted.
        fail(
            PREFIX,
            "root_untrusted",
            "the chain's ARK is not a trusted root",
            subject=ark.subject.rfc4514_string(),
        )
    product, chain_kind = _chain_product(ask, ark)
    leaf_cn = common_name(key_cert.subject) or ""
    expected_leaf_cn = "SEV-VCEK" if chain_kind is SigningKey.VCEK else "SEV-VLEK"
    if leaf_cn != expected_leaf_cn:
        fail(
            PREFIX,
            "chain_kind_mismatch",
            f"key certificate {leaf_cn!r} cannot hang under {common_name(ask.subject)!r}",
            key_subject=leaf_cn,
            expected=expected_leaf_cn,
        )
    product_name = _product_name_extension(key_cert)
    if product_name is not None and product_name.split("-", 1)[0] != product:
        fail(
            PREFIX,
            "product_mismatch",
            f"key certificate for {product_name} does not belong to the {product} chain",
            product=product,
            product_name=product_name,
        )
    if product not in SUPPORTED_PRODUCTS:
        fail(PREFIX, "unsupported_product", f"product {product} is not supported", product=product)
    names = [
        "vcek" if chain_kind is SigningKey.VCEK else "vlek",
        "ask" if chain_kind is SigningKey.VCEK else "asvk",
        "ark",
    ]
    verify_chain(
        [key_cert, ask, ark],
        names,
        trusted=trusted_arks,
        now=now,
        scheme=SignatureScheme.RSA_PSS_SHA384,
        prefix=PREFIX,
    )
    public_key = ec_public_key(key_cert, ec.SECP384R1, prefix=PREFIX, reason="vcek_key_type",
                               what="key certificate")
    spls = {name: _spl_extension(key_cert, oid, name) for name, oid in _SPL_OIDS}
    return AmdKeyCertificate(
        kind=chain_kind,
        product=product,
        public_key=public_key,
        hwid=_hwid_extension(key_cert) if chain_kind is SigningKey.VCEK else None,
        tcb=TcbVersion(
            bootloader=spls["bootloader"], tee=spls["tee"], snp=spls["snp"], microcode=spls["microcode"]
        ),
    )


def check_report_binding(report: SevSnpReport, key: AmdKeyCertificate) -> None:
    """Steps 6-8: the report names the certificate's kind of key, chip and TCB."""
    if report.signing_key is not key.kind:
        fail(
            PREFIX,
            "signing_key_mismatch",
            f"report says {report.signing_key.value}, certificate is a {key.kind.value}",
            report=report.signing_key.value,
            certificate=key.kind.value,
        )
    if key.kind is SigningKey.VCEK:
        if key.hwid is None:
            fail(PREFIX, "vcek_missing_extension", "VCEK lacks the hwID extension", oid=OID_HWID)
        if report.mask_chip_key or not any(report.chip_id):
            fail(PREFIX, "chip_id_masked", "report hides chip_id, so it cannot be bound to the VCEK")
        if report.chip_id != key.hwid:
            fail(
                PREFIX,
                "hwid_mismatch",
                "chip_id differs from the VCEK's hwID",
                chip_id=report.chip_id.hex(),
                hwid=key.hwid.hex(),
            )
    mine = report.reported_tcb.components()
    theirs = key.tcb.components()
    if mine != theirs:
        fail(
            PREFIX,
            "tcb_mismatch",
            "reported_tcb differs from the certificate's SPLs",
            reported_tcb=mine,
            certificate_tcb=theirs,
        )


def verify_report_signature(report: SevSnpReport, key: ec.EllipticCurvePublicKey) -> None:
    """Step 9: ECDSA P-384/SHA-384 over bytes [0, 0x2A0)."""
    if not verify_raw_ecdsa(
        key, (report.signature_r, report.signature_s), report.signed_bytes, hashes.SHA384()
    ):
        fail(PREFIX, "report_signature", "report signature does not verify under the key certificate")


def check_policy(report: SevSnpReport, policy: SevSnpPolicy) -> None:
    """Step 10: the caller's policy."""
    if report.signing_key is SigningKey.VLEK and not policy.allow_vlek:
        fail(PREFIX, "vlek_not_allowed", "report is signed by a VLEK and the policy wants a VCEK")
    if report.vmpl > policy.max_vmpl:
        fail(
            PREFIX,
            "vmpl_not_allowed",
            f"vmpl {report.vmpl} above {policy.max_vmpl}",
            vmpl=report.vmpl,
            max_vmpl=policy.max_vmpl,
        )
    if report.debug and not policy.allow_debug:
        fail(PREFIX, "debug_not_allowed", "guest policy allows debugging (bit 19)", policy=hex(report.policy))
    if policy.min_tcb is not None and not report.reported_tcb.at_least(policy.min_tcb):
        fail(
            PREFIX,
            "tcb_too_low",
            "reported_tcb below the policy minimum",
            reported_tcb=report.reported_tcb.components(),
            min_tcb=policy.min_tcb.components(),
        )
    if policy.measurements is not None and report.measurement not in policy.measurements:
        fail(
            PREFIX,
            "measurement_not_allowed",
            "measurement not in the allowlist",
            measurement=report.measurement.hex(),
        )


def load_chain(
    vcek_der_or_pem: bytes, chain_pem: bytes
) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    """Step 2: ``(key certificate, ASK or ASVK, ARK)``."""
    key_cert = load_certificate(vcek_der_or_pem, prefix=PREFIX, what="vcek_malformed")
    chain = load_pem_certificates(chain_pem, prefix=PREFIX, what="chain_malformed")
    if len(chain) != 2:
        fail(
            PREFIX,
            "chain_length",
            f"chain must be ASK then ARK, got {len(chain)} certificates",
            count=len(chain),
        )
    return key_cert, chain[0], chain[1]


MAX_REVOKED = 4096
"""Most revoked serials a stored revocation document lists."""


@dataclass(frozen=True, slots=True)
class AmdRevocation:
    """What the chain knows about one ARK's revocations: every ASK/ASVK serial a CRL of that
    ARK has listed (revocation is permanent, so the set only grows) and when the latest CRL
    is due (``nextUpdate``)."""

    revoked: frozenset[int]
    next_update: datetime

    def document(self, crl_der: bytes, crl_number: int) -> bytes:
        """The stored form: canonical JSON ``{"crl", "crl_number", "next_update", "revoked"}``."""
        return json.dumps({"crl": crl_der.hex(), "crl_number": crl_number,
                           "next_update": self.next_update.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "revoked": [format(n, "x") for n in sorted(self.revoked)]},
                          sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_document(cls, data: bytes) -> AmdRevocation:
        """Inverse of :meth:`document` (``sevsnp_crl_malformed`` for anything else)."""
        try:
            doc = json.loads(data)
            revoked = frozenset(int(v, 16) for v in doc["revoked"])
            when = datetime.strptime(doc["next_update"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError) as exc:
            fail(PREFIX, "crl_malformed", f"stored revocation document: {exc}")
        if len(revoked) > MAX_REVOKED:
            fail(PREFIX, "crl_malformed", f"more than {MAX_REVOKED} revoked serials")
        return cls(revoked=revoked, next_update=when)


def check_amd_crl(crl: x509.CertificateRevocationList, ark: x509.Certificate) -> datetime:
    """``crl`` is issued and signed by ``ark`` (module docstring); returns its ``nextUpdate``."""
    if crl.issuer != ark.subject:
        fail(PREFIX, "crl_issuer_mismatch", f"the CRL is not issued by {ark.subject.rfc4514_string()}")
    if not crl_signed_by(crl, ark, SignatureScheme.RSA_PSS_SHA384):
        fail(PREFIX, "crl_signature", "the CRL's signature does not verify under the ARK with AMD's RSA-PSS")
    for ext in crl.extensions:
        if ext.critical:
            fail(PREFIX, "crl_unsupported_extension", f"the CRL has a critical extension {ext.oid.dotted_string}")
    if crl.next_update_utc is None:
        fail(PREFIX, "crl_malformed", "the CRL has no nextUpdate")
    return crl.next_update_utc


def check_revocation(ask: x509.Certificate, revocation: AmdRevocation, now: datetime, grace: timedelta) -> None:
    """The stored CRL is current and does not list the ASK/ASVK (module docstring)."""
    if outside(now, EARLIEST, revocation.next_update + grace) == "late":
        fail(PREFIX, "crl_expired", f"the ARK's CRL was due at {revocation.next_update.isoformat()}")
    if ask.serial_number in revocation.revoked:
        fail(PREFIX, "cert_revoked", f"{common_name(ask.subject)} (serial {ask.serial_number:x}) is revoked")


def verify_sevsnp(
    report: bytes,
    vcek_der_or_pem: bytes,
    chain_pem: bytes,
    *,
    trusted_arks: Sequence[bytes],
    now: datetime,
    policy: SevSnpPolicy,
    revocation: AmdRevocation | None = None,
    grace: timedelta = timedelta(0),
) -> SevSnpVerdict:
    """Verify an SEV-SNP report end to end (module docstring, steps 1-10).

    ``chain_pem`` is the ASK (or ASVK for VLEK reports) followed by the ARK, as AMD's KDS
    serves it; ``trusted_arks`` are the ARK certificates from genesis (DER or one PEM block
    each).  ``now`` must be timezone-aware.  Raises ``InvalidProof`` for anything wrong with
    the evidence and ``ValueError`` for a naive ``now`` or a malformed trusted ARK.
    """
    require_aware(now)
    anchors = [load_trust_anchor(a) for a in trusted_arks]
    parsed = parse_report(report)
    key_cert, ask, ark = load_chain(vcek_der_or_pem, chain_pem)
    key = verify_key_certificate(key_cert, ask, ark, trusted_arks=anchors, now=now)
    if revocation is not None:
        check_revocation(ask, revocation, now, grace)
    check_report_binding(parsed, key)
    verify_report_signature(parsed, key.public_key)
    check_policy(parsed, policy)
    return SevSnpVerdict(report=parsed, product=key.product, signing_key=key.kind)


__all__ = [
    "REPORT_SIZE",
    "AmdKeyCertificate",
    "AmdRevocation",
    "InvalidProof",
    "SevSnpPolicy",
    "SevSnpReport",
    "SevSnpVerdict",
    "SigningKey",
    "TcbVersion",
    "check_amd_crl",
    "check_policy",
    "check_report_binding",
    "check_revocation",
    "load_chain",
    "parse_report",
    "verify_key_certificate",
    "verify_report_signature",
    "verify_sevsnp",
]
