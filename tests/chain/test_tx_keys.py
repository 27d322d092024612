"""Keys, addresses, transactions, headers, commits and Merkle lists: codecs and signature domains."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.block import Commit, Header, Validator, ValidatorSet, sign_commit_sig, verify_commit
from chain.codec import decode, encode
from chain.errors import DecodeError, ErrorCode, InvalidBlock, InvalidTransaction
from chain.hashing import H, hash_items
from chain.keys import PrivateKey, address_of, decode_address, encode_address, signing_digest
from chain.merkle import EMPTY_ROOT, leaf_hash, merkle_prove, merkle_root, merkle_verify, node_hash
from chain.tx import SignedTx, TxBody, check_stateless
from chain.types import Address, Hash32
from genesis.build import build_genesis
from genesis.devnet import devnet_genesis
from tests.chain.helpers import account, transfer


def test_hashing_is_domain_separated() -> None:
    assert H(b"a", b"bc") != H(b"ab", b"c")
    assert hash_items(b"t", b"x", b"y") == H(b"t", encode([b"x", b"y"]))
    assert len(H(b"t", b"")) == 32


@given(st.binary(min_size=20, max_size=20))
def test_address_human_form_round_trips(raw: bytes) -> None:
    text = encode_address(raw)
    assert text.startswith("cairn1")
    assert decode_address(text) == raw
    assert decode_address(text.upper()) == raw


@given(st.binary(min_size=20, max_size=20), st.data())
def test_any_single_character_change_is_caught(raw: bytes, data: st.DataObject) -> None:
    text = encode_address(raw)
    i = data.draw(st.integers(len("cairn1"), len(text) - 1))
    c = data.draw(st.sampled_from([c for c in "qpzry9x8gf2tvdw0s3jn54khce6mua7l" if c != text[i]]))
    with pytest.raises(DecodeError) as err:
        decode_address(text[:i] + c + text[i + 1 :])
    assert err.value.code == ErrorCode.BAD_ADDRESS


@pytest.mark.parametrize("text", ["", "cairn1", "other1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "cairn1Mixedcase",
                                  "cairn1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(DecodeError):
        decode_address(text)


def test_wrong_prefix_is_named() -> None:
    text = encode_address(bytes(20), "other")
    with pytest.raises(DecodeError, match="prefix"):
        decode_address(text, "cairn")


def test_signatures_are_bound_to_chain_and_kind() -> None:
    key = PrivateKey.derive("k")
    sig = key.sign(b"cairn/tx-sig/v1", "chain-a", b"body")
    from chain.keys import verify_signature

    assert verify_signature(key.public_key, sig, signing_digest(b"cairn/tx-sig/v1", "chain-a", b"body"))
    assert not verify_signature(key.public_key, sig, signing_digest(b"cairn/tx-sig/v1", "chain-b", b"body"))
    assert not verify_signature(key.public_key, sig, signing_digest(b"cairn/vote/v1", "chain-a", b"body"))


def test_tx_round_trip_and_hash() -> None:
    tx = transfer(account(0), account(1).address, 5, 0)
    again = SignedTx.decode(tx.raw)
    assert again == tx and again.hash == tx.hash and again.verify_signature()
    assert tx.sender == address_of(account(0).public_key)


def _tx_value() -> list[object]:
    return decode(transfer(account(0), account(1).address, 5, 0).raw)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda v: v.__setitem__(0, 2), ErrorCode.DECODE_VERSION),
        (lambda v: v[1].__setitem__(0, 9), ErrorCode.DECODE_VERSION),
        (lambda v: v.__setitem__(2, b"\x00" * 63), ErrorCode.BAD_LENGTH),
        (lambda v: v[1].__setitem__(3, b"\x00" * 31), ErrorCode.BAD_LENGTH),
        (lambda v: v[1].__setitem__(2, -1), ErrorCode.DECODE_SHAPE),
        (lambda v: v[1].__setitem__(5, 0), ErrorCode.DECODE_SHAPE),
        (lambda v: v[1].__setitem__(6, 7), ErrorCode.DECODE_SHAPE),
        (lambda v: v.append(1), ErrorCode.DECODE_SHAPE),
    ],
)
def test_tx_decode_rejects_each_malformation(mutate: object, code: ErrorCode) -> None:
    v = _tx_value()
    mutate(v)  # type: ignore[operator]
    with pytest.raises(DecodeError) as err:
        SignedTx.decode(encode(v))
    assert err.value.code == code


def test_stateless_checks() -> None:
    tx = transfer(account(0), account(1).address, 5, 0)
    check_stateless(tx, chain_id="cairn-devnet", max_tx_bytes=10_000)
    with pytest.raises(InvalidTransaction) as err:
        check_stateless(tx, chain_id="cairn-other", max_tx_bytes=10_000)
    assert err.value.code == ErrorCode.TX_WRONG_CHAIN
    with pytest.raises(InvalidTransaction) as err:
        check_stateless(tx, chain_id="cairn-devnet", max_tx_bytes=10)
    assert err.value.code == ErrorCode.TX_TOO_LARGE
    other_body = TxBody("cairn-devnet", 0, account(0).public_key, 40_000, 20_000, "transfer",
                        [bytes(account(1).address), 6])
    forged = SignedTx(other_body, tx.signature)
    with pytest.raises(InvalidTransaction) as err:
        check_stateless(forged, chain_id="cairn-devnet", max_tx_bytes=10_000)
    assert err.value.code == ErrorCode.TX_BAD_SIGNATURE


def test_header_round_trip() -> None:
    header = build_genesis(devnet_genesis()).header
    again = Header.decode(header.encode())
    assert again == header and again.hash() == header.hash()
    with pytest.raises(DecodeError):
        Header.decode(header.encode() + b"\x00")


def _valset(powers: list[int]) -> tuple[ValidatorSet, list[PrivateKey]]:
    keys = [PrivateKey.derive(f"val{i}") for i in range(len(powers))]
    vs = ValidatorSet.of(Validator(k.address, k.public_key, p) for k, p in zip(keys, powers, strict=True))
    return vs, keys


@pytest.mark.parametrize(("powers", "signers", "ok"), [
    ([1, 1, 1], [0, 1, 2], True),
    ([1, 1, 1], [0, 1], False),      # exactly 2/3 is not more than 2/3
    ([1, 1, 1, 1], [0, 1, 2], True),
    ([10, 1, 1], [0], True),
    ([10, 5, 1], [1, 2], False),
])
def test_commit_needs_more_than_two_thirds(powers: list[int], signers: list[int], ok: bool) -> None:
    vs, keys = _valset(powers)
    block_hash = Hash32(b"\x11" * 32)
    sigs = sorted((sign_commit_sig(keys[i], "c", 7, 0, block_hash, 1000) for i in signers),
                  key=lambda s: bytes(s.validator))
    commit = Commit(7, 0, block_hash, tuple(sigs))
    assert Commit.decode(commit.encode()) == commit
    if ok:
        assert verify_commit(commit, chain_id="c", validators=vs, height=7, block_hash=block_hash) > 0
    else:
        with pytest.raises(InvalidBlock) as err:
            verify_commit(commit, chain_id="c", validators=vs, height=7, block_hash=block_hash)
        assert err.value.code == ErrorCode.BLOCK_BAD_COMMIT


def test_commit_rejects_duplicates_wrong_chain_and_wrong_block() -> None:
    vs, keys = _valset([1, 1, 1])
    bh = Hash32(b"\x22" * 32)
    sigs = sorted((sign_commit_sig(k, "c", 3, 0, bh, 5) for k in keys), key=lambda s: bytes(s.validator))
    dup = Commit(3, 0, bh, (sigs[0], sigs[0], sigs[1]))
    with pytest.raises(InvalidBlock):
        verify_commit(dup, chain_id="c", validators=vs, height=3, block_hash=bh)
    good = Commit(3, 0, bh, tuple(sigs))
    with pytest.raises(InvalidBlock):
        verify_commit(good, chain_id="other", validators=vs, height=3, block_hash=bh)
    with pytest.raises(InvalidBlock):
        verify_commit(good, chain_id="c", validators=vs, height=3, block_hash=Hash32(b"\x23" * 32))


def test_validator_entry_must_match_its_key() -> None:
    k = PrivateKey.derive("v")
    with pytest.raises(InvalidBlock):
        Validator.decode_value([bytes(Address(b"\x01" * 20)), bytes(k.public_key), 5])


@given(st.lists(st.binary(max_size=16), min_size=1, max_size=40), st.data())
def test_merkle_inclusion_proofs(items: list[bytes], data: st.DataObject) -> None:
    root = merkle_root(items)
    i = data.draw(st.integers(0, len(items) - 1))
    path = merkle_prove(items, i)
    assert merkle_verify(root, items[i], i, len(items), path)
    assert not merkle_verify(root, items[i] + b"x", i, len(items), path)
    if len(items) > 1:
        j = (i + 1) % len(items)
        if items[j] != items[i]:
            assert not merkle_verify(root, items[i], j, len(items), path)


def test_merkle_shape() -> None:
    a, b, c = b"a", b"b", b"c"
    assert merkle_root([]) == EMPTY_ROOT
    assert merkle_root([a]) == leaf_hash(a)
    assert merkle_root([a, b, c]) == node_hash(node_hash(leaf_hash(a), leaf_hash(b)), leaf_hash(c))


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**70), st.integers(1, 2**40), st.binary(max_size=300))
def test_signing_digest_slice_equals_the_encoded_body(nonce: int, fee: int, gas: int, blob: bytes) -> None:
    key = account(0)
    tx = TxBody("cairn-devnet", nonce, key.public_key, fee, gas, "x", [blob]).sign(key)
    assert tx.raw[2:-66] == tx.body.encode()
    assert tx.verify_signature()
