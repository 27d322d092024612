"""Offline consistency check of a node's data (``cairn check``).

Checks that the head pointer, the height index and the block chain agree
(every block from 0 to the head is present and links to its parent), that each
stored block is the one its stored commit signs, and that the flat state index
rebuilds exactly the head header's ``state_root`` — i.e. the last commit landed
whole.

Commit rule, for every height ``h ≥ 1``: the commit stored for ``h`` names the
stored block's hash and verifies (``chain.block.verify_commit``: sorted, known,
valid signatures of more than 2/3 of the power) against the validator set that
signed ``h`` — ``VALIDATORS`` in the state after block ``h − 1``, read from that
block's ``state_root`` (tree nodes are never pruned).  Any failure is a
``StoreCorrupt`` naming the height.
"""

from __future__ import annotations

from typing import Any

from chain.block import Block, verify_commit
from chain.errors import ChainError, DecodeError, NotFound, StoreCorrupt
from chain.kv import MemoryKV
from chain.smt import EMPTY_ROOT, SparseMerkleTree
from chain.staking import VALIDATORS_KEY, load_set
from chain.state import FLAT_PREFIX
from chain.store import BlockStore
from node.db import LevelDBKV
from node.home import Home, HomeError


def check_commit(store: BlockStore, parent: Block, block: Block) -> None:
    """The stored commit of ``block`` signs it, by the set in ``parent``'s post-state (module docstring)."""
    height = block.header.height
    try:
        commit = store.load_commit(height)
    except (NotFound, DecodeError) as exc:
        raise StoreCorrupt(f"block {height}: no readable commit ({exc.message})", height=height) from None
    if commit.block_hash != block.hash:
        raise StoreCorrupt(f"block {height}: the stored commit signs block {bytes(commit.block_hash).hex()}, "
                           f"not the stored block {bytes(block.hash).hex()}", height=height)
    try:
        validators = load_set(store.state_at(parent.header.state_root), VALIDATORS_KEY)
        verify_commit(commit, chain_id=block.header.chain_id, validators=validators, height=height,
                      block_hash=block.hash)
    except ChainError as exc:
        raise StoreCorrupt(f"block {height}: its commit does not verify: {exc.message}", height=height) from None


def check_home(home: Home) -> dict[str, Any]:
    if not home.data_dir.exists():
        raise HomeError(f"{home.data_dir} does not exist")
    kv = LevelDBKV(home.data_dir)  # StoreUnavailable names a running node
    try:
        store = BlockStore(kv)
        head = store.check_head()
        prev: Block | None = None
        for height in range(head.height + 1):
            block = store.load_block_at(height)
            if block.header.height != height:
                raise StoreCorrupt(f"block indexed at {height} claims height {block.header.height}")
            if prev is not None:
                if block.header.prev_hash != prev.hash:
                    raise StoreCorrupt(f"block {height} does not link to block {height - 1}")
                check_commit(store, prev, block)
            prev = block
        flat = {k[len(FLAT_PREFIX):]: v for k, v in kv.iterate(FLAT_PREFIX)}
        root, _ = SparseMerkleTree(MemoryKV(), EMPTY_ROOT).update(flat)
        if root != bytes(head.state_root):
            raise StoreCorrupt(f"flat state rebuilds root {root.hex()}, head header says "
                               f"{bytes(head.state_root).hex()}")
        tree = SparseMerkleTree(kv, head.state_root)
        for key, value in list(flat.items())[:1000]:
            if tree.get(key) != value:
                raise StoreCorrupt(f"state tree and flat index disagree at {key.hex()}")
        return {"height": head.height, "head_hash": bytes(head.hash()).hex(),
                "state_root": bytes(head.state_root).hex(), "accounts": len(flat)}
    finally:
        kv.close()
