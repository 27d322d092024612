"""AMD's RSASSA-PSS AlgorithmIdentifier, decoded by value: the DER form that leaves out the
DEFAULT trailer field (AMD's newer certificates) verifies like the form that writes it out
(the shipped Milan chain); every other parameter set is refused.

The certificates here are generated with ``cryptography`` and signed by a throwaway test key:
its RSASSA-PSS encoder writes the DER form, without ``trailerField``, as AMD's KDS now does.
"""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from genesis.trust import amd_chain_pem
from proofs.tee.x509util import (
    SignatureScheme,
    is_amd_pss_algorithm,
    signed_by,
    split_pem_certificates,
    unsigned_signature_fields,
)

SHA384_NULL = "300d06096086480165030402020500"
SHA384_ABSENT = "300b0609608648016503040202"
SHA256_NULL = "300d06096086480165030402010500"


def _tlv(tag: int, content: bytes) -> bytes:
    assert len(content) < 0x80
    return bytes([tag, len(content)]) + content


def _pss(hash_alg: str = SHA384_NULL, mgf_hash: str = SHA384_NULL, salt: bytes = b"\x30",
         trailer: bytes | None = None, extra: bytes = b"", order: tuple[int, ...] = (0, 1, 2, 3)) -> bytes:
    """An RSASSA-PSS AlgorithmIdentifier with the given parameters (DER)."""
    mgf = _tlv(0x30, bytes.fromhex("06092a864886f70d010108") + bytes.fromhex(mgf_hash))
    fields = {0: _tlv(0xA0, bytes.fromhex(hash_alg)), 1: _tlv(0xA1, mgf), 2: _tlv(0xA2, _tlv(0x02, salt))}
    if trailer is not None:
        fields[3] = _tlv(0xA3, _tlv(0x02, trailer))
    params = b"".join(fields[i] for i in order if i in fields) + extra
    return _tlv(0x30, bytes.fromhex("06092a864886f70d01010a") + _tlv(0x30, params))


def test_the_shipped_milan_chain_writes_the_trailer_out_and_passes() -> None:
    ask, ark = (x509.load_der_x509_certificate(d) for d in split_pem_certificates(amd_chain_pem("Milan")))
    outer, inner, _ = unsigned_signature_fields(ask)
    assert outer == inner == _pss(trailer=b"\x01")
    assert is_amd_pss_algorithm(inner)
    assert signed_by(ask, ark, SignatureScheme.RSA_PSS_SHA384)


@pytest.mark.parametrize(("der", "ok"), [
    (_pss(), True),  # DER: the DEFAULT trailer left out
    (_pss(trailer=b"\x01"), True),  # written out, as AMD's older certificates do
    (_pss(hash_alg=SHA384_ABSENT, mgf_hash=SHA384_ABSENT), True),  # hash parameters absent (RFC 4055)
    (_pss(salt=b"\x20"), False),  # salt 32
    (_pss(salt=b"\x00\x30"), False),  # salt 48, not minimally encoded
    (_pss(trailer=b"\x02"), False),
    (_pss(hash_alg=SHA256_NULL), False),
    (_pss(mgf_hash=SHA256_NULL), False),
    (_pss(order=(1, 0, 2)), False),
    (_pss(extra=_tlv(0xA4, _tlv(0x02, b"\x01"))), False),
    (_pss(trailer=b"\x01", extra=_tlv(0xA3, _tlv(0x02, b"\x01"))), False),  # trailer twice
    (_pss()[:-1], False),
    (_pss() + b"\x00", False),
    (bytes.fromhex("300a06082a8648ce3d040302"), False),  # ECDSA
])
def test_pss_parameters_are_compared_by_value(der: bytes, ok: bool) -> None:
    assert is_amd_pss_algorithm(der) is ok


def _cert(signer: rsa.RSAPrivateKey, subject_key: rsa.RSAPrivateKey, *, ca: bool, salt: int = 48,
          digest: hashes.HashAlgorithm | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ARK-Test" if ca else "VCEK-Test")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ARK-Test")])
    start = datetime.datetime(2025, 1, 1)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
               .public_key(subject_key.public_key()).serial_number(7)
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    algorithm = digest or hashes.SHA384()
    return builder.sign(signer, algorithm, rsa_padding=padding.PSS(mgf=padding.MGF1(algorithm), salt_length=salt))


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return (rsa.generate_private_key(public_exponent=65537, key_size=2048),
            rsa.generate_private_key(public_exponent=65537, key_size=2048))


def test_a_certificate_without_the_trailer_field_verifies(keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> None:
    root_key, leaf_key = keys
    root = _cert(root_key, root_key, ca=True)
    leaf = _cert(root_key, leaf_key, ca=False)
    outer, inner, _ = unsigned_signature_fields(leaf)
    assert outer == inner == _pss()  # cryptography writes the DER form: no trailerField
    assert signed_by(leaf, root, SignatureScheme.RSA_PSS_SHA384)
    assert signed_by(root, root, SignatureScheme.RSA_PSS_SHA384)
    leaf.verify_directly_issued_by(root)  # the library agrees


def test_other_pss_parameters_are_refused(keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> None:
    root_key, leaf_key = keys
    root = _cert(root_key, root_key, ca=True)
    assert not signed_by(_cert(root_key, leaf_key, ca=False, salt=32), root, SignatureScheme.RSA_PSS_SHA384)
    assert not signed_by(_cert(root_key, leaf_key, ca=False, digest=hashes.SHA256()), root,
                         SignatureScheme.RSA_PSS_SHA384)
    assert not signed_by(_cert(leaf_key, leaf_key, ca=False), root, SignatureScheme.RSA_PSS_SHA384)  # wrong key
