"""Validator-set changes at epoch boundaries, unbonding, liveness jails, double-sign slashing, BFT time."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicf.module import FUND_ADDRESS
from chain.apply import apply_block
from chain.block import PRECOMMIT, PREVOTE, Block, vote_digest
from chain.errors import ErrorCode, InvalidBlock
from chain.keys import PrivateKey
from chain.staking import (
    LAST_VALIDATORS_KEY,
    NEXT_VALIDATORS_KEY,
    VALIDATORS_KEY,
    DoubleSign,
    SignedVote,
    bft_time,
    load_record,
    load_set,
)
from chain.tx import SignedTx, TxBody
from genesis.devnet import devnet_genesis, devnet_onion, devnet_validator_key
from genesis.schema import GenesisValidator
from tests.chain.helpers import MemChain, account

EPOCH = 4


def small_chain(**params: int) -> MemChain:
    g = devnet_genesis()
    g = replace(g, params=replace(g.params, epoch_length=EPOCH, unbonding_blocks=3, **params))
    return MemChain(genesis=g)


def kind_tx(key: PrivateKey, kind: str, payload: list[object], nonce: int) -> SignedTx:
    return TxBody("cairn-devnet", nonce, key.public_key, 200_000, 100_000, kind, payload).sign(key)


def run(chain: MemChain, txs: list[SignedTx] | None = None, evidence: tuple[bytes, ...] = ()) -> Block:
    parent = chain.head
    block, out = chain.build(txs or [], evidence=evidence)
    again = apply_block(chain.store.head_state(), parent, block, chain.app)  # a second node agrees
    assert again.state_root == out.state_root
    chain.commit(block, out)
    return block


def test_stake_enters_the_set_two_blocks_after_the_boundary_and_headers_chain() -> None:
    chain = small_chain()
    newcomer = account(5)
    headers = [chain.head]
    b = run(chain, [kind_tx(newcomer, "stake", [20, bytes(32)], 0)])  # 100 of 120 power still commits alone
    assert not b.header.height % EPOCH == 0
    assert load_record(chain.store.head_state(), newcomer.address).stake == 20  # type: ignore[union-attr]
    for _ in range(EPOCH + 3):
        headers.append(run(chain).header)
    # Every header names the set of the block after it.
    for h, nxt in zip(headers[1:], headers[2:], strict=False):
        assert h.next_validators_hash == nxt.validators_hash
    members = [h for h in headers if h.height >= EPOCH + 2]
    state = chain.store.head_state()
    assert {bytes(v.address) for v in load_set(state, VALIDATORS_KEY).validators} == {
        bytes(chain.validator.address), bytes(newcomer.address)}
    assert members and all(h.validators_hash == load_set(state, VALIDATORS_KEY).hash() for h in members[1:])
    before = [h for h in headers if 1 <= h.height <= EPOCH + 1]
    assert all(h.validators_hash == headers[1].validators_hash for h in before)


def test_unstake_returns_after_the_unbonding_period() -> None:
    chain = small_chain()
    key = account(6)
    run(chain, [kind_tx(key, "stake", [1_000, bytes(32)], 0)])
    balance = chain.store.head_state().get_account(key.address).balance
    b = run(chain, [kind_tx(key, "unstake", [400], 1)])
    fee = chain.store.load_receipts(b.hash)[0].fee_paid
    state = chain.store.head_state()
    assert load_record(state, key.address).stake == 600  # type: ignore[union-attr]
    assert state.get_account(key.address).balance == balance - fee
    for _ in range(2):
        run(chain)
    assert chain.store.head_state().get_account(key.address).balance == balance - fee
    run(chain)  # release height = unstake height + 3
    assert chain.store.head_state().get_account(key.address).balance == balance - fee + 400


def test_unstake_more_than_staked_fails_with_a_receipt() -> None:
    chain = small_chain()
    b = run(chain, [kind_tx(account(7), "unstake", [1], 0)])
    r = chain.store.load_receipts(b.hash)[0]
    assert not r.ok and "stake is smaller" in r.reason


def double_sign(key: PrivateKey, height: int, vote_type: int = PREVOTE, *, forge: bool = False) -> bytes:
    votes = []
    for block_hash in (b"\x01" * 32, b"\x02" * 32):
        digest = vote_digest("cairn-devnet", vote_type, height, 0, block_hash, 1234)
        sig = key.sign_digest(digest) if not forge else PrivateKey.derive("someone").sign_digest(digest)
        votes.append(SignedVote(vote_type, height, 0, block_hash, 1234, key.address, bytes(sig)))
    return DoubleSign(votes[0], votes[1]).encode()


def test_double_sign_in_the_evidence_section_slashes_and_tombstones() -> None:
    chain = small_chain()
    run(chain)
    run(chain)
    v = chain.validator
    stake = load_record(chain.store.head_state(), v.address).stake  # type: ignore[union-attr]
    fund = chain.store.head_state().get_account(FUND_ADDRESS).balance
    block = run(chain, evidence=(double_sign(v, 1, PRECOMMIT),))
    state = chain.store.head_state()
    record = load_record(state, v.address)
    assert record is not None and record.tombstoned
    slash = stake * chain.genesis.params.double_sign_slash_bps // 10_000
    assert record.stake == stake - slash
    treasury = state.get_account(FUND_ADDRESS).balance - fund
    assert treasury >= slash  # plus the block's treasury share
    assert block.header.evidence_root != chain.store.load_block_at(1).header.evidence_root
    # The same evidence again invalidates a block.
    from chain.apply import build_block

    with pytest.raises(InvalidBlock) as err:
        build_block(chain.store.head_state(), chain.head, chain.app, txs=[], now_ms=0,
                    proposer=v.address, onion=chain.onion, last_commit=chain.last_commit(), evidence=(double_sign(v, 1, PRECOMMIT),))
    assert err.value.code == ErrorCode.BLOCK_INVALID


@pytest.mark.parametrize("make", [
    lambda v: double_sign(v, 1, forge=True),          # signatures by another key
    lambda v: double_sign(v, 50),                      # height not below the current one
    lambda v: b"\x00garbage",
])
def test_bad_evidence_invalidates_the_block(make: object) -> None:
    chain = small_chain()
    run(chain)
    run(chain)
    from chain.apply import build_block

    with pytest.raises(InvalidBlock):
        build_block(chain.store.head_state(), chain.head, chain.app, txs=[], now_ms=0,
                    proposer=chain.validator.address, onion=chain.onion, last_commit=chain.last_commit(),
                    evidence=(make(chain.validator),))  # type: ignore[operator]


def test_evidence_as_a_transaction_and_removal_at_the_next_boundary() -> None:
    g = devnet_genesis(2)
    g = replace(g, params=replace(g.params, epoch_length=EPOCH))
    chain = MemChain(genesis=g)
    other = devnet_validator_key(1)

    def commit_both(block: Block, members: set[bytes]) -> None:
        """Every member of the block's validator set precommits."""
        from chain.block import Commit, sign_commit_sig

        h = block.header
        keys = [k for k in (chain.validator, other) if bytes(k.address) in members]
        sigs = sorted((sign_commit_sig(k, h.chain_id, h.height, 0, block.hash, h.time_ms + 1000)
                       for k in keys), key=lambda s: bytes(s.validator))
        chain.store.save_block(block, out, Commit(h.height, 0, block.hash, tuple(sigs)))

    from chain.apply import build_block

    for i in range(EPOCH + 3):
        txs = [kind_tx(account(0), "evidence", [double_sign(other, 1)], 0).raw] if i == 1 else []
        parent = chain.head
        block, out = build_block(chain.store.head_state(), parent, chain.app, txs=txs, now_ms=parent.time_ms + 1000,
                                 proposer=chain.validator.address, onion=chain.onion, last_commit=chain.last_commit())
        apply_block(chain.store.head_state(), parent, block, chain.app)
        members = {bytes(v.address) for v in load_set(chain.store.head_state(), VALIDATORS_KEY).validators}
        commit_both(block, members)
        if i == 1:
            assert chain.store.load_receipts(block.hash)[0].ok
    state = chain.store.head_state()
    assert load_record(state, other.address).tombstoned  # type: ignore[union-attr]
    assert [v.address for v in load_set(state, NEXT_VALIDATORS_KEY).validators] == [chain.validator.address]
    assert [v.address for v in load_set(state, VALIDATORS_KEY).validators] == [chain.validator.address]


