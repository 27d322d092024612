"""``node.evidence.EvidencePool``: verified on entry, one per offender, bounded, pruned on every commit
(by a node that never proposes as well)."""

from __future__ import annotations

import pytest

from chain.block import PRECOMMIT, PREVOTE, Block, Commit, sign_commit_sig
from chain.errors import InvalidConsensusMessage
from chain.kv import MemoryKV
from chain.store import BlockStore
from genesis.devnet import devnet_genesis, devnet_onion, devnet_validator_key
from node.chain_service import ChainService
from node.evidence import EvidencePool
from node.executor import BlockExecutor
from node.mempool import Mempool
from tests.chain.test_staking import double_sign
from tests.node.bftnet import devnet_index, schedule_of

GENESIS = devnet_genesis(4)
KEYS = [devnet_validator_key(i) for i in range(4)]


class Node:
    """A chain with its executor and evidence pool (``max_items`` as given)."""

    def __init__(self, max_items: int = 64) -> None:
        self.chain = ChainService(BlockStore(MemoryKV()), GENESIS)
        self.pool = EvidencePool(self.chain.app.params, max_items=max_items)
        self.executor = BlockExecutor(self.chain, Mempool(self.chain.app, self.chain.account), self.pool)

    def add(self, raw: bytes) -> bool:
        return self.pool.add(raw, self.chain.head_state(), self.executor.next_env())

    def build(self) -> Block:
        """The next block, by the proposer the schedule names (this test holds every key)."""
        i = devnet_index(schedule_of(GENESIS, self.chain.head.height + 1).proposer(0).address)
        return self.executor.build(proposer=KEYS[i], onion=devnet_onion(i), now_ms=self.chain.head.time_ms + 1000)


def commit_for(block: Block) -> Commit:
    h = block.header
    sigs = [sign_commit_sig(k, h.chain_id, h.height, 0, block.hash, h.time_ms + 1) for k in KEYS[:3]]
    return Commit(h.height, 0, block.hash, tuple(sorted(sigs, key=lambda s: bytes(s.validator))))


def advance(proposer: Node, follower: Node, blocks: int) -> list[Block]:
    out = []
    for _ in range(blocks):
        block = proposer.build()
        commit = commit_for(block)
        proposer.executor.commit(block, commit)
        follower.executor.commit(follower.executor.decode(block.encode()), commit)
        out.append(block)
    return out


def test_evidence_is_kept_once_per_offender_and_up_to_the_cap() -> None:
    node = Node(max_items=2)
    advance(node, Node(), 2)
    assert node.add(double_sign(KEYS[1], 1))
    assert not node.add(double_sign(KEYS[1], 1, PRECOMMIT))  # the same offender: one is enough
    assert node.add(double_sign(KEYS[2], 1))
    assert not node.add(double_sign(KEYS[3], 1))  # full
    assert len(node.pool) == 2


@pytest.mark.parametrize(("raw", "reason"), [
    (double_sign(KEYS[1], 1, forge=True), "evidence-signature"),
    (b"\x00garbage", "evidence-malformed"),
])
def test_evidence_no_honest_node_sends_is_a_fault(raw: bytes, reason: str) -> None:
    node = Node()
    advance(node, Node(), 2)
    with pytest.raises(InvalidConsensusMessage) as err:
        node.add(raw)
    assert err.value.reason == reason
    assert len(node.pool) == 0


def test_evidence_that_fails_only_here_is_dropped_without_blame() -> None:
    node = Node()
    advance(node, Node(), 2)
    assert not node.add(double_sign(KEYS[1], 50, PREVOTE))  # a height this node has not reached
    assert len(node.pool) == 0


def test_a_node_that_never_proposes_prunes_what_a_block_included() -> None:
    proposer, follower = Node(), Node()
    advance(proposer, follower, 2)
    raw = double_sign(KEYS[1], 1)
    assert proposer.add(raw) and follower.add(raw)
    (block,) = advance(proposer, follower, 1)
    assert block.evidence == (raw,)
    assert len(proposer.pool) == 0
    assert len(follower.pool) == 0  # pruned by the commit alone
