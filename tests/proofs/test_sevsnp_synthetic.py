"""AMD SEV-SNP end to end on synthetic evidence: VLEK-signed and Genoa reports.

Real third-party VLEK-signed and Genoa reports are not in the repository, so this module
builds complete evidence the way AMD issues it, with throwaway keys (RSA 2048 instead of
AMD's RSA 4096 for the ARK, ASK and ASVK, to keep the module fast; EC P-384 for the VCEK and
VLEK), and checks it against ``verify_sevsnp`` with the test ARK as the only trusted root.

What is reproduced, with its source:

* the certificates (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface
  Specification", publication 57230, and AMD's VLEK certificate definition; checked against
  AMD's own ARK/ASK/ASVK in genesis/certs and the Milan VCEK in tests/vectors/tee/sev-snp):

  - names ``OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=...``
    with CN ``ARK-<P>`` (self-signed), ``SEV-<P>`` (ASK), ``SEV-VLEK-<P>`` (ASVK),
    ``SEV-VCEK`` and ``SEV-VLEK``;
  - RSASSA-PSS with SHA-384, MGF1-SHA-384 and salt 48 for every signature, in the DER form
    ``cryptography`` writes (no ``trailerField``, its DEFAULT), as AMD's newer certificates;
    and, re-signed with a hand-made AlgorithmIdentifier, in the form that writes
    ``trailerField 1`` out (AMD's Milan ASK and ARK);
  - the extensions of AMD's ARK, ASK and ASVK as in genesis/certs (basicConstraints CA,
    keyUsage keyCertSign, key identifiers, CRL distribution point), 25 years of validity for
    them and 7 years for the VCEK/VLEK, whose serial number is 0;
  - the VCEK/VLEK extensions under 1.3.6.1.4.1.3704.1: structVersion 0 (.1), productName
    IA5String ``<P>-<stepping>`` (.2), blSPL, teeSPL, snpSPL, spl_4..spl_7 and ucodeSPL
    INTEGERs (.3.1-.3.8), hwID (.4, the 64 raw chip-id bytes) on a VCEK only, and on a VLEK
    the CSP id IA5String (.5) instead of hwID;

* the report (AMD "SEV Secure Nested Paging Firmware ABI Specification", publication 56860,
  "ATTESTATION_REPORT Structure"): 1184 bytes, signature_algo 1, flags bits 2-4 signing_key
  (0 = VCEK, 1 = VLEK), reported_tcb equal to the key certificate's SPLs, cpuid fields from
  version 3, chip_id the chip's id for a VCEK and zeros for a VLEK (a VLEK is per cloud
  provider, not per chip, so nothing binds a chip id), the ECDSA signature's r and s as 72
  little-endian bytes each over bytes [0, 0x2A0).

Times: ``NOW = 2025-07-01T00:00:00Z`` lies inside every certificate's validity.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from chain.errors import InvalidProof
from proofs.tee.sevsnp import SevSnpPolicy, SevSnpVerdict, SigningKey, TcbVersion, verify_sevsnp
from proofs.tee.x509util import unsigned_signature_fields

NOW = datetime(2025, 7, 1, tzinfo=UTC)
CA_NOT_BEFORE = datetime(2022, 1, 26, 12, 0, 0, tzinfo=UTC)
KEY_NOT_BEFORE = datetime(2025, 1, 10, 8, 30, 0, tzinfo=UTC)

MEASUREMENT = bytes(range(48))
REPORT_DATA = b"cairn synthetic sev-snp".ljust(64, b"\x00")
POLICY = SevSnpPolicy(allow_vlek=True, measurements=frozenset({MEASUREMENT}))
NO_VLEK = replace(POLICY, allow_vlek=False)
GUEST_POLICY = 0x30000
"""Bits 16 (SMT allowed) and 17 (reserved, must be one); DEBUG (bit 19) clear."""

OID_AMD = "1.3.6.1.4.1.3704.1"
OID_HWID = f"{OID_AMD}.4"
OID_CSP_ID = f"{OID_AMD}.5"

VCEK_CODE = 0
VLEK_CODE = 1


# --------------------------------------------------------------------------- DER, by hand


def tlv(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite, minimal length)."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """``(tag, whole TLV, end)`` of the TLV at ``pos``."""
    first = data[pos + 1]
    head = 2
    length = first
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
        head += count
    end = pos + head + length
    return data[pos], data[pos:end], end


def children(tlv_bytes: bytes) -> list[bytes]:
    """The whole TLVs inside a constructed TLV."""
    _, _, end = read_tlv(tlv_bytes, 0)
    assert end == len(tlv_bytes)
    first = tlv_bytes[1]
    header = 2 + (first & 0x7F if first & 0x80 else 0)
    content = tlv_bytes[header:]
    out: list[bytes] = []
    pos = 0
    while pos < len(content):
        _, item, pos = read_tlv(content, pos)
        out.append(item)
    return out


def der_uint(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


SHA384_ID = tlv(0x30, bytes.fromhex("0609608648016503040202") + tlv(0x05, b""))


def pss_algorithm(*, salt: int = 48, trailer: bool = False) -> bytes:
    """RSASSA-PSS AlgorithmIdentifier (RFC 4055 §3.1): SHA-384, MGF1-SHA-384, ``salt``."""
    mgf1 = tlv(0x30, bytes.fromhex("06092a864886f70d010108") + SHA384_ID)
    params = tlv(0xA0, SHA384_ID) + tlv(0xA1, mgf1) + tlv(0xA2, der_uint(salt))
    if trailer:
        params += tlv(0xA3, der_uint(1))
    return tlv(0x30, bytes.fromhex("06092a864886f70d01010a") + tlv(0x30, params))


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def pem(cert_der: bytes) -> bytes:
    body = base64.b64encode(cert_der)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def resign(
    cert_der: bytes,
    signer: rsa.RSAPrivateKey,
    *,
    trailer: bool,
    serial: int | None = None,
    declared_salt: int = 48,
    salt: int = 48,
) -> bytes:
    """``cert_der`` with a hand-written signature AlgorithmIdentifier (both copies), optionally
    another serial number, signed again by ``signer`` with PSS salt ``salt``."""
    tbs, _, _ = children(cert_der)
    items = children(tbs)
    assert items[0][0] == 0xA0  # [0] version v3
    algorithm = pss_algorithm(salt=declared_salt, trailer=trailer)
    items[2] = algorithm
    if serial is not None:
        items[1] = der_uint(serial)
    new_tbs = tlv(0x30, b"".join(items))
    signature = signer.sign(
        new_tbs, padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=salt), hashes.SHA384()
    )
    return tlv(0x30, new_tbs + algorithm + tlv(0x03, b"\x00" + signature))


# --------------------------------------------------------------------------- certificates


def amd_name(cn: str) -> x509.Name:
    """The subject/issuer names AMD writes on every SEV certificate."""
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Advanced Micro Devices"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def pss_sign(builder: x509.CertificateBuilder, signer: rsa.RSAPrivateKey, salt: int = 48) -> x509.Certificate:
    return builder.sign(
        signer, hashes.SHA384(), rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=salt)
    )


def ca_certificate(
    cn: str, issuer_cn: str, key: rsa.RSAPrivateKey, signer: rsa.RSAPrivateKey, *, salt: int = 48
) -> x509.Certificate:
    """An ARK (``cn == issuer_cn``), ASK or ASVK with the extensions of AMD's own (genesis/certs).

    ARK: keyUsage keyCertSign+cRLSign, SKI, basicConstraints CA, the product's VCEK CRL URL.
    ASK/ASVK: SKI, AKI, basicConstraints CA with pathLen 0, keyUsage keyCertSign, CRL URL
    (``vlek/v1`` for the ASVK).
    """
    product = issuer_cn.removeprefix("ARK-")
    root = cn == issuer_cn
    base = {"Milan": 0x10000, "Genoa": 0x20000}[product]
    serial = base if root else base + (0x101 if cn.startswith("SEV-VLEK-") else 2)
    crl_kind = "vlek" if cn.startswith("SEV-VLEK-") else "vcek"
    crl = x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(f"https://kdsintf.amd.com/{crl_kind}/v1/{product}/crl")],
        relative_name=None, reasons=None, crl_issuer=None,
    )])
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=root,
        encipher_only=False, decipher_only=False,
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(amd_name(cn))
        .issuer_name(amd_name(issuer_cn))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(CA_NOT_BEFORE)
        .not_valid_after(CA_NOT_BEFORE.replace(year=CA_NOT_BEFORE.year + 25))
    )
    if root:
        builder = (builder.add_extension(usage, critical=True).add_extension(ski, critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())
        builder = (builder.add_extension(ski, critical=False).add_extension(aki, critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(usage, critical=True))
    return pss_sign(builder.add_extension(crl, critical=False), signer, salt)


@dataclass(frozen=True)
class Tcb:
    bootloader: int
    tee: int
    snp: int
    microcode: int

    def raw(self) -> bytes:
        """TCB_VERSION on Milan and Genoa: bl, tee, 4 reserved, snp, ucode."""
        return bytes([self.bootloader, self.tee, 0, 0, 0, 0, self.snp, self.microcode])


MILAN_TCB = Tcb(bootloader=3, tee=0, snp=8, microcode=115)
GENOA_TCB = Tcb(bootloader=7, tee=0, snp=14, microcode=72)
STEPPING = {"Milan": "B0", "Genoa": "B1"}
CPUID = {"Milan": (0x19, 0x01, 0x01), "Genoa": (0x19, 0x11, 0x01)}
TCB = {"Milan": MILAN_TCB, "Genoa": GENOA_TCB}


def ia5(text: str) -> bytes:
    return tlv(0x16, text.encode("ascii"))


def key_certificate(
    kind: SigningKey,
    product: str,
    key: ec.EllipticCurvePrivateKey,
    signer: rsa.RSAPrivateKey,
    *,
    tcb: Tcb,
    chip_id: bytes | None,
    hwid: bool = True,
    product_name: str | None = None,
    salt: int = 48,
) -> x509.Certificate:
    """A VCEK (``SEV-VCEK`` under ``SEV-<P>``) or VLEK (``SEV-VLEK`` under ``SEV-VLEK-<P>``)."""
    vcek = kind is SigningKey.VCEK
    # In the order of AMD's Milan VCEK (tests/vectors/tee/sev-snp/milan_go-sev-guest/vcek.der).
    amd: list[tuple[str, bytes]] = [
        (f"{OID_AMD}.1", der_uint(0)),  # structVersion 0: the Milan/Genoa TCB layout
        (f"{OID_AMD}.2", ia5(product_name or f"{product}-{STEPPING[product]}")),
        (f"{OID_AMD}.3.1", der_uint(tcb.bootloader)),
        (f"{OID_AMD}.3.2", der_uint(tcb.tee)),
        (f"{OID_AMD}.3.4", der_uint(0)),
        (f"{OID_AMD}.3.5", der_uint(0)),
        (f"{OID_AMD}.3.6", der_uint(0)),
        (f"{OID_AMD}.3.7", der_uint(0)),
        (f"{OID_AMD}.3.3", der_uint(tcb.snp)),
        (f"{OID_AMD}.3.8", der_uint(tcb.microcode)),
    ]
    if vcek and hwid:
        assert chip_id is not None
        amd.append((OID_HWID, chip_id))  # the 64 raw bytes, as AMD's KDS writes them
    if not vcek:
        amd.append((OID_CSP_ID, ia5("Cairn Test Cloud")))
    builder = (
        x509.CertificateBuilder()
        .subject_name(amd_name("SEV-VCEK" if vcek else "SEV-VLEK"))
        .issuer_name(amd_name(f"SEV-{product}" if vcek else f"SEV-VLEK-{product}"))
        .public_key(key.public_key())
        .serial_number(1)  # set to AMD's 0 by ``resign``: the builder refuses serial 0
        .not_valid_before(KEY_NOT_BEFORE)
        .not_valid_after(KEY_NOT_BEFORE + timedelta(days=7 * 365))
    )
    for oid, value in amd:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False
        )
    return pss_sign(builder, signer, salt)


# --------------------------------------------------------------------------- reports


def attestation_report(
    key: ec.EllipticCurvePrivateKey,
    *,
    signing_key: int,
    tcb: Tcb,
    chip_id: bytes,
    product: str,
    version: int = 3,
    mask_chip_key: bool = False,
    guest_policy: int = GUEST_POLICY,
) -> bytes:
    """An ATTESTATION_REPORT (ABI spec 56860, table "ATTESTATION_REPORT Structure"), signed."""
    buf = bytearray(0x4A0)
    struct.pack_into("<IIQ", buf, 0x000, version, 1, guest_policy)
    buf[0x010:0x020] = b"family-id-cairn!"
    buf[0x020:0x030] = b"image-id-cairn!!"
    struct.pack_into("<II", buf, 0x030, 0, 1)  # vmpl 0, signature_algo 1 (ECDSA P-384/SHA-384)
    buf[0x038:0x040] = tcb.raw()  # current_tcb
    struct.pack_into("<Q", buf, 0x040, 0b11)  # platform_info: SMT enabled, TSME enabled
    struct.pack_into("<I", buf, 0x048, (signing_key << 2) | (0b10 if mask_chip_key else 0))
    buf[0x050:0x090] = REPORT_DATA
    buf[0x090:0x0C0] = MEASUREMENT
    buf[0x0C0:0x0E0] = bytes([0xAA]) * 32  # host_data
    buf[0x140:0x160] = bytes([0x42]) * 32  # report_id
    buf[0x160:0x180] = bytes([0xFF]) * 32  # report_id_ma: no migration agent
    buf[0x180:0x188] = tcb.raw()  # reported_tcb
    if version >= 3:
        buf[0x188:0x18B] = bytes(CPUID[product])
    buf[0x1A0:0x1E0] = chip_id
    buf[0x1E0:0x1E8] = tcb.raw()  # committed_tcb
    buf[0x1E8:0x1EB] = bytes([21, 55, 1])  # current build, minor, major
    buf[0x1EC:0x1EF] = bytes([21, 55, 1])  # committed build, minor, major
    buf[0x1F0:0x1F8] = tcb.raw()  # launch_tcb
    return sign_report(bytes(buf), key)


def sign_report(report: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """Replace the signature: r and s little-endian in 72 bytes each, then zeros."""
    signed = report[:0x2A0]
    r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA384())))
    sig = r.to_bytes(72, "little") + s.to_bytes(72, "little")
    return signed + sig + bytes(0x4A0 - 0x2A0 - len(sig))


# --------------------------------------------------------------------------- the test PKI


@dataclass(frozen=True)
class Pki:
    """One product's AMD hierarchy (test keys): ARK → ASK (VCEKs) and ARK → ASVK (VLEKs)."""

    product: str
    ark_key: rsa.RSAPrivateKey
    ask_key: rsa.RSAPrivateKey
    asvk_key: rsa.RSAPrivateKey
    ark: bytes
    ask: bytes
    asvk: bytes
    chip_id: bytes
    vcek_key: ec.EllipticCurvePrivateKey
    vlek_key: ec.EllipticCurvePrivateKey

    def chain(self, kind: SigningKey) -> bytes:
        return pem(self.ask if kind is SigningKey.VCEK else self.asvk) + pem(self.ark)

    def intermediate_key(self, kind: SigningKey) -> rsa.RSAPrivateKey:
        return self.ask_key if kind is SigningKey.VCEK else self.asvk_key

    def key(self, kind: SigningKey) -> ec.EllipticCurvePrivateKey:
        return self.vcek_key if kind is SigningKey.VCEK else self.vlek_key

    def key_cert(self, kind: SigningKey, *, trailer: bool = False, **options: object) -> bytes:
        """The VCEK/VLEK certificate, serial 0, re-signed with the chosen PSS encoding."""
        cert = key_certificate(
            kind, self.product, self.key(kind), self.intermediate_key(kind),
            tcb=TCB[self.product], chip_id=self.chip_id, **options,  # type: ignore[arg-type]
        )
        return resign(der(cert), self.intermediate_key(kind), trailer=trailer, serial=0)

    def report(self, kind: SigningKey, **options: object) -> bytes:
        vcek = kind is SigningKey.VCEK
        return attestation_report(
            self.key(kind),
            signing_key=VCEK_CODE if vcek else VLEK_CODE,
            tcb=TCB[self.product],
            chip_id=self.chip_id if vcek else bytes(64),
            product=self.product,
            **options,  # type: ignore[arg-type]
        )


