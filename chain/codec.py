"""Canonical CBOR: the only byte format of consensus objects.

Rule: an object's bytes are ``cbor2.dumps(value, canonical=True)`` (RFC 8949
§4.2.1 core deterministic encoding: shortest integer heads, definite lengths,
map keys sorted by their encoded bytes).  Consensus objects are CBOR arrays whose
first element is a version number.

``decode`` is strict.  It accepts a byte string only if

* it is no longer than ``max_size``;
* it holds exactly one data item (no trailing bytes);
* that item uses only: unsigned/negative integers, byte strings, text strings,
  arrays, maps, ``true``/``false``/``null`` (no floats, no tags, no undefined);
* re-encoding the decoded value gives back exactly the same bytes.

Anything else raises ``DecodeError`` with a specific ``ErrorCode``.
"""

from __future__ import annotations

from typing import Any

import cbor2

from chain.errors import DecodeError, ErrorCode

DEFAULT_MAX_SIZE = 4 * 1024 * 1024
MAX_DEPTH = 64



def encode(value: Any) -> bytes:
    """The canonical CBOR bytes of ``value``."""
    try:
        return cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:  # pragma: no cover - programming error
        raise TypeError(f"value cannot be encoded canonically: {exc}") from exc


_SCALAR_TYPES = frozenset({int, bytes, str, bool, type(None)})


def _check_types(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise DecodeError("nesting too deep", code=ErrorCode.DECODE_SHAPE)
    if type(value) in _SCALAR_TYPES:
        return
    if isinstance(value, list):
        for item in value:
            if type(item) not in _SCALAR_TYPES:
                _check_types(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (int, str, bytes)):
                raise DecodeError("map key of a forbidden type", code=ErrorCode.DECODE_SHAPE)
            _check_types(item, depth + 1)
        return
    raise DecodeError(
        f"forbidden CBOR item of type {type(value).__name__}", code=ErrorCode.DECODE_SHAPE
    )


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Any:
    """Decode canonical CBOR strictly (see the module docstring)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("expected bytes", code=ErrorCode.DECODE_SHAPE)
    data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(
            f"input of {len(data)} bytes exceeds the limit of {max_size}",
            code=ErrorCode.DECODE_OVERSIZE,
            size=len(data),
            limit=max_size,
        )
    if not data:
        raise DecodeError("empty input", code=ErrorCode.DECODE)
    try:
        value = cbor2.loads(data, max_depth=MAX_DEPTH, allow_indefinite=True)
    except Exception as exc:  # cbor2 raises several types, all mean "not CBOR"
        raise DecodeError(f"not valid CBOR: {exc}", code=ErrorCode.DECODE) from exc
    _check_types(value, 0)
    try:
        again = cbor2.dumps(value, canonical=True)
    except Exception as exc:
        raise DecodeError(f"not re-encodable: {exc}", code=ErrorCode.DECODE_SHAPE) from exc
    if again != data:
        if data.startswith(again):
            raise DecodeError(
                f"{len(data) - len(again)} trailing bytes", code=ErrorCode.DECODE_TRAILING
            )
        raise DecodeError("encoding is not canonical", code=ErrorCode.DECODE_NON_CANONICAL)
    return value


# --- field checks used by every object decoder -------------------------------------


def expect_array(value: Any, what: str, length: int | None = None) -> list[Any]:
    """``value`` as a list, optionally of exactly ``length`` items."""
    if not isinstance(value, list):
        raise DecodeError(f"{what}: expected an array", code=ErrorCode.DECODE_SHAPE)
    if length is not None and len(value) != length:
        raise DecodeError(
            f"{what}: expected {length} items, got {len(value)}", code=ErrorCode.DECODE_SHAPE
        )
    return value


def expect_versioned(value: Any, what: str, version: int, length: int) -> list[Any]:
    """A ``[version, ...]`` array of ``length`` items with a known version."""
    items = expect_array(value, what)
    if not items or not isinstance(items[0], int) or isinstance(items[0], bool):
        raise DecodeError(f"{what}: missing version", code=ErrorCode.DECODE_SHAPE)
    if items[0] != version:
        raise DecodeError(
            f"{what}: unknown version {items[0]}", code=ErrorCode.DECODE_VERSION, version=items[0]
        )
    if len(items) != length:
        raise DecodeError(
            f"{what}: expected {length} items, got {len(items)}", code=ErrorCode.DECODE_SHAPE
        )
    return items


def expect_int(value: Any, what: str, *, lo: int = 0, hi: int = 2**64 - 1) -> int:
    """An integer (not a bool) in ``[lo, hi]``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"{what}: expected an integer", code=ErrorCode.DECODE_SHAPE)
    if not lo <= value <= hi:
        raise DecodeError(f"{what}: {value} out of range [{lo}, {hi}]", code=ErrorCode.DECODE_SHAPE)
    return value


def expect_bytes(value: Any, what: str, *, length: int | None = None, max_len: int | None = None) -> bytes:
    """A byte string, of exactly ``length`` or at most ``max_len`` bytes."""
    if not isinstance(value, bytes):
        raise DecodeError(f"{what}: expected a byte string", code=ErrorCode.DECODE_SHAPE)
    if length is not None and len(value) != length:
        raise DecodeError(
            f"{what}: expected {length} bytes, got {len(value)}", code=ErrorCode.BAD_LENGTH
        )
    if max_len is not None and len(value) > max_len:
        raise DecodeError(f"{what}: longer than {max_len} bytes", code=ErrorCode.BAD_LENGTH)
    return value


def expect_str(value: Any, what: str, *, max_len: int = 256) -> str:
    """A text string of at most ``max_len`` characters."""
    if not isinstance(value, str):
        raise DecodeError(f"{what}: expected a text string", code=ErrorCode.DECODE_SHAPE)
    if len(value) > max_len:
        raise DecodeError(f"{what}: longer than {max_len} characters", code=ErrorCode.BAD_LENGTH)
    return value
