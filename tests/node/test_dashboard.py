"""The dashboard (``GET /``) in a real headless browser, against a running devnet.

The devnet runs the reference provider (as ``make run`` does).  Headless Chromium (Debian's
``chromium``, which ``make browser`` installs; Playwright drives it and downloads no browser)
loads the page and sees a block arrive over ``/ws``; the ``ai_agent`` sample asks for an AI
job through the CLI, and the page shows the job resolved with its answer, then its payout
once the devnet's 20-block epoch settles.  The light-client proofs the page shows for the
result and the payout are checked here against the header it shows with them.  A
screenshot is kept in the test's ``tmp_path`` and at ``test-artifacts/dashboard.png``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from aicf.settlement import payout_key
from capabilities.records import result_key
from chain.block import Header
from chain.smt import SmtProof, verify_proof
from tests.node import test_cli
from tests.node.test_cli import Devnet, run_many
from tests.node.test_cli_contracts import as_json, contract_of

env = test_cli.env  # the module-scoped fixtures of test_cli.py: a throwaway HOME, one devnet node
devnet = test_cli.devnet

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "test-artifacts" / "dashboard.png"
CHROMIUM = "/usr/bin/chromium"
MS = 1000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium under Playwright (a dev dependency, imported at the top: a missing one
    fails collection); fails, never skips, with one line when the browser is missing."""
    path = shutil.which("chromium") or CHROMIUM
    if not Path(path).is_file():
        pytest.fail("no chromium: `make browser` installs it (apt-get install chromium)", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True)
        try:
            yield b
        finally:
            b.close()


def grouped(n: int | str) -> str:
    return f"{int(n):,}"


def check_proof(page: Any, kind: str, task: str, key: bytes) -> None:
    """The proof the page shows verifies against the state root of the header it shows."""
    shown = {name: (page.locator(f"#proof-{name}").text_content() or "").strip()
             for name in ("key", "value", "root", "proof", "header-hash", "header-raw", "header-root")}
    header = Header.decode(bytes.fromhex(shown["header-raw"]))
    assert bytes(header.hash()).hex() == shown["header-hash"]
    assert bytes(header.state_root).hex() == shown["root"] == shown["header-root"]
    assert shown["key"] == key.hex()
    assert verify_proof(header.state_root, key, bytes.fromhex(shown["value"]),
                        SmtProof.decode(bytes.fromhex(shown["proof"]))), f"the page's {kind} proof does not verify"
    assert page.locator("#proof").get_attribute("data-task") == task
    assert page.locator("#proof-root-check").get_attribute("data-ok") == "true"