def make_pki(product: str) -> Pki:
    ark_key, ask_key, asvk_key = (rsa.generate_private_key(65537, 2048) for _ in range(3))
    ark = ca_certificate(f"ARK-{product}", f"ARK-{product}", ark_key, ark_key)
    ask = ca_certificate(f"SEV-{product}", f"ARK-{product}", ask_key, ark_key)
    asvk = ca_certificate(f"SEV-VLEK-{product}", f"ARK-{product}", asvk_key, ark_key)
    return Pki(
        product=product, ark_key=ark_key, ask_key=ask_key, asvk_key=asvk_key,
        ark=der(ark), ask=der(ask), asvk=der(asvk),
        chip_id=bytes((i * 7 + len(product)) & 0xFF for i in range(64)),
        vcek_key=ec.generate_private_key(ec.SECP384R1()),
        vlek_key=ec.generate_private_key(ec.SECP384R1()),
    )


@pytest.fixture(scope="module")
def pkis() -> dict[str, Pki]:
    return {product: make_pki(product) for product in ("Milan", "Genoa")}


@pytest.fixture(scope="module")
def milan(pkis: dict[str, Pki]) -> Pki:
    return pkis["Milan"]


def verify(
    pki: Pki,
    report: bytes,
    key_cert: bytes,
    chain: bytes,
    *,
    policy: SevSnpPolicy = POLICY,
    arks: tuple[bytes, ...] | None = None,
) -> SevSnpVerdict:
    return verify_sevsnp(
        report, key_cert, chain, trusted_arks=arks or (pki.ark,), now=NOW, policy=policy
    )


