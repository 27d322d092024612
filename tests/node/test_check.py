"""``cairn check`` verifies that each stored block is the one its stored commit signs.

A devnet chain is written to a real LevelDB home with the kernel's own builders; then the
store is damaged the way a bug or a disk could damage it (a commit for another block, a
commit whose signature fails, a commit by a stranger) and ``check_home`` must fail naming
the height.  The lead's guard in ``BlockStore.save_block`` refuses a commit for another
hash, so that damage is written under the store's documented key (``cmt/`` + height).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import pytest

from chain.block import Block, Commit, CommitSig, sign_commit_sig
from chain.errors import StoreCorrupt
from chain.keys import PrivateKey
from node.check import check_home
from node.db import LevelDBKV
from node.home import Home
from tests.chain.helpers import MemChain, account, transfer

HEIGHT = 4


def write_chain(home: Path) -> tuple[MemChain, list[Block]]:
    """A devnet chain of ``HEIGHT`` blocks (one transfer each) in ``home``'s data dir; the store is left open."""
    chain = MemChain(kv=LevelDBKV(Home(home).data_dir))  # type: ignore[arg-type]
    blocks = []
    for i in range(HEIGHT):
        block, out = chain.build([transfer(account(0), account(1).address, 1 + i, i)])
        chain.commit(block, out)
        blocks.append(block)
    return chain, blocks


def put_commit(chain: MemChain, commit: Commit) -> None:
    chain.kv.write_batch({b"cmt/" + struct.pack(">Q", commit.height): commit.encode()}, frozenset(), sync=True)


def check_fails_at(home: Path, height: int) -> str:
    with pytest.raises(StoreCorrupt) as info:
        check_home(Home(home))
    assert f"block {height}" in info.value.message, info.value.message
    assert info.value.details.get("height") == height
    return info.value.message


def test_a_good_chain_passes(tmp_path: Path) -> None:
    chain, blocks = write_chain(tmp_path)
    chain.kv.close()  # type: ignore[attr-defined]
    report = check_home(Home(tmp_path))
    assert report["height"] == HEIGHT and report["head_hash"] == bytes(blocks[-1].hash).hex()


@pytest.mark.parametrize("height", [1, 3, HEIGHT])
def test_a_commit_for_another_block_fails_naming_the_height(tmp_path: Path, height: int) -> None:
    chain, blocks = write_chain(tmp_path)
    block = blocks[height - 1]
    other = replace(block, header=replace(block.header, time_ms=block.header.time_ms + 1), _raw=b"")
    assert other.hash != block.hash
    put_commit(chain, chain.sign_commit(other))  # validly signed, by the right validator, for another block
    chain.kv.close()  # type: ignore[attr-defined]
    assert "signs block" in check_fails_at(tmp_path, height)


def test_a_commit_whose_signature_fails_is_caught(tmp_path: Path) -> None:
    chain, blocks = write_chain(tmp_path)
    good = chain.store.load_commit(2)
    sig = good.signatures[0]
    bad = replace(good, signatures=(CommitSig(sig.validator, sig.time_ms + 1, sig.signature),))  # signed another time
    put_commit(chain, bad)
    chain.kv.close()  # type: ignore[attr-defined]
    assert "does not verify" in check_fails_at(tmp_path, 2)


def test_a_commit_signed_by_a_stranger_is_caught(tmp_path: Path) -> None:
    # A commit for the right block through the store's own write path (the lead's guard
    # checks the hash and height only): signed by a key that is not in the validator set.
    chain = MemChain(kv=LevelDBKV(Home(tmp_path).data_dir))  # type: ignore[arg-type]
    block, out = chain.build([transfer(account(0), account(1).address, 1, 0)])
    stranger = PrivateKey.derive("not a validator")
    h = block.header
    commit = Commit(h.height, 0, block.hash,
                    (sign_commit_sig(stranger, h.chain_id, h.height, 0, block.hash, h.time_ms + 1000),))
    chain.store.save_block(block, out, commit)
    chain.kv.close()  # type: ignore[attr-defined]
    assert "does not verify" in check_fails_at(tmp_path, 1)


def test_a_missing_commit_is_caught(tmp_path: Path) -> None:
    chain, _ = write_chain(tmp_path)
    chain.kv.write_batch({}, frozenset({b"cmt/" + struct.pack(">Q", 2)}), sync=True)
    chain.kv.close()  # type: ignore[attr-defined]
    check_fails_at(tmp_path, 2)
