"""The node's view of its chain: the store, the head, and the one place blocks commit.

Only the consensus driver calls ``commit``; everything else (RPC, mempool)
reads.  Reads and the commit run on the same trio thread, and ``commit`` does
not await, so a reader always sees one consistent head.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from chain.apply import Application, BlockOutput
from chain.block import Block, Commit, Header
from chain.errors import StoreCorrupt
from chain.state import Account, StateDB
from chain.store import BlockStore
from chain.types import Address
from genesis.build import build_genesis, make_application
from genesis.schema import Genesis

log = structlog.get_logger("cairn.chain")


class ChainService:
    """Opens (or initializes) the store for a genesis and tracks the head."""

    def __init__(self, store: BlockStore, genesis: Genesis) -> None:
        self.store = store
        self.genesis = genesis
        self.app: Application = make_application(genesis)
        stored = store.genesis_hash()
        if stored is None:
            out = build_genesis(genesis)
            store.save_genesis(out.header, out.state, genesis.hash())
            log.info("genesis written", chain_id=genesis.chain_id, state_root=bytes(out.header.state_root).hex())
        elif stored != genesis.hash():
            raise StoreCorrupt("the data directory belongs to a different genesis")
        self.head: Header = store.check_head()
        self._listeners: list[Callable[[Block, BlockOutput], None]] = []

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    def head_state(self) -> StateDB:
        """A fresh overlay on the head state (flat-index reads; the head header is cached)."""
        return StateDB(self.store.kv, self.head.state_root, flat=self.store.kv)

    def account(self, address: Address) -> Account:
        return self.head_state().get_account(address)

    def on_commit(self, listener: Callable[[Block, BlockOutput], None]) -> None:
        self._listeners.append(listener)

    def commit(self, block: Block, output: BlockOutput, commit: Commit) -> None:
        """Persist ``block`` as the new head (one synced batch), then tell listeners."""
        self.store.save_block(block, output, commit)
        self.head = block.header
        for listener in self._listeners:
            listener(block, output)
