"""Canonical CBOR: round trips, and rejection of every non-canonical or malformed input."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.codec import decode, encode, expect_versioned
from chain.errors import DecodeError, ErrorCode

values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64 - 1) | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@given(values)
def test_round_trip(value: object) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@given(st.integers(min_value=0, max_value=23))
def test_non_shortest_integer_head_is_rejected(n: int) -> None:
    # 0x18 n encodes n in one extra byte; canonical form uses the initial byte alone.
    with pytest.raises(DecodeError) as err:
        decode(bytes([0x18, n]))
    assert err.value.code == ErrorCode.DECODE_NON_CANONICAL


@given(st.dictionaries(st.text(min_size=1, max_size=6), st.integers(0, 5), min_size=2, max_size=6))
def test_unsorted_map_keys_are_rejected(d: dict[str, int]) -> None:
    canonical = encode(d)
    items = sorted(d.items(), reverse=True)
    # Hand-build the same map with keys in reverse canonical order.
    body = b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in items)
    head = bytes([0xA0 + len(items)]) if len(items) < 24 else bytes([0xB8, len(items)])
    reordered = head + body
    if reordered == canonical:
        return
    with pytest.raises(DecodeError) as err:
        decode(reordered)
    assert err.value.code == ErrorCode.DECODE_NON_CANONICAL


@given(values, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_rejected(value: object, extra: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        decode(encode(value) + extra)
    assert err.value.code in (ErrorCode.DECODE_TRAILING, ErrorCode.DECODE_NON_CANONICAL, ErrorCode.DECODE)


def test_indefinite_length_is_rejected() -> None:
    with pytest.raises(DecodeError) as err:
        decode(bytes([0x9F, 0x01, 0xFF]))  # [_ 1]
    assert err.value.code == ErrorCode.DECODE_NON_CANONICAL


@pytest.mark.parametrize("data", [cbor2.dumps(1.5), cbor2.dumps(cbor2.CBORTag(2, b"\x01")), bytes([0xF7])])
def test_forbidden_items(data: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        decode(data)
    assert err.value.code in (ErrorCode.DECODE_SHAPE, ErrorCode.DECODE_NON_CANONICAL)


def test_oversize_and_empty() -> None:
    with pytest.raises(DecodeError) as err:
        decode(encode(b"x" * 100), max_size=50)
    assert err.value.code == ErrorCode.DECODE_OVERSIZE
    with pytest.raises(DecodeError):
        decode(b"")


def test_unknown_version() -> None:
    with pytest.raises(DecodeError) as err:
        expect_versioned(decode(encode([2, 1])), "thing", 1, 2)
    assert err.value.code == ErrorCode.DECODE_VERSION


@given(st.binary(max_size=64))
def test_random_bytes_never_escape_the_error_tree(data: bytes) -> None:
    try:
        value = decode(data)
    except DecodeError:
        return
    assert encode(value) == data
