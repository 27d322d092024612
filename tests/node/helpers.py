"""Shared builders for the node tests: signed transfers over the public devnet keys."""

from __future__ import annotations

from typing import Any

from chain.keys import PrivateKey
from chain.tx import SignedTx, TxBody
from genesis.devnet import DEVNET_CHAIN_ID, devnet_account_key

GAS_LIMIT = 20_000
"""Covers a transfer: intrinsic 10_000 + 10 per byte of a ~200-byte transaction, plus 2_000."""


def sign_tx(
    key: PrivateKey,
    nonce: int,
    *,
    to: bytes | None = None,
    amount: int = 1,
    price: int = 1,
    gas_limit: int = GAS_LIMIT,
    fee: int | None = None,
    chain_id: str = DEVNET_CHAIN_ID,
    kind: str = "transfer",
    payload: Any = None,
) -> SignedTx:
    """A signed transaction; by default a transfer of ``amount`` bidding ``price`` per gas."""
    if payload is None:
        payload = [bytes(to if to is not None else devnet_account_key(9).address), amount]
    body = TxBody(
        chain_id, nonce, key.public_key, gas_limit * price if fee is None else fee, gas_limit, kind, payload
    )
    return body.sign(key)


def flip_signature_bit(tx: SignedTx) -> bytes:
    """``tx``'s bytes with one bit of the signature flipped (the signature is the last 64 bytes)."""
    raw = bytearray(tx.raw)
    raw[-1] ^= 0x01
    return bytes(raw)
