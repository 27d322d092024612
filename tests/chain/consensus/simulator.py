"""A deterministic in-process network of validators running ``chain.consensus.step``.

One ``random.Random(seed)`` and one event queue (a heap ordered by simulated time,
then by insertion) drive everything, so a seed replays exactly.  The simulator
plays the *driver* of each validator the way ``node/`` will:

* it signs the machine's intents with the validator's real Ed25519 key
  (``chain.keys.PrivateKey.derive``), persisting every signature before it is
  released, and refuses to sign a second, different vote or proposal for an
  ``(height, round, step)`` it already signed (an honest machine must never ask);
* it persists the ``RoundState`` after every step (the WAL: inputs are logged
  before they are handled, so the state after the last logged input is what a
  replay recovers) and the committed blocks;
* it answers ``ValidateBlock`` and ``RequestProposalValue`` after a short delay,
  waits ``commit_wait_ms`` after a commit before ``NewHeight`` (CometBFT's
  ``timeout_commit``), and schedules timeouts;
* it gossips: every ``gossip_ms`` each node sends its peers a status (its height
  and the ids of the messages it holds); a peer at the same height answers with
  the proposals and votes the sender lacks, a peer that is ahead answers with the
  block and commit of the sender's height.  Only this makes progress possible
  after loss, partitions and crashes.

Faults: per-message delay (with rare long spikes, hence reordering), loss,
duplication; partitions during the *chaos* window ``[0, heal_ms)``; crashes of
honest nodes that restart (from the persisted state, with ``Resume``) before
``heal_ms``; and byzantine validators (less than 1/3 of the power) whose driver
signs conflicting votes and proposals and sends each version to a different
half of the network, and sometimes proposes invalid blocks.

Checked while running and at the end (``Result.failures``):

* agreement: no two honest validators commit different blocks at one height;
* validity: every committed block was proposed (signed in a proposal) and is
  valid on its parent; its ``Commit`` passes ``chain.block.verify_commit``;
* no honest validator signs two conflicting messages, and no honest validator
  is ever named in evidence;
* whenever an honest machine counted a vote and then receives a conflicting one
  from the same validator, it emits ``Evidence`` (once per validator, round and
  type), and every ``Evidence`` verifies;
* termination: after the chaos window ends, every honest validator commits at
  least ``progress_after_heal`` heights beyond the highest height committed by
  then, within ``bound_ms`` of simulated time.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from chain.block import Block, Commit, Header, Validator, ValidatorSet, verify_commit
from chain.codec import encode
from chain.consensus import (
    NIL,
    Action,
    BlockValidity,
    CommitBlock,
    CommitReceived,
    Config,
    DuplicateVote,
    Event,
    Evidence,
    NewHeight,
    Proposal,
    ProposalReceived,
    ProposalValue,
    ProposerSchedule,
    Rejected,
    RequestProposalValue,
    Resume,
    RoundState,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    Step,
    TimeoutFired,
    Timeouts,
    ValidateBlock,
    Vote,
    VoteReceived,
    sign_proposal,
    sign_vote,
    step,
)
from chain.consensus.state_machine import MAX_ROUNDS_AHEAD
from chain.errors import ChainError
from chain.hashing import H
from chain.keys import PrivateKey
from chain.types import ZERO_HASH, Address, Hash32

CHAIN_ID = "cairn-sim"
GENESIS_TIME_MS = 1_700_000_000_000
GENESIS_HASH = Hash32(H(b"cairn/sim-genesis/v1", b""))
POISON = b"poison"
SIM_TIMEOUTS = Timeouts(
    propose_ms=400,
    propose_delta_ms=150,
    prevote_ms=200,
    prevote_delta_ms=100,
    precommit_ms=200,
    precommit_delta_ms=100,
)


@cache
def validator_key(i: int) -> tuple[PrivateKey, Address]:
    """The simulator's i-th validator key (derived from a public label: tests only)."""
    key = PrivateKey.derive(f"cairn-sim/validator/{i}")
    return key, key.address


# --- scenario -----------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    start_ms: int
    end_ms: int
    group: frozenset[int]
    """Nodes on one side; everyone else is on the other."""


@dataclass(frozen=True)
class Crash:
    node: int
    at_ms: int
    restart_ms: int