def refusal(pki: Pki, report: bytes, key_cert: bytes, chain: bytes, **kw: object) -> InvalidProof:
    with pytest.raises(InvalidProof) as exc:
        verify(pki, report, key_cert, chain, **kw)  # type: ignore[arg-type]
    return exc.value


def reason(pki: Pki, report: bytes, key_cert: bytes, chain: bytes, **kw: object) -> str:
    return refusal(pki, report, key_cert, chain, **kw).reason


KINDS = [SigningKey.VLEK, SigningKey.VCEK]
PRODUCTS = ["Milan", "Genoa"]


# --------------------------------------------------------------------------- the builder itself


def test_the_generated_certificates_use_the_der_form_without_trailer(pkis: dict[str, Pki]) -> None:
    for pki in pkis.values():
        for cert_der in (pki.ark, pki.ask, pki.asvk):
            cert = x509.load_der_x509_certificate(cert_der)
            outer, inner, _ = unsigned_signature_fields(cert)
            assert outer == inner == pss_algorithm(trailer=False)
        ark = x509.load_der_x509_certificate(pki.ark)
        ark.verify_directly_issued_by(ark)  # the library agrees with the hand-written DER
        for inter in (pki.ask, pki.asvk):
            x509.load_der_x509_certificate(inter).verify_directly_issued_by(ark)