def test_a_validator_that_stops_signing_is_jailed_then_can_unjail() -> None:
    strong, weak = devnet_validator_key(0), devnet_validator_key(1)
    g = devnet_genesis()
    g = replace(g, validators=(GenesisValidator("a", strong.public_key, 100, devnet_onion(0).tip),
                                          GenesisValidator("b", weak.public_key, 10, devnet_onion(1).tip)),
                initial_balances=(*g.initial_balances, (weak.address, 10**9)),
                params=replace(g.params, epoch_length=EPOCH, max_missed_blocks=3, jail_blocks=5))
    chain = MemChain(genesis=g)  # only ``strong`` signs commits: 100/110 > 2/3
    for _ in range(4):
        run(chain)
    record = load_record(chain.store.head_state(), weak.address)
    assert record is not None and record.jailed_until > 0 and not record.tombstoned
    early = run(chain, [kind_tx(weak, "unjail", [], 0)])
    assert not chain.store.load_receipts(early.hash)[0].ok
    while chain.head.height < record.jailed_until:
        run(chain)
    b = run(chain, [kind_tx(weak, "unjail", [], 1)])
    assert chain.store.load_receipts(b.hash)[0].ok
    assert load_record(chain.store.head_state(), weak.address).jailed_until == 0  # type: ignore[union-attr]
    assert load_set(chain.store.head_state(), LAST_VALIDATORS_KEY).validators


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 100)), min_size=1, max_size=12))
def test_bft_time_is_a_weighted_median(pairs: list[tuple[int, int]]) -> None:
    t = bft_time(pairs)
    total = sum(p for _, p in pairs)
    assert 2 * sum(p for tt, p in pairs if tt <= t) > total
    assert 2 * sum(p for tt, p in pairs if tt < t) <= total