@dataclass(frozen=True)
class Scenario:
    """Everything random about one run, drawn from the seed."""

    seed: int
    powers: tuple[int, ...]
    byzantine: frozenset[int]
    heal_ms: int
    partitions: tuple[Partition, ...]
    crashes: tuple[Crash, ...]
    loss_chaos: float
    loss_after: float
    duplicate: float
    delay_ms: tuple[int, int]
    spike: float
    equivocate: float
    """Chance that a byzantine signature is doubled with a conflicting one."""
    poison: float
    """Chance that a byzantine proposer builds an invalid block."""
    withhold: float = 0.0
    """Chance that a byzantine validator leaves a peer out of a message, or out of its gossip."""
    gossip_ms: int = 250
    commit_wait_ms: int = 400
    bound_ms: int = 40_000
    progress_after_heal: int = 2

    @property
    def n(self) -> int:
        return len(self.powers)

    @classmethod
    def random(cls, seed: int) -> Scenario:
        rng = random.Random(f"scenario/{seed}")
        n = rng.randint(4, 7)
        powers = tuple([1] * n if rng.random() < 0.5 else [rng.randint(1, 10) for _ in range(n)])
        total = sum(powers)
        byzantine: set[int] = set()
        if rng.random() < 0.5:
            order = list(range(n))
            rng.shuffle(order)
            for i in order:
                if 3 * (sum(powers[j] for j in byzantine) + powers[i]) < total:
                    byzantine.add(i)
        harsh = rng.random() < 0.3  # slow gossip, long spikes, heavy loss: many rounds, locks and unlocks
        heal_ms = rng.randint(1000, 6000 if harsh else 4000)
        partitions = []
        t = rng.randint(0, 500)
        for _ in range(rng.randint(0, 2)):
            end = t + rng.randint(200, 1500)
            if end >= heal_ms:
                break
            side = rng.sample(range(n), rng.randint(1, n // 2))
            partitions.append(Partition(t, end, frozenset(side)))
            t = end + rng.randint(0, 800)
        honest = [i for i in range(n) if i not in byzantine]
        crashes = []
        for i in rng.sample(honest, rng.randint(0, min(2, len(honest)))):
            at = rng.randint(0, heal_ms - 200)
            crashes.append(Crash(i, at, min(heal_ms, at + rng.randint(100, 2000))))
        return cls(
            seed=seed,
            powers=powers,
            byzantine=frozenset(byzantine),
            heal_ms=heal_ms,
            partitions=tuple(partitions),
            crashes=tuple(crashes),
            loss_chaos=0.4 if harsh else rng.choice([0.0, 0.05, 0.2, 0.4]),
            loss_after=rng.choice([0.0, 0.0, 0.03]),
            duplicate=rng.choice([0.0, 0.05, 0.2]),
            delay_ms=(1, 60 if harsh else rng.choice([5, 20, 60])),
            spike=0.1 if harsh else rng.choice([0.0, 0.03]),
            equivocate=rng.choice([0.3, 0.7, 1.0]),
            poison=rng.choice([0.0, 0.3]),
            withhold=rng.choice([0.0, 0.5]),
            commit_wait_ms=rng.choice([150, 300, 400]),
            gossip_ms=600 if harsh else 250,
        )


# --- blocks ------------------------------------------------------------------------


def make_block(height: int, prev: Hash32, proposer: Address, time_ms: int, payload: bytes) -> bytes:
    """A real ``chain.block.Block`` whose header commits to its one transaction."""
    txs = (payload,)
    header = Header(
        chain_id=CHAIN_ID,
        height=height,
        time_ms=time_ms,
        prev_hash=prev,
        last_commit_hash=ZERO_HASH,
        txs_root=Hash32(H(b"cairn/sim-txs/v1", encode(list(txs)))),
        proofs_root=ZERO_HASH,
        evidence_root=ZERO_HASH,
        receipts_root=ZERO_HASH,
        state_root=ZERO_HASH,
        validators_hash=ZERO_HASH,
        next_validators_hash=ZERO_HASH,
        proposer=proposer,
        beacon_reveal=b"",
        beacon=ZERO_HASH,
    )
    return Block(header, txs).encode()


def block_hash(raw: bytes) -> Hash32:
    return Block.decode(raw).hash


def block_valid(raw: bytes, height: int, prev: bytes) -> bool:
    """The simulator's ``valid(v)``: right height and parent, header commits to the body, no poison."""
    try:
        b = Block.decode(raw)
    except ChainError:
        return False
    h = b.header
    return (
        h.chain_id == CHAIN_ID
        and h.height == height
        and h.prev_hash == prev
        and h.txs_root == H(b"cairn/sim-txs/v1", encode(list(b.txs)))
        and not any(POISON in tx for tx in b.txs)
    )


# --- the simulation ---------------------------------------------------------------


@dataclass
class Node:
    index: int
    key: PrivateKey
    address: Address
    honest: bool
    state: RoundState
    persisted: RoundState
    up: bool = True
    incarnation: int = 0
    chain: list[tuple[Hash32, bytes]] = field(default_factory=list)
    """Committed blocks; ``chain[h - 1]`` is height ``h``.  Persisted."""
    commits: dict[int, Commit] = field(default_factory=dict)
    signed: dict[tuple[int, int, int], Vote | Proposal] = field(default_factory=dict)
    """The signer's persisted record: ``(height, round, step)`` → what it signed (step 0: proposal)."""

    @property
    def height(self) -> int:
        return len(self.chain)

    @property
    def tip(self) -> Hash32:
        return self.chain[-1][0] if self.chain else GENESIS_HASH


@dataclass
class Result:
    scenario: Scenario
    failures: list[str]
    heights: dict[int, int]
    evidence: int
    equivocations: int
    events: int
    end_ms: int


class Simulation:
    """One run of a ``Scenario``; ``run()`` returns a ``Result``."""

    def __init__(self, scenario: Scenario, *, trace: Callable[[str], None] | None = None) -> None:
        self.sc = scenario
        self.rng = random.Random(f"run/{scenario.seed}")
        self.trace = trace
        self.now = 0
        self.queue: list[tuple[int, int, str, int, int, Any]] = []
        self.seq = 0
        validators = []
        for i, p in enumerate(scenario.powers):
            key, addr = validator_key(i)
            validators.append(Validator(addr, key.public_key, p))
        self.validators = ValidatorSet.of(validators)
        self.schedule0 = ProposerSchedule.initial(self.validators)
        self.nodes: list[Node] = []
        for i in range(scenario.n):
            key, addr = validator_key(i)
            s0 = RoundState.initial(Config(CHAIN_ID, addr, SIM_TIMEOUTS))
            self.nodes.append(Node(i, key, addr, i not in scenario.byzantine, s0, s0))
        self.by_address = {bytes(nd.address): nd for nd in self.nodes}
        self.failures: list[str] = []
        self.decided: dict[int, Hash32] = {}
        self.proposed: dict[int, set[bytes]] = {}
        self.verified_commits: set[bytes] = set()
        self.evidence = 0
        self.equivocations = 0
        self.events = 0
        self.heal_height: int | None = None

    # -- plumbing --

    def _push(self, at: int, kind: str, node: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, node, self.nodes[node].incarnation, payload))

    def _log(self, text: str) -> None:
        if self.trace is not None:
            self.trace(f"{self.now:>7} {text}")

    def _honest_address(self, address: bytes) -> bool:
        nd = self.by_address.get(bytes(address))
        return nd is not None and nd.honest

    def _fail(self, text: str) -> None:
        self.failures.append(f"t={self.now}: {text}")
        self._log(f"FAIL {text}")

    def _cut(self, a: int, b: int) -> bool:
        for p in self.sc.partitions:
            if p.start_ms <= self.now < p.end_ms and (a in p.group) != (b in p.group):
                return True
        return False

    def send(self, src: int, dst: int, msg: tuple[Any, ...]) -> None:
        """Put a message on the wire: maybe lost, maybe duplicated, each copy with its own delay."""
        if src == dst:
            self._push(self.now, "deliver", dst, msg)
            return
        if self._cut(src, dst):
            return
        loss = self.sc.loss_chaos if self.now < self.sc.heal_ms else self.sc.loss_after
        copies = 2 if self.rng.random() < self.sc.duplicate else 1
        for _ in range(copies):
            if self.rng.random() < loss:
                continue
            delay = self.rng.randint(*self.sc.delay_ms)
            if self.rng.random() < self.sc.spike:
                delay += self.rng.randint(100, 600)
            self._push(self.now + delay, "deliver", dst, msg)

    def broadcast(self, src: int, msg: tuple[Any, ...], *, to: list[int] | None = None) -> None:
        selective = not self.nodes[src].honest and self.sc.withhold > 0
        for dst in range(self.sc.n) if to is None else to:
            if selective and dst != src and self.rng.random() < self.sc.withhold:
                continue
            self.send(src, dst, msg)

    # -- the driver --

    def feed(self, nd: Node, event: Event) -> None:
        """One WAL-logged step: the state is persisted with the input, then the actions run."""
        before = nd.state
        after, actions = step(before, event)
        nd.state = after
        if after is not before:  # the driver's WAL rule: only an input that changed the state is logged
            nd.persisted = after
        for a in actions:
            if isinstance(a, Rejected) and a.sender is not None and self._honest_address(a.sender):
                self._fail(f"node {nd.index} rejected an honest validator's message: {a.reason}")
        if nd.honest and isinstance(event, VoteReceived):
            self._check_evidence(nd, before, event.vote, actions)
        if self.trace is not None and (actions or not isinstance(event, (VoteReceived, ProposalReceived))):
            where = f"{after.height}/{after.round}/{after.step.name}"
            self._log(
                f"node {nd.index} {where} <- {_short(event)} -> {', '.join(_short(a) for a in actions)}"
            )
        for a in actions:
            self.execute(nd, a)

    def _check_evidence(self, nd: Node, before: RoundState, vote: Vote, actions: list[Action]) -> None:
        if before.step not in (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT) or vote.height != before.height:
            return
        if vote.round > before.round + MAX_ROUNDS_AHEAD:
            return
        earlier = before.vote_set(vote.round, vote.type).by(vote.validator)
        if not earlier or any(e.block_hash == vote.block_hash for e in earlier):
            return
        key = (vote.validator, vote.round, vote.type)
        if key in before.evidenced:
            return
        if not any(isinstance(a, Evidence) and a.evidence.validator == vote.validator for a in actions):
            self._fail(f"node {nd.index} counted a vote and then a conflicting one but reported no evidence")

    def execute(self, nd: Node, a: Action) -> None:
        i = nd.index
        if isinstance(a, ScheduleTimeout):
            self._push(self.now + a.ms, "step", i, TimeoutFired(a.height, a.round, a.step))
        elif isinstance(a, (SignVote, SignProposal)):
            self._push(self.now + 1, "sign", i, a)
        elif isinstance(a, ValidateBlock):
            ok = self._valid(nd, a.block)
            self._push(
                self.now + self.rng.randint(1, 5), "step", i, BlockValidity(a.height, a.block_hash, ok)
            )
        elif isinstance(a, RequestProposalValue):
            self._push(self.now + self.rng.randint(1, 5), "build", i, a)
        elif isinstance(a, CommitBlock):
            self._commit(nd, a)
        elif isinstance(a, Evidence):
            self._evidence(nd, a)
        elif isinstance(a, Rejected):
            self._fail(f"node {nd.index} rejected a message ({a.reason}) though no one forges")

    def _valid(self, nd: Node, raw: bytes) -> bool:
        return block_valid(raw, nd.height + 1, nd.tip)

    def _commit(self, nd: Node, a: CommitBlock) -> None:
        h = a.height
        if h <= nd.height:  # re-emitted after a restart
            if nd.chain[h - 1][0] != a.block_hash:
                self._fail(f"node {nd.index} re-committed height {h} with another block")
        elif h != nd.height + 1:
            self._fail(f"node {nd.index} committed height {h} on top of {nd.height}")
            return
        else:
            if nd.honest:
                self._check_commit(nd, a)
            nd.chain.append((a.block_hash, a.block))
            nd.commits[h] = a.commit
            self._log(f"node {nd.index} commits {h} {a.block_hash.hex()[:8]} round {a.round}")
        self._push(
            self.now + self.sc.commit_wait_ms, "step", nd.index, NewHeight(h + 1, self.schedule0.advance(h))
        )

    def _check_commit(self, nd: Node, a: CommitBlock) -> None:
        h = a.height
        first = self.decided.setdefault(h, a.block_hash)
        if first != a.block_hash:
            self._fail(
                f"AGREEMENT: node {nd.index} commits {a.block_hash.hex()} at {h}, another {first.hex()}"
            )
        if bytes(a.block_hash) not in self.proposed.get(h, set()):
            self._fail(f"VALIDITY: node {nd.index} commits an unproposed block at {h}")
        if block_hash(a.block) != a.block_hash or not block_valid(a.block, h, nd.tip):
            self._fail(f"VALIDITY: node {nd.index} commits an invalid block at {h}")
        key = bytes(a.commit.hash())
        if key not in self.verified_commits:
            try:
                verify_commit(
                    a.commit, chain_id=CHAIN_ID, validators=self.validators, height=h, block_hash=a.block_hash
                )
            except ChainError as exc:
                self._fail(f"node {nd.index}'s commit for {h} fails verify_commit: {exc}")
            self.verified_commits.add(key)

    def _evidence(self, nd: Node, a: Evidence) -> None:
        ev = DuplicateVote.decode(a.evidence.encode())
        try:
            offender = ev.verify(CHAIN_ID, self.validators)
        except ChainError as exc:
            self._fail(f"node {nd.index} emitted evidence that does not verify: {exc}")
            return
        if self.by_address[bytes(offender.address)].honest:
            self._fail(f"node {nd.index} accuses honest validator {offender.address.hex()}")
        if nd.honest:
            self.evidence += 1

    def _sign(self, nd: Node, intent: SignVote | SignProposal) -> None:
        """The signer: persist, then release (honest); or double-sign (byzantine)."""
        time_ms = GENESIS_TIME_MS + self.now
        if isinstance(intent, SignVote):
            key = (intent.height, intent.round, intent.type)
            old = nd.signed.get(key)
            if nd.honest and old is not None:
                assert isinstance(old, Vote)
                if old.block_hash != intent.block_hash:
                    self._fail(f"honest node {nd.index} asked to sign a conflicting vote {key}")
                    return
                vote = old  # re-release what was signed before the crash
            else:
                vote = sign_vote(
                    nd.key, CHAIN_ID, intent.type, intent.height, intent.round, intent.block_hash, time_ms
                )
                nd.signed[key] = vote
            if not nd.honest and self.rng.random() < self.sc.equivocate:
                other = self._other_hash(nd, vote.block_hash)
                twin = sign_vote(nd.key, CHAIN_ID, intent.type, intent.height, intent.round, other, time_ms)
                self.equivocations += 1
                self._split(nd, ("vote", vote.encode()), ("vote", twin.encode()))
                return
            self.broadcast(nd.index, ("vote", vote.encode()))
        else:
            key = (intent.height, intent.round, 0)
            old = nd.signed.get(key)
            if nd.honest and old is not None:
                assert isinstance(old, Proposal)
                if old.block_hash != intent.block_hash:
                    self._fail(f"honest node {nd.index} asked to sign a conflicting proposal {key}")
                    return
                prop = old
            else:
                prop = sign_proposal(
                    nd.key, CHAIN_ID, intent.height, intent.round, intent.block_hash, intent.pol_round
                )
                nd.signed[key] = prop
            self.proposed.setdefault(intent.height, set()).add(bytes(prop.block_hash))
            msg = ("proposal", prop.encode(), intent.block)
            if not nd.honest and self.rng.random() < self.sc.equivocate:
                raw = self._build(nd, intent.height, poison=self.rng.random() < 0.5)
                rival = sign_proposal(nd.key, CHAIN_ID, intent.height, intent.round, block_hash(raw), -1)
                self.proposed[intent.height].add(bytes(rival.block_hash))
                self._split(nd, msg, ("proposal", rival.encode(), raw))
                return
            self.broadcast(nd.index, msg)

    def _other_hash(self, nd: Node, h: Hash32) -> Hash32:
        """The value of a byzantine twin vote: another proposal of this round (ignoring locks), or nil."""
        s = nd.state
        current = [p.block_hash for p in s.proposals_in(s.round) if p.block_hash != h]
        if h != NIL:
            return self.rng.choice([*current, NIL])
        known = current or [b for b, _ in s.blocks]
        return self.rng.choice(known) if known else Hash32(H(b"cairn/sim-fake/v1", self.rng.randbytes(8)))

    def _split(self, nd: Node, mine: tuple[Any, ...], twin: tuple[Any, ...]) -> None:
        """Send ``mine`` to itself and a random half of the peers, ``twin`` to the others."""
        peers = [j for j in range(self.sc.n) if j != nd.index]
        self.rng.shuffle(peers)
        half = len(peers) // 2
        self.broadcast(nd.index, mine, to=[nd.index, *peers[:half]])
        self.broadcast(nd.index, twin, to=peers[half:])

    def _build(self, nd: Node, height: int, *, poison: bool = False) -> bytes:
        payload = self.rng.randbytes(12) + (POISON if poison else b"")
        return make_block(height, nd.tip, nd.address, GENESIS_TIME_MS + self.now, payload)

    def _deliver(self, nd: Node, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "vote":
            self.feed(nd, VoteReceived(Vote.decode(msg[1])))
        elif kind == "proposal":
            prop = Proposal.decode(msg[1])
            if block_hash(msg[2]) != prop.block_hash:
                self._fail("a proposal's block does not hash to its block_hash")
                return
            self.feed(nd, ProposalReceived(prop, msg[2], Block.decode(msg[2]).header.proposer))
        elif kind == "commit":
            commit = Commit.decode(msg[1])
            if block_hash(msg[2]) != commit.block_hash:
                self._fail("a commit's block does not hash to its block_hash")
                return
            self.feed(nd, CommitReceived(commit, msg[2]))
        elif kind == "status":
            self._answer_status(nd, msg[1], msg[2], msg[3])

    # -- gossip --

    @staticmethod
    def _have(s: RoundState) -> frozenset[tuple[Any, ...]]:
        ids: set[tuple[Any, ...]] = {("p", p.round, bytes(p.block_hash)) for p in s.proposals}
        for vs in s.votes:
            ids.update((vs.type, vs.round, bytes(v.validator), bytes(v.block_hash)) for v in vs.votes)
        return frozenset(ids)

    def _gossip(self, nd: Node) -> None:
        s = nd.state
        if s.step in (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT):
            have = self._have(s)
            for j in range(self.sc.n):
                if j != nd.index:
                    self.send(nd.index, j, ("status", nd.index, s.height, have))
        self._push(self.now + self.sc.gossip_ms + self.rng.randint(0, 50), "gossip", nd.index, None)

    def _answer_status(self, nd: Node, peer: int, height: int, have: frozenset[tuple[Any, ...]]) -> None:
        if not nd.honest and self.rng.random() < self.sc.withhold:
            return
        if height <= nd.height:
            commit = nd.commits.get(height)
            if commit is not None:
                self.send(nd.index, peer, ("commit", commit.encode(), nd.chain[height - 1][1]))
            return
        s = nd.state
        if height != s.height or s.step not in (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT):
            return
        for p in s.proposals:
            if ("p", p.round, bytes(p.block_hash)) not in have:
                raw = s.block(p.block_hash)
                assert raw is not None
                self.send(nd.index, peer, ("proposal", p.encode(), raw))
        for vs in s.votes:
            for v in vs.votes:
                if (vs.type, vs.round, bytes(v.validator), bytes(v.block_hash)) not in have:
                    self.send(nd.index, peer, ("vote", v.encode()))

    # -- the loop --

    def run(self) -> Result:
        sc = self.sc
        for nd in self.nodes:
            self._push(self.rng.randint(0, 50), "step", nd.index, NewHeight(1, self.schedule0))
            self._push(self.rng.randint(0, sc.gossip_ms), "gossip", nd.index, None)
        for c in sc.crashes:
            self._push(c.at_ms, "crash", c.node, None)
        end = sc.heal_ms + sc.bound_ms
        honest = [nd for nd in self.nodes if nd.honest]
        while self.queue:
            at, _, kind, i, incarnation, payload = heapq.heappop(self.queue)
            if at > end:
                break
            self.now = at
            self.events += 1
            if self.heal_height is None and at >= sc.heal_ms:
                self.heal_height = max(nd.height for nd in honest)
                self._log(f"healed at height {self.heal_height}")
            nd = self.nodes[i]
            if kind == "crash":
                self._crash(nd)
                continue
            if kind == "restart":
                self._restart(nd)
                continue
            if not nd.up or incarnation != nd.incarnation:
                continue  # lost with the process
            if kind == "deliver":
                self._deliver(nd, payload)
            elif kind == "step":
                self.feed(nd, payload)
            elif kind == "sign":
                self._sign(nd, payload)
            elif kind == "build":
                if nd.state.height == payload.height and nd.state.round == payload.round:
                    raw = self._build(
                        nd, payload.height, poison=not nd.honest and self.rng.random() < sc.poison
                    )
                    self.feed(nd, ProposalValue(payload.height, payload.round, block_hash(raw), raw))
            elif kind == "gossip":
                self._gossip(nd)
            if self.heal_height is not None and all(
                nd.height >= self.heal_height + sc.progress_after_heal for nd in honest
            ):
                break
        if self.heal_height is None or any(
            nd.height < self.heal_height + sc.progress_after_heal for nd in honest
        ):
            heights = {nd.index: nd.height for nd in honest}
            self._fail(
                f"TERMINATION: heights {heights} {sc.bound_ms} ms after healing at height {self.heal_height}"
            )
        return Result(
            sc,
            self.failures,
            {nd.index: nd.height for nd in self.nodes},
            self.evidence,
            self.equivocations,
            self.events,
            self.now,
        )

    def _crash(self, nd: Node) -> None:
        self._log(f"node {nd.index} crashes at {nd.state.height}/{nd.state.round}/{nd.state.step.name}")
        nd.up = False
        nd.incarnation += 1
        crash = next(c for c in self.sc.crashes if c.node == nd.index and c.at_ms == self.now)
        self._push(crash.restart_ms, "restart", nd.index, None)

    def _restart(self, nd: Node) -> None:
        """Back from the WAL: the persisted state and signer record, then ``Resume``."""
        nd.up = True
        nd.incarnation += 1
        nd.state = nd.persisted
        self._log(f"node {nd.index} restarts at {nd.state.height}/{nd.state.round}/{nd.state.step.name}")
        self.feed(nd, Resume())
        if nd.state.step == Step.NEW_HEIGHT:
            self.feed(nd, NewHeight(nd.height + 1, self.schedule0.advance(nd.height)))
        self._push(self.now + self.rng.randint(0, self.sc.gossip_ms), "gossip", nd.index, None)


def _short(item: object) -> str:
    """A one-line description of an event or action for traces."""
    name = type(item).__name__
    if isinstance(item, VoteReceived):
        v = item.vote
        kind = "prevote" if v.type == 1 else "precommit"
        return f"{kind}({v.validator.hex()[:6]} r{v.round} {v.block_hash.hex()[:8]})"
    if isinstance(item, ProposalReceived):
        p = item.proposal
        return f"proposal({p.proposer.hex()[:6]} r{p.round} {p.block_hash.hex()[:8]} pol {p.pol_round})"
    if isinstance(item, SignVote):
        kind = "prevote" if item.type == 1 else "precommit"
        return f"sign-{kind}(r{item.round} {item.block_hash.hex()[:8]})"
    if isinstance(item, SignProposal):
        return f"sign-proposal(r{item.round} {item.block_hash.hex()[:8]} pol {item.pol_round})"
    if isinstance(item, (TimeoutFired, ScheduleTimeout)):
        return f"{name}(r{item.round} {item.step.name})"
    if isinstance(item, (BlockValidity, ValidateBlock, CommitBlock)):
        extra = f" {item.valid}" if isinstance(item, BlockValidity) else ""
        return f"{name}({item.block_hash.hex()[:8]}{extra})"
    if isinstance(item, Evidence):
        return f"Evidence({item.evidence.validator.hex()[:6]} r{item.evidence.first.round})"
    if isinstance(item, NewHeight):
        return f"NewHeight({item.height})"
    return name


def run_seed(seed: int, *, trace: Callable[[str], None] | None = None) -> Result:
    """Run the scenario of ``seed``."""
    return Simulation(Scenario.random(seed), trace=trace).run()


def describe(result: Result) -> str:
    sc = result.scenario
    return (
        f"seed {sc.seed}: n={sc.n} powers={sc.powers} byzantine={sorted(sc.byzantine)} heal={sc.heal_ms}ms "
        f"partitions={len(sc.partitions)} crashes={len(sc.crashes)} loss={sc.loss_chaos}/{sc.loss_after} "
        f"dup={sc.duplicate}; heights={result.heights} events={result.events} end={result.end_ms}ms "
        f"evidence={result.evidence} equivocations={result.equivocations}"
    )


__all__ = ["Result", "Scenario", "Simulation", "describe", "run_seed"]
