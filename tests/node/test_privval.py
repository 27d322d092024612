"""The signer never releases two different signatures for one (height, round, step), even across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.block import PRECOMMIT, vote_digest
from chain.keys import PrivateKey, verify_signature
from node.privval import STEP_PRECOMMIT, STEP_PREVOTE, DoubleSignRefused, PrivValidator

KEY = PrivateKey.derive("pv")


def digest(h: int, r: int, bh: bytes):  # type: ignore[no-untyped-def]
    return lambda t: vote_digest("c", PRECOMMIT, h, r, bh, t)


def test_sign_persists_before_release_and_replays_identically(tmp_path: Path) -> None:
    f = tmp_path / "pv.cbor"
    pv = PrivValidator(KEY, f)
    t, sig = pv.sign(5, 0, STEP_PRECOMMIT, b"\x01" * 32, 1000, digest(5, 0, b"\x01" * 32))
    assert f.exists() and verify_signature(KEY.public_key, sig, vote_digest("c", PRECOMMIT, 5, 0, b"\x01" * 32, t))
    restarted = PrivValidator(KEY, f)
    assert restarted.sign(5, 0, STEP_PRECOMMIT, b"\x01" * 32, 9999, digest(5, 0, b"\x01" * 32)) == (t, sig)
    with pytest.raises(DoubleSignRefused):
        restarted.sign(5, 0, STEP_PRECOMMIT, b"\x02" * 32, 1000, digest(5, 0, b"\x02" * 32))
    with pytest.raises(DoubleSignRefused):
        restarted.sign(5, 0, STEP_PREVOTE, b"\x01" * 32, 1000, digest(5, 0, b"\x01" * 32))
    with pytest.raises(DoubleSignRefused):
        restarted.sign(4, 9, STEP_PRECOMMIT, b"\x01" * 32, 1000, digest(4, 9, b"\x01" * 32))
    restarted.sign(5, 1, STEP_PREVOTE, b"\x02" * 32, 1000, digest(5, 1, b"\x02" * 32))


def test_corrupt_state_refuses_to_sign(tmp_path: Path) -> None:
    f = tmp_path / "pv.cbor"
    f.write_bytes(b"\xff\x00")
    with pytest.raises(DoubleSignRefused):
        PrivValidator(KEY, f)


@settings(max_examples=40)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.binary(min_size=1, max_size=1),
                          st.booleans()), max_size=30))
def test_no_two_signatures_for_one_hrs(tmp_path_factory: pytest.TempPathFactory,
                                       requests: list[tuple[int, int, int, bytes, bool]]) -> None:
    f = tmp_path_factory.mktemp("pv") / "pv.cbor"
    pv = PrivValidator(KEY, f)
    released: dict[tuple[int, int, int], bytes] = {}
    for h, r, s, b, restart in requests:
        if restart:
            pv = PrivValidator(KEY, f)
        bh = b * 32
        try:
            _, sig = pv.sign(h, r, s, bh, 1, digest(h, r, bh))
        except DoubleSignRefused:
            continue
        assert released.setdefault((h, r, s), sig) == sig