def test_block_time_must_be_the_bft_time() -> None:
    chain = small_chain()
    run(chain)
    from chain.apply import build_block

    block, _ = build_block(chain.store.head_state(), chain.head, chain.app, txs=[], now_ms=0,
                           proposer=chain.validator.address, onion=chain.onion, last_commit=chain.last_commit())
    bad = replace(block, header=replace(block.header, time_ms=block.header.time_ms + 1), _raw=b"")
    with pytest.raises(InvalidBlock) as err:
        apply_block(chain.store.head_state(), chain.head, bad, chain.app)
    assert err.value.code == ErrorCode.BLOCK_BAD_TIME


def test_the_onion_is_peeled_one_layer_per_proposal() -> None:
    from chain.onion import Onion
    from chain.staking import onion_hash

    chain = small_chain()
    reveals = [run(chain).header.beacon_reveal for _ in range(3)]
    assert len(set(reveals)) == 3
    for older, newer in zip(reveals, reveals[1:], strict=False):
        assert onion_hash(newer) == older  # each reveal is one layer deeper
    record = load_record(chain.store.head_state(), chain.validator.address)
    assert record is not None and record.onion == reveals[-1]
    # A wrong reveal (a layer not below the registered one) invalidates the block.
    from chain.apply import build_block

    good, _ = build_block(chain.store.head_state(), chain.head, chain.app, txs=[], now_ms=0,
                          proposer=chain.validator.address, onion=chain.onion, last_commit=chain.last_commit())
    from chain.block import beacon_next

    bad_reveal = onion_hash(good.header.beacon_reveal)  # the already revealed layer, again
    bad = replace(good, header=replace(good.header, beacon_reveal=bad_reveal,
                                       beacon=beacon_next(chain.head.beacon, bad_reveal)), _raw=b"")
    with pytest.raises(InvalidBlock) as err:
        apply_block(chain.store.head_state(), chain.head, bad, chain.app)
    assert err.value.code == ErrorCode.BLOCK_BAD_BEACON
    # Another validator's onion cannot reveal for this proposer.
    with pytest.raises(ValueError):
        build_block(chain.store.head_state(), chain.head, chain.app, txs=[], now_ms=0,
                    proposer=chain.validator.address, onion=Onion(b"\x07" * 32, 10), last_commit=chain.last_commit())


def test_a_new_validator_must_register_an_onion() -> None:
    chain = small_chain()
    b = run(chain, [kind_tx(account(5), "stake", [20], 0)])
    r = chain.store.load_receipts(b.hash)[0]
    assert not r.ok and "onion" in r.reason


def test_an_onion_runs_out() -> None:
    from chain.onion import Onion

    onion = Onion(b"\x01" * 32, 3)
    layers = [onion.tip]
    for _ in range(3):
        nxt = onion.reveal_for(layers[-1])
        assert nxt is not None
        layers.append(nxt)
    assert onion.reveal_for(layers[-1]) is None
    assert layers[-1] == b"\x01" * 32