def test_resigning_writes_the_trailer_and_the_library_accepts_it(milan: Pki) -> None:
    ark = x509.load_der_x509_certificate(resign(milan.ark, milan.ark_key, trailer=True))
    outer, inner, _ = unsigned_signature_fields(ark)
    assert outer == inner == pss_algorithm(trailer=True) != pss_algorithm(trailer=False)
    ark.verify_directly_issued_by(ark)
    # ``resign`` without the trailer reproduces cryptography's encoding byte for byte.
    assert unsigned_signature_fields(
        x509.load_der_x509_certificate(resign(milan.ark, milan.ark_key, trailer=False))
    )[0] == pss_algorithm(trailer=False)


# --------------------------------------------------------------------------- accepted evidence


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("kind", KINDS)
def test_synthetic_evidence_verifies(pkis: dict[str, Pki], product: str, kind: SigningKey) -> None:
    """1 (VLEK, ASVK → ARK, chip_id zeros, no hwID) and 2 (Genoa VCEK and chain)."""
    pki = pkis[product]
    verdict = verify(pki, pki.report(kind), pki.key_cert(kind), pki.chain(kind))
    assert verdict.product == product
    assert verdict.signing_key is kind
    assert verdict.report_data == REPORT_DATA
    assert verdict.measurement == MEASUREMENT
    assert verdict.report.reported_tcb == TcbVersion.from_bytes(TCB[product].raw())
    report = verdict.report
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == CPUID[product]
    if kind is SigningKey.VLEK:
        assert verdict.report.chip_id == bytes(64)
    else:
        assert verdict.report.chip_id == pki.chip_id
    assert verdict.to_json()["signing_key"] == kind.value


