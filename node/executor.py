"""The block executor: the one path through which a node builds, checks and commits blocks.

Both consensus drivers (``node.consensus.SoloDriver``, ``node.bft.BftDriver``) and block
sync go through it, so the rules below hold on every path (CometBFT's
``state/execution.go``):

* **Decode once.**  A block from a peer is decoded by ``decode`` — strictly, within the
  genesis ``max_block_bytes`` — and the decoded ``Block`` (which keeps its bytes and
  gives its hash) is what the rest of the node handles.  ``keep`` remembers a decoded
  block the consensus driver has accepted for the height being decided, so validating
  and committing it never decode it again.
* **Build under one budget.**  ``build`` reaps the mempool for at most
  ``max_block_txs`` transactions and ``build_gas_limit`` gas, and for as many bytes as
  are left of ``max_block_bytes`` after the block's fixed part (header, last commit,
  evidence) and 5 bytes of framing per transaction (a CBOR byte string's head), so a
  built block is never over the cap.  Evidence comes from the evidence pool.
  ``build_gas_limit`` is this node's choice, not consensus (geth's miner gas ceiling):
  at most the genesis ``block_gas_limit``, by default ``DEFAULT_BUILD_GAS``, so that every
  validator can execute a block well within a round's propose timeout.  A transaction whose
  gas limit alone is over it (a large deploy) still gets a block: it may go first, alone up
  to ``block_gas_limit``.  Proof envelopes come from the proof pool (``node.proofpool``), up
  to half of ``max_block_bytes``, and are counted in the block's fixed part; ``build_block``
  leaves out any the AICF module would refuse.
* **Validate once per block.**  ``validate`` runs ``chain.apply.apply_block`` on the head
  state and keeps the output, so the commit of that block does not execute it again.
* **Commit only what the commit signs.**  ``commit`` refuses (``InvalidBlock``,
  ``BLOCK_BAD_COMMIT``) a block that is not the one ``commit`` finalizes: the commit
  must verify (``chain.block.verify_commit``: height, the block's own hash, more than
  2/3 of the height's validators) before anything is written.  Then the block and its
  output are written in one batch (``ChainService.commit``), the mempool is re-checked
  (transactions it unblocked go to ``on_promoted``), and the evidence and proof pools are
  pruned.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from chain.apply import BlockOutput, apply_block, build_block
from chain.block import Block, Commit, verify_commit
from chain.errors import ChainError, InvalidBlock
from chain.keys import PrivateKey
from chain.module import BlockEnv
from chain.onion import Onion
from chain.staking import VALIDATORS_KEY, load_set
from chain.tx import SignedTx
from node.chain_service import ChainService
from node.evidence import EvidencePool
from node.mempool import Mempool
from node.proofpool import ProofPool

log = structlog.get_logger("cairn.executor")

TX_FRAMING = 5
"""Bytes a transaction adds to an encoded block besides its own: the CBOR byte-string head."""
DEFAULT_BUILD_GAS = 40_000_000
"""Gas a built block holds at most by default: 2,000 transfers.  ``bench/transfers.py`` and
``make floods`` measure ~0.25 ms per transfer executed (signatures already verified) on the
CI machine, so ~0.5 s to build and as long to validate; a block of the genesis limit (200 M
gas, 10,000 transfers) took longer than the 3 s propose timeout to build and check on four
validators sharing two cores, and a sender with thousands of pending transfers stalled the
chain for rounds on end (``make floods``, one-sender)."""
HEADER_SLACK = 256
"""Room for the new header's variable-length fields (heights, times, the beacon reveal) to be
longer than the parent header's, which stands in for it when the budget is computed."""


