"""The packed argument encoding of ABI.md: golden bytes, the text form, strict decoding."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capabilities.abi import (
    TYPES,
    decode_values,
    encode_args,
    parse_arg,
    parse_types,
    parse_value,
    split_arg,
)
from chain.errors import DecodeError, ErrorCode
from chain.keys import encode_address

ADDR = bytes(range(1, 21))
HASH = bytes(range(32))


# --- golden bytes ------------------------------------------------------------------------------


def test_each_type_encodes_as_abi_md_says() -> None:
    assert encode_args([("u64", 5)]) == bytes(7) + b"\x05"
    assert encode_args([("u64", 2**64 - 1)]) == b"\xff" * 8
    assert encode_args([("u256", 1)]) == bytes(31) + b"\x01"
    assert encode_args([("addr", ADDR)]) == ADDR
    assert encode_args([("hash", HASH)]) == HASH
    assert encode_args([("bytes", b"\xab\xcd")]) == b"\x00\x00\x00\x02\xab\xcd"
    assert encode_args([("str", "é")]) == b"\x00\x00\x00\x02\xc3\xa9"
    assert encode_args([("bytes", b"")]) == bytes(4)
    # concatenated, no tags, no padding
    assert encode_args([("u64", 1), ("str", "hi"), ("addr", ADDR)]) == (
        bytes(7) + b"\x01" + b"\x00\x00\x00\x02hi" + ADDR
    )
    assert encode_args([]) == b""


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ([("u64", -1)], "out of range"),
        ([("u64", 2**64)], "out of range"),
        ([("u256", 2**256)], "out of range"),
        ([("u64", True)], "out of range"),
        ([("u64", "5")], "out of range"),
        ([("addr", bytes(19))], "20 bytes"),
        ([("hash", "00" * 32)], "32 bytes"),
        ([("bytes", "ab")], "expected bytes"),
        ([("str", b"ab")], "expected text"),
        ([("str", "\ud800")], "surrogate"),
        ([("u32", 1)], "unknown type"),
    ],
)
def test_encoding_refuses_values_that_do_not_fit(items: list[tuple[str, Any]], fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        encode_args(items)


# --- the text form -----------------------------------------------------------------------------


def test_parse_arg_accepts_every_documented_form() -> None:
    assert parse_arg("u64:5") == encode_args([("u64", 5)])
    assert parse_arg("u64:0x0a") == encode_args([("u64", 10)])
    assert parse_arg("u256:" + str(2**256 - 1)) == b"\xff" * 32
    assert parse_arg("u256:0x" + "0" * 100 + "1") == bytes(31) + b"\x01"  # leading zeros are fine
    assert parse_arg(f"addr:{encode_address(ADDR, 'cairn')}") == ADDR
    assert parse_arg(f"addr:{encode_address(ADDR, 'test')}", prefix="test") == ADDR
    assert parse_arg("addr:0x" + ADDR.hex()) == ADDR
    assert parse_arg("hash:" + HASH.hex()) == HASH
    assert parse_arg("hash:0x" + HASH.hex()) == HASH
    assert parse_arg("bytes:0xabCD") == b"\x00\x00\x00\x02\xab\xcd"
    assert parse_arg("bytes:0x") == bytes(4)
    assert parse_arg("str:a:b c") == b"\x00\x00\x00\x05a:b c"  # only the first colon splits
    assert parse_arg("str:") == bytes(4)
    assert parse_arg("str:@@home") == b"\x00\x00\x00\x05@home"


def test_at_file_values_go_through_the_callers_reader() -> None:
    files = {"data.bin": b"\x00\xff", "note.txt": "héllo".encode()}
    seen: list[str] = []

    def read(path: str) -> bytes:
        seen.append(path)
        return files[path]

    assert parse_arg("bytes:@data.bin", read_file=read) == b"\x00\x00\x00\x02\x00\xff"
    assert parse_arg("str:@note.txt", read_file=read) == b"\x00\x00\x00\x06" + "héllo".encode()
    assert seen == ["data.bin", "note.txt"]
    with pytest.raises(DecodeError, match="not UTF-8"):
        parse_arg("str:@data.bin", read_file=read)
    with pytest.raises(DecodeError, match="@FILE"):
        parse_arg("bytes:@data.bin")  # no reader given: this module does no I/O


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("u64", "TYPE:VALUE"),
        ("5", "TYPE:VALUE"),
        ("U64:5", "unknown type"),
        ("int:5", "unknown type"),
        ("u64:", "not a non-negative integer"),
        ("u64:-1", "not a non-negative integer"),
        ("u64: 5", "not a non-negative integer"),
        ("u64:1_000", "not a non-negative integer"),
        ("u64:²", "not a non-negative integer"),
        ("u64:0x", "not a non-negative integer"),
        ("u64:0xfg", "not a non-negative integer"),
        ("u64:18446744073709551616", "out of range"),
        ("u64:0x10000000000000000", "out of range"),
        ("u256:" + "9" * 79, "out of range"),
        ("u256:" + "9" * 5000, "out of range"),
        ("u256:0x" + "f" * 65, "out of range"),
        ("addr:cairn1qqqq", "address"),
        ("addr:0x" + "ab" * 19, "40 hex digits"),
        ("addr:0x" + "zz" * 20, "hex"),
        ("hash:" + "ab" * 31, "64 hex digits"),
        ("hash:xyz", "hex"),
        ("bytes:abcd", "0x and hex"),
        ("bytes:0xabc", "hex digits"),
        ("bytes:0xab cd", "hex digits"),
    ],
)
def test_parse_arg_names_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        parse_arg(text)


def test_addresses_of_another_chain_are_refused() -> None:
    with pytest.raises(DecodeError, match="prefix"):
        parse_arg(f"addr:{encode_address(ADDR, 'other')}")


def test_split_and_parse_helpers() -> None:
    assert split_arg("bytes:0x00") == ("bytes", "0x00")
    assert parse_value("u256", "0xff") == 255
    assert parse_types("u64, str,addr") == ["u64", "str", "addr"]
    assert parse_types("") == [] and parse_types("  ") == []
    with pytest.raises(DecodeError, match="unknown type 'u32'"):
        parse_types("u64,u32")
    with pytest.raises(DecodeError, match="unknown type ''"):
        parse_types("u64,")


# --- decoding ----------------------------------------------------------------------------------


def test_decode_values_gives_python_values() -> None:
    data = encode_args([("u64", 7), ("u256", 2**200), ("addr", ADDR), ("hash", HASH), ("bytes", b"\x01"),
                        ("str", "ok")])
    assert decode_values(["u64", "u256", "addr", "hash", "bytes", "str"], data) == [
        7, 2**200, ADDR, HASH, b"\x01", "ok"
    ]
    assert decode_values([], b"") == []


@pytest.mark.parametrize(
    ("types", "data", "fragment", "code"),
    [
        (["u64"], bytes(7), r"value 0 \(u64\): needs 8 bytes, 7 left", ErrorCode.BAD_LENGTH),
        (["u64", "u64"], bytes(12), r"value 1 \(u64\): needs 8 bytes, 4 left", ErrorCode.BAD_LENGTH),
        (["str"], b"\x00\x00", r"value 0 \(str length\): needs 4 bytes, 2 left", ErrorCode.BAD_LENGTH),
        (["bytes"], b"\x00\x00\x00\x05abc", r"value 0 \(bytes\): needs 5 bytes, 3 left", ErrorCode.BAD_LENGTH),
        (["u64"], bytes(9), "1 trailing bytes after 1 values", ErrorCode.DECODE_TRAILING),
        ([], b"\x00", "1 trailing bytes after 0 values", ErrorCode.DECODE_TRAILING),
        (["str"], b"\x00\x00\x00\x01\xff", r"value 0 \(str\): not UTF-8", ErrorCode.DECODE_SHAPE),
        (["u8"], b"\x00", "unknown type", ErrorCode.DECODE_SHAPE),
    ],
)
def test_decode_values_is_strict(types: list[str], data: bytes, fragment: str, code: ErrorCode) -> None:
    with pytest.raises(DecodeError, match=fragment) as info:
        decode_values(types, data)
    assert info.value.code == code


# --- round trip --------------------------------------------------------------------------------

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "u64": st.integers(0, 2**64 - 1),
    "u256": st.integers(0, 2**256 - 1),
    "addr": st.binary(min_size=20, max_size=20),
    "hash": st.binary(min_size=32, max_size=32),
    "bytes": st.binary(max_size=300),
    "str": st.text(st.characters(exclude_categories=["Cs"]), max_size=100),
}
assert set(VALUES) == set(TYPES)
items = st.lists(st.sampled_from(TYPES).flatmap(lambda t: st.tuples(st.just(t), VALUES[t])), max_size=8)


@given(items)
def test_decode_inverts_encode(pairs: list[tuple[str, Any]]) -> None:
    types = [t for t, _ in pairs]
    data = encode_args(pairs)
    assert decode_values(types, data) == [v for _, v in pairs]
    if data:  # strict: one byte less or one more never decodes
        with pytest.raises(DecodeError):
            decode_values(types, data[:-1])
    with pytest.raises(DecodeError):
        decode_values(types, data + b"\x00")


@given(items)
def test_the_text_form_encodes_like_the_values(pairs: list[tuple[str, Any]]) -> None:
    def text(t: str, v: Any) -> str:
        if t in ("u64", "u256"):
            return f"{t}:{v}"
        if t == "addr":
            return f"addr:{encode_address(v, 'cairn')}"
        if t in ("hash", "bytes"):
            return f"{t}:0x{v.hex()}"
        return f"str:@{v}" if v.startswith("@") else f"str:{v}"

    assert b"".join(parse_arg(text(t, v)) for t, v in pairs) == encode_args(pairs)