def test_vlek_certificate_has_no_hwid(milan: Pki) -> None:
    # Serial 5 instead of AMD's 0 only so that loading it here raises no deprecation warning.
    cert = x509.load_der_x509_certificate(resign(milan.key_cert(SigningKey.VLEK), milan.asvk_key,
                                                 trailer=False, serial=5))
    oids = {ext.oid.dotted_string for ext in cert.extensions}
    assert OID_HWID not in oids and OID_CSP_ID in oids


@pytest.mark.parametrize("version", [2, 3, 5])
def test_report_versions_verify(milan: Pki, version: int) -> None:
    report = milan.report(SigningKey.VLEK, version=version)
    verdict = verify(milan, report, milan.key_cert(SigningKey.VLEK), milan.chain(SigningKey.VLEK))
    assert verdict.report.version == version


def test_genoa_product_name_without_stepping_verifies(pkis: dict[str, Pki]) -> None:
    genoa = pkis["Genoa"]
    key_cert = genoa.key_cert(SigningKey.VCEK, product_name="Genoa")
    verify(genoa, genoa.report(SigningKey.VCEK), key_cert, genoa.chain(SigningKey.VCEK))


def _trailer_chain(pki: Pki, kind: SigningKey, *, trailer_on: frozenset[str]) -> tuple[bytes, bytes, bytes]:
    """``(key cert, chain PEM, ARK)`` with ``trailerField 1`` written on the named certificates."""
    inter = pki.ask if kind is SigningKey.VCEK else pki.asvk
    ark = resign(pki.ark, pki.ark_key, trailer="ark" in trailer_on)
    inter = resign(inter, pki.ark_key, trailer="inter" in trailer_on)
    key_cert = pki.key_cert(kind, trailer="key" in trailer_on)
    return key_cert, pem(inter) + pem(ark), ark


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("trailer_on", [
    frozenset({"ark", "inter", "key"}),  # every certificate writes trailerField 1 out
    frozenset({"ark", "inter"}),  # as AMD serves Milan: old ASK/ARK, new key certificate
    frozenset({"key"}),
])
def test_trailer_field_written_out_also_verifies(
    pkis: dict[str, Pki], product: str, kind: SigningKey, trailer_on: frozenset[str]
) -> None:
    """3: the same evidence with the DEFAULT trailerField encoded explicitly."""
    pki = pkis[product]
    key_cert, chain, ark = _trailer_chain(pki, kind, trailer_on=trailer_on)
    for name, cert_der in (("key", key_cert), ("ark", ark)):
        assert (pss_algorithm(trailer=True) in cert_der) is (name in trailer_on)
    verdict = verify(pki, pki.report(kind), key_cert, chain, arks=(ark,))
    assert verdict.signing_key is kind and verdict.product == product


