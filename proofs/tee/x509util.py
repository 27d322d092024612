"""Certificate, DER and JSON-output helpers shared by the TEE verifiers.

Pure: every function takes bytes and values, never paths; time is always the caller's
``now``.  Every failure that a piece of *evidence* can cause is raised as
``InvalidProof(reason)``, where ``reason`` is ``f"{prefix}_{what}"`` and ``prefix`` names the
verifier (``"sevsnp"`` or ``"sgx"``), so a reason always says which verifier refused.
Misconfiguration by the caller (a naive ``now``, a trust anchor that is not exactly one
certificate) raises ``ValueError``: that is a bug or a usage error at the edge, not a
property of the evidence, and must not be blamed on the provider.

What ``verify_chain`` decides, in this order, for ``certs = [leaf, ..., anchor]``:

1. the last certificate equals one of the trusted roots, by DER bytes or by subject and
   public key (``<prefix>_root_untrusted``);
2. for each adjacent pair, the child's issuer name equals the parent's subject name
   (``<prefix>_cert_issuer_mismatch``), the parent is a CA by its basicConstraints and,
   when keyUsage is present, may sign certificates (``<prefix>_cert_not_ca``), and the
   child's signature verifies under the parent's key with the one signature scheme the
   vendor uses (``<prefix>_cert_signature``); the anchor must verify under its own key;
3. every certificate is valid at ``now``, bounds inclusive as in RFC 5280 §4.1.2.5
   (``<prefix>_cert_not_yet_valid``, ``<prefix>_cert_expired``).

Only the signature scheme given by the caller is accepted (RSA-PSS with SHA-384, MGF1-SHA-384
and a 48-byte salt for AMD; ECDSA P-256 with SHA-256 for Intel), so a certificate cannot
choose a weaker algorithm.  The parts of a certificate its signature does not cover are
pinned too: the outer AlgorithmIdentifier must be byte for byte the signed one, which must
mean exactly the scheme (AMD's PSS parameters are decoded and compared by value, so the DER
form that leaves out the DEFAULT trailer field and the form that writes it out both pass), and
the signatureValue must be a whole number of octets, so no second encoding of a vendor's
certificate verifies.

Certificates and CRLs are parsed under ``strict_parsing``: a parser warning rejects the
input, except the one deprecation warning AMD's serial-number-0 VCEKs always raise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NoReturn

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID

from chain.errors import InvalidProof
from proofs.tee.verdicts import outside

# Every exception type that `cryptography` raises for malformed or unverifiable input.  The
# x509 ones do not derive from ValueError: InvalidVersion comes from the loader (an unknown
# certificate version), the other two from the lazily parsing extension and name accessors.
CRYPTO_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    InvalidSignature,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)

_PEM_CERT_BEGIN = b"-----BEGIN CERTIFICATE-----"


def fail(prefix: str, what: str, message: str | None = None, **details: Any) -> NoReturn:
    """Raise ``InvalidProof(f"{prefix}_{what}")``."""
    reason = f"{prefix}_{what}"
    raise InvalidProof(reason, message or reason.replace("_", " "), **details)


def require_aware(now: datetime) -> None:
    """``now`` must carry a timezone: comparing naive and aware datetimes is a bug."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


# --------------------------------------------------------------------------- loading


