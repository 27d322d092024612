"""The node's view of its chain: the store, the head, and the one place blocks commit.

Only the consensus driver calls ``commit``; everything else (RPC, mempool)
reads.  Reads and the commit run on the same trio thread, and ``commit`` does
not await, so a reader always sees one consistent head.

The one exception is ``query_contract``: a read-only contract call can run for seconds
(``max_query_gas`` of cheap host calls), so the RPC runs it on a worker thread.  It
reads the tree at a root fixed when it starts (tree nodes are content-addressed and
never deleted, so a commit meanwhile changes nothing it sees) and runs on a contract
runtime of its own, so it never shares the wasmtime module cache with block execution.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from aicf.collateral import overdue
from chain.apply import Application, BlockOutput
from chain.block import Block, Commit, Header
from chain.errors import StoreCorrupt
from chain.module import BlockEnv, Event
from chain.state import Account, StateDB
from chain.store import BlockStore
from chain.types import Address
from chain.vm.engine import CompiledStore
from chain.vm.runtime import CallOutcome, ContractRuntime, ContractsModule
from genesis.build import build_genesis, make_application
from genesis.schema import Genesis
from node.display import show_time
from proofs.groth16 import Groth16Cache
from proofs.tee.verdicts import TeeVerdictCache

log = structlog.get_logger("cairn.chain")


def contracts_runtime(app: Application) -> ContractRuntime:
    """The contract runtime of ``app`` (its ``contracts`` module)."""
    for module in app.modules:
        if isinstance(module, ContractsModule):
            return module.runtime
    raise LookupError("the application has no contracts module")


class ChainService:
    """Opens (or initializes) the store for a genesis and tracks the head."""

    def __init__(self, store: BlockStore, genesis: Genesis, *,
                 compiled_store: CompiledStore | None = None, groth16_backend: str | None = None) -> None:
        self.store = store
        self.genesis = genesis
        self.app: Application = make_application(genesis, compiled_store=compiled_store,
                                                 groth16_cache=Groth16Cache(backend=groth16_backend),
                                                 tee_cache=TeeVerdictCache())
        # Queries get a runtime (and wasmtime engine) of their own: see the module docstring.
        self._query_runtime = contracts_runtime(make_application(
            genesis, compiled_store=compiled_store, groth16_cache=Groth16Cache(backend=groth16_backend)))
        stored = store.genesis_hash()
        if stored is None:
            out = build_genesis(genesis)
            store.save_genesis(out.header, out.state, genesis.hash())
            log.info("genesis written", chain_id=genesis.chain_id, state_root=bytes(out.header.state_root).hex())
        elif stored != genesis.hash():
            raise StoreCorrupt("the data directory belongs to a different genesis")
        self.head: Header = store.check_head()
        self._listeners: list[Callable[[Block, BlockOutput], None]] = []
        self._collateral_warned: set[tuple[str, int, bool]] = set()

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    def head_state(self) -> StateDB:
        """A fresh overlay on the head state (flat-index reads; the head header is cached)."""
        return StateDB(self.store.kv, self.head.state_root, flat=self.store.kv)

    def account(self, address: Address) -> Account:
        return self.head_state().get_account(address)

    def query_contract(self, head: Header, contract: Address, method: str, args: bytes, *, caller: Address,
                       gas_limit: int) -> tuple[CallOutcome, list[Event]]:
        """A read-only call against the state committed at ``head``, as the next block would run it.

        Safe on a worker thread, one call at a time (the query runtime is not shared).
        """
        state = self.store.state_at(head.state_root)  # a throwaway overlay; dropped on return
        env = BlockEnv(self.chain_id, head.height + 1, head.time_ms, head.proposer, bytes(head.beacon))
        return self._query_runtime.query(state, env, contract, method, args, caller=caller,
                                         gas_limit=gas_limit)

    def on_commit(self, listener: Callable[[Block, BlockOutput], None]) -> None:
        self._listeners.append(listener)

    def commit(self, block: Block, output: BlockOutput, commit: Commit) -> None:
        """Persist ``block`` as the new head (one synced batch), then tell listeners."""
        self.store.save_block(block, output, commit)
        self.head = block.header
        self._warn_collateral()
        for listener in self._listeners:
            listener(block, output)

    def _warn_collateral(self) -> None:
        """Warn once per stored collateral part when it passes its ``nextUpdate`` (inside the
        grace window, ``aicf.collateral``) and once more when the window closes: from then on
        attestations that need it are refused until someone submits newer collateral."""
        grace = self.genesis.aicf.attestation.collateral_grace_s
        now_s = self.head.time_ms // 1000
        for part, closes in overdue(self.head_state(), now_s, grace):
            closed = closes < now_s
            if (part.name, part.next_update, closed) in self._collateral_warned:
                continue
            self._collateral_warned.add((part.name, part.next_update, closed))
            if closed:
                log.warning("collateral expired past its grace window: attestations that need it are refused "
                            "until newer collateral lands (cairn tx collateral)", part=part.name,
                            next_update=show_time(part.next_update * 1000), grace_closed=show_time(closes * 1000))
            else:
                log.warning("collateral past its nextUpdate; submit newer collateral (cairn tx collateral) "
                            "before the grace window closes", part=part.name,
                            next_update=show_time(part.next_update * 1000), grace_closes=show_time(closes * 1000))