def test_trailer_form_ark_is_not_the_trusted_der_form(milan: Pki) -> None:
    """Re-encoding the ARK changes its bytes; it is still trusted only as the same key and name."""
    key_cert, chain, ark = _trailer_chain(milan, SigningKey.VLEK, trailer_on=frozenset({"ark", "inter", "key"}))
    assert ark != milan.ark
    verify(milan, milan.report(SigningKey.VLEK), key_cert, chain, arks=(milan.ark,))


# --------------------------------------------------------------------------- refused evidence


def test_vlek_refused_when_the_policy_wants_a_vcek(milan: Pki) -> None:
    kind = SigningKey.VLEK
    assert reason(milan, milan.report(kind), milan.key_cert(kind), milan.chain(kind),
                  policy=NO_VLEK) == "sevsnp_vlek_not_allowed"
    # The VCEK path is unaffected by the policy switch.
    verify(milan, milan.report(SigningKey.VCEK), milan.key_cert(SigningKey.VCEK),
           milan.chain(SigningKey.VCEK), policy=NO_VLEK)


@pytest.mark.parametrize("product", PRODUCTS)
def test_vcek_without_hwid_is_refused(pkis: dict[str, Pki], product: str) -> None:
    pki = pkis[product]
    kind = SigningKey.VCEK
    key_cert = pki.key_cert(kind, hwid=False)
    exc = refusal(pki, pki.report(kind), key_cert, pki.chain(kind))
    assert exc.reason == "sevsnp_vcek_missing_extension"
    assert exc.details["oid"] == OID_HWID


