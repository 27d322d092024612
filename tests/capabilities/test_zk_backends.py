"""One block of ten ``zk_verify`` host calls commits to the same state with either Groth16
backend (proofs.groth16, "Backends"): validators running py_ecc and validators running the
native one agree on every root.

(The AICF has no zk job kind yet, so ``zk_verify`` is the block-level consumer of Groth16.)
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aicf.module import FUND_ADDRESS
from capabilities.costs import cost
from capabilities.module import contracts_module
from chain.apply import Application
from genesis.build import make_application
from genesis.devnet import devnet_genesis
from proofs.groth16 import BACKENDS, Groth16Cache
from tests.capabilities.test_host import deployed, zk_script
from tests.chain.vm.contracts import Node

R0, CC = Path("groth16/risc0_multiplier_1pub"), Path("groth16/circomcompat_multiplier_1pub")


def _calls(vectors: Path) -> list[tuple[bytes, bytes, bytes]]:
    """Ten (vk, proof, public) triples: valid, failing the pairing, and malformed."""
    r0 = [(vectors / R0 / n).read_bytes() for n in ("verification_key.json", "proof.json", "public.json")]
    cc = [(vectors / CC / n).read_bytes() for n in ("verification_key.json", "proof.json", "public.json")]
    proof = json.loads(r0[1])
    proof["pi_a"], proof["pi_c"] = proof["pi_c"], proof["pi_a"]
    swapped = json.dumps(proof).encode()
    return [
        (r0[0], r0[1], r0[2]),                                          # valid
        (cc[0], cc[1], cc[2]),                                          # valid
        (r0[0], r0[1], (vectors / R0 / "public_bad.json").read_bytes()),  # pairing fails
        (cc[0], cc[1], (vectors / CC / "public_bad.json").read_bytes()),  # pairing fails
        (r0[0], cc[1], cc[2]),                                          # other setup: pairing fails
        (r0[0], swapped, r0[2]),                                        # A and C swapped: pairing fails
        (r0[0], r0[1], (vectors / R0 / "public_noncanonical.json").read_bytes()),  # input >= r
        (r0[0], (vectors / R0 / "proof_bad_not_on_curve.json").read_bytes(), r0[2]),  # off curve
        (r0[0], r0[1], b'["033"]'),                                      # non-canonical decimal
        (r0[0], r0[1], r0[2]),                                          # valid again (cached)
    ]


def zk_node(backend: str) -> tuple[Node, Groth16Cache]:
    """A devnet chain whose ``zk_verify`` uses ``backend``, with room for ten calls a block."""
    base_genesis = devnet_genesis()
    genesis = replace(base_genesis, params=replace(base_genesis.params, block_gas_limit=1_000_000_000))
    cache = Groth16Cache(backend=backend)
    base = make_application(genesis)
    contracts = contracts_module(genesis.params, genesis.capabilities, genesis.aicf.pricing, groth16_cache=cache)
    app = Application.compose(genesis.chain_id, genesis.params,
                              [contracts, *[m for m in base.modules[1:] if m.name != "contracts"]],
                              slash_to=FUND_ADDRESS)
    return Node(genesis, app=app), cache


def _run_block(backend: str, calls: list[tuple[bytes, bytes, bytes]]) -> tuple[Any, Any, Node, Groth16Cache]:
    node, cache = zk_node(backend)
    (c,) = deployed(node, 1)
    gas = cost("zk_verify", 16_384) + 1_000_000
    txs = [node.call_tx(c, "run", zk_script(*call).keep().encode(), gas=gas) for call in calls]
    block, out = node.block(txs)
    return block, out, node, cache


@pytest.fixture(scope="module")
def blocks(vectors: Path) -> dict[str, Any]:
    calls = _calls(vectors)
    return {name: _run_block(name, calls) for name in BACKENDS}


def test_ten_zk_verify_calls_give_the_same_roots_with_either_backend(blocks: dict[str, Any]) -> None:
    (ref_block, ref_out, _, _), (nat_block, nat_out, _, nat_cache) = blocks["py_ecc"], blocks["native"]
    assert len(ref_block.txs) == 10
    assert all(r.ok for r in ref_out.receipts)
    assert ref_block.header.state_root == nat_block.header.state_root
    assert ref_block.header.receipts_root == nat_block.header.receipts_root
    assert ref_block.header == nat_block.header
    assert [r.gas_used for r in ref_out.receipts] == [r.gas_used for r in nat_out.receipts]
    assert [slot[0] for slot in nat_cache._keys] == ["native", "native"]  # both keys, native-prepared


def test_a_native_block_applies_on_a_py_ecc_validator(vectors: Path, blocks: dict[str, Any]) -> None:
    """A block built by a native validator, replayed by a fresh py_ecc one (every root checked)."""
    nat_block, nat_out, _, _ = blocks["native"]
    replica, cache = zk_node("py_ecc")
    deployed(replica, 1)  # the same deploy block as the native chain's (same genesis and keys)
    out = replica.apply(nat_block)
    assert [r.gas_used for r in out.receipts] == [r.gas_used for r in nat_out.receipts]
    assert [slot[0] for slot in cache._keys] == ["py_ecc", "py_ecc"]
