"""Verifiers for trusted-execution-environment attestations (AMD SEV-SNP, Intel SGX and TDX DCAP).

Pure: evidence and trust anchors come in as bytes, time as a timezone-aware ``now``; no
I/O, no clock, no randomness.  Each verifier either returns a frozen verdict carrying the
parsed evidence (``to_json()`` for output) or raises ``chain.errors.InvalidProof`` whose
``reason`` names the check that failed.  See ``sevsnp``, ``sgx`` and ``tdx`` for what is
checked.
"""

from __future__ import annotations

from proofs.tee.sevsnp import SevSnpPolicy, SevSnpReport, SevSnpVerdict, verify_sevsnp
from proofs.tee.sgx import SgxPolicy, SgxQuote, SgxVerdict, verify_sgx_quote
from proofs.tee.tdx import TdxPolicy, TdxQuote, TdxVerdict, verify_tdx_quote

__all__ = [
    "SevSnpPolicy",
    "SevSnpReport",
    "SevSnpVerdict",
    "SgxPolicy",
    "SgxQuote",
    "SgxVerdict",
    "TdxPolicy",
    "TdxQuote",
    "TdxVerdict",
    "verify_sevsnp",
    "verify_sgx_quote",
    "verify_tdx_quote",
]
