"""The packed argument encoding of contract calls (ABI.md, *Argument encoding*).

What this module decides
------------------------
How typed values become the bytes a contract reads with ``input`` (and how return data
written with ``output`` is read back).  Arguments are the concatenation of fields, with
no tags and no padding:

=========  ====================================================================
type       bytes
=========  ====================================================================
``u64``    8, big endian (``0 ≤ v < 2**64``)
``u256``   32, big endian (``0 ≤ v < 2**256``)
``addr``   20 (the address behind a ``cairn1…`` string)
``hash``   32
``bytes``  u32 big-endian length, then the bytes
``str``    u32 big-endian length, then the UTF-8 bytes
=========  ====================================================================

The bytes carry no types: a reader must know them.  :func:`decode_values` is strict
(short data or bytes left over are errors), as a contract should be.

The text form ``TYPE:VALUE`` (what ``cairn tx call --arg`` takes) is parsed by
:func:`parse_arg`:

* ``u64``/``u256``: a decimal integer, or ``0x`` and hex digits;
* ``addr``: a bech32m address with the chain's prefix, or ``0x`` and 40 hex digits;
* ``hash``: 64 hex digits (``0x`` optional);
* ``bytes``: ``0x`` and an even number of hex digits (``0x`` alone is empty);
* ``str``: the text itself, UTF-8 encoded;
* ``bytes:@FILE`` and ``str:@FILE`` take the value from a file, read by the
  ``read_file`` callback the caller gives (this module does no I/O); ``str:@@x`` is the
  literal text ``@x``.

Every failure is a :class:`chain.errors.DecodeError` whose message names the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from chain.errors import DecodeError, ErrorCode
from chain.keys import DEFAULT_PREFIX, decode_address

TYPES = ("u64", "u256", "addr", "hash", "bytes", "str")
"""Every argument type, in the order ABI.md lists them."""
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
_FIXED = {"u64": 8, "u256": 32, "addr": 20, "hash": 32}
MAX_LENGTH = 2**32 - 1
"""Largest ``bytes``/``str`` field the u32 length prefix can describe."""

ReadFile = Callable[[str], bytes]
"""``read_file(path) -> bytes`` for ``@FILE`` values; it reports its own errors."""


def _error(message: str) -> DecodeError:
    return DecodeError(message, code=ErrorCode.DECODE_SHAPE)


def check_type(name: str) -> str:
    """``name`` if it is one of :data:`TYPES`, else ``DecodeError``."""
    if name not in TYPES:
        raise _error(f"unknown type {name!r} (expected one of {', '.join(TYPES)})")
    return name


def parse_types(text: str) -> list[str]:
    """``"u64,str"`` → ``["u64", "str"]`` (spaces around names allowed; ``""`` is no types)."""
    if not text.strip():
        return []
    return [check_type(t.strip()) for t in text.split(",")]


def _hex(text: str, what: str) -> bytes:
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) % 2 or not (digits == "" or _HEX_DIGITS.fullmatch(digits)):
        raise _error(f"{what}: not an even number of hex digits")
    return bytes.fromhex(digits)


def _int(type_: str, text: str) -> int:
    if text[:2] in ("0x", "0X") and _HEX_DIGITS.fullmatch(text[2:]):
        digits, base = text[2:], 16
    elif text.isascii() and text.isdigit():
        digits, base = text, 10
    else:
        raise _error(f"{type_}: {text[:40]!r} is not a non-negative integer")
    if len(digits.lstrip("0")) > 80:  # longer than any u256, and int() would be slow
        raise _error(f"{type_}: {text[:40]}… is out of range [0, 2**{8 * _FIXED[type_]})")
    return _check_int(type_, int(digits, base))


def _check_int(type_: str, v: Any) -> int:
    bits = 8 * _FIXED[type_]
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << bits:
        raise _error(f"{type_}: {v!r} is out of range [0, 2**{bits})")
    return v


def parse_value(type_: str, text: str, *, prefix: str = DEFAULT_PREFIX,
                read_file: ReadFile | None = None) -> Any:
    """The Python value of ``text`` as ``type_`` (int, bytes or str), for :func:`encode_args`."""
    check_type(type_)
    if type_ in ("u64", "u256"):
        return _int(type_, text)
    if type_ == "addr":
        if text[:2] in ("0x", "0X"):
            raw = _hex(text, "addr")
            if len(raw) != 20:
                raise _error(f"addr: 0x form needs 40 hex digits, got {2 * len(raw)}")
            return raw
        return bytes(decode_address(text, prefix))
    if type_ == "hash":
        raw = _hex(text, "hash")
        if len(raw) != 32:
            raise _error(f"hash: needs 64 hex digits, got {2 * len(raw)}")
        return raw
    if text.startswith("@@"):
        literal: str | bytes = text[1:]
    elif text.startswith("@"):
        if read_file is None:
            raise _error(f"{type_}: @FILE values are not available here")
        literal = read_file(text[1:])
    else:
        literal = text
    if type_ == "str":
        if isinstance(literal, bytes):
            try:
                return literal.decode("utf-8")
            except UnicodeDecodeError:
                raise _error(f"str: {text[1:]} is not UTF-8 text") from None
        return literal
    # bytes
    if isinstance(literal, bytes):
        return literal
    if literal[:2] not in ("0x", "0X"):
        raise _error("bytes: expected 0x and hex digits (or @FILE)")
    return _hex(literal, "bytes")


def split_arg(text: str) -> tuple[str, str]:
    """``"TYPE:VALUE"`` → ``(TYPE, VALUE)``, the type checked."""
    type_, sep, value = text.partition(":")
    if not sep:
        raise _error(f"argument {text[:40]!r}: expected TYPE:VALUE with TYPE one of {', '.join(TYPES)}")
    return check_type(type_), value


def parse_arg(text: str, *, prefix: str = DEFAULT_PREFIX, read_file: ReadFile | None = None) -> bytes:
    """The encoding of one ``TYPE:VALUE`` argument (see the module docstring)."""
    type_, value = split_arg(text)
    return encode_args([(type_, parse_value(type_, value, prefix=prefix, read_file=read_file))])


def _encode_one(type_: str, value: Any) -> bytes:
    check_type(type_)
    if type_ in ("u64", "u256"):
        return _check_int(type_, value).to_bytes(_FIXED[type_], "big")
    if type_ in ("addr", "hash"):
        if not isinstance(value, bytes | bytearray) or len(value) != _FIXED[type_]:
            raise _error(f"{type_}: expected {_FIXED[type_]} bytes")
        return bytes(value)
    if type_ == "str":
        if not isinstance(value, str):
            raise _error("str: expected text")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise _error("str: not encodable as UTF-8 (lone surrogate)") from None
    else:
        if not isinstance(value, bytes | bytearray):
            raise _error("bytes: expected bytes")
        raw = bytes(value)
    if len(raw) > MAX_LENGTH:
        raise _error(f"{type_}: {len(raw)} bytes do not fit a u32 length")
    return len(raw).to_bytes(4, "big") + raw


def encode_args(items: Sequence[tuple[str, Any]]) -> bytes:
    """The concatenated encoding of ``(type, value)`` pairs.

    Values: ``int`` for ``u64``/``u256``, 20 or 32 ``bytes`` for ``addr``/``hash``,
    ``bytes`` for ``bytes`` and ``str`` for ``str``; anything else is ``DecodeError``.
    """
    return b"".join(_encode_one(t, v) for t, v in items)


def decode_values(types: Sequence[str], data: bytes) -> list[Any]:
    """The values encoded in ``data``, one per type; strict about length.

    ``u64``/``u256`` give ``int``, ``addr``/``hash``/``bytes`` give ``bytes``, ``str``
    gives ``str`` (invalid UTF-8 is an error).  Data that ends early, or bytes left
    after the last value, are ``DecodeError``.
    """
    data = bytes(data)
    out: list[Any] = []
    pos = 0

    def take(n: int, i: int, type_: str) -> bytes:
        nonlocal pos
        if len(data) - pos < n:
            raise DecodeError(f"value {i} ({type_}): needs {n} bytes, {len(data) - pos} left",
                              code=ErrorCode.BAD_LENGTH)
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    for i, type_ in enumerate(types):
        check_type(type_)
        if type_ in _FIXED:
            chunk = take(_FIXED[type_], i, type_)
            out.append(int.from_bytes(chunk, "big") if type_ in ("u64", "u256") else chunk)
            continue
        n = int.from_bytes(take(4, i, f"{type_} length"), "big")
        raw = take(n, i, type_)
        if type_ == "str":
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise _error(f"value {i} (str): not UTF-8 text") from None
        else:
            out.append(raw)
    if pos != len(data):
        raise DecodeError(f"{len(data) - pos} trailing bytes after {len(types)} values",
                          code=ErrorCode.DECODE_TRAILING)
    return out
