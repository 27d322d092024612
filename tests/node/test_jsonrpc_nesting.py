"""The nesting pre-check that keeps hostile JSON away from the recursive parser."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from node.rpc.jsonrpc import nesting_within


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
