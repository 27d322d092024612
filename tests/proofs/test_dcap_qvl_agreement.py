"""Our DCAP verifier against Phala's ``dcap-qvl`` (pinned, test-only), verdict for verdict.

docs/DEPENDENCIES.md records the decision: block validity is decided by our own SGX/TDX
verifier (``proofs.tee.sgx``, ``proofs.tee.tdx``), and ``dcap-qvl`` is the independent
reference it is checked against here — on every quote vector, with its collateral, at times
inside and outside the collateral's window, with tampered quotes and tampered collateral,
and on the TDX vector re-signed under a test root.  Both must accept the same inputs and
report the same TCB status.  (Our verifier then applies policy — allowlists, accepted
statuses, debug — that ``dcap-qvl``'s one-shot ``verify`` leaves to its caller, so the
comparison uses a policy that accepts every non-revoked status.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dcap_qvl
import pytest

from chain.errors import InvalidProof
from proofs.tee.sgx import SgxPolicy, verify_sgx_quote
from proofs.tee.tdx import TdxPolicy, verify_tdx_quote
from tests.proofs.synthetic_intel import TestIntel

DCAP = Path(__file__).resolve().parents[1] / "vectors" / "tee" / "sgx-dcap"
ROOT = (DCAP / "intel_sgx_root_ca.der").read_bytes()
ALL = frozenset({"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
                 "OutOfDate", "OutOfDateConfigurationNeeded"})
SGX = (DCAP / "sgx-v3_dcap-qvl" / "sgx_quote.bin", DCAP / "sgx-v3_dcap-qvl" / "sgx_quote_collateral.json")
TDX = (DCAP / "tdx-v4_dcap-qvl" / "tdx_quote.bin", DCAP / "tdx-v4_dcap-qvl" / "tdx_quote_collateral.json")
TIMES = ("2025-06-20T12:00:00", "2025-07-19T10:00:00", "2025-06-19T10:00:00", "2025-07-20T00:00:00",
         "2031-01-01T00:00:00")
"""Inside the window, its last minutes, before the TCB info is issued, after it expires, far on."""


def _pin() -> str:
    return dcap_qvl.version("dcap-qvl")


def test_the_reference_is_the_pinned_version() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'"dcap-qvl=={_pin()}"' in pyproject and _pin() == "0.7.0"


def _theirs(quote: bytes, collateral: bytes, root: bytes, when: datetime) -> tuple[bool, str | None]:
    doc = json.loads(collateral)
    fields = {k: bytes.fromhex(v) if k.endswith("_signature") or (k.endswith("_crl") and not v.startswith("-----"))
              else v for k, v in doc.items()}
    try:
        report = dcap_qvl.verify_with_root_ca(quote, dcap_qvl.QuoteCollateralV3(**fields), root,
                                              int(when.timestamp()))
    except ValueError:
        return (False, None)
    return (True, str(report.status))


def _ours(tdx: bool, quote: bytes, collateral: bytes, root: bytes, when: datetime) -> tuple[bool, str | None]:
    try:
        if tdx:
            verdict = verify_tdx_quote(quote, trusted_root=root, now=when, collateral=collateral,
                                       policy=TdxPolicy(require_collateral=True, accepted_tcb_statuses=ALL))
            return (True, verdict.collateral.tcb_status if verdict.collateral else None)
        sgx = verify_sgx_quote(quote, trusted_root=root, now=when, collateral=collateral,
                               policy=SgxPolicy(require_collateral=True, allow_debug=True, accepted_tcb_statuses=ALL))
        return (True, sgx.tcb_status)
    except InvalidProof:
        return (False, None)


def _tamper(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1:]


def _tampered_collateral(path: Path) -> bytes:
    doc = json.loads(path.read_bytes())
    doc["tcb_info"] = doc["tcb_info"].replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18', 1)
    assert doc["tcb_info"] != json.loads(path.read_bytes())["tcb_info"]
    return json.dumps(doc).encode()


CASES = [
    *[("sgx", SGX[0].read_bytes(), SGX[1].read_bytes(), t) for t in TIMES],
    *[("tdx", TDX[0].read_bytes(), TDX[1].read_bytes(), t) for t in TIMES],
    ("sgx tampered report data", (DCAP / "sgx-v3_dcap-qvl" / "sgx_quote_tampered_reportdata.bin").read_bytes(),
     SGX[1].read_bytes(), TIMES[0]),
    ("tdx tampered MRTD", (DCAP / "tdx-v4_dcap-qvl" / "tdx_quote_tampered_mrtd.bin").read_bytes(),
     TDX[1].read_bytes(), TIMES[0]),
    ("sgx tampered TCB info", SGX[0].read_bytes(), _tampered_collateral(SGX[1]), TIMES[0]),
    ("tdx tampered TCB info", TDX[0].read_bytes(), _tampered_collateral(TDX[1]), TIMES[0]),
    ("tdx quote with sgx collateral", TDX[0].read_bytes(), SGX[1].read_bytes(), TIMES[0]),
    ("tdx quote signature flipped", _tamper(TDX[0].read_bytes(), 640), TDX[1].read_bytes(), TIMES[0]),
]


@pytest.mark.parametrize(("name", "quote", "collateral", "when"), CASES, ids=[f"{c[0]}@{c[3]}" for c in CASES])
def test_same_verdict_as_dcap_qvl(name: str, quote: bytes, collateral: bytes, when: str) -> None:
    at = datetime.fromisoformat(when).replace(tzinfo=UTC)
    ours = _ours(name.startswith("tdx"), quote, collateral, ROOT, at)
    assert ours == _theirs(quote, collateral, ROOT, at)
    if name in ("sgx", "tdx") and when == TIMES[0]:
        assert ours[0], "the vector must verify inside its window"


@pytest.mark.parametrize("when", ["2025-04-01T00:00:00", "2025-04-13T00:00:00", "2025-06-20T00:00:00"])
@pytest.mark.parametrize("month", ["tdx_quote_collateral_2025-03.json", "tdx_quote_collateral.json"])
def test_same_verdict_on_the_resigned_vector(month: str, when: str) -> None:
    """The TDX vector and Intel's March and June TDX collateral bodies under a test root."""
    intel = TestIntel()
    quote = intel.quote(bytes(range(64)))
    collateral = intel.collateral(DCAP / "tdx-v4_dcap-qvl" / month)
    at = datetime.fromisoformat(when).replace(tzinfo=UTC)
    ours = _ours(True, quote, collateral, intel.root_der, at)
    assert ours == _theirs(quote, collateral, intel.root_der, at)