def test_vcek_report_with_zero_chip_id_is_refused(milan: Pki) -> None:
    """A VCEK report must name its chip: zero (or masked) chip_id cannot be bound to hwID."""
    kind = SigningKey.VCEK
    report = attestation_report(milan.vcek_key, signing_key=VCEK_CODE, tcb=MILAN_TCB,
                                chip_id=bytes(64), product="Milan")
    assert reason(milan, report, milan.key_cert(kind), milan.chain(kind)) == "sevsnp_chip_id_masked"
    masked = milan.report(kind, mask_chip_key=True)  # chip_id present, MASK_CHIP_KEY set
    assert reason(milan, masked, milan.key_cert(kind), milan.chain(kind)) == "sevsnp_chip_id_masked"
    other = attestation_report(milan.vcek_key, signing_key=VCEK_CODE, tcb=MILAN_TCB,
                               chip_id=bytes([1]) * 64, product="Milan")
    assert reason(milan, other, milan.key_cert(kind), milan.chain(kind)) == "sevsnp_hwid_mismatch"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("which", ["ark", "inter", "key"])
@pytest.mark.parametrize("declared", [True, False])
def test_salt_32_is_refused(milan: Pki, kind: SigningKey, which: str, declared: bool) -> None:
    """Salt 32 instead of 48, on any certificate: declared in the parameters (and used), or
    used while the parameters still say 48."""
    pki = milan
    inter = pki.ask if kind is SigningKey.VCEK else pki.asvk
    ark = pki.ark
    key_cert = pki.key_cert(kind)
    if declared:  # cryptography's own encoder, salt 32 in the parameters
        if which == "ark":
            ark = der(ca_certificate(f"ARK-{pki.product}", f"ARK-{pki.product}", pki.ark_key, pki.ark_key,
                                     salt=32))
        elif which == "inter":
            cn = f"SEV-{pki.product}" if kind is SigningKey.VCEK else f"SEV-VLEK-{pki.product}"
            inter = der(ca_certificate(cn, f"ARK-{pki.product}", pki.intermediate_key(kind), pki.ark_key,
                                       salt=32))
        else:
            key_cert = der(key_certificate(kind, pki.product, pki.key(kind), pki.intermediate_key(kind),
                                           tcb=MILAN_TCB, chip_id=pki.chip_id, salt=32))
            key_cert = resign(key_cert, pki.intermediate_key(kind), trailer=False, serial=0,
                              declared_salt=32, salt=32)
    elif which == "ark":
        ark = resign(ark, pki.ark_key, trailer=False, salt=32)
    elif which == "inter":
        inter = resign(inter, pki.ark_key, trailer=False, salt=32)
    else:
        key_cert = resign(key_cert, pki.intermediate_key(kind), trailer=False, serial=0, salt=32)
    exc = refusal(pki, pki.report(kind), key_cert, pem(inter) + pem(ark), arks=(ark,))
    assert exc.reason == "sevsnp_cert_signature"
    vcek = kind is SigningKey.VCEK
    assert exc.details["cert"] == {"ark": "ark", "inter": "ask" if vcek else "asvk",
                                   "key": "vcek" if vcek else "vlek"}[which]


@pytest.mark.parametrize("kind", KINDS)
def test_report_signed_by_another_key_is_refused(milan: Pki, kind: SigningKey) -> None:
    impostor = ec.generate_private_key(ec.SECP384R1())
    report = sign_report(milan.report(kind), impostor)
    assert reason(milan, report, milan.key_cert(kind), milan.chain(kind)) == "sevsnp_report_signature"


