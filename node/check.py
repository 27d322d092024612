"""Offline consistency check of a node's data (``cairn check``).

Checks that the head pointer, the height index and the block chain agree
(every block from 0 to the head is present and links to its parent), and that
the flat state index rebuilds exactly the head header's ``state_root`` — i.e.
the last commit landed whole.
"""

from __future__ import annotations

from typing import Any

from chain.errors import StoreCorrupt
from chain.kv import MemoryKV
from chain.smt import EMPTY_ROOT, SparseMerkleTree
from chain.state import FLAT_PREFIX
from chain.store import BlockStore
from node.db import LevelDBKV
from node.home import Home, HomeError


def check_home(home: Home) -> dict[str, Any]:
    if not home.data_dir.exists():
        raise HomeError(f"{home.data_dir} does not exist")
    try:
        kv = LevelDBKV(home.data_dir)
    except Exception as exc:  # plyvel raises IOError subclasses for a held lock
        raise HomeError(f"cannot open {home.data_dir} (is the node still running?): {exc}") from None
    try:
        store = BlockStore(kv)
        head = store.check_head()
        prev = None
        for height in range(head.height + 1):
            block = store.load_block_at(height)
            if block.header.height != height:
                raise StoreCorrupt(f"block indexed at {height} claims height {block.header.height}")
            if prev is not None and block.header.prev_hash != prev:
                raise StoreCorrupt(f"block {height} does not link to block {height - 1}")
            prev = block.hash
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
