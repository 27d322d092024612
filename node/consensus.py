"""Consensus drivers: the one task that decides and commits blocks.

``ConsensusDriver`` is the interface the node runs.  ``SoloDriver`` is its
one-validator case: with a single validator holding all the power, every round
ends at its own proposal, so it proposes, signs its precommit (a real
signature, carried as ``last_commit`` in the next block and checked by
``apply_block``), and commits.  The multi-validator BFT driver implements the
same interface.  Both build and commit through ``node.executor.BlockExecutor``.

Block production rule: a block is made when the mempool holds transactions
and ``min_block_interval`` has passed since the last one, or when
``max_block_interval`` has passed (empty blocks keep time and heights moving).
Block time is ``max(now_ms, parent.time_ms + 1)``; the clock is a parameter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import structlog
import trio

from chain.apply import load_validators
from chain.block import Commit, sign_commit_sig
from chain.keys import PrivateKey
from chain.onion import Onion
from node.chain_service import ChainService
from node.executor import DEFAULT_BUILD_GAS, BlockExecutor
from node.mempool import Mempool
from node.proofpool import ProofPool

log = structlog.get_logger("cairn.consensus")


class ConsensusDriver(Protocol):
    """What the node runs: ``SoloDriver`` here, ``node.bft.BftDriver`` for a validator network."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the round state and commit blocks until cancelled."""
        ...

    def notify_tx(self, raws: list[bytes] | None = None) -> None:
        """Transactions were admitted to the mempool (gossip them, or wake the proposer)."""
        ...

    def round_state_json(self) -> dict[str, object]:
        """The ``consensus.state`` RPC answer."""
        ...


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SoloDriver:
    """One validator that holds all the voting power."""

    def __init__(
        self,
        chain: ChainService,
        mempool: Mempool,
        key: PrivateKey,
        onion: Onion,
        *,
        min_block_interval: float = 0.2,
        max_block_interval: float = 1.0,
        clock_ms: Callable[[], int] = wall_clock_ms,
        build_gas_limit: int = DEFAULT_BUILD_GAS,
        proofs: ProofPool | None = None,
    ) -> None:
        self.chain = chain
        self.mempool = mempool
        self.key = key
        self.onion = onion
        self.min_interval = min_block_interval
        self.max_interval = max_block_interval
        self.clock_ms = clock_ms
        self.tx_arrived = trio.Event()
        self.executor = BlockExecutor(chain, mempool, build_gas_limit=build_gas_limit, proofs=proofs)
        vs = load_validators(chain.head_state())
        me = vs.get(key.address)
        if me is None or vs.total_power != me.power:
            raise ValueError("the solo driver needs this node's key to hold all the voting power")

    def notify_tx(self, raws: list[bytes] | None = None) -> None:
        self.tx_arrived.set()

    def notify_proof(self, raw: bytes) -> None:
        """An envelope entered the proof pool: wake the proposer."""
        self.tx_arrived.set()

    def round_state_json(self) -> dict[str, object]:
        return {"height": self.chain.head.height + 1, "round": 0, "step": "propose", "mode": "solo"}

    def produce_one(self) -> Commit:
        """Build, sign and commit the next block (through the block executor); returns its commit."""
        chain = self.chain
        block = self.executor.build(proposer=self.key, onion=self.onion, now_ms=self.clock_ms())
        h = block.header
        # The precommit's time becomes the next block's time (BFT time), so it must move forward.
        sig = sign_commit_sig(self.key, chain.chain_id, h.height, 0, block.hash, max(self.clock_ms(), h.time_ms + 1))
        commit = Commit(h.height, 0, block.hash, (sig,))
        output = self.executor.commit(block, commit)
        failed = sum(1 for r in output.receipts if not r.ok)
        log.info("block committed", height=h.height, hash=bytes(block.hash).hex()[:16], txs=len(block.txs),
                 failed=failed, state_root=bytes(h.state_root).hex()[:16])
        return commit

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            with trio.move_on_after(self.max_interval):
                await trio.sleep(self.min_interval)
                while len(self.mempool) == 0 and not self.executor.proofs:
                    self.tx_arrived = trio.Event()
                    await self.tx_arrived.wait()
            self.produce_one()
            await trio.sleep(0)
