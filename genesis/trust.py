"""The vendor trust anchors genesis ships for TEE attestation (ARCHITECTURE §7).

The certificates are package data in ``genesis/certs/`` (provenance and fingerprints in its
README), read with ``importlib.resources`` — the one kind of I/O ``genesis`` does, reading a
file shipped with the package.  Each AMD chain file holds the intermediate (ASK, or ASVK for
VLEK reports) first and the root (ARK) last, as AMD's KDS serves ``cert_chain``.

Only the roots are trust anchors: the ARK of each product and the Intel SGX Root CA.  The
ASK/ASVK travel with every SEV-SNP attestation and are checked against the ARK each time.

A shipped file that is not what this module expects (not PEM, not two certificates) raises
``InvalidGenesis``: the package itself is broken.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

from chain.errors import InvalidGenesis
from proofs.ai import AiVerifyConfig
from proofs.tee.sevsnp import SevSnpPolicy
from proofs.tee.sgx import SgxPolicy
from proofs.tee.verdicts import TeeVerdictCache
from proofs.tee.x509util import split_pem_certificates

AMD_CHAIN_FILES: Final[dict[str, str]] = {
    "Genoa": "ask_ark_genoa.pem",
    "Milan": "ask_ark_milan.pem",
}
"""Product → ASK-then-ARK chain file, for VCEK-signed reports."""
AMD_VLEK_CHAIN_FILES: Final[dict[str, str]] = {
    "Milan": "asvk_ark_milan_vlek.pem",
}
"""Product → ASVK-then-ARK chain file, for VLEK-signed reports."""
INTEL_SGX_ROOT_FILE: Final[str] = "intel_sgx_root_ca.pem"


@cache
def _read_cert_file(name: str) -> bytes:
    return (resources.files("genesis") / "certs" / name).read_bytes()


def _certificates(name: str, count: int) -> tuple[bytes, ...]:
    try:
        ders = split_pem_certificates(_read_cert_file(name))
    except ValueError as exc:
        raise InvalidGenesis(f"genesis/certs/{name}: {exc}", field=name) from exc
    if len(ders) != count:
        raise InvalidGenesis(
            f"genesis/certs/{name}: expected {count} certificates, got {len(ders)}", field=name
        )
    return ders


def amd_products() -> tuple[str, ...]:
    """The SEV-SNP products with a shipped chain, sorted."""
    return tuple(sorted(AMD_CHAIN_FILES))


def amd_chain_pem(product: str, *, vlek: bool = False) -> bytes:
    """The PEM chain (ASK, or ASVK when ``vlek``, then ARK) of ``product`` (``KeyError`` if none)."""
    files = AMD_VLEK_CHAIN_FILES if vlek else AMD_CHAIN_FILES
    if product not in files:
        kind = "VLEK " if vlek else ""
        raise KeyError(f"no shipped {kind}chain for AMD product {product!r}")
    name = files[product]
    _certificates(name, 2)  # refuse a broken file here, not later inside a verifier
    return _read_cert_file(name)


def amd_arks() -> dict[str, bytes]:
    """Product → the ARK certificate (DER): the last certificate of its ASK/ARK chain file."""
    return {product: _certificates(AMD_CHAIN_FILES[product], 2)[-1] for product in amd_products()}


def intel_sgx_root() -> bytes:
    """The Intel SGX Root CA certificate (DER)."""
    return _certificates(INTEL_SGX_ROOT_FILE, 1)[0]


def ai_verify_config(
    *,
    sevsnp_policy: SevSnpPolicy | None = None,
    sgx_policy: SgxPolicy | None = None,
    verdict_cache: TeeVerdictCache | None = None,
) -> AiVerifyConfig:
    """The ``AI_V1`` configuration trusting the shipped roots (ARKs in product order).

    The policies (measurement and enclave allowlists, debug, TCB) come from the genesis
    document; ``None`` keeps ``AiVerifyConfig``'s defaults.  ``verdict_cache`` is the node's
    memo of TEE verdicts (``proofs.tee.verdicts``), None to verify every time.
    """
    defaults = AiVerifyConfig()
    return AiVerifyConfig(
        amd_arks=tuple(amd_arks().values()),
        intel_sgx_root=intel_sgx_root(),
        sevsnp_policy=defaults.sevsnp_policy if sevsnp_policy is None else sevsnp_policy,
        sgx_policy=defaults.sgx_policy if sgx_policy is None else sgx_policy,
        verdict_cache=verdict_cache,
    )


__all__ = [
    "AMD_CHAIN_FILES",
    "AMD_VLEK_CHAIN_FILES",
    "INTEL_SGX_ROOT_FILE",
    "ai_verify_config",
    "amd_arks",
    "amd_chain_pem",
    "amd_products",
    "intel_sgx_root",
]
