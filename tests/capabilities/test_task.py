"""Task ids: uniqueness per enqueue, replay stability, sensitivity to every input, golden vector."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from capabilities.records import AiRequest
from capabilities.task import request_digest, task_id
from chain.errors import DecodeError

CHAIN = "cairn-test"
TX = bytes(range(32))
CALLER = bytes(range(100, 120))
PAYLOAD = AiRequest("llama3-8b", "hello", 16).encode()


def test_two_identical_enqueues_in_one_tx_differ() -> None:
    first = task_id(CHAIN, 7, TX, CALLER, PAYLOAD, 0)
    second = task_id(CHAIN, 7, TX, CALLER, PAYLOAD, 1)
    assert first != second


def test_replay_gives_same_id() -> None:
    ids = [task_id(CHAIN, 7, TX, CALLER, AiRequest("llama3-8b", "hello", 16).encode(), s) for s in range(3)]
    again = [task_id(CHAIN, 7, bytes(TX), bytes(CALLER), PAYLOAD, s) for s in range(3)]
    assert ids == again
    assert len(set(ids)) == 3


def _independent(
    chain_id: str, height: int, tx_hash: bytes, caller: bytes, payload: bytes, seq: int
) -> bytes:
    # The documented rule, recomputed from hashlib and cbor2 directly.
    tag = b"cairn/task/v1"
    data = cbor2.dumps([chain_id, height, tx_hash, caller, payload, seq], canonical=True)
    return hashlib.sha3_256(bytes([len(tag)]) + tag + data).digest()


GOLDEN_INPUTS = (
    "cairn-devnet-1",
    42,
    bytes.fromhex("11" * 32),
    bytes.fromhex("22" * 20),
    b"\x83\x01\x02\x03",
    0,
)
GOLDEN_ID = "0179b730b23df03eacd78b2f323ec197b5c883fc646e2f8d56c0a7cbaad705c8"


def test_golden_vector() -> None:
    got = task_id(*GOLDEN_INPUTS)
    assert got.hex() == GOLDEN_ID
    assert got == _independent(*GOLDEN_INPUTS)


FIELDS = (
    st.text(min_size=1, max_size=16),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=20, max_size=20),
    st.binary(max_size=64),
    st.integers(min_value=0, max_value=2**64 - 1),
)


@given(st.tuples(*FIELDS), st.integers(min_value=0, max_value=5), st.data())
def test_any_single_change_changes_the_id(
    base: tuple[str, int, bytes, bytes, bytes, int], which: int, data: st.DataObject
) -> None:
    new_value = data.draw(FIELDS[which].filter(lambda v: v != base[which]))
    changed: list[object] = list(base)
    changed[which] = new_value
    assert task_id(*changed) != task_id(*base)  # type: ignore[arg-type]
    assert task_id(*base) == _independent(*base)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(DecodeError):
        task_id(CHAIN, 1, TX[:31], CALLER, PAYLOAD, 0)
    with pytest.raises(DecodeError):
        task_id(CHAIN, 1, TX, CALLER + b"\x00", PAYLOAD, 0)
    with pytest.raises(ValueError):
        task_id(CHAIN, -1, TX, CALLER, PAYLOAD, 0)
    with pytest.raises(ValueError):
        task_id(CHAIN, 1, TX, CALLER, PAYLOAD, 2**64)
    with pytest.raises(ValueError):
        task_id("", 1, TX, CALLER, PAYLOAD, 0)


def test_request_digest_rule() -> None:
    tag = b"cairn/task-request/v1"
    assert request_digest(PAYLOAD) == hashlib.sha3_256(bytes([len(tag)]) + tag + PAYLOAD).digest()
