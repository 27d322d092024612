"""Length-checked byte types and integer kinds for wire data.

``Hash32(b)`` raises ``DecodeError`` unless ``b`` is exactly 32 bytes, so a value of
one of these types is always well formed.  They subclass ``bytes`` and encode as
plain CBOR byte strings.
"""

from __future__ import annotations

from typing import Any, ClassVar, NewType, TypeVar

from chain.errors import DecodeError, ErrorCode

T = TypeVar("T", bound="FixedBytes")


class FixedBytes(bytes):
    """Bytes of exactly ``LENGTH`` bytes."""

    LENGTH: ClassVar[int] = 0

    def __new__(cls: type[T], value: Any = b"") -> T:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise DecodeError(f"{cls.__name__}: expected bytes", code=ErrorCode.DECODE_SHAPE)
        if len(value) != cls.LENGTH:
            raise DecodeError(
                f"{cls.__name__}: expected {cls.LENGTH} bytes, got {len(value)}",
                code=ErrorCode.BAD_LENGTH,
            )
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hex()})"


class Hash32(FixedBytes):
    """A SHA3-256 digest."""

    LENGTH = 32


class Address(FixedBytes):
    """An account address: the last 20 bytes of ``H(b"cairn/addr/v1", pubkey)``."""

    LENGTH = 20


class PublicKey32(FixedBytes):
    """A raw Ed25519 public key."""

    LENGTH = 32


class Signature64(FixedBytes):
    """A raw Ed25519 signature."""

    LENGTH = 64


Height = NewType("Height", int)
Round = NewType("Round", int)
Epoch = NewType("Epoch", int)
Amount = NewType("Amount", int)
Gas = NewType("Gas", int)

ZERO_HASH = Hash32(bytes(32))
