"""The state transition: valid blocks apply, each broken rule gives its exact error, value is conserved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aicf.module import FUND_ADDRESS, treasury_share
from chain.apply import Application, apply_block, execute_block
from chain.block import Block, Commit, CommitSig
from chain.errors import ErrorCode, InvalidBlock
from chain.keys import PrivateKey
from chain.module import Event
from chain.tx import SignedTx
from chain.types import Hash32, Signature64
from genesis.devnet import DEVNET_ACCOUNTS, DEVNET_BALANCE
from tests.chain.helpers import MemChain, account, transfer


def total_supply(chain: MemChain, extra: list[bytes]) -> int:
    state = chain.store.head_state()
    addrs = {bytes(account(i).address) for i in range(DEVNET_ACCOUNTS)} | set(extra)
    addrs |= {bytes(chain.validator.address), bytes(FUND_ADDRESS)}
    return sum(state.get_account(a).balance for a in addrs)


def test_transfer_block_applies_on_a_fresh_node() -> None:
    chain = MemChain()
    a, b = account(0), account(1)
    block, out = chain.build([transfer(a, b.address, 500, 0)])
    # A second node, from the same genesis, replays the block and gets the same roots.
    other = MemChain()
    out2 = apply_block(other.store.head_state(), other.head, block, other.app)
    assert out2.state_root == out.state_root == block.header.state_root
    assert out2.receipts == out.receipts and out.receipts[0].ok
    chain.commit(block, out)
    assert chain.store.head_state().get_account(b.address).balance == DEVNET_BALANCE + 500
    assert chain.store.head_state().get_account(a.address).nonce == 1


def test_failed_transfer_charges_fee_and_reverts_value() -> None:
    chain = MemChain()
    a, c = account(0), PrivateKey.derive("nobody")
    block, out = chain.build([transfer(a, c.address, DEVNET_BALANCE, 0)])  # value + fee > balance
    r = out.receipts[0]
    assert not r.ok and "insufficient balance" in r.reason
    chain.commit(block, out)
    state = chain.store.head_state()
    assert state.get_account(c.address).balance == 0
    assert state.get_account(a.address).balance == DEVNET_BALANCE - r.fee_paid
    assert r.fee_paid == r.gas_used * (40_000 // 20_000)


def test_out_of_gas_charges_whole_limit() -> None:
    chain = MemChain()
    a = account(0)
    tx = transfer(a, account(1).address, 1, 0, gas_limit=12_000, fee=12_000)  # covers intrinsic, not transfer gas
    block, out = chain.build([tx])
    r = out.receipts[0]
    assert not r.ok and r.gas_used == 12_000 and r.fee_paid == 12_000


@settings(max_examples=25)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(1, 2 * DEVNET_BALANCE),
                          st.integers(1, 5)), min_size=1, max_size=25),
       st.integers(1, 3))
def test_value_is_conserved_over_random_blocks(moves: list[tuple[int, int, int, int]], blocks: int) -> None:
    """Sum of balances grows by exactly block_reward per block; the fund gets its treasury share."""
    chain = MemChain()
    extra = [bytes(PrivateKey.derive(f"x{i}").address) for i in range(6)]
    nonces = [0] * DEVNET_ACCOUNTS
    before = total_supply(chain, extra)
    per_block = [moves[i::blocks] for i in range(blocks)]
    for chunk in per_block:
        txs = []
        for sender, to, amount, price in chunk:
            txs.append(transfer(account(sender), extra[to], amount, nonces[sender], fee=20_000 * price))
            nonces[sender] += 1
        fund_before = chain.store.head_state().get_account(FUND_ADDRESS).balance
        block, out = chain.build(txs)
        assert len(block.txs) == len(txs)
        chain.commit(block, out)
        fees = sum(r.fee_paid for r in out.receipts)
        fund_after = chain.store.head_state().get_account(FUND_ADDRESS).balance
        assert fund_after - fund_before == treasury_share(fees, chain.app.params.block_reward,
                                                          chain.genesis.aicf)
    after = total_supply(chain, extra)
    assert after - before == blocks * chain.app.params.block_reward


def _mutated(chain: MemChain, block: Block, **header_changes: object) -> Block:
    return replace(block, header=replace(block.header, **header_changes), _raw=b"")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"chain_id": "other"}, ErrorCode.BLOCK_BAD_CHAIN),
        ({"height": 5}, ErrorCode.BLOCK_BAD_HEIGHT),
        ({"prev_hash": Hash32(b"\x01" * 32)}, ErrorCode.BLOCK_BAD_PARENT),
        ({"time_ms": 0}, ErrorCode.BLOCK_BAD_TIME),
        ({"txs_root": Hash32(b"\x02" * 32)}, ErrorCode.BLOCK_BAD_ROOT),
        ({"state_root": Hash32(b"\x03" * 32)}, ErrorCode.BLOCK_BAD_ROOT),
        ({"receipts_root": Hash32(b"\x04" * 32)}, ErrorCode.BLOCK_BAD_ROOT),
        ({"validators_hash": Hash32(b"\x05" * 32)}, ErrorCode.BLOCK_BAD_VALIDATORS),
        ({"proposer": account(0).address}, ErrorCode.BLOCK_BAD_PROPOSER),
        ({"beacon": Hash32(b"\x06" * 32)}, ErrorCode.BLOCK_BAD_BEACON),
    ],
)
def test_each_header_rule(change: dict[str, object], code: ErrorCode) -> None:
    chain = MemChain()
    block, _ = chain.build([transfer(account(0), account(1).address, 1, 0)])
    with pytest.raises(InvalidBlock) as err:
        apply_block(chain.store.head_state(), chain.head, _mutated(chain, block, **change), chain.app)
    assert err.value.code == code


def _two_blocks() -> tuple[MemChain, Block]:
    chain = MemChain()
    block, out = chain.build([])
    chain.commit(block, out)
    block2, _ = chain.build([])
    return chain, block2


def test_missing_or_forged_last_commit() -> None:
    chain, block = _two_blocks()
    assert block.last_commit is not None
    apply_block(chain.store.head_state(), chain.head, block, chain.app)  # the real one passes
    forged_sig = CommitSig(block.last_commit.signatures[0].validator, block.last_commit.signatures[0].time_ms,
                           Signature64(b"\x00" * 64))
    forged = Commit(block.last_commit.height, 0, block.last_commit.block_hash, (forged_sig,))
    for bad in (None, forged):
        from chain.block import last_commit_hash

        b = replace(block, last_commit=bad, header=replace(block.header, last_commit_hash=last_commit_hash(bad)),
                    _raw=b"")
        with pytest.raises(InvalidBlock) as err:
            apply_block(chain.store.head_state(), chain.head, b, chain.app)
        assert err.value.code == ErrorCode.BLOCK_BAD_COMMIT


def test_commit_by_a_stranger_is_refused() -> None:
    chain, block = _two_blocks()
    stranger = PrivateKey.derive("stranger")
    lc = block.last_commit
    assert lc is not None
    from chain.block import last_commit_hash, sign_commit_sig

    sig = sign_commit_sig(stranger, chain.genesis.chain_id, lc.height, 0, lc.block_hash, lc.signatures[0].time_ms)
    bad = Commit(lc.height, 0, lc.block_hash, (sig,))
    b = replace(block, last_commit=bad, header=replace(block.header, last_commit_hash=last_commit_hash(bad)), _raw=b"")
    with pytest.raises(InvalidBlock) as err:
        apply_block(chain.store.head_state(), chain.head, b, chain.app)
    assert err.value.code == ErrorCode.BLOCK_BAD_COMMIT


@pytest.mark.parametrize(
    ("make", "tx_code"),
    [
        (lambda: transfer(account(0), account(1).address, 1, 3), ErrorCode.TX_NONCE_GAP),
        (lambda: transfer(account(0), account(1).address, 1, 0, chain_id="elsewhere"), ErrorCode.TX_WRONG_CHAIN),
        (lambda: transfer(PrivateKey.derive("broke"), account(1).address, 1, 0), ErrorCode.TX_INSUFFICIENT_BALANCE),
        (lambda: transfer(account(0), account(1).address, 1, 0, fee=100, gas_limit=20_000), ErrorCode.TX_FEE_TOO_LOW),
        (lambda: transfer(account(0), account(1).address, 1, 0, fee=2_000, gas_limit=1_000), ErrorCode.TX_GAS_LIMIT),
    ],
)
def test_an_invalid_transaction_invalidates_the_block(make: object, tx_code: ErrorCode) -> None:
    chain = MemChain()
    tx: SignedTx = make()  # type: ignore[operator]
    block, _ = chain.build([])  # an empty but valid block; then force the tx in
    from chain.merkle import merkle_root

    forced = replace(block, txs=(tx.raw,), header=replace(block.header, txs_root=Hash32(merkle_root([tx.raw]))),
                     _raw=b"")
    with pytest.raises(InvalidBlock) as err:
        execute_block(chain.store.head_state(), forced, chain.app)
    assert err.value.details["tx_code"] == tx_code


def test_bad_signature_invalidates_the_block_but_not_with_the_cache() -> None:
    chain = MemChain()
    tx = transfer(account(0), account(1).address, 1, 0)
    bad = SignedTx(tx.body, Signature64(bytes(64)))
    block, _ = chain.build([])
    from chain.merkle import merkle_root

    forced = replace(block, txs=(bad.raw,), header=replace(block.header, txs_root=Hash32(merkle_root([bad.raw]))),
                     _raw=b"")
    with pytest.raises(InvalidBlock) as err:
        execute_block(chain.store.head_state(), forced, chain.app)
    assert err.value.details["tx_code"] == ErrorCode.TX_BAD_SIGNATURE


def test_build_block_drops_what_cannot_apply() -> None:
    chain = MemChain()
    a = account(0)
    good = transfer(a, account(1).address, 1, 0)
    stale = transfer(a, account(1).address, 2, 0)  # same nonce: second one is stale after the first
    block, out = chain.build([good, stale])
    assert block.txs == (good.raw,) and len(out.receipts) == 1
    apply_block(chain.store.head_state(), chain.head, block, chain.app)


def test_block_codec_round_trip_and_strictness() -> None:
    chain, block = _two_blocks()
    data = block.encode()
    again = Block.decode(data)
    assert again.encode() == data and again.hash == block.hash
    from chain.errors import DecodeError

    with pytest.raises(DecodeError):
        Block.decode(data + b"\x00")
    with pytest.raises(DecodeError):
        Block.decode(data[:-1])


# --- the proofs section ---------------------------------------------------------------------


def _with_proofs(block: Block, proofs: tuple[bytes, ...]) -> Block:
    """``block`` with another proofs section and the root that matches it (so only execution can object)."""
    from chain.merkle import merkle_root

    return replace(block, proofs=proofs, header=replace(block.header, proofs_root=Hash32(merkle_root(proofs))),
                   _raw=b"")


def test_a_proofs_section_no_module_claims_makes_the_block_invalid() -> None:
    chain = MemChain()
    bare = Application.compose(chain.app.chain_id, chain.app.params,
                               [m for m in chain.app.modules[1:] if m.name != "aicf"], slash_to=FUND_ADDRESS)
    assert bare.proof_module is None
    chain.app = bare
    block, _ = chain.build([transfer(account(0), account(1).address, 1, 0)])
    garbage = _with_proofs(block, (b"\x00not an envelope", b"\xff" * 40))
    with pytest.raises(InvalidBlock) as err:
        apply_block(chain.store.head_state(), chain.head, garbage, bare)
    assert err.value.code == ErrorCode.BLOCK_INVALID and "no module handles proofs" in err.value.message
    apply_block(chain.store.head_state(), chain.head, block, bare)  # the same block without them is fine


class Claimant:
    """A module that claims the proofs section and reports what it was handed, in order."""

    name = "claimant"

    def tx_kinds(self) -> dict[str, object]:
        return {}

    def begin_block(self, state: object, env: object) -> list[Event]:
        return []

    def end_block(self, state: object, env: object, pot: object) -> list[Event]:
        return []

    def apply_proofs(self, state: object, env: object, proofs: Sequence[bytes]) -> list[Event]:
        if b"refuse" in proofs:
            raise InvalidBlock("an item no honest proposer includes", code=ErrorCode.BLOCK_INVALID)
        return [Event("claimant", "proof", (("item", p),)) for p in proofs]


def test_the_claiming_module_gets_the_section_in_block_order_after_the_transactions() -> None:
    chain = MemChain()
    others = [m for m in chain.app.modules[1:] if m.name != "aicf"]
    app = Application.compose(chain.app.chain_id, chain.app.params, (*others, Claimant()), slash_to=FUND_ADDRESS)
    assert isinstance(app.proof_module, Claimant)
    block, _ = chain.build([transfer(account(0), account(1).address, 1, 0)])
    out = execute_block(chain.store.head_state(), _with_proofs(block, (b"b", b"a", b"c")), app)
    assert [dict(e.attrs)["item"] for e in out.events if e.module == "claimant"] == [b"b", b"a", b"c"]
    with pytest.raises(InvalidBlock):
        execute_block(chain.store.head_state(), _with_proofs(block, (b"a", b"refuse")), app)


def test_two_modules_cannot_both_claim_the_proofs_section() -> None:
    chain = MemChain()
    with pytest.raises(ValueError, match="claim the proofs section"):
        Application.compose(chain.app.chain_id, chain.app.params, (Claimant(), Claimant()), slash_to=FUND_ADDRESS)
