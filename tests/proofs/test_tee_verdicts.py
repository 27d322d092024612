"""The node's memo of TEE verdicts (``proofs.tee.verdicts``): a memoized verification gives,
at every time, exactly what a fresh one gives — the verdict inside the interval it holds for,
the verifier's own first failure outside it — and a quote is checked once per node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import InvalidProof
from genesis.trust import amd_arks, intel_sgx_root
from proofs.ai import (
    AiVerifyConfig,
    Attestation,
    SevSnpEvidence,
    SgxEvidence,
    TdxEvidence,
    verify_attestation,
)
from proofs.tee.sevsnp import SevSnpPolicy
from proofs.tee.sgx import SgxPolicy
from proofs.tee.tdx import TdxPolicy
from proofs.tee.verdicts import TeeVerdictCache

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "tee"
CERTS = Path(__file__).resolve().parents[2] / "genesis" / "certs"
DCAP = VECTORS / "sgx-dcap"
TDX = TdxEvidence((DCAP / "tdx-v4_dcap-qvl" / "tdx_quote.bin").read_bytes(),
                  (DCAP / "tdx-v4_dcap-qvl" / "tdx_quote_collateral.json").read_bytes())
SGX = SgxEvidence((DCAP / "sgx-v3_dcap-qvl" / "sgx_quote.bin").read_bytes(),
                  (DCAP / "sgx-v3_dcap-qvl" / "sgx_quote_collateral.json").read_bytes())
SNP = SevSnpEvidence((VECTORS / "sev-snp" / "milan_go-sev-guest" / "attestation.bin").read_bytes(),
                     (VECTORS / "sev-snp" / "milan_go-sev-guest" / "vcek.der").read_bytes(),
                     (CERTS / "ask_ark_milan.pem").read_bytes())
STATUSES = frozenset({"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
                      "OutOfDate", "OutOfDateConfigurationNeeded"})
WINDOW_START = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp())
"""The draws span 2025-06-01 .. 2025-08-31: before, inside and after the DCAP collateral's window."""


def _config(cache: TeeVerdictCache | None, grace_s: int = 0) -> AiVerifyConfig:
    return AiVerifyConfig(amd_arks=tuple(amd_arks().values()), intel_sgx_root=intel_sgx_root(),
                          sgx_policy=SgxPolicy(require_collateral=True, accepted_tcb_statuses=STATUSES),
                          tdx_policy=TdxPolicy(require_collateral=True), sevsnp_policy=SevSnpPolicy(allow_debug=True),
                          collateral_grace_s=grace_s, verdict_cache=cache)


def _outcome(evidence: Attestation, now: int, config: AiVerifyConfig) -> tuple[bool, object]:
    try:
        return (True, verify_attestation(evidence, chain_id="cairn-test", now=now, config=config, devnet=None,
                                         expected_report_data=bytes(64)))
    except InvalidProof as exc:
        return (False, exc.reason)


@settings(max_examples=40, deadline=None)
@given(evidence=st.sampled_from([TDX, SGX, SNP]), grace=st.sampled_from([0, 3 * 86_400]),
       times=st.lists(st.integers(WINDOW_START, WINDOW_START + 91 * 86_400), min_size=1, max_size=6))
def test_a_memoized_verification_agrees_with_a_fresh_one_at_every_time(
        evidence: Attestation, grace: int, times: list[int]) -> None:
    cache = TeeVerdictCache()
    memoized = _config(cache, grace)
    for now in times:
        assert _outcome(evidence, now, memoized) == _outcome(evidence, now, _config(None, grace))


def test_a_quote_is_checked_once_while_its_verdict_holds() -> None:
    cache = TeeVerdictCache()
    config = _config(cache)
    inside = int(datetime(2025, 6, 20, tzinfo=UTC).timestamp())
    first = _outcome(TDX, inside, config)
    assert first[0] and (cache.misses, cache.hits) == (1, 0)
    assert _outcome(TDX, inside + 86_400, config) == first
    assert (cache.misses, cache.hits) == (1, 1)
    # past the TCB info's nextUpdate the memo is not consulted: the verifier runs and says why
    late = int((datetime(2025, 7, 19, 10, 16, 3, tzinfo=UTC) + timedelta(seconds=1)).timestamp())
    assert _outcome(TDX, late, config) == (False, "tdx_tcb_info_expired")
    assert cache.misses == 2
    # failures are not memoized; the success still is
    assert _outcome(TDX, late, config) == (False, "tdx_tcb_info_expired") and cache.misses == 3
    assert _outcome(TDX, inside, config) == first and cache.hits == 2


def test_other_collateral_or_policy_is_another_entry() -> None:
    cache = TeeVerdictCache()
    inside = int(datetime(2025, 6, 20, tzinfo=UTC).timestamp())
    assert _outcome(TDX, inside, _config(cache))[0]
    strict = AiVerifyConfig(intel_sgx_root=intel_sgx_root(), verdict_cache=cache,
                            tdx_policy=TdxPolicy(require_collateral=True, mrtds=frozenset({bytes(48)})))
    assert _outcome(TDX, inside, strict) == (False, "tdx_mrtd_not_allowed")
    assert _outcome(TdxEvidence(TDX.quote, None), inside, _config(cache)) == (False, "tdx_collateral_required")
    assert cache.hits == 0 and len(cache) == 1


def test_the_cache_is_bounded() -> None:
    with pytest.raises(ValueError):
        TeeVerdictCache(0)
    cache = TeeVerdictCache(max_entries=1)
    inside = int(datetime(2025, 6, 20, tzinfo=UTC).timestamp())
    assert _outcome(TDX, inside, _config(cache))[0] and _outcome(SGX, inside, _config(cache))[0]
    assert len(cache) == 1
