"""Ed25519 keys, signatures and addresses.

Rules (ARCHITECTURE §2):

* Signatures are Ed25519 (RFC 8032, via ``cryptography``) over the 32-byte digest
  ``signing_digest(tag, chain_id, body) = H(tag, encode([chain_id, body]))``, so a
  signature made for one chain or one kind of object is useless on another.
* ``address(pubkey) = H(b"cairn/addr/v1", pubkey)[-20:]``.
* The human form of an address is bech32m (BIP-350) with the chain's prefix
  (``address_prefix`` in genesis, ``"cairn"`` by default) over the 20 address
  bytes.  Decoding checks the checksum, the prefix and the length, so a mistyped
  address is refused rather than sent funds.  The bech32 polymod and
  human-readable-part expansion come from the ``bech32`` package; bech32m differs
  from bech32 only in the checksum constant (``0x2BC830A3``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import bech32
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chain.codec import encode
from chain.errors import DecodeError, ErrorCode
from chain.hashing import H
from chain.types import Address, PublicKey32, Signature64

DEFAULT_PREFIX = "cairn"
_BECH32M_CONST = 0x2BC830A3


def signing_digest(tag: bytes, chain_id: str, body: bytes) -> bytes:
    """``H(tag, encode([chain_id, body]))``: what every Cairn signature signs."""
    return H(tag, encode([chain_id, body]))


def address_of(pubkey: bytes) -> Address:
    """The 20-byte address of an Ed25519 public key."""
    return Address(H(b"cairn/addr/v1", bytes(PublicKey32(pubkey)))[-20:])


def module_address(name: str) -> Address:
    """The address of a module account (no key can sign for it), e.g. ``"aicf/fund"``."""
    return Address(H(b"cairn/module-addr/v1", name.encode())[-20:])


def verify_signature(pubkey: bytes, signature: bytes, digest: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``digest`` by ``pubkey``."""
    if len(pubkey) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pubkey).verify(signature, digest)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """An Ed25519 signing key held as its 32-byte seed."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise DecodeError("private key seed must be 32 bytes", code=ErrorCode.BAD_LENGTH)

    @classmethod
    def from_seed(cls, seed: bytes) -> PrivateKey:
        return cls(bytes(seed))

    @classmethod
    def derive(cls, label: str) -> PrivateKey:
        """A key derived from a public label.  Only for devnets and tests: anyone can derive it."""
        return cls(H(b"cairn/devnet-key/v1", label.encode()))

    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def public_key(self) -> PublicKey32:
        return _public_key_of(self.seed)

    @property
    def address(self) -> Address:
        return address_of(self.public_key)

    def sign_digest(self, digest: bytes) -> Signature64:
        return Signature64(self._key().sign(digest))

    def sign(self, tag: bytes, chain_id: str, body: bytes) -> Signature64:
        return self.sign_digest(signing_digest(tag, chain_id, body))


@lru_cache(maxsize=1024)
def _public_key_of(seed: bytes) -> PublicKey32:
    """The public key of a seed (cached: deriving it costs as much as a signature)."""
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return PublicKey32(raw)


def _checksum(prefix: str, data5: list[int]) -> list[int]:
    values = bech32.bech32_hrp_expand(prefix) + data5
    polymod = bech32.bech32_polymod(values + [0] * 6) ^ _BECH32M_CONST
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]


def encode_address(addr: bytes, prefix: str = DEFAULT_PREFIX) -> str:
    """The checksummed human form (bech32m) of a 20-byte address."""
    data5 = bech32.convertbits(bytes(Address(addr)), 8, 5, True)
    assert data5 is not None
    return prefix + "1" + "".join(bech32.CHARSET[d] for d in data5 + _checksum(prefix, data5))


def decode_address(text: str, prefix: str = DEFAULT_PREFIX) -> Address:
    """Parse the human form; ``DecodeError(BAD_ADDRESS)`` naming what is wrong."""
    if not isinstance(text, str) or not 8 <= len(text) <= 90:
        raise DecodeError("address: wrong length", code=ErrorCode.BAD_ADDRESS)
    if text.lower() != text and text.upper() != text:
        raise DecodeError("address: mixed case", code=ErrorCode.BAD_ADDRESS)
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or sep + 7 > len(text):
        raise DecodeError("address: missing separator", code=ErrorCode.BAD_ADDRESS)
    hrp, rest = text[:sep], text[sep + 1 :]
    if hrp != prefix:
        raise DecodeError(
            f"address: prefix {hrp!r} is not this chain's {prefix!r}", code=ErrorCode.BAD_ADDRESS
        )
    try:
        data = [bech32.CHARSET.index(c) for c in rest]
    except ValueError:
        raise DecodeError("address: invalid character", code=ErrorCode.BAD_ADDRESS) from None
    if bech32.bech32_polymod(bech32.bech32_hrp_expand(hrp) + data) != _BECH32M_CONST:
        raise DecodeError("address: bad checksum", code=ErrorCode.BAD_ADDRESS)
    raw = bech32.convertbits(data[:-6], 5, 8, False)
    if raw is None or len(raw) != 20:
        raise DecodeError("address: payload is not 20 bytes", code=ErrorCode.BAD_ADDRESS)
    return Address(bytes(raw))