def test_the_dashboard_follows_a_job_to_its_payout(devnet: Devnet, env: dict[str, str], samples: dict[str, bytes],
                                                   browser: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.goto(devnet.url + "/")

    # Live: the stream is up, and a block committed after the page loaded appears in the table.
    expect(page.locator("#ws-status")).to_have_attribute("data-state", "live", timeout=10 * MS)
    expect(page.locator("#head-height")).not_to_have_attribute("data-height", "", timeout=10 * MS)
    seen = int(page.locator("#head-height").get_attribute("data-height"))
    expect(page.locator(f"#blocks tr[data-height='{seen + 1}']")).to_be_visible(timeout=10 * MS)
    expect(page.locator("#events li[data-topic='newHeads']").first).to_be_visible()
    validator = devnet.call("chain.getValidators")["validators"][0]["address"]
    signed, of = page.locator(f"#validators tr[data-validator='{validator}']").evaluate(
        "row => [row.dataset.signed, row.dataset.of]")
    assert signed == of != "0"  # the one validator signed every block shown
    expect(page.locator("#providers tr[data-provider]")).to_have_count(1, timeout=15 * MS)

    # A contract asks for an AI job (the CLI, as a user would).
    wasm = tmp_path / "ai_agent.wasm"
    wasm.write_bytes(samples["ai_agent"])
    rpc = ("--rpc", devnet.url)
    (deployed,) = run_many(env, ("tx", "deploy", wasm, "--from", "devnet:1", "--wait", "--json", *rpc))
    agent = as_json(deployed)["address"]
    assert agent == contract_of(1)
    (ask,) = run_many(env, ("tx", "call", agent, "ask", "--arg", "str:llama3-8b", "--arg", "str:Why is the sky blue?",
                            "--arg", "u64:16", "--value", "1000000", "--from", "devnet:1", "--wait", "--json", *rpc))
    (task,) = [e["attrs"]["task_id"] for e in as_json(ask)["events"] if e["name"] == "enqueued"]

    # The job appears, resolves (pushed by jobCompleted), and opens with the provider's answer.
    row = page.locator(f"#jobs tr[data-task='{task}']")
    expect(row).to_have_attribute("data-status", "resolved", timeout=30 * MS)
    row.locator("button.open-job").click()
    detail = page.locator(f"#job-detail[data-task='{task}']")
    expect(detail).to_have_attribute("data-status", "resolved")
    job = devnet.call("aicf.getJob", task_id=task)
    answer = bytes.fromhex(job["result"]["output"]).decode()
    assert len(answer.split()) == 16  # the builtin backend answers with exactly max_tokens words
    expect(page.locator("#job-output")).to_have_text(answer)
    expect(page.locator("#job-output")).to_have_attribute("data-state", "text")
    expect(detail.locator("#job-results")).to_contain_text(job["results"][0]["proof_hash"][:10])

    page.locator("#proof-result").click()
    expect(page.locator("#proof")).to_have_attribute("data-kind", "result")
    check_proof(page, "result", task, result_key(bytes.fromhex(task)))

    # The epoch settles (pushed by epochSettled): the open job shows its payout and split.
    payout_box = page.locator("#job-payout")
    expect(payout_box).to_have_attribute("data-state", "paid", timeout=45 * MS)
    payout = devnet.call("aicf.getPayout", task_id=task)
    (share,) = payout["shares"]
    expect(payout_box.locator(".share-provider")).to_have_text(grouped(share["provider_share"]))
    expect(payout_box.locator(".share-producer")).to_have_text(grouped(share["producer_share"]))
    expect(payout_box.locator(".share-fund")).to_have_text(grouped(share["fund_share"]))
    epoch = share["epoch"]
    assert payout_box.get_attribute("data-epoch") == str(epoch)
    expect(page.locator(f"#epochs tr[data-epoch='{epoch}'][data-settled='true']")).to_be_visible()
    expect(page.locator("#epoch-detail")).to_have_attribute("data-epoch", str(epoch))
    expect(page.locator("#epoch-detail")).to_contain_text(task[:10])

    page.locator("#proof-payout").click()
    expect(page.locator("#proof")).to_have_attribute("data-kind", "payout")
    check_proof(page, "payout", task, payout_key(bytes.fromhex(task)))

    expect(page.locator("#error")).to_be_hidden()
    assert errors == []

    page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
    with capsys.disabled():
        print(f"\ndashboard screenshot: {ARTIFACT} (and {shot})")
    page.close()


def test_the_page_and_its_assets_beside_the_json_rpc(devnet: Devnet) -> None:
    page = httpx.get(devnet.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/dashboard/app.js"' in page.text
    for name, media in (("app.js", "text/javascript"), ("style.css", "text/css")):
        asset = httpx.get(f"{devnet.url}/dashboard/{name}", timeout=10)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media), name
    assert httpx.get(devnet.url + "/dashboard/..%2Fpyproject.toml", timeout=10).status_code == 404
    assert httpx.get(devnet.url + "/dashboard/missing.js", timeout=10).status_code == 404
    assert devnet.call("node.status")["chain_id"] == "cairn-devnet"  # POST / is still the JSON-RPC