def test_vcek_report_signed_by_the_vlek_is_refused(milan: Pki) -> None:
    report = sign_report(milan.report(SigningKey.VCEK), milan.vlek_key)
    kind = SigningKey.VCEK
    assert reason(milan, report, milan.key_cert(kind), milan.chain(kind)) == "sevsnp_report_signature"


def test_vlek_under_a_vcek_chain_is_refused(milan: Pki) -> None:
    vlek = milan.key_cert(SigningKey.VLEK)
    report = milan.report(SigningKey.VLEK)
    assert reason(milan, report, vlek, milan.chain(SigningKey.VCEK)) == "sevsnp_chain_kind_mismatch"
    vcek = milan.key_cert(SigningKey.VCEK)
    assert reason(milan, milan.report(SigningKey.VCEK), vcek,
                  milan.chain(SigningKey.VLEK)) == "sevsnp_chain_kind_mismatch"


def test_vlek_named_as_vcek_under_the_asvk_is_refused(milan: Pki) -> None:
    """A VLEK key certificate renamed SEV-VCEK, issued by the ASVK: the names disagree."""
    cert = key_certificate(SigningKey.VLEK, "Milan", milan.vlek_key, milan.asvk_key, tcb=MILAN_TCB,
                           chip_id=None)
    builder = (
        x509.CertificateBuilder().subject_name(amd_name("SEV-VCEK")).issuer_name(cert.issuer)
        .public_key(milan.vlek_key.public_key()).serial_number(1)
        .not_valid_before(KEY_NOT_BEFORE).not_valid_after(KEY_NOT_BEFORE + timedelta(days=7 * 365))
    )
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    renamed = der(pss_sign(builder, milan.asvk_key))
    got = reason(milan, milan.report(SigningKey.VLEK), renamed, milan.chain(SigningKey.VLEK))
    assert got == "sevsnp_chain_kind_mismatch"


@pytest.mark.parametrize(("kind", "code"), [(SigningKey.VLEK, VCEK_CODE), (SigningKey.VCEK, VLEK_CODE)])
def test_signing_key_field_must_name_the_certificate_kind(milan: Pki, kind: SigningKey, code: int) -> None:
    report = bytearray(milan.report(kind))
    struct.pack_into("<I", report, 0x48, code << 2)
    signed = sign_report(bytes(report), milan.key(kind))
    assert reason(milan, signed, milan.key_cert(kind), milan.chain(kind)) == "sevsnp_signing_key_mismatch"


def test_genoa_vlek_against_the_milan_chain_is_refused(pkis: dict[str, Pki]) -> None:
    genoa, milan = pkis["Genoa"], pkis["Milan"]
    kind = SigningKey.VLEK
    # The Genoa VLEK's productName (Genoa-B1) does not belong to the Milan chain.
    got = reason(milan, genoa.report(kind), genoa.key_cert(kind), milan.chain(kind),
                 arks=(milan.ark, genoa.ark))
    assert got == "sevsnp_product_mismatch"
    # Genoa's chain is untrusted when only the Milan ARK is.
    got = reason(genoa, genoa.report(kind), genoa.key_cert(kind), genoa.chain(kind), arks=(milan.ark,))
    assert got == "sevsnp_root_untrusted"


def test_vlek_tcb_must_match_the_certificate(milan: Pki) -> None:
    kind = SigningKey.VLEK
    report = attestation_report(milan.vlek_key, signing_key=VLEK_CODE, tcb=replace(MILAN_TCB, snp=7),
                                chip_id=bytes(64), product="Milan")
    assert reason(milan, report, milan.key_cert(kind), milan.chain(kind)) == "sevsnp_tcb_mismatch"


def test_debug_guest_refused(milan: Pki) -> None:
    kind = SigningKey.VLEK
    report = milan.report(kind, guest_policy=GUEST_POLICY | 1 << 19)
    assert reason(milan, report, milan.key_cert(kind), milan.chain(kind)) == "sevsnp_debug_not_allowed"