@contextlib.contextmanager
def strict_parsing() -> Iterator[None]:
    """Parse with warnings as errors, except the one AMD's VCEKs always trigger.

    AMD's VCEK certificates carry serial number 0, which RFC 5280 forbids and for which
    cryptography emits a deprecation warning: that one warning is silenced, here only.
    Every other warning while parsing (a malformed name attribute, say) becomes an
    exception that the caller turns into a rejection, so a verdict never depends on the
    process's warning filters.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings(
            "ignore",
            message="Parsed a serial number which wasn't positive",
            category=CryptographyDeprecationWarning,
        )
        yield


PARSE_ERRORS: tuple[type[Exception], ...] = (*CRYPTO_ERRORS, Warning)
"""What parsing under ``strict_parsing`` may raise for bad input."""


def load_der_certificate(der: bytes, *, prefix: str, what: str) -> x509.Certificate:
    """One DER certificate; ``<prefix>_<what>`` when the bytes are not one."""
    try:
        with strict_parsing():
            cert = x509.load_der_x509_certificate(bytes(der))
            # Parse the lazily decoded parts now, so later accessors cannot fail or warn.
            cert.extensions  # noqa: B018
            cert.subject  # noqa: B018
            cert.issuer  # noqa: B018
    except PARSE_ERRORS as exc:
        fail(prefix, what, f"malformed certificate: {exc}")
    return cert


def load_pem_certificates(data: bytes, *, prefix: str, what: str) -> tuple[x509.Certificate, ...]:
    """Every certificate in a PEM bundle, in order (text outside the blocks is ignored)."""
    try:
        with strict_parsing():
            certs = x509.load_pem_x509_certificates(bytes(data))
    except PARSE_ERRORS as exc:
        fail(prefix, what, f"malformed PEM certificates: {exc}")
    # Re-load through the DER path so every certificate gets the same eager checks.
    return tuple(
        load_der_certificate(c.public_bytes(serialization.Encoding.DER), prefix=prefix, what=what)
        for c in certs
    )


def load_certificate(data: bytes, *, prefix: str, what: str) -> x509.Certificate:
    """One certificate given as DER or as a single PEM block."""
    if bytes(data).lstrip().startswith(_PEM_CERT_BEGIN):
        certs = load_pem_certificates(data, prefix=prefix, what=what)
        if len(certs) != 1:
            fail(prefix, what, f"expected one PEM certificate, got {len(certs)}")
        return certs[0]
    return load_der_certificate(data, prefix=prefix, what=what)


def load_canonical_pem_chain(data: bytes, *, prefix: str, what: str) -> tuple[x509.Certificate, ...]:
    """A PEM chain that must be byte-for-byte canonical.

    Canonical means exactly the concatenation of each certificate's standard PEM form
    (``-----BEGIN CERTIFICATE-----``, base64 in 64-character lines, ``\\n`` line ends),
    optionally followed by one NUL byte, which is how quoting enclaves store the C string.
    Any other byte sequence is refused, so no two different byte strings carry the same
    chain: a bit flip anywhere in the data cannot leave the evidence valid.
    """
    body = bytes(data)
    if body.endswith(b"\x00"):
        body = body[:-1]
    certs = load_pem_certificates(body, prefix=prefix, what=what)
    canonical = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    if canonical != body:
        fail(prefix, f"{what}_noncanonical", "certificate data is not canonical PEM")
    return certs


def split_pem_certificates(data: bytes) -> tuple[bytes, ...]:
    """DER of each certificate in a PEM bundle (for configuration code; ``ValueError`` if bad)."""
    try:
        with strict_parsing():
            certs = x509.load_pem_x509_certificates(bytes(data))
    except PARSE_ERRORS as exc:
        raise ValueError(f"not a PEM certificate bundle: {exc}") from exc
    return tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)


def load_trust_anchor(data: bytes) -> x509.Certificate:
    """A configured root (DER or one PEM block).  ``ValueError``: configuration is wrong."""
    try:
        return load_certificate(data, prefix="trust_anchor", what="malformed")
    except InvalidProof as exc:
        raise ValueError(f"trusted root is not exactly one certificate: {exc.message}") from exc


# --------------------------------------------------------------------------- names, extensions


def common_name(name: x509.Name) -> str | None:
    """The single commonName of ``name``, or None when absent or repeated."""
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(attrs) != 1:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else None


def raw_extension(cert: x509.Certificate, dotted_oid: str) -> bytes | None:
    """The extnValue bytes of a vendor extension ``cryptography`` does not interpret."""
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(dotted_oid))
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if isinstance(value, x509.UnrecognizedExtension):
        return value.value
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    except x509.ExtensionNotFound:
        return False
    if not isinstance(bc, x509.BasicConstraints) or not bc.ca:
        return False
    try:
        ku = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    except x509.ExtensionNotFound:
        return True
    return isinstance(ku, x509.KeyUsage) and ku.key_cert_sign


# --------------------------------------------------------------------------- signatures


class SignatureScheme(enum.Enum):
    """The single certificate signature scheme a vendor chain may use."""

    RSA_PSS_SHA384 = "rsa-pss-sha384"
    """AMD: RSASSA-PSS, SHA-384, MGF1 with SHA-384, salt length 48."""
    ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
    """Intel: ECDSA over P-256 with SHA-256."""


def verify_raw_ecdsa(
    public_key: ec.EllipticCurvePublicKey,
    signature_rs: tuple[int, int],
    message: bytes,
    hash_algorithm: hashes.HashAlgorithm,
) -> bool:
    """True when ``(r, s)`` is a valid ECDSA signature over ``message``."""
    r, s = signature_rs
    if r <= 0 or s <= 0:
        return False
    try:
        public_key.verify(utils.encode_dss_signature(r, s), message, ec.ECDSA(hash_algorithm))
    except CRYPTO_ERRORS:
        return False
    return True


def p256_signature(raw: bytes) -> tuple[int, int]:
    """``(r, s)`` from a 64-byte big-endian ``r ‖ s`` signature (Intel's format)."""
    if len(raw) != 64:
        raise ValueError("P-256 raw signature must be 64 bytes")
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")


OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
OID_MGF1 = "1.2.840.113549.1.1.8"
OID_SHA384 = "2.16.840.1.101.3.4.2.2"
TAG_NULL = 0x05
ECDSA_P256_SHA256_ALGORITHM = bytes.fromhex("300a06082a8648ce3d040302")
"""Intel's one AlgorithmIdentifier: ecdsa-with-SHA256, no parameters (RFC 5758)."""


def _sha384_identifier(content: bytes) -> bool:
    """``SEQUENCE { id-sha384, NULL }`` or ``SEQUENCE { id-sha384 }``: the two spellings of SHA-384.

    RFC 4055 §2.1 lets the hash parameters be NULL or absent; both mean the same, and both
    occur in vendor certificates (AMD writes NULL).
    """
    items = der_children(content)
    if not items or items[0][0] != TAG_OID or der_oid(items[0][1]) != OID_SHA384:
        return False
    return len(items) == 1 or (len(items) == 2 and items[1] == (TAG_NULL, b""))


def is_amd_pss_algorithm(der: bytes) -> bool:
    """True when ``der`` is an AlgorithmIdentifier meaning exactly AMD's scheme.

    RSASSA-PSS (RFC 4055 §3.1) with, in this order and each once: ``[0]`` hashAlgorithm
    SHA-384, ``[1]`` maskGenAlgorithm MGF1 over SHA-384, ``[2]`` saltLength 48, and optionally
    ``[3]`` trailerField 1.  The trailer field's DEFAULT is 1, so DER leaves it out (AMD's
    newer certificates, such as Genoa VCEKs and VLEKs) while older ones write it out (Milan's
    ASK and ARK); both are accepted.  Anything else — another hash, another salt, another
    trailer, a missing field, an extra field, non-minimal DER — is refused.
    """
    try:
        tag, content = der_single(der)
        if tag != TAG_SEQUENCE:
            return False
        items = der_children(content)
        if len(items) != 2 or items[0][0] != TAG_OID or der_oid(items[0][1]) != OID_RSASSA_PSS:
            return False
        if items[1][0] != TAG_SEQUENCE:
            return False
        fields = der_children(items[1][1])
        tags = [t for t, _ in fields]
        if tags not in ([0xA0, 0xA1, 0xA2], [0xA0, 0xA1, 0xA2, 0xA3]):
            return False
        values = [der_single(v) for _, v in fields]  # each [n] is EXPLICIT: one TLV inside
        hash_tag, hash_alg = values[0]
        if hash_tag != TAG_SEQUENCE or not _sha384_identifier(hash_alg):
            return False
        mgf_tag, mgf = values[1]
        if mgf_tag != TAG_SEQUENCE:
            return False
        mgf_items = der_children(mgf)
        if (len(mgf_items) != 2 or mgf_items[0][0] != TAG_OID or der_oid(mgf_items[0][1]) != OID_MGF1
                or mgf_items[1][0] != TAG_SEQUENCE or not _sha384_identifier(mgf_items[1][1])):
            return False
        if values[2][0] != TAG_INTEGER or der_integer(values[2][1]) != 48:
            return False
        return len(values) == 3 or (values[3][0] == TAG_INTEGER and der_integer(values[3][1]) == 1)
    except DerError:
        return False


def _algorithm_allowed(der: bytes, scheme: SignatureScheme) -> bool:
    if scheme is SignatureScheme.RSA_PSS_SHA384:
        return is_amd_pss_algorithm(der)
    return der == ECDSA_P256_SHA256_ALGORITHM


def unsigned_signature_fields(cert: x509.Certificate) -> tuple[bytes, bytes, bytes]:
    """``(outer signatureAlgorithm, signed tbsCertificate.signature, signatureValue)`` as DER.

    The first and last are outside what the signature covers.
    """
    der = cert.public_bytes(serialization.Encoding.DER)
    _, body = der_single(der)
    _, tbs, tbs_end = der_read(body, 0)
    _, _, alg_end = der_read(body, tbs_end)
    _, _, value_end = der_read(body, alg_end)
    outer = body[tbs_end:alg_end]
    pos = 0
    if tbs[:1] == b"\xa0":  # explicit [0] version
        _, _, pos = der_read(tbs, pos)
    _, _, pos = der_read(tbs, pos)  # serialNumber
    start = pos
    _, _, pos = der_read(tbs, pos)  # signature
    return outer, tbs[start:pos], body[alg_end:value_end]


def signed_by(cert: x509.Certificate, issuer: x509.Certificate, scheme: SignatureScheme) -> bool:
    """True when ``cert``'s signature verifies under ``issuer``'s key with ``scheme`` exactly.

    Both copies of the certificate's signature AlgorithmIdentifier must be the same bytes and
    mean exactly the scheme (:func:`is_amd_pss_algorithm` decodes AMD's parameters and compares
    their values; Intel's has one encoding), and the signatureValue BIT STRING must have no
    unused bits.  The outer copy and the BIT STRING are outside what the signature covers;
    without these checks a changed PSS salt length, or a signature declared one bit shorter
    (same octets, still valid DER), would leave a different certificate that still verifies.
    """
    try:
        fields = unsigned_signature_fields(cert)
        algorithm = (cert.signature_algorithm_oid, cert.signature_hash_algorithm)
    except DerError:
        return False
    except CRYPTO_ERRORS:  # an algorithm OID cryptography does not know, say
        return False
    return _signature_holds(fields, issuer, scheme, *algorithm, cert.signature, cert.tbs_certificate_bytes)


def crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate, scheme: SignatureScheme) -> bool:
    """:func:`signed_by` for a CRL: ``CertificateList = [tbsCertList, signatureAlgorithm,
    signatureValue]``, ``tbsCertList`` starting with an optional version INTEGER, then its copy
    of the algorithm; the same rules on both copies and the BIT STRING."""
    try:
        _, body = der_single(crl.public_bytes(serialization.Encoding.DER))
        _, tbs, tbs_end = der_read(body, 0)
        _, _, alg_end = der_read(body, tbs_end)
        _, _, value_end = der_read(body, alg_end)
        pos = 0
        if tbs[:1] == bytes([TAG_INTEGER]):  # version v2
            _, _, pos = der_read(tbs, pos)
        start = pos
        _, _, pos = der_read(tbs, pos)
        fields = (body[tbs_end:alg_end], tbs[start:pos], body[alg_end:value_end])
        algorithm = (crl.signature_algorithm_oid, crl.signature_hash_algorithm)
    except DerError:
        return False
    except CRYPTO_ERRORS:
        return False
    return _signature_holds(fields, issuer, scheme, *algorithm, crl.signature, crl.tbs_certlist_bytes)


