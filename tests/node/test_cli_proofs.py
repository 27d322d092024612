"""``cairn proofs verify`` on the third-party evidence: verdicts, exit codes, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import main

NOW = "2025-07-01T00:00:00Z"  # inside every certificate and collateral window of the vectors


def sev(t: Path, report: str = "attestation.bin", chain: str = "ask_ark_milan.pem") -> list[str]:
    d = t / "tee" / "sev-snp"
    return ["proofs", "verify", "--kind", "sev-snp", "--report", str(d / "milan_go-sev-guest" / report),
            "--vcek", str(d / "milan_go-sev-guest" / "vcek.der"), "--chain", str(d / "amd-certs" / chain),
            "--now", NOW]


def sgx(t: Path, quote: str = "sgx_quote.bin") -> list[str]:
    d = t / "tee" / "sgx-dcap" / "sgx-v3_dcap-qvl"
    return ["proofs", "verify", "--kind", "sgx", "--quote", str(d / quote), "--collateral",
            str(d / "sgx_quote_collateral.json"), "--now", NOW]


TDX_NOW = "2025-07-19T10:00:34Z"  # inside the TDX vector's collateral windows (they end at 10:00:35Z)
TDX_MRTD = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"


def tdx(t: Path, quote: str = "tdx_quote.bin", now: str = TDX_NOW) -> list[str]:
    d = t / "tee" / "sgx-dcap" / "tdx-v4_dcap-qvl"
    return ["proofs", "verify", "--kind", "tdx", "--quote", str(d / quote), "--collateral",
            str(d / "tdx_quote_collateral.json"), "--now", now]


def g16(t: Path, vk: str, proof: str, public: str) -> list[str]:
    return ["proofs", "verify", "--kind", "groth16", "--vk", str(t / "groth16" / vk), "--proof",
            str(t / "groth16" / proof), "--public", str(t / "groth16" / public)]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object], str]:
    rc = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if out else {}), err


def test_sev_snp_verdicts(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc, _ = run(sev(vectors) + ["--allow-debug"], capsys)
    assert rc == 0 and doc["valid"] is True
    fields = doc["fields"]
    assert isinstance(fields, dict) and fields["product"] == "Milan"
    assert fields["report"]["measurement"].startswith("b07af962")  # type: ignore[index]
    rc, doc, _ = run(sev(vectors), capsys)  # the sample is a debug guest: refused by default
    assert rc == 1 and doc["reason"] == "sevsnp_debug_not_allowed"
    rc, doc, _ = run(sev(vectors, chain="ask_ark_genoa.pem") + ["--allow-debug"], capsys)
    assert rc == 1 and doc["reason"] == "sevsnp_product_mismatch"
    rc, doc, _ = run(sev(vectors, report="attestation_tampered_reportdata.bin") + ["--allow-debug"], capsys)
    assert rc == 1 and doc["reason"] == "sevsnp_report_signature"


def test_sgx_verdicts(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc, _ = run(sgx(vectors), capsys)
    assert rc == 0
    fields = doc["fields"]
    assert isinstance(fields, dict)
    assert fields["tcb_status"] == "ConfigurationAndSWHardeningNeeded"
    assert fields["advisory_ids"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
    assert fields["quote"]["report"]["mrenclave"].startswith("33d8736d")  # type: ignore[index]
    rc, doc, _ = run(sgx(vectors, quote="sgx_quote_tampered_reportdata.bin"), capsys)
    assert rc == 1 and doc["reason"] == "sgx_quote_signature"


def test_tdx_verdicts(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc, _ = run(tdx(vectors) + ["--mrtd", TDX_MRTD], capsys)
    assert rc == 0 and doc["valid"] is True and doc["kind"] == "tdx"
    fields = doc["fields"]
    assert isinstance(fields, dict) and fields["kind"] == "tdx"
    assert fields["tcb_status"] == "UpToDate"
    assert fields["quote"]["report"]["mrtd"] == TDX_MRTD  # type: ignore[index]
    assert fields["pck"]["fmspc"] == "b0c06f000000"  # type: ignore[index]
    rc, doc, _ = run(tdx(vectors, quote="tdx_quote_tampered_mrtd.bin"), capsys)
    assert rc == 1 and doc["reason"] == "tdx_quote_signature"
    rc, doc, _ = run(tdx(vectors) + ["--mrtd", "00" * 48], capsys)
    assert rc == 1 and doc["reason"] == "tdx_mrtd_not_allowed"
    rc, doc, _ = run(tdx(vectors, now="2025-07-20T00:00:00Z"), capsys)
    assert rc == 1 and str(doc["reason"]).startswith("tdx_") and str(doc["reason"]).endswith("_expired")
    # an SGX quote is not a TDX quote
    sgx_quote = vectors / "tee" / "sgx-dcap" / "sgx-v3_dcap-qvl" / "sgx_quote.bin"
    rc, doc, _ = run(["proofs", "verify", "--kind", "tdx", "--quote", str(sgx_quote), "--now", TDX_NOW], capsys)
    assert rc == 1 and doc["reason"] == "tdx_quote_unsupported_version"
    assert main(tdx(vectors)) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID tdx\n") and "  quote.report.debug: no\n" in out


@pytest.mark.parametrize(("vk", "proof", "public", "valid"), [
    ("risc0_multiplier_1pub/verification_key.json", "risc0_multiplier_1pub/proof.json",
     "risc0_multiplier_1pub/public.json", True),
    ("risc0_multiplier_1pub/verification_key.json", "risc0_multiplier_1pub/proof.json",
     "risc0_multiplier_1pub/public_bad.json", False),
    ("risc0_multiplier_1pub/verification_key.json", "risc0_multiplier_1pub/proof.json",
     "risc0_multiplier_1pub/public_noncanonical.json", False),
    ("risc0_multiplier_1pub/verification_key.json", "risc0_multiplier_1pub/proof_bad_not_on_curve.json",
     "risc0_multiplier_1pub/public.json", False),
    ("risc0_multiplier_1pub/verification_key.json", "circomcompat_multiplier_1pub/proof.json",
     "circomcompat_multiplier_1pub/public.json", False),
])
def test_groth16_verdicts(vectors: Path, capsys: pytest.CaptureFixture[str], vk: str, proof: str,
                          public: str, valid: bool) -> None:
    rc, doc, _ = run(g16(vectors, vk, proof, public), capsys)
    assert doc["valid"] is valid and rc == (0 if valid else 1)


def test_usage_errors_exit_2_with_one_line(vectors: Path, tmp_path: Path) -> None:
    cairn = str(Path(sys.executable).parent / "cairn")
    cases = [
        ["proofs", "verify", "--kind", "sgx", "--quote", str(tmp_path / "missing.bin")],
        sgx(vectors)[:-1] + ["yesterday"],
        sgx(vectors)[:-1] + ["2025-07-01T00:00:00"],  # no zone
        ["proofs", "verify", "--kind", "sev-snp"],
        tdx(vectors) + ["--mrtd", "abcd"],  # not 48 bytes
        tdx(vectors)[:-1] + ["2025-07-19T10:00:34"],  # no zone
        ["proofs", "verify", "--kind", "nonsense"],
    ]
    for argv in cases:
        p = subprocess.run([cairn, *argv], capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (argv, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), p.stderr


def test_human_output_shows_values_not_python_reprs(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(sev(vectors) + ["--allow-debug"]) == 0
    assert main(g16(vectors, "risc0_multiplier_1pub/verification_key.json", "risc0_multiplier_1pub/proof.json",
                    "risc0_multiplier_1pub/public.json")) == 0
    out = capsys.readouterr().out
    assert "  report.author_key_en: no\n" in out and "  report.debug: yes\n" in out
    assert "  report.cpuid_fam_id: -\n" in out and "  public_inputs: 33\n" in out
    for repr_ in (": None", ": False", ": True", "['"):
        assert repr_ not in out
