"""``config.toml`` bounds (``node.limits``): a setting reaches the part that enforces it, a bad one is refused."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from chain.errors import ErrorCode
from genesis.devnet import devnet_account_key, devnet_genesis, devnet_onion, devnet_validator_key
from node.home import Home, HomeError
from node.limits import settings
from node.service import Node, run_node
from tests.node.helpers import sign_tx


def _home(tmp_path: Path, limits: str) -> Home:
    """A devnet home whose config has ``limits`` inserted: lines under a table the written config has
    (``[rpc]``, ``[p2p]``) join it, anything else goes before the first table."""
    home = Home(tmp_path / "home")
    # No block during the test (600 s intervals), so submitted transactions stay pending.
    home.init(devnet_genesis(1), devnet_validator_key(0), rpc="127.0.0.1:0", min_interval=600, max_interval=600)
    text = home.config_file.read_text()
    for block in filter(None, re.split(r"(?m)^(?=\[)", limits)):
        table = re.compile(rf"(?m)^{re.escape(block.split(chr(10), 1)[0])}\n")
        text = table.sub(block, text, 1) if block.startswith("[") and table.search(text) else block + text
    home.config_file.write_text(text)
    return home


async def test_a_per_sender_cap_set_in_config_is_the_one_the_running_node_enforces(
        nursery: trio.Nursery, tmp_path: Path) -> None:
    home = _home(tmp_path, "[mempool]\nmax_txs_per_sender = 3\n[rpc]\nmax_body = 4000\n")
    config = home.load_config()
    assert config.limits == {"mempool": {"max_txs_per_sender": 3}, "rpc": {"max_body": 4000}}
    with trio.fail_after(15):
        node: Node = await nursery.start(partial(run_node, onion=devnet_onion(0)), home.load_genesis(),
                                         home.load_key(), str(home.data_dir), config)
    key = devnet_account_key(1)
    answers = []
    async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=15) as http:
        for nonce in range(4):
            doc = (await http.post("/", json={"jsonrpc": "2.0", "id": nonce, "method": "tx.send",
                                              "params": {"tx": sign_tx(key, nonce).raw.hex()}})).json()
            answers.append(doc)
        big = await http.post("/", content=b'{"jsonrpc": "2.0", "id": 1, "method": "chain.getHead"' + b" " * 4000 + b"}")
    assert all("result" in a for a in answers[:3]), answers
    assert answers[3]["error"]["code"] == ErrorCode.MEMPOOL_FULL, answers[3]
    assert answers[3]["error"]["data"]["limit"] == "sender"
    assert big.status_code == 413 and "larger than 4000 bytes" in big.json()["error"]["message"]


@pytest.mark.parametrize(("text", "named"), [
    ("[mempool]\nmax_txs_per_sendr = 3\n", "mempool.max_txs_per_sendr is not a setting"),
    ("[mempool]\nmax_txs = \"many\"\n", "mempool.max_txs must be an integer"),
    ("[p2p]\nmax_inbound = 1.5\n", "p2p.max_inbound must be an integer"),
    ("[evidence]\nmax_items = -1\n", "evidence.max_items must be an integer >= 0"),
    ("mempool = 5\n", "[mempool] must be a table"),
    ("[consensus]\nbuild_gas = 5\n", "consensus.build_gas is not a setting"),
    ("[proofs]\nbackend = \"native\"\n", "[proofs] takes only groth16_backend"),
])
def test_a_bad_setting_is_a_home_error_naming_it(tmp_path: Path, text: str, named: str) -> None:
    home = _home(tmp_path, text)
    with pytest.raises(HomeError, match=named.replace("[", r"\[").replace("]", r"\]")):
        home.load_config()


def test_every_section_has_settings_and_the_template_names_real_ones() -> None:
    known = settings()
    assert set(known) == {"mempool", "evidence", "proofpool", "p2p", "rpc"}
    assert all(known.values()), known
    assert known["mempool"]["max_txs_per_sender"] == 10_000
    assert known["evidence"]["max_items"] == 64
    assert known["proofpool"] == {"max_proofs": 1024, "max_bytes": 64 * 1024 * 1024}


def test_the_groth16_backend_is_a_setting(tmp_path: Path) -> None:
    """``[proofs] groth16_backend`` (the template writes ``auto``) picks ``proofs.groth16``'s backend."""
    home = _home(tmp_path, "")
    assert home.load_config().groth16_backend == "auto"
    template = home.config_file.read_text()
    for value in ("py_ecc", "native"):  # make test installs the native extra (the dev extra pins it)
        home.config_file.write_text(template.replace('groth16_backend = "auto"', f'groth16_backend = "{value}"'))
        assert home.load_config().groth16_backend == value
    home.config_file.write_text(template.replace('groth16_backend = "auto"', 'groth16_backend = "fast"'))
    with pytest.raises(HomeError, match="unknown Groth16 backend 'fast'"):
        home.load_config()
