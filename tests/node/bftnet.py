"""An in-process validator network that drives the real node: ``node.service.run_node``
(LevelDB, mempool, block executor, ``BftDriver``, WAL, signer, RPC), the real ``Gossip`` and
``PeerManager`` with real handshakes — connected by memory streams instead of sockets, under
trio's ``MockClock(autojump_threshold=0)`` so timeouts cost no real time.

* ``Net.start(i)`` / ``Net.stop(i)`` start and stop devnet validator ``i`` (its data stays:
  a stopped node restarts from its store, WAL and signer state), ``Net.link(i, j)`` /
  ``Net.unlink(i, j)`` connect and cut two members, each direction with a seeded delay
  per write, so a seed fixes the latencies.
* ``Actor`` is a peer without a driver — a PeerManager and a Gossip under some key — for
  tests that play a stranger or a validator whose messages they choose (``Accomplice``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio
import trio.testing

from chain.apply import apply_block, build_block
from chain.block import PRECOMMIT, PREVOTE, Block, Commit
from chain.codec import decode, expect_array, expect_bytes
from chain.consensus import NIL, Proposal, ProposerSchedule, Vote, sign_vote
from chain.keys import PrivateKey
from chain.kv import MemoryKV
from chain.params import ChainParams
from chain.staking import VALIDATORS_KEY, load_set, set_start_height
from chain.store import BlockStore
from chain.types import Address, Hash32
from genesis.devnet import devnet_genesis, devnet_onion, devnet_validator_key
from genesis.schema import Genesis
from node.bft import BftDriver
from node.blocksync import frame_size
from node.chain_service import ChainService
from node.home import NodeConfig
from node.p2p import Direction, Gossip, PeerConfig, PeerManager, Verdict
from node.p2p.handshake import NodeId
from node.service import Node, run_node

BASE_MS = 1_800_000_000_000
"""Virtual wall time at ``trio.current_time() == 0`` (milliseconds since the epoch)."""
CONFIG = dict(rpc_port=None, p2p_port=0, max_block_interval=0.05, timeout_propose_ms=1000, timeout_prevote_ms=500,
              timeout_precommit_ms=500, timeout_delta_ms=250)


def virtual_ms() -> int:
    return BASE_MS + int(trio.current_time() * 1000)


class DelayedStream(trio.abc.Stream):
    """``inner`` with each write held for ``delay()`` seconds first (writes stay in order); a write
    to a cut link fails as a write to a reset socket does."""

    def __init__(self, inner: trio.abc.Stream, delay: Callable[[], float]) -> None:
        self.inner = inner
        self.delay = delay

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        wait = self.delay()
        if wait > 0:
            await trio.sleep(wait)
        try:
            await self.inner.send_all(data)
        except trio.ClosedResourceError:  # the link was cut: to the writer, as a reset TCP connection is
            raise trio.BrokenResourceError("link cut") from None

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Link:
    streams: tuple[trio.StapledStream, trio.StapledStream]

    async def cut(self) -> None:
        """Close both directions at the sending end: each side reads end-of-stream, as after a TCP close."""
        for s in self.streams:
            await s.send_stream.aclose()


def address_of(peers: PeerManager) -> tuple[str, int]:
    """A made-up IP per node (from its id), so that IP bans and per-address limits apply per node."""
    nid = bytes(peers.node_id)
    return f"10.{nid[0]}.{nid[1]}.{nid[2] or 1}", 26656


async def connect(nursery: trio.Nursery, dialer: PeerManager, listener: PeerManager, rng: random.Random, *,
                  delay: tuple[float, float] = (0.0, 0.0)) -> Link:
    """Connect two peer managers over a memory stream pair (``dialer`` opens it)."""
    left, right = trio.testing.memory_stream_pair()
    lo, hi = delay

    def pause() -> float:
        return rng.uniform(lo, hi) if hi > 0 else 0.0

    a, b = DelayedStream(left, pause), DelayedStream(right, pause)
    nursery.start_soon(partial(dialer.serve_stream, a, direction=Direction.OUTBOUND, expected=listener.node_id,
                               address=address_of(listener)))
    nursery.start_soon(partial(listener.serve_stream, b, direction=Direction.INBOUND, address=address_of(dialer)))
    return Link((left, right))


@dataclass
class Member:
    index: int
    key: PrivateKey
    home: Path
    node: Node | None = None
    scope: trio.CancelScope | None = None

    @property
    def running(self) -> Node:
        assert self.node is not None, f"validator {self.index} is not running"
        return self.node

    @property
    def driver(self) -> BftDriver:
        driver = self.running.driver
        assert isinstance(driver, BftDriver)
        return driver

    @property
    def peers(self) -> PeerManager:
        peers = self.running.peers
        assert peers is not None
        return peers

    @property
    def height(self) -> int:
        return self.running.chain.head.height


class Net:
    """Devnet validators in one process over memory streams (see the module docstring)."""

    def __init__(self, nursery: trio.Nursery, tmp: Path, n: int = 4, *, seed: int = 0,
                 delay: tuple[float, float] = (0.001, 0.02), genesis: Genesis | None = None,
                 **config: Any) -> None:
        self.nursery = nursery
        self.genesis = genesis or devnet_genesis(n)
        self.rng = random.Random(seed)
        self.delay = delay
        self.config = NodeConfig(**{**CONFIG, **config})
        self.members = [Member(i, devnet_validator_key(i), tmp / f"v{i}") for i in range(n)]
        self.links: dict[frozenset[int], Link] = {}

    def __getitem__(self, i: int) -> Member:
        return self.members[i]

    async def start(self, i: int) -> Member:
        m = self.members[i]
        scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
            with scope:
                await run_node(self.genesis, m.key, str(m.home), self.config, onion=devnet_onion(i),
                               clock_ms=virtual_ms, task_status=task_status)

        m.node = await self.nursery.start(run)
        m.scope = scope
        return m

    async def stop(self, i: int) -> None:
        m = self.members[i]
        for pair in [p for p in self.links if i in p]:
            await self.unlink(*pair)
        assert m.scope is not None
        m.scope.cancel()
        m.node = m.scope = None
        await trio.sleep(0)

    async def link(self, i: int, j: int) -> None:
        pair = frozenset((i, j))
        if pair in self.links:
            return
        self.links[pair] = await connect(self.nursery, self[i].peers, self[j].peers, self.rng, delay=self.delay)

    async def unlink(self, i: int, j: int) -> None:
        link = self.links.pop(frozenset((i, j)), None)
        if link is not None:
            await link.cut()

    async def mesh(self, members: list[int] | None = None) -> None:
        idx = [m.index for m in self.members if m.node is not None] if members is None else members
        for a in idx:
            for b in idx:
                if a < b:
                    await self.link(a, b)

    def up(self) -> list[Member]:
        return [m for m in self.members if m.node is not None]

    async def wait_height(self, height: int, members: list[int] | None = None, *, timeout: float = 120.0) -> None:
        who = [self[i] for i in members] if members is not None else self.up()
        with trio.fail_after(timeout):
            while min(m.height for m in who) < height:
                await trio.sleep(0.05)

    def assert_agreement(self) -> None:
        up = self.up()
        top = min(m.height for m in up)
        for h in range(1, top + 1):
            hashes = {bytes(m.running.chain.store.hash_at(h)) for m in up}
            assert len(hashes) == 1, f"fork at height {h}"

    def honest_ids(self) -> set[NodeId]:
        return {m.peers.node_id for m in self.up()}

    def assert_no_honest_penalty(self) -> None:
        """No running member banned or scored down another member (honest behaviour is never penalised)."""
        ids = self.honest_ids()
        for m in self.up():
            for other in ids - {m.peers.node_id}:
                assert not m.peers.is_banned(other), f"validator {m.index} banned an honest peer"
                assert m.peers.score(other) == 0, f"validator {m.index} penalised an honest peer"

    def schedule(self, height: int) -> ProposerSchedule:
        return schedule_of(self.genesis, height)

    def powers(self) -> dict[bytes, int]:
        return powers_of(self.genesis)

    def index_of(self, address: bytes) -> int:
        return devnet_index(address)


def schedule_of(genesis: Genesis, height: int) -> ProposerSchedule:
    """The proposer schedule of ``height`` in the genesis epoch."""
    chain = ChainService(BlockStore(MemoryKV()), genesis)
    start = set_start_height(height, chain.app.params.epoch_length)
    return ProposerSchedule.at(load_set(chain.head_state(), VALIDATORS_KEY), height - start)


def powers_of(genesis: Genesis) -> dict[bytes, int]:
    return {bytes(v.address): v.power for v in schedule_of(genesis, 1).validators.validators}


def devnet_index(address: bytes) -> int:
    """Which devnet validator key has ``address``."""
    return next(i for i in range(100) if devnet_validator_key(i).address == address)


@dataclass
class Actor:
    """A peer with no consensus driver: a key, a PeerManager and a Gossip (see the module docstring)."""

    key: PrivateKey
    peers: PeerManager
    gossip: Gossip
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    @classmethod
    async def start(cls, nursery: trio.Nursery, key: PrivateKey, chain_id: str, *,
                    config: PeerConfig | None = None) -> Actor:
        peers = PeerManager(key, chain_id, config or PeerConfig(listen_port=None, max_frame_size=frame_size(
            ChainParams().max_block_bytes)))
        actor = cls(key, peers, Gossip(peers))

        async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            with actor.scope:
                await peers.run(task_status=task_status)

        await nursery.start(run)
        return actor

    @property
    def node_id(self) -> NodeId:
        return self.peers.node_id

    async def connect(self, nursery: trio.Nursery, member: Member, rng: random.Random | None = None) -> Link:
        link = await connect(nursery, self.peers, member.peers, rng or random.Random(0))
        with trio.fail_after(10):
            while self.peers.get(member.peers.node_id) is None:
                await trio.sleep(0.01)
        return link


def proposal_of(data: bytes) -> tuple[Proposal, Block]:
    items = expect_array(decode(data), "proposal msg", 2)
    return Proposal.decode(expect_bytes(items[0], "p")), Block.decode(expect_bytes(items[1], "b"))


class Accomplice:
    """A validator whose votes the test decides, played over an ``Actor``.

    It never proposes.  For every proposal it hears it prevotes the proposal's block; once
    it has heard prevotes for a block in a round from a quorum (itself included) it precommits
    that block — or nil where ``withhold(height, round)`` says so.  Its precommits carry a time
    after the block's, as an honest driver's do.
    """

    def __init__(self, actor: Actor, chain_id: str, powers: dict[bytes, int],
                 withhold: Callable[[int, int], bool], clock_ms: Callable[[], int]) -> None:
        self.actor = actor
        self.chain_id = chain_id
        self.powers = powers
        self.withhold = withhold
        self.clock_ms = clock_ms
        self.prevotes: dict[tuple[int, int, bytes], set[bytes]] = {}
        self.block_times: dict[bytes, int] = {}
        self.sent: set[tuple[int, int, int]] = set()
        self.reproposals: list[tuple[Proposal, Address]] = []
        """Re-proposals heard: the proposal and the author its block names."""
        g = actor.gossip
        g.subscribe("proposal", self._on_proposal, relay=False)
        g.subscribe("vote", self._on_vote, relay=False)

    @property
    def address(self) -> bytes:
        return bytes(self.actor.key.address)

    def _vote(self, vote_type: int, height: int, round_: int, block_hash: bytes) -> None:
        if (vote_type, height, round_) in self.sent:
            return
        self.sent.add((vote_type, height, round_))
        t = self.clock_ms()
        if vote_type == PRECOMMIT and block_hash != NIL:
            t = max(t, self.block_times.get(bytes(block_hash), 0) + 1)
        vote = sign_vote(self.actor.key, self.chain_id, vote_type, height, round_, block_hash, t)
        self.actor.gossip.publish("vote", vote.encode())
        if vote_type == PREVOTE:
            self._count(vote)

    async def _on_proposal(self, source: NodeId, data: bytes) -> Verdict:
        proposal, block = proposal_of(data)
        self.block_times[bytes(block.hash)] = block.header.time_ms
        if proposal.pol_round >= 0:
            self.reproposals.append((proposal, block.header.proposer))
        self._vote(PREVOTE, proposal.height, proposal.round, proposal.block_hash)
        return Verdict.ACCEPT

    async def _on_vote(self, source: NodeId, data: bytes) -> Verdict:
        vote = Vote.decode(data)
        if vote.type == PREVOTE:
            self._count(vote)
        return Verdict.ACCEPT

    def _count(self, vote: Vote) -> None:
        if vote.is_nil:
            return
        key = (vote.height, vote.round, bytes(vote.block_hash))
        voters = self.prevotes.setdefault(key, set())
        voters.add(bytes(vote.validator))
        total = sum(self.powers.values())
        if 3 * sum(self.powers.get(v, 0) for v in voters) > 2 * total:
            target = NIL if self.withhold(vote.height, vote.round) else vote.block_hash
            self._vote(PRECOMMIT, vote.height, vote.round, Hash32(target))


def forge_block(genesis: Genesis, history: list[tuple[Block, Commit]], real: Block, txs: list[bytes], *,
                now_ms: int) -> Block:
    """A valid block for ``real``'s height that is *not* ``real``: the same parent and proposer (the
    devnet onions are public, so its beacon reveal too), other transactions.  ``history`` holds the
    committed blocks below it, with their commits."""
    follower = ChainService(BlockStore(MemoryKV()), genesis)
    for block, commit in history:
        follower.commit(block, apply_block(follower.head_state(), follower.head, block, follower.app), commit)
    last_commit = history[-1][1] if history else None
    forged, _ = build_block(follower.head_state(), follower.head, follower.app, txs=txs, now_ms=now_ms,
                            proposer=real.header.proposer, onion=devnet_onion(devnet_index(real.header.proposer)),
                            last_commit=last_commit)
    assert forged.hash != real.hash and forged.header.beacon_reveal == real.header.beacon_reveal
    return forged
