"""A TDX quote and Intel-format collateral under a test root made here (fixed keys).

A real third-party quote cannot bind our chain's data in its report_data, so the tests that
register a TDX provider on a running chain re-sign the real vector
(tests/vectors/tee/sgx-dcap/tdx-v4_dcap-qvl) under a root of our own: the same header, TD
report (report_data replaced), QE report (report data recomputed for a new attestation key)
and QE auth data, with a PCK certificate carrying the real one's SGX extension (so FMSPC,
PCE-ID and TCB SVNs are Intel's), and the real TCB info and QE identity bodies re-signed by a
test "Intel SGX TCB Signing" key.  Only the keys differ from what Intel issued; every
parser and rule runs on Intel's formats.  The verifier under test is never involved in
building them.
"""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from proofs.tee.sgx import OID_SGX_EXTENSION
from proofs.tee.tdx import QUOTE_BODY_SIZE, parse_tdx_quote

VECTOR = Path(__file__).resolve().parents[1] / "vectors" / "tee" / "sgx-dcap" / "tdx-v4_dcap-qvl"
START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2040, 1, 1, tzinfo=UTC)
CRL_DATE = datetime(2025, 1, 1, tzinfo=UTC)
"""When the test CRLs are issued by default (valid a year)."""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cairn test, not Intel")])


def _raw_sig(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


class TestIntel:
    """Root, PCK CA, PCK leaf and TCB signing certificates from fixed scalars."""

    __test__ = False

    def __init__(self) -> None:
        self.root_key, self.ca_key, self.pck_key, self.tcb_key, self.att_key = (
            ec.derive_private_key(n, ec.SECP256R1()) for n in (0x1001, 0x1002, 0x1003, 0x1004, 0x1005))
        real_leaf = x509.load_pem_x509_certificates((VECTOR / "pck_chain_extracted.pem").read_bytes())[0]
        sgx_ext = real_leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(OID_SGX_EXTENSION))
        self.root = self._cert("Intel SGX Root CA", self.root_key, "Intel SGX Root CA", self.root_key, ca=True)
        self.ca = self._cert("Intel SGX PCK Platform CA", self.ca_key, "Intel SGX Root CA", self.root_key, ca=True)
        self.leaf = self._cert("Intel SGX PCK Certificate", self.pck_key, "Intel SGX PCK Platform CA", self.ca_key,
                               ca=False, extension=sgx_ext.value)
        self.tcb_signer = self._cert("Intel SGX TCB Signing", self.tcb_key, "Intel SGX Root CA", self.root_key,
                                     ca=False)

    @staticmethod
    def _cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey, *,
              ca: bool, extension: x509.ExtensionType | None = None) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer))
            .public_key(key.public_key()).serial_number(int.from_bytes(hashlib.sha256(cn.encode()).digest()[:8]))
            .not_valid_before(START).not_valid_after(END)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if extension is not None:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    def quote(self, report_data: bytes) -> bytes:
        """The real TDX v4 vector with ``report_data`` (64 bytes), re-signed under this root."""
        assert len(report_data) == 64
        real = parse_tdx_quote((VECTOR / "tdx_quote.bin").read_bytes())
        body = bytearray(real.raw[:QUOTE_BODY_SIZE])
        body[QUOTE_BODY_SIZE - 64:] = report_data
        numbers = self.att_key.public_key().public_numbers()
        att_pub = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
        qe = bytearray(real.qe_report.raw)
        qe[320:384] = hashlib.sha256(att_pub + real.qe_auth_data).digest() + bytes(32)
        certs = _pem(self.leaf, self.ca, self.root).encode()
        inner = (bytes(qe) + _raw_sig(self.pck_key, bytes(qe)) + struct.pack("<H", len(real.qe_auth_data))
                 + real.qe_auth_data + struct.pack("<HI", 5, len(certs)) + certs)
        sig_data = _raw_sig(self.att_key, bytes(body)) + att_pub + struct.pack("<HI", 6, len(inner)) + inner
        return bytes(body) + struct.pack("<I", len(sig_data)) + sig_data

    def crl(self, issuer: str, key: ec.EllipticCurvePrivateKey, this_update: datetime, days: int = 365,
            number: int = 1) -> str:
        crl = (x509.CertificateRevocationListBuilder().issuer_name(_name(issuer)).last_update(this_update)
               .next_update(this_update + timedelta(days=days))
               .add_extension(x509.CRLNumber(number), critical=False).sign(key, hashes.SHA256()))
        return crl.public_bytes(serialization.Encoding.DER).hex()

    def collateral(self, real: Path, *, crl_date: datetime = CRL_DATE, parts: tuple[str, ...] = (
            "tcb_info", "qe_identity", "root_ca_crl", "pck_crl")) -> bytes:
        """``real``'s TCB info and QE identity bodies re-signed by the test TCB signer, with
        CRLs of this root and PCK CA issued at ``crl_date``; only the named ``parts``."""
        doc = json.loads(real.read_bytes())
        out: dict[str, str] = {}
        for part in ("tcb_info", "qe_identity"):
            if part in parts:
                out[part] = doc[part]
                out[f"{part}_signature"] = _raw_sig(self.tcb_key, doc[part].encode()).hex()
                out[f"{part}_issuer_chain"] = _pem(self.tcb_signer, self.root)
        if "root_ca_crl" in parts:
            out["root_ca_crl"] = self.crl("Intel SGX Root CA", self.root_key, crl_date)
        if "pck_crl" in parts:
            out["pck_crl"] = self.crl("Intel SGX PCK Platform CA", self.ca_key, crl_date)
            out["pck_crl_issuer_chain"] = _pem(self.ca, self.root)
        return json.dumps(out).encode()
