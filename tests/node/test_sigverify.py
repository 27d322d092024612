"""The signature pool speeds block validation up but never changes its outcome."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.apply import apply_block
from chain.errors import ErrorCode, InvalidBlock
from chain.merkle import merkle_root
from chain.tx import SignedTx
from chain.types import Hash32, Signature64
from node.sigverify import SignaturePool
from tests.chain.helpers import MemChain, account, transfer


def test_pool_reports_exactly_the_good_signatures_and_apply_agrees() -> None:
    chain = MemChain()
    good = [transfer(account(i), account(9).address, 1, 0) for i in range(5)]
    bad = SignedTx(good[0].body, Signature64(bytes(64)))
    wrong_chain = transfer(account(6), account(9).address, 1, 0, chain_id="elsewhere")
    pool = SignaturePool(chain.genesis.chain_id, chain.app.params.max_tx_bytes, workers=1)
    try:
        verified = pool.verify([t.raw for t in good] + [bad.raw, wrong_chain.raw, b"\x00garbage"])
    finally:
        pool.close()
    assert verified == {bytes(t.hash) for t in good}

    block, _ = chain.build(good)
    plain = apply_block(chain.store.head_state(), chain.head, block, chain.app)
    pooled = apply_block(chain.store.head_state(), chain.head, block, chain.app, verified=verified)
    assert plain.state_root == pooled.state_root and plain.receipts == pooled.receipts

    # A bad signature is not in the set, so apply_block still checks it and refuses the block.
    forced = replace(block, txs=(bad.raw,), header=replace(block.header, txs_root=Hash32(merkle_root([bad.raw]))),
                     _raw=b"")
    with pytest.raises(InvalidBlock) as err:
        apply_block(chain.store.head_state(), chain.head, forced, chain.app, verified=verified)
    assert err.value.details["tx_code"] == ErrorCode.TX_BAD_SIGNATURE
