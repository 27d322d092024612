"""The vendor roots genesis ships: self-signed, equal to the third-party test data, and
pinned to the fingerprints recorded in genesis/certs/README.md."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from genesis.trust import ai_verify_config, amd_arks, amd_chain_pem, amd_products, intel_sgx_root
from proofs.ai import AiVerifyConfig
from proofs.tee.sevsnp import SevSnpPolicy
from proofs.tee.x509util import SignatureScheme, signed_by, split_pem_certificates

FINGERPRINTS = {
    "ARK-Milan": "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    "ARK-Genoa": "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    "SEV-Milan": "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
    "SEV-Genoa": "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
    "SEV-VLEK-Milan": "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5",
    "Intel SGX Root CA": "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3",
}


def _cn(cert: x509.Certificate) -> str:
    value = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(value, str)
    return value


def test_amd_arks_are_self_signed_roots_per_product() -> None:
    arks = amd_arks()
    assert list(arks) == list(amd_products()) == ["Genoa", "Milan"]
    for product, der in arks.items():
        cert = x509.load_der_x509_certificate(der)
        assert _cn(cert) == f"ARK-{product}"
        assert cert.subject == cert.issuer
        assert signed_by(cert, cert, SignatureScheme.RSA_PSS_SHA384)
        assert hashlib.sha256(der).hexdigest() == FINGERPRINTS[f"ARK-{product}"]


def test_amd_arks_equal_the_test_data(vectors: Path) -> None:
    certs = vectors / "tee" / "sev-snp" / "amd-certs"
    for product, der in amd_arks().items():
        shipped = (certs / f"ask_ark_{product.lower()}.pem").read_bytes()
        assert split_pem_certificates(shipped)[-1] == der
        assert amd_chain_pem(product) == shipped


def test_amd_chains_are_ask_then_ark() -> None:
    for product in amd_products():
        ask, ark = (x509.load_der_x509_certificate(d) for d in split_pem_certificates(amd_chain_pem(product)))
        assert _cn(ask) == f"SEV-{product}"
        assert ask.issuer == ark.subject and signed_by(ask, ark, SignatureScheme.RSA_PSS_SHA384)
        ask_der = split_pem_certificates(amd_chain_pem(product))[0]
        assert hashlib.sha256(ask_der).hexdigest() == FINGERPRINTS[f"SEV-{product}"]
    asvk, vlek_ark = split_pem_certificates(amd_chain_pem("Milan", vlek=True))
    assert vlek_ark == amd_arks()["Milan"]
    assert hashlib.sha256(asvk).hexdigest() == FINGERPRINTS["SEV-VLEK-Milan"]
    for product, vlek in (("Turin", False), ("Genoa", True), ("milan", False)):
        with pytest.raises(KeyError):
            amd_chain_pem(product, vlek=vlek)


def test_intel_root_is_self_signed_and_equals_the_test_data(vectors: Path) -> None:
    der = intel_sgx_root()
    assert der == (vectors / "tee" / "sgx-dcap" / "intel_sgx_root_ca.der").read_bytes()
    cert = x509.load_der_x509_certificate(der)
    assert _cn(cert) == "Intel SGX Root CA" and cert.subject == cert.issuer
    assert signed_by(cert, cert, SignatureScheme.ECDSA_P256_SHA256)
    assert hashlib.sha256(der).hexdigest() == FINGERPRINTS["Intel SGX Root CA"]


def test_ai_verify_config_trusts_the_shipped_roots() -> None:
    config = ai_verify_config()
    assert config.amd_arks == (amd_arks()["Genoa"], amd_arks()["Milan"])
    assert config.intel_sgx_root == intel_sgx_root()
    assert config.sevsnp_policy == AiVerifyConfig().sevsnp_policy
    assert config.sgx_policy.require_collateral
    strict = SevSnpPolicy(measurements=frozenset({bytes(48)}))
    assert ai_verify_config(sevsnp_policy=strict).sevsnp_policy is strict
    # callers get their own dict
    amd_arks().clear()
    assert len(amd_arks()) == 2
