"""``make demo`` (``node/demo.py``) against a real devnet with its reference provider.

The devnet is ``cairn devnet`` as ``make run`` starts it (the module fixtures of
tests/node/test_cli.py); the demo's :func:`node.demo.main` runs in this process against its
RPC, and what it printed is compared with what the node says.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from node.demo import main
from tests.node import test_cli
from tests.node.test_cli import Devnet

env = test_cli.env  # a throwaway HOME and one devnet node with the reference provider
devnet = test_cli.devnet


def test_the_demo_runs_every_step_and_prints_what_the_chain_holds(devnet: Devnet, samples: dict[str, bytes],
                                                                   tmp_path: Path) -> None:
    wasm = tmp_path / "ai_agent.wasm"
    wasm.write_bytes(samples["ai_agent"])
    out = io.StringIO()
    assert main(["--rpc", devnet.url, "--wasm", str(wasm), "--timeout", "45"], out=out) == 0
    text = out.getvalue()
    assert text.rstrip().endswith("Every check held.")

    # Each payout as printed is the node's aicf.getPayout, and was proved against a header
    # the devnet's one validator signed.
    validator = devnet.call("node.status")["validator"]
    paid = re.findall(r"^   (ai|quantum) job ([0-9a-f]{64}): paid by epoch (\d+)", text, re.M)
    assert [kind for kind, _, _ in paid] == ["ai", "quantum"]
    for kind, task, epoch in paid:
        (share,) = devnet.call("aicf.getPayout", task_id=task)["shares"]
        assert share["epoch"] == int(epoch)
        milli = share["units_milli"]
        assert (f"units {milli // 1000}.{milli % 1000:03d} at base rate {share['base_rate']} per unit "
                f"= price {share['price']}") in text
        assert (f"shares: provider {share['provider_share']} to {share['provider']}, producer "
                f"{share['producer_share']} to {share['producer']}, fund {share['fund_share']}") in text
        assert (f"weight {share['weight_bp']} bp" in text and f"QoS {share['qos_bp']} bp" in text)
        assert f"proof {share['proof_hash']}" in text
        job = devnet.call("aicf.getJob", task_id=task)
        assert job["status"] == "resolved" and job["kind"] == kind
        assert [r["proof_hash"] for r in job["results"]] == [share["proof_hash"]]
    signed = re.findall(r"verified against header (\d+) \([0-9a-f]+…\) signed by (\S+) ", text)
    assert len(signed) == 2 and {who for _, who in signed} == {validator}

    # The cheater: slashed bad_proof at 10 % of its stake, jailed, and its job completed by the
    # reference provider.
    (cheater,) = re.findall(r"^   registered (cairn1\w+) \(stake (\d+)", text, re.M)
    address, stake = cheater[0], int(cheater[1])
    record = devnet.call("aicf.getProvider", address=address)
    (slash,) = record["slashes"]
    assert slash["reason"] == "bad_proof" and int(slash["amount"]) == stake // 10
    assert int(record["stake"]) == stake - stake // 10 and record["jailed_until"] > slash["height"]
    assert not record["eligible"] and record["failed"] == 1
    assert (f"provider_slashed: reason bad_proof, amount {slash['amount']} (= stake {stake} × 1000 bp)") in text
    assert f"jailed until block {record['jailed_until']}" in text
    assert f"block {slash['height']} included it as a failed proof" in text
    job = devnet.call("aicf.getJob", task_id=slash["task_id"])
    honest = devnet.call("aicf.listProviders")["providers"]
    reference = next(p["address"] for p in honest if p["address"] != address and p["slashes"] == [])
    assert job["status"] == "resolved" and job["excluded"] == [address]
    assert [r["provider"] for r in job["results"]] == [reference]
    assert f"the reference provider completed it in block {job['results'][0]['height']}" in text
    assert devnet.proc.poll() is None


def test_no_node_is_one_line_and_a_non_zero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rpc", "http://127.0.0.1:1", "--wasm", "/nonexistent.wasm"]) == 3
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["demo: no node answers at http://127.0.0.1:1: is `make run` running?"]
    assert captured.out == ""
