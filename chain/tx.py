"""Transactions: the signed envelope every kind shares (ARCHITECTURE §3).

Wire form (canonical CBOR)::

    SignedTx = [1, body, signature]
    body     = [1, chain_id, nonce, sender_pubkey, fee, gas_limit, kind, payload]

* ``fee`` is the most the sender will pay; the gas price it bids is
  ``fee // gas_limit`` and the fee actually charged is
  ``gas_used × (fee // gas_limit)``.  The whole ``fee`` is reserved up front and
  the unused part refunded.
* ``kind`` is a text name (``"transfer"``, later ``"deploy"``, ``"call"``, ...);
  ``payload`` is the kind's own CBOR value, decoded by the module that owns the
  kind.
* ``signature`` is Ed25519 over ``signing_digest(b"cairn/tx-sig/v1", chain_id,
  encode(body))``.
* ``tx_hash = H(b"cairn/tx/v1", signed_tx_bytes)``.  Ed25519 signatures as checked
  by OpenSSL are not malleable, so the hash of the signed bytes identifies the
  transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chain.codec import decode, encode, expect_bytes, expect_int, expect_str, expect_versioned
from chain.errors import DecodeError, ErrorCode, InvalidTransaction
from chain.hashing import H
from chain.keys import PrivateKey, address_of, signing_digest, verify_signature
from chain.types import Address, Hash32, PublicKey32, Signature64

TX_VERSION = 1
TX_SIG_TAG = b"cairn/tx-sig/v1"
MAX_TX_BYTES_HARD = 1024 * 1024  # decoder's ceiling; the chain's own cap is a genesis parameter
MAX_AMOUNT = 2**128 - 1


@dataclass(frozen=True, slots=True)
class TxBody:
    """The signed part of a transaction."""

    chain_id: str
    nonce: int
    sender_pubkey: PublicKey32
    fee: int
    gas_limit: int
    kind: str
    payload: Any

    def encode_value(self) -> list[Any]:
        return [
            TX_VERSION,
            self.chain_id,
            self.nonce,
            bytes(self.sender_pubkey),
            self.fee,
            self.gas_limit,
            self.kind,
            self.payload,
        ]

    def encode(self) -> bytes:
        return encode(self.encode_value())

    @property
    def sender(self) -> Address:
        return address_of(self.sender_pubkey)

    @property
    def gas_price(self) -> int:
        """The price per gas unit the sender bids: ``fee // gas_limit``."""
        return self.fee // self.gas_limit if self.gas_limit else 0

    def sign(self, key: PrivateKey) -> SignedTx:
        if key.public_key != self.sender_pubkey:
            raise ValueError("signing key does not match sender_pubkey")
        sig = key.sign(TX_SIG_TAG, self.chain_id, self.encode())
        return SignedTx(self, sig)

    @classmethod
    def decode_value(cls, value: Any) -> TxBody:
        items = expect_versioned(value, "tx body", TX_VERSION, 8)
        gas_limit = expect_int(items[5], "tx.gas_limit", lo=1)
        return cls(
            chain_id=expect_str(items[1], "tx.chain_id", max_len=64),
            nonce=expect_int(items[2], "tx.nonce"),
            sender_pubkey=PublicKey32(expect_bytes(items[3], "tx.sender_pubkey", length=32)),
            fee=expect_int(items[4], "tx.fee", hi=MAX_AMOUNT),
            gas_limit=gas_limit,
            kind=expect_str(items[6], "tx.kind", max_len=32),
            payload=items[7],
        )


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A transaction body with its signature, plus the exact bytes it came from."""

    body: TxBody
    signature: Signature64
    raw: bytes = field(default=b"", compare=False)
    hash: Hash32 = field(default=Hash32(bytes(32)), compare=False)
    sender: Address = field(default=Address(bytes(20)), compare=False)

    def __post_init__(self) -> None:
        if not self.raw:
            raw = encode([TX_VERSION, self.body.encode_value(), bytes(self.signature)])
            object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "hash", Hash32(H(b"cairn/tx/v1", self.raw)))
        object.__setattr__(self, "sender", self.body.sender)

    def encode(self) -> bytes:
        return self.raw

    def signing_digest(self) -> bytes:
        # ``raw`` is canonical ``[1, body, sig]``: 0x83 0x01, the body, then 0x58 0x40 and
        # 64 signature bytes, so the body's own bytes are a slice of it.
        return signing_digest(TX_SIG_TAG, self.body.chain_id, self.raw[2:-66])

    def verify_signature(self) -> bool:
        """True when the signature is the sender's over this body."""
        return verify_signature(self.body.sender_pubkey, self.signature, self.signing_digest())

    @classmethod
    def decode(cls, data: bytes, *, max_size: int = MAX_TX_BYTES_HARD) -> SignedTx:
        """Strictly decode a signed transaction (``DecodeError`` on malformed bytes)."""
        items = expect_versioned(decode(data, max_size=max_size), "tx", TX_VERSION, 3)
        body = TxBody.decode_value(items[1])
        sig = Signature64(expect_bytes(items[2], "tx.signature", length=64))
        return cls(body, sig, raw=bytes(data))


def check_stateless(tx: SignedTx, *, chain_id: str, max_tx_bytes: int) -> None:
    """The checks that need no state: size, chain id, signature.

    Raises ``InvalidTransaction`` with the code of the first rule broken.
    """
    if len(tx.raw) > max_tx_bytes:
        raise InvalidTransaction(
            f"transaction of {len(tx.raw)} bytes exceeds the cap of {max_tx_bytes}",
            code=ErrorCode.TX_TOO_LARGE,
        )
    if tx.body.chain_id != chain_id:
        raise InvalidTransaction(
            f"transaction is for chain {tx.body.chain_id!r}, this is {chain_id!r}",
            code=ErrorCode.TX_WRONG_CHAIN,
            expected=chain_id,
            got=tx.body.chain_id,
        )
    if not tx.verify_signature():
        raise InvalidTransaction("bad signature", code=ErrorCode.TX_BAD_SIGNATURE)


def decode_tx_or_invalid(data: bytes, max_size: int) -> SignedTx:
    """Decode, turning a ``DecodeError`` into ``InvalidTransaction`` for callers that want one tree branch."""
    try:
        return SignedTx.decode(data, max_size=max_size)
    except DecodeError as exc:
        if exc.code == ErrorCode.DECODE_OVERSIZE:
            raise InvalidTransaction(f"transaction exceeds the cap of {max_size} bytes",
                                     code=ErrorCode.TX_TOO_LARGE) from exc
        raise InvalidTransaction(f"undecodable transaction: {exc}", code=exc.code) from exc