def _signature_holds(fields: tuple[bytes, bytes, bytes], issuer: x509.Certificate, scheme: SignatureScheme,
                     oid: x509.ObjectIdentifier, hash_algorithm: object, signature: bytes, signed: bytes) -> bool:
    outer, inner, value = fields
    try:
        tag, content = der_single(value)
    except DerError:
        return False
    if outer != inner or not _algorithm_allowed(inner, scheme):
        return False
    if tag != TAG_BIT_STRING or content[:1] != b"\x00":
        return False
    try:
        key = issuer.public_key()
        if scheme is SignatureScheme.RSA_PSS_SHA384:
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            if oid != SignatureAlgorithmOID.RSASSA_PSS or not isinstance(hash_algorithm, hashes.SHA384):
                return False
            key.verify(signature, signed, padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
                       hashes.SHA384())
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
                return False
            if oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
                return False
            key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    except CRYPTO_ERRORS:
        return False
    return True


# --------------------------------------------------------------------------- chains


def _spki(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except CRYPTO_ERRORS:
        return None


def matches_trusted(cert: x509.Certificate, trusted: Sequence[x509.Certificate]) -> bool:
    """True when ``cert`` is one of ``trusted``: same DER, or same subject and public key."""
    der = cert.public_bytes(serialization.Encoding.DER)
    spki = _spki(cert)
    for root in trusted:
        if root.public_bytes(serialization.Encoding.DER) == der:
            return True
        if spki is not None and _spki(root) == spki and root.subject == cert.subject:
            return True
    return False


def check_validity(cert: x509.Certificate, now: datetime, *, prefix: str, name: str) -> None:
    """``not_before <= now <= not_after`` (RFC 5280: both bounds inclusive)."""
    require_aware(now)
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    where = outside(now, not_before, not_after)
    if where == "early":
        fail(
            prefix,
            "cert_not_yet_valid",
            f"{name} certificate not valid before {not_before.isoformat()}",
            cert=name,
            not_before=not_before.isoformat(),
            now=now.isoformat(),
        )
    if where == "late":
        fail(
            prefix,
            "cert_expired",
            f"{name} certificate expired at {not_after.isoformat()}",
            cert=name,
            not_after=not_after.isoformat(),
            now=now.isoformat(),
        )


def ec_public_key(
    cert: x509.Certificate, curve: type[ec.EllipticCurve], *, prefix: str, reason: str, what: str
) -> ec.EllipticCurvePublicKey:
    """The certificate's public key, which must be EC on ``curve``; else ``InvalidProof(prefix_reason)``."""
    try:
        key = cert.public_key()
    except CRYPTO_ERRORS:
        fail(prefix, reason, f"{what} has an unsupported public key")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
        fail(prefix, reason, f"{what} does not hold an EC {curve.name} key")
    return key


def verify_chain(
    certs: Sequence[x509.Certificate],
    names: Sequence[str],
    *,
    trusted: Sequence[x509.Certificate],
    now: datetime,
    scheme: SignatureScheme,
    prefix: str,
) -> None:
    """Verify ``certs`` (leaf first, anchor last) as described in the module docstring.

    ``names`` labels each certificate for error details (``"vcek"``, ``"ask"``, ...).
    """
    require_aware(now)
    if len(certs) != len(names) or not certs:
        raise ValueError("verify_chain needs one name per certificate")
    anchor = certs[-1]
    if not matches_trusted(anchor, trusted):
        fail(
            prefix,
            "root_untrusted",
            "chain does not end in a trusted root",
            subject=anchor.subject.rfc4514_string(),
        )
    links = list(zip(certs, certs[1:], strict=False)) + [(anchor, anchor)]
    for (child, parent), name in zip(links, names, strict=True):
        if child.issuer != parent.subject:
            fail(
                prefix,
                "cert_issuer_mismatch",
                f"{name} certificate not issued by its parent",
                cert=name,
                issuer=child.issuer.rfc4514_string(),
                parent=parent.subject.rfc4514_string(),
            )
        if not _is_ca(parent):
            fail(prefix, "cert_not_ca", f"issuer of {name} is not a CA certificate", cert=name)
        if not signed_by(child, parent, scheme):
            fail(prefix, "cert_signature", f"{name} certificate signature does not verify", cert=name)
    for cert, name in zip(certs, names, strict=True):
        check_validity(cert, now, prefix=prefix, name=name)


# --------------------------------------------------------------------------- DER reading


class DerError(ValueError):
    """Bytes that are not the strict DER the caller expected."""


def der_read(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """Read one TLV at ``offset``: ``(tag, content, end)``.

    Single-byte tags only (all the vendor extensions use them); definite, minimally
    encoded lengths only, as DER requires.
    """
    if offset + 2 > len(data):
        raise DerError("truncated DER header")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte DER tags are not supported")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DerError("indefinite or oversized DER length")
        if pos + count > len(data):
            raise DerError("truncated DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if data[pos] == 0 or length < 0x80:
            raise DerError("non-minimal DER length")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("truncated DER content")
    return tag, data[pos:end], end


def der_single(data: bytes) -> tuple[int, bytes]:
    """Exactly one TLV spanning all of ``data``."""
    tag, content, end = der_read(data, 0)
    if end != len(data):
        raise DerError("trailing bytes after DER value")
    return tag, content


def der_children(content: bytes) -> list[tuple[int, bytes]]:
    """The TLVs inside a constructed value's content, in order."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(content):
        tag, value, pos = der_read(content, pos)
        items.append((tag, value))
    return items


def der_integer(content: bytes, *, unsigned: bool = True) -> int:
    """An INTEGER's content octets as an int (minimal two's complement, as DER requires)."""
    if not content:
        raise DerError("empty INTEGER")
    if len(content) > 1 and (
        (content[0] == 0x00 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
    ):
        raise DerError("non-minimal INTEGER")
    value = int.from_bytes(content, "big", signed=True)
    if unsigned and value < 0:
        raise DerError("negative INTEGER")
    return value


def der_oid(content: bytes) -> str:
    """An OBJECT IDENTIFIER's content octets in dotted form."""
    if not content or content[-1] & 0x80:
        raise DerError("malformed OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    fresh = True
    for byte in content:
        if fresh and byte == 0x80:
            raise DerError("non-minimal OBJECT IDENTIFIER arc")
        value = (value << 7) | (byte & 0x7F)
        fresh = not byte & 0x80
        if fresh:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_ENUMERATED = 0x0A
TAG_UTF8_STRING = 0x0C
TAG_IA5_STRING = 0x16
TAG_SEQUENCE = 0x30


# --------------------------------------------------------------------------- JSON output


def jsonable(value: Any) -> Any:
    """A JSON-ready view of a parsed value: bytes as hex, dataclasses as dicts.

    Fields whose metadata sets ``json=False`` (raw evidence bytes) are left out.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            if field.metadata.get("json", True):
                out[field.name] = jsonable(getattr(value, field.name))
        return out
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value
