"""The light client follows a real chain by commits and refuses forged headers, commits and proofs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.block import Commit
from chain.errors import InvalidBlock, InvalidProof
from chain.keys import PrivateKey
from chain.light import LightClient, verify_account
from chain.staking import NEXT_VALIDATORS_KEY, VALIDATORS_KEY, load_set
from chain.state import account_key
from chain.types import Hash32
from tests.chain.helpers import MemChain, account, transfer

DAY = 86_400_000


def grow(n: int) -> MemChain:
    chain = MemChain()
    for i in range(n):
        block, out = chain.build([transfer(account(0), account(1).address, 1, i)])
        chain.commit(block, out)
    return chain


def sets_for(chain: MemChain, height: int) -> tuple:  # type: ignore[type-arg]
    """(validators of ``height``, validators of ``height + 1``) as a node's RPC reports them."""
    state = chain.store.state_at(chain.store.load_block_at(height - 1).header.state_root)
    return load_set(state, VALIDATORS_KEY), load_set(state, NEXT_VALIDATORS_KEY)


def client(chain: MemChain) -> LightClient:
    genesis = chain.store.load_block_at(0).header
    state = chain.store.state_at(genesis.state_root)
    return LightClient.bootstrap(chain.genesis.chain_id, genesis, load_set(state, NEXT_VALIDATORS_KEY),
                                 trusting_period_ms=DAY)


def test_sequential_and_skipping_verification_then_a_state_proof() -> None:
    chain = grow(6)
    lc = client(chain)
    now = chain.head.time_ms + 1000
    for h in (1, 2, 3):
        vals, nxt = sets_for(chain, h)
        lc = lc.verify(chain.store.load_block_at(h).header, chain.store.load_commit(h), vals, nxt, now_ms=now)
    vals, nxt = sets_for(chain, 6)
    lc = lc.verify(chain.store.load_block_at(6).header, chain.store.load_commit(6), vals, nxt, now_ms=now)
    assert lc.trusted.height == 6
    tree = chain.store.state_at(lc.trusted.state_root).tree
    addr = account(1).address
    verify_account(lc.trusted, addr, tree.get(account_key(addr)), tree.prove(account_key(addr)))
    stranger = PrivateKey.derive("absent").address
    verify_account(lc.trusted, stranger, None, tree.prove(account_key(stranger)))
    with pytest.raises(InvalidProof):
        verify_account(lc.trusted, addr, b"\x00" + (tree.get(account_key(addr)) or b""), tree.prove(account_key(addr)))
    with pytest.raises(InvalidProof):
        verify_account(lc.trusted, stranger, b"\x01", tree.prove(account_key(stranger)))


def test_forgeries_are_refused() -> None:
    chain = grow(3)
    lc = client(chain)
    now = chain.head.time_ms + 1000
    h1 = chain.store.load_block_at(1).header
    vals, nxt = sets_for(chain, 1)
    c1 = chain.store.load_commit(1)
    forged = replace(h1, state_root=Hash32(b"\x09" * 32))
    with pytest.raises(InvalidBlock):
        lc.verify(forged, c1, vals, nxt, now_ms=now)  # the commit is for the real header
    with pytest.raises(InvalidBlock):
        lc.verify(h1, Commit(1, 0, c1.block_hash, ()), vals, nxt, now_ms=now)  # no signatures
    with pytest.raises(InvalidBlock):
        lc.verify(h1, c1, vals, nxt, now_ms=h1.time_ms + 2 * DAY)  # trust expired
    # A commit signed by a key the client does not know cannot vouch for a skip.
    other = MemChain()
    other.validator = PrivateKey.derive("impostor")
    h3 = chain.store.load_block_at(3).header
    fake = other.sign_commit(chain.store.load_block_at(3))
    v3, n3 = sets_for(chain, 3)
    with pytest.raises(InvalidBlock):
        lc.verify(h3, fake, v3, n3, now_ms=now)
