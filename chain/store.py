"""The block store, written against the ``KV`` protocol (LevelDB in ``node/db``).

Layout (all keys are bytes; heights are 8-byte big-endian)::

    b"head"              -> encode([height, block_hash])
    b"genesis"           -> genesis document hash
    b"blk/" + hash       -> block bytes
    b"hgt/" + height     -> block hash
    b"rcp/" + hash       -> encode([receipt bytes, ...])
    b"cmt/" + height     -> the commit that finalized the block at height
    b"txi/" + tx_hash    -> encode([height, index])
    b"evt/" + height     -> encode([1, [event, ...]])  the block's event log (below)
    b"smt/" + node_hash  -> state tree node            (chain.smt)
    b"flat/" + key       -> latest value of state key  (chain.state)

Rule: committing a block is ONE ``write_batch`` holding the block, its receipts,
its event log, its commit, the indexes, the new tree nodes, the flat-index changes and
the new head pointer, written with sync.  A crash at any instant therefore leaves the
previous head or the new one, never a mix.  Tree nodes are content-addressed and
never deleted, so every committed root stays provable (no pruning yet).

**The event log** (node storage, not consensus state: no root commits to it) is every
event a committed block produced, in execution order (``BlockOutput.executed_events``):
the ``begin_block`` hooks' events (module order), each transaction's receipt events (block
order), the proofs section's, then the ``end_block`` hooks' (module order).  An event's
*cursor* is ``(height, index)``, ``index`` its position in its block's list.  A block's log
is exactly what the block produced, so it is bounded by the block's own limits.  A height
with no log (committed by a node from before the log existed, or pruned) reads as
``EventsUnavailable``, never as an empty list.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from chain.apply import BlockOutput, Receipt, decode_receipts, encode_receipts
from chain.block import Block, Commit, Header
from chain.codec import decode, encode, expect_array, expect_bytes, expect_int, expect_versioned
from chain.errors import ErrorCode, InvalidBlock, NotFound, StoreCorrupt
from chain.kv import KV
from chain.module import Event
from chain.smt import EMPTY_ROOT
from chain.state import StateCommit, StateDB
from chain.types import Hash32

HEAD = b"head"
GENESIS = b"genesis"


EVENT_LOG_VERSION = 1


def _h(height: int) -> bytes:
    return struct.pack(">Q", height)


class EventsUnavailable(NotFound):
    """The store keeps no event log for a height: committed before the log existed, or pruned."""


def encode_events(events: list[Event]) -> bytes:
    """A block's event log as stored: ``[1, [event, ...]]``."""
    return encode([EVENT_LOG_VERSION, [e.encode_value() for e in events]])


def decode_events(data: bytes) -> list[Event]:
    """A stored event log (``encode_events``).  Like receipts, the log is the store's own
    record of one block, as long as the block made it, so it is not capped again here."""
    items = expect_versioned(decode(data, max_size=len(data)), "event log", EVENT_LOG_VERSION, 2)
    return [Event.decode_value(e) for e in expect_array(items[1], "event log.events")]


@dataclass(frozen=True, slots=True)
class TxLocation:
    height: int
    index: int
    block_hash: Hash32