class BlockExecutor:
    """See the module docstring."""

    def __init__(self, chain: ChainService, mempool: Mempool, evidence: EvidencePool | None = None, *,
                 on_promoted: Callable[[list[SignedTx]], None] | None = None,
                 build_gas_limit: int = DEFAULT_BUILD_GAS, proofs: ProofPool | None = None) -> None:
        self.chain = chain
        self.proofs = proofs
        self.build_gas_limit = build_gas_limit
        self.mempool = mempool
        self.evidence = evidence
        self.on_promoted = on_promoted
        self._blocks: dict[bytes, Block] = {}
        self._outputs: dict[bytes, BlockOutput] = {}

    # --- blocks of the height being decided ---------------------------------------------

    def decode(self, raw: bytes) -> Block:
        """A block from outside, decoded strictly within ``max_block_bytes`` (``DecodeError``)."""
        return Block.decode(raw, max_size=self.chain.app.params.max_block_bytes)

    def keep(self, block: Block) -> None:
        """Remember an accepted block of the height being decided (forgotten at the next commit)."""
        self._blocks.setdefault(bytes(block.hash), block)

    def known(self, block_hash: bytes) -> Block | None:
        """The kept block ``block_hash``, if any."""
        return self._blocks.get(bytes(block_hash))

    def block(self, block_hash: bytes, raw: bytes) -> Block:
        """The kept block ``block_hash``, or ``raw`` decoded (a block replayed from the WAL)."""
        found = self._blocks.get(bytes(block_hash))
        return found if found is not None else self.decode(raw)

    # --- building -------------------------------------------------------------------------

    def build(self, *, proposer: PrivateKey, onion: Onion, now_ms: int) -> Block:
        """A block for the next height from the mempool and the evidence pool (kept, with its output).

        Raises ``ValueError`` if ``onion`` cannot reveal the proposer's next layer.
        """
        chain = self.chain
        parent = chain.head
        p = chain.app.params
        last_commit = chain.store.load_commit(parent.height) if parent.height > 0 else None
        evidence = () if self.evidence is None else tuple(self.evidence.usable(chain.head_state(), self.next_env()))
        proofs = () if self.proofs is None else tuple(self.proofs.reap(p.max_block_bytes // 2))
        for attempt in (evidence, ()):  # evidence the pool still holds should apply; if not, go without
            skeleton = Block(parent, (), proofs, attempt, last_commit).encode()
            budget = p.max_block_bytes - len(skeleton) - HEADER_SLACK - TX_FRAMING * p.max_block_txs
            txs = self.mempool.reap(max_txs=p.max_block_txs, max_bytes=max(0, budget), max_gas=min(p.block_gas_limit, self.build_gas_limit), lone_gas=p.block_gas_limit)
            try:
                block, output = build_block(chain.head_state(), parent, chain.app, txs=[t.raw for t in txs],
                                            now_ms=now_ms, proposer=proposer.address, onion=onion,
                                            last_commit=last_commit, evidence=attempt, proofs=proofs,
                                            verified=self.mempool.sig_cache)
            except InvalidBlock as exc:
                if not attempt:
                    raise
                log.warning("pooled evidence no longer applies; building without it", reason=exc.message)
                continue
            self.keep(block)
            self._outputs[bytes(block.hash)] = output
            return block
        raise AssertionError("unreachable")

    # --- validating and committing -------------------------------------------------------

    def validate(self, block: Block) -> None:
        """``apply_block`` on the head state (``ChainError`` if invalid); the output is kept."""
        if bytes(block.hash) in self._outputs:
            return
        output = apply_block(self.chain.head_state(), self.chain.head, block, self.chain.app,
                             verified=self.mempool.sig_cache)
        self._outputs[bytes(block.hash)] = output

    def is_valid(self, block: Block) -> bool:
        """``validate``, as the consensus driver's verdict."""
        try:
            self.validate(block)
        except ChainError as exc:
            log.info("proposed block invalid", height=block.header.height, reason=exc.message)
            return False
        return True

    def commit(self, block: Block, commit: Commit) -> BlockOutput:
        """Make ``block`` the new head if ``commit`` finalizes it (see the module docstring)."""
        chain = self.chain
        head_state = chain.head_state()
        verify_commit(commit, chain_id=chain.chain_id, validators=load_set(head_state, VALIDATORS_KEY),
                      height=chain.head.height + 1, block_hash=block.hash)
        self.validate(block)
        output = self._outputs[bytes(block.hash)]
        chain.commit(block, output, commit)
        promoted = self.mempool.update() or []
        if self.evidence is not None:
            self.evidence.prune(block.evidence, chain.head_state(), self.next_env())
        if self.proofs is not None:
            self.proofs.update()
        self._blocks.clear()
        self._outputs.clear()
        if promoted and self.on_promoted is not None:
            self.on_promoted(promoted)
        return output

    def next_env(self) -> BlockEnv:
        """The environment evidence is checked in: the block after the head."""
        h = self.chain.head
        return BlockEnv(h.chain_id, h.height + 1, h.time_ms + 1, h.proposer, b"")
