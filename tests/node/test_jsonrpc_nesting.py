"""The JSON front door: the nesting pre-check that keeps hostile JSON away from the recursive
parser, and number parsing that turns every valid document into values at a bounded cost."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from node.rpc.jsonrpc import MAX_NUMBER_CHARS, TooLargeNumber, nesting_within, parse_json


def depth_of(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(st.none() | st.integers() | st.text(alphabet="[]{}\"\\ab", max_size=6),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                           max_leaves=30)


@given(json_values, st.integers(0, 8))
def test_agrees_with_the_real_depth(value: object, limit: int) -> None:
    body = json.dumps(value).encode()
    assert nesting_within(body, limit) == (depth_of(value) <= limit)


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"a": "[" * 500 + "\\\"" + "{" * 500}).encode()
    assert nesting_within(body, 2)
    assert not nesting_within(b"[" * 65, 64)


# --- numbers: valid JSON is always parsed, at a bounded cost per number ---------------------------

numbers = st.integers(-(10**150), 10**150) | st.floats(allow_nan=False, allow_infinity=False)
number_docs = st.recursive(numbers | st.text(max_size=4),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                           max_leaves=10)


def same_or_too_large(parsed: object, original: object) -> bool:
    if isinstance(parsed, TooLargeNumber):
        return isinstance(original, (int, float)) and len(json.dumps(original)) > MAX_NUMBER_CHARS
    if isinstance(original, list):
        return isinstance(parsed, list) and len(parsed) == len(original) and all(
            same_or_too_large(p, o) for p, o in zip(parsed, original, strict=True))
    if isinstance(original, dict):
        return isinstance(parsed, dict) and parsed.keys() == original.keys() and all(
            same_or_too_large(parsed[k], original[k]) for k in original)
    return parsed == original and type(parsed) is type(original)


@given(number_docs)
def test_every_valid_document_parses_and_only_long_numbers_are_kept_unconverted(doc: object) -> None:
    assert same_or_too_large(parse_json(json.dumps(doc).encode()), doc)


def test_numbers_past_the_digit_limit_of_int_are_values_not_errors() -> None:
    parsed = parse_json(b'{"a": ' + b"7" * 100_000 + b', "b": 1e999, "c": -' + b"1" * MAX_NUMBER_CHARS + b"}")
    assert isinstance(parsed["a"], TooLargeNumber) and parsed["a"].chars == 100_000
    assert isinstance(parsed["b"], TooLargeNumber)
    assert isinstance(parsed["c"], TooLargeNumber)  # the sign counts: 101 characters
    assert parse_json(b"-" + b"1" * (MAX_NUMBER_CHARS - 1)) == -int("1" * (MAX_NUMBER_CHARS - 1))