class BlockStore:
    """Blocks, receipts, indexes and state on one ``KV``."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    # --- writes ---------------------------------------------------------------------

    def _state_writes(self, puts: dict[bytes, bytes], deletes: set[bytes], state: StateCommit) -> None:
        puts.update(state.node_writes)
        puts.update(state.flat_writes)
        deletes.update(state.flat_deletes)
        for k in state.flat_writes:
            deletes.discard(k)

    def save_genesis(self, header: Header, state: StateCommit, genesis_hash: bytes) -> None:
        """Write block 0 and the genesis state, unless a chain is already here."""
        if self.kv.get(HEAD) is not None:
            raise StoreCorrupt("store already holds a chain")
        block = Block(header)
        h = header.hash()
        puts = {
            b"blk/" + h: block.encode(),
            b"hgt/" + _h(0): bytes(h),
            b"rcp/" + h: encode_receipts([]),
            b"evt/" + _h(0): encode_events([]),
            GENESIS: genesis_hash,
            HEAD: encode([0, bytes(h)]),
        }
        deletes: set[bytes] = set()
        self._state_writes(puts, deletes, state)
        self.kv.write_batch(puts, frozenset(deletes), sync=True)

    def save_block(self, block: Block, output: BlockOutput, commit: Commit) -> None:
        """Commit ``block`` as the new head in one synced batch (see the module docstring).

        ``commit`` must name this block's hash and height (``InvalidBlock`` otherwise): the
        store never holds a block under a commit that does not sign it.
        """
        height = block.header.height
        head = self.head_height()
        if height != head + 1:
            raise StoreCorrupt(f"block {height} does not extend head {head}")
        h = block.hash
        if commit.block_hash != h or commit.height != height:
            raise InvalidBlock("the commit does not finalize this block", code=ErrorCode.BLOCK_BAD_COMMIT)
        puts = {
            b"blk/" + h: block.encode(),
            b"hgt/" + _h(height): bytes(h),
            b"rcp/" + h: encode_receipts(output.receipt_bytes),
            b"evt/" + _h(height): encode_events(output.executed_events()),
            b"cmt/" + _h(height): commit.encode(),
            HEAD: encode([height, bytes(h)]),
        }
        for index, r in enumerate(output.receipts):
            puts[b"txi/" + r.tx_hash] = encode([height, index])
        deletes: set[bytes] = set()
        self._state_writes(puts, deletes, output.state)
        self.kv.write_batch(puts, frozenset(deletes), sync=True)

    # --- reads ----------------------------------------------------------------------

    def head(self) -> tuple[int, Hash32] | None:
        raw = self.kv.get(HEAD)
        if raw is None:
            return None
        items = expect_array(decode(raw), "head", 2)
        return expect_int(items[0], "head.height"), Hash32(expect_bytes(items[1], "head.hash", length=32))

    def head_height(self) -> int:
        head = self.head()
        if head is None:
            raise NotFound("store holds no chain")
        return head[0]

    def genesis_hash(self) -> bytes | None:
        return self.kv.get(GENESIS)

    def load_block(self, block_hash: bytes) -> Block:
        raw = self.kv.get(b"blk/" + bytes(block_hash))
        if raw is None:
            raise NotFound(f"no block {bytes(block_hash).hex()}")
        return Block.decode(raw)

    def hash_at(self, height: int) -> Hash32:
        raw = self.kv.get(b"hgt/" + _h(height))
        if raw is None:
            raise NotFound(f"no block at height {height}")
        return Hash32(raw)

    def load_block_at(self, height: int) -> Block:
        return self.load_block(self.hash_at(height))

    def load_head_header(self) -> Header:
        head = self.head()
        if head is None:
            raise NotFound("store holds no chain")
        return self.load_block(head[1]).header

    def load_receipts(self, block_hash: bytes) -> list[Receipt]:
        raw = self.kv.get(b"rcp/" + bytes(block_hash))
        if raw is None:
            raise NotFound(f"no receipts for {bytes(block_hash).hex()}")
        return decode_receipts(raw)

    def load_events(self, height: int) -> list[Event]:
        """The event log of the block at ``height`` (module docstring), in cursor order.

        ``EventsUnavailable`` (a ``NotFound``) when the store keeps no log for that height:
        above the head, or committed before the log existed (or pruned).
        """
        raw = self.kv.get(b"evt/" + _h(height))
        if raw is None:
            head = self.head()
            if head is None or height > head[0]:
                raise EventsUnavailable(f"no block at height {height} yet")
            raise EventsUnavailable(f"events of height {height} are unavailable: the block was stored "
                                    "before this node kept an event log, or its log was pruned")
        return decode_events(raw)

    def load_commit(self, height: int) -> Commit:
        raw = self.kv.get(b"cmt/" + _h(height))
        if raw is None:
            raise NotFound(f"no commit for height {height}")
        return Commit.decode(raw)

    def tx_location(self, tx_hash: bytes) -> TxLocation:
        raw = self.kv.get(b"txi/" + bytes(tx_hash))
        if raw is None:
            raise NotFound(f"no committed transaction {bytes(tx_hash).hex()}")
        items = expect_array(decode(raw), "tx index", 2)
        height = expect_int(items[0], "tx index height")
        return TxLocation(height, expect_int(items[1], "tx index position"), self.hash_at(height))

    def head_state(self) -> StateDB:
        """A fresh overlay on the head state, reading the flat index."""
        return StateDB(self.kv, self.load_head_header().state_root, flat=self.kv)

    def state_at(self, root: bytes) -> StateDB:
        """A read view of any committed root (tree walk, no flat index)."""
        return StateDB(self.kv, root)

    def check_head(self) -> Header:
        """Startup check: the head block, its height index and its state root are all present."""
        header = self.load_head_header()
        if self.hash_at(header.height) != header.hash():
            raise StoreCorrupt("height index disagrees with the head pointer")
        root = bytes(header.state_root)
        if root != EMPTY_ROOT and self.kv.get(b"smt/" + root) is None:
            raise StoreCorrupt("the head's state root is missing from the store")
        return header
