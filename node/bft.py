"""The BFT consensus driver: the one task that owns round state and commits blocks.

It runs ``chain.consensus.step`` over events from the network, its timers and itself, and
carries out the actions (CometBFT's receive routine, in trio).  Around it, each with one
job: ``node.executor.BlockExecutor`` (the one path that builds, validates and commits
blocks), ``node.blocksync.BlockSync`` (catching up), ``node.evidence.EvidencePool`` and
``node.txrelay.TxRelay``.

**Verify, then store, relay or act.**  A consensus message from a peer passes two gates:

1. *The reader gate* (in the peer's connection task, before the message is queued): the
   bytes decode strictly within their caps; the message is for the height being decided
   (older: ignored; newer: ignored, and block sync is woken); ``screen_vote`` /
   ``screen_proposal`` (pure functions of the round state: signer in this height's set,
   signature, the proposer of that round, the round window) keep it; a proposal's block is
   decoded only after its signature checked, once, and must hash to what the proposal
   signs; a commit must verify against this height's validators and its block must hash
   to the ``block_hash`` it signs.
2. *The step gate*: ``step`` decides again on the state it then has.  Only an event that
   changed the round state is written to the WAL, its block kept by the executor, and the
   message relayed (to every peer but its source; the topics are subscribed with
   ``relay=False``).

A message that fails a check no honest node fails (``Rejected`` by ``step``, or
``InvalidConsensusMessage`` at the reader gate) gets its sender banned; one that is merely
stale or early is ignored without penalty (``Verdict.IGNORE``: a later copy is taken
afresh, so our peers' periodic re-gossip delivers it once we are ready).  Messages queued
from a peer that has since been banned are dropped unprocessed.

The WAL (``node.wal``) therefore holds only inputs that moved the state — at most two
proposals per round (``MAX_PROPOSALS_PER_ROUND``) for rounds up to one ahead, the votes
the state machine keeps, this node's own values and timeouts — and replaying it through
``step`` rebuilds the same state.  ``step`` is pure, so running it before the WAL write
changes nothing a crash can observe: no action is carried out before its input is logged.

Gossip topics: ``proposal`` (``[proposal, block]``), ``vote``, ``commit``
(``[block, commit]``), ``evidence`` (``staking.DoubleSign`` bytes), ``tx`` (``TxRelay``),
``proof`` (``node.proofpool.ProofRelay``: provider envelopes, attributed before they are pooled).
On restart the WAL of the current height is replayed through ``step`` (its actions
dropped), then ``Resume`` re-emits whatever may have been lost.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import trio

from chain.block import PREVOTE, Block, Commit, verify_commit, vote_digest
from chain.codec import decode, encode, expect_array, expect_bytes
from chain.consensus import (
    Admission,
    BlockValidity,
    CommitBlock,
    CommitReceived,
    Config,
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
    screen_proposal,
    screen_vote,
    step,
)
from chain.consensus.types import MAX_PROPOSAL_BYTES, proposal_digest
from chain.errors import ChainError, InvalidConsensusMessage
from chain.keys import PrivateKey, encode_address
from chain.onion import Onion
from chain.staking import VALIDATORS_KEY, DoubleSign, SignedVote, load_set, set_start_height
from chain.types import Address, Hash32, Signature64
from node.blocksync import MAX_COMMIT_BYTES, BlockSync, SyncedBlock
from node.chain_service import ChainService
from node.consensus import wall_clock_ms
from node.evidence import EvidencePool
from node.executor import DEFAULT_BUILD_GAS, BlockExecutor
from node.mempool import Mempool
from node.p2p import Gossip, Verdict
from node.p2p.handshake import NodeId
from node.privval import STEP_PRECOMMIT, STEP_PREVOTE, STEP_PROPOSE, PrivValidator
from node.proofpool import ProofPool, ProofRelay
from node.txrelay import TxRelay
from node.wal import WAL

log = structlog.get_logger("cairn.bft")

QUEUE_SIZE = 4096
"""Inputs waiting for the driver; a full queue makes peers' reader tasks wait (backpressure)."""


@dataclass(frozen=True, slots=True)
class _Input:
    """One input for the driver: an event and, for a peer's message, where it came from."""

    event: Any
    source: NodeId | None = None
    block: Block | None = None
    """The decoded block the event carries (kept by the executor if the event is kept)."""
    topic: str = ""
    raw: bytes = b""
    """The gossip message, relayed to the other peers if the event is kept."""


class BftDriver:
    """See the module docstring."""

    def __init__(self, chain: ChainService, mempool: Mempool, gossip: Gossip, *, key: PrivateKey | None,
                 privval: PrivValidator | None, wal_path: Path, timeouts: Timeouts | None = None,
                 max_block_interval: float = 1.0, clock_ms: Callable[[], int] = wall_clock_ms,
                 onion: Onion | None = None, evidence: EvidencePool | None = None,
                 build_gas_limit: int = DEFAULT_BUILD_GAS, proofs: ProofPool | None = None) -> None:
        self.chain = chain
        self.mempool = mempool
        self.gossip = gossip
        self.key = key
        self.onion = onion
        self.privval = privval
        self.wal = WAL(wal_path)
        self.timeouts = timeouts or Timeouts()
        self.max_block_interval = max_block_interval
        self.clock_ms = clock_ms
        self.config = Config(chain.chain_id, key.address if key else None, self.timeouts)
        self.state = RoundState.initial(self.config)
        self.evidence = evidence or EvidencePool(chain.app.params)
        self.relay = TxRelay(gossip, mempool)
        self.proof_relay = None if proofs is None else ProofRelay(gossip, proofs)
        self.executor = BlockExecutor(chain, mempool, self.evidence, on_promoted=self.relay.promoted,
                                      build_gas_limit=build_gas_limit, proofs=proofs)
        self.sync = BlockSync(gossip, chain, self.executor, self._submit_synced)
        self._send, self._recv = trio.open_memory_channel[_Input](QUEUE_SIZE)
        self._local: collections.deque[_Input] = collections.deque()
        self._own: list[tuple[str, bytes]] = []
        self._nursery: trio.Nursery | None = None
        self.committed = trio.Event()  # set (and replaced) after every commit, for tests and RPC

    # --- public -------------------------------------------------------------------------

    def notify_tx(self, raws: list[bytes] | None = None) -> None:
        self.relay.announce(raws or [])

    def notify_proof(self, raw: bytes) -> None:
        """An envelope entered the proof pool locally (RPC): send it to every peer."""
        if self.proof_relay is not None:
            self.proof_relay.announce(raw)

    def round_state_json(self) -> dict[str, object]:
        s = self.state
        return {"height": s.height, "round": s.round, "step": Step(s.step).name.lower(),
                "locked_round": s.locked_round, "valid_round": s.valid_round,
                "proposer": bytes(s.schedule.proposer(s.round).address).hex() if s.schedule else None}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._start_from_wal()
                await self._drain()
                g = self.gossip
                g.subscribe("proposal", self._on_proposal_msg, relay=False)
                g.subscribe("vote", self._on_vote_msg, relay=False)
                g.subscribe("commit", self._on_commit_msg, relay=False)
                g.subscribe("evidence", self._on_evidence_msg, relay=False)
                self.relay.install()
                if self.proof_relay is not None:
                    self.proof_relay.install()
                self.sync.install()
                g.watch_peers(self._on_peer)
                task_status.started()
                nursery.start_soon(self._regossip_loop)
                nursery.start_soon(self.sync.run)
                async for item in self._recv:
                    self._local.append(item)
                    await self._drain()
        finally:
            self.wal.close()

    # --- the loop -----------------------------------------------------------------------

    def _new_height_event(self) -> NewHeight:
        height = self.chain.head.height + 1
        vs = load_set(self.chain.head_state(), VALIDATORS_KEY)
        start = set_start_height(height, self.chain.app.params.epoch_length)
        return NewHeight(height, ProposerSchedule.at(vs, height - start))

    def _start_from_wal(self) -> None:
        """Replay the WAL of the height we are at (if any), else start the height afresh."""
        nh = self._new_height_event()
        records = self.wal.open_height(nh.height)
        if not records:
            self._local.append(_Input(nh))  # its actions (propose, timeouts) run through the loop
            return
        self.state, _ = step(self.state, nh)
        for record in records:
            event = self._event_from_record(record)
            if event is not None:
                self.state, _ = step(self.state, event)
        log.info("wal replayed", height=nh.height, events=len(records), round=self.state.round)
        self._local.append(_Input(Resume()))

    async def _drain(self) -> None:
        while self._local:
            item = self._local.popleft()
            if isinstance(item.event, SyncedBlock):
                self._apply_synced(item.event)
                continue
            if item.source is not None and self.gossip.peers.is_banned(item.source):
                continue  # the rest of what a banned peer sent is not worth a signature check
            before = self.state
            after, actions = step(before, item.event)
            if after is not before:
                self._log_event(item.event)
                self.state = after
                if item.block is not None:
                    self.executor.keep(item.block)
                if item.source is not None:
                    self.gossip.publish(item.topic, item.raw, exclude=item.source)
            for action in actions:
                if isinstance(action, Rejected):
                    self._rejected(action, item.source)
                else:
                    await self._act(action)

    def _rejected(self, a: Rejected, source: NodeId | None) -> None:
        log.info("message rejected", reason=a.reason, signer=self._bech32(a.sender) if a.sender else None)
        if source is not None:
            self.gossip.report(source, InvalidConsensusMessage(a.reason))

    # --- WAL records ----------------------------------------------------------------------

    def _log_event(self, e: Any) -> None:
        if isinstance(e, ProposalReceived):
            self.wal.append(["proposal", e.proposal.encode(), e.block, bytes(e.author)])
        elif isinstance(e, VoteReceived):
            self.wal.append(["vote", e.vote.encode()], sync=self.key is not None and e.vote.validator == self.key.address)
        elif isinstance(e, CommitReceived):
            self.wal.append(["commit", e.commit.encode(), e.block])
        elif isinstance(e, TimeoutFired):
            self.wal.append(["timeout", e.height, e.round, int(e.step)])
        elif isinstance(e, ProposalValue):
            self.wal.append(["value", e.height, e.round, bytes(e.block_hash), e.block], sync=True)
        elif isinstance(e, BlockValidity):
            self.wal.append(["validity", e.height, bytes(e.block_hash), e.valid])

    @staticmethod
    def _event_from_record(r: list[Any]) -> Any:
        try:
            kind = r[0]
            if kind == "proposal":
                return ProposalReceived(Proposal.decode(r[1]), r[2], Address(r[3]))
            if kind == "vote":
                return VoteReceived(Vote.decode(r[1]))
            if kind == "commit":
                return CommitReceived(Commit.decode(r[1]), r[2])
            if kind == "timeout":
                return TimeoutFired(r[1], r[2], Step(r[3]))
            if kind == "value":
                return ProposalValue(r[1], r[2], Hash32(r[3]), r[4])
            if kind == "validity":
                return BlockValidity(r[1], Hash32(r[2]), bool(r[3]))
        except (ChainError, IndexError, ValueError, TypeError):
            return None
        return None

    # --- actions --------------------------------------------------------------------------

    async def _act(self, a: Any) -> None:
        if isinstance(a, SignVote):
            self._sign_vote(a)
        elif isinstance(a, SignProposal):
            self._sign_proposal(a)
        elif isinstance(a, ScheduleTimeout):
            assert self._nursery is not None
            self._nursery.start_soon(self._timer, TimeoutFired(a.height, a.round, a.step), a.ms)
        elif isinstance(a, RequestProposalValue):
            assert self._nursery is not None
            self._nursery.start_soon(self._build_later, a.height, a.round)
        elif isinstance(a, ValidateBlock):
            ok = self._validate(a.height, a.block_hash, a.block)
            self._local.append(_Input(BlockValidity(a.height, a.block_hash, ok)))
        elif isinstance(a, CommitBlock):
            self._commit(a)
        elif isinstance(a, Evidence):
            self._add_evidence(a)

    def _vote_time(self, a: SignVote) -> int:
        """The clock, but for a precommit of a block at least 1 ms after that block's time.

        A commit's power-weighted median time is the next block's time, which must be later
        than the committed block's (``chain.apply.validate_header``); a validator whose clock
        lags the proposer's, or heights decided within one millisecond, would otherwise make
        every next block invalid.
        """
        now = self.clock_ms()
        block = self.executor.known(a.block_hash) if a.type != PREVOTE else None
        return now if block is None else max(now, block.header.time_ms + 1)

    def _sign_vote(self, a: SignVote) -> None:
        assert self.privval is not None and self.key is not None
        step_code = STEP_PREVOTE if a.type == PREVOTE else STEP_PRECOMMIT
        t, sig = self.privval.sign(a.height, a.round, step_code, a.block_hash, self._vote_time(a),
                                   lambda t: vote_digest(self.chain.chain_id, a.type, a.height, a.round, a.block_hash, t))
        vote = Vote(a.type, a.height, a.round, Hash32(a.block_hash), t, self.key.address, Signature64(sig))
        data = vote.encode()
        self._own.append(("vote", data))
        self.gossip.publish("vote", data)
        self._local.append(_Input(VoteReceived(vote)))

    def _sign_proposal(self, a: SignProposal) -> None:
        assert self.privval is not None and self.key is not None
        _, sig = self.privval.sign(a.height, a.round, STEP_PROPOSE, a.block_hash, 0,
                                   lambda _t: proposal_digest(self.chain.chain_id, a.height, a.round, a.block_hash,
                                                              a.pol_round))
        proposal = Proposal(a.height, a.round, Hash32(a.block_hash), a.pol_round, self.key.address, Signature64(sig))
        data = encode([proposal.encode(), a.block])
        self._own.append(("proposal", data))
        self.gossip.publish("proposal", data)
        author = self.executor.block(a.block_hash, a.block).header.proposer
        self._local.append(_Input(ProposalReceived(proposal, a.block, author)))

    async def _timer(self, event: TimeoutFired, ms: int) -> None:
        await trio.sleep(ms / 1000)
        await self._send.send(_Input(event))

    async def _build_later(self, height: int, round_: int) -> None:
        """Wait for transactions (at most ``max_block_interval``, within the propose timeout), then build."""
        wait = min(self.max_block_interval, self.timeouts.propose_ms / 2000)
        with trio.move_on_after(wait):
            while len(self.mempool) == 0 and not len(self.evidence):
                await trio.sleep(0.02)
        if self.chain.head.height + 1 != height:
            return
        if self.key is None or self.onion is None:
            log.warning("cannot propose without a beacon onion", height=height, round=round_)
            return
        try:
            block = self.executor.build(proposer=self.key, onion=self.onion, now_ms=self.clock_ms())
        except ValueError as exc:  # the onion is used up: this validator can no longer propose
            log.error("cannot propose", reason=str(exc))
            return
        await self._send.send(_Input(ProposalValue(height, round_, block.hash, block.encode())))

    def _validate(self, height: int, block_hash: Hash32, raw: bytes) -> bool:
        try:
            block = self.executor.block(block_hash, raw)
        except ChainError:
            return False
        return block.header.height == height and block.hash == block_hash and self.executor.is_valid(block)

    def _commit(self, a: CommitBlock) -> None:
        block = self.executor.block(a.block_hash, a.block)
        self._finish(block, a.commit)
        self.gossip.publish("commit", encode([a.block, a.commit.encode()]))

    def _finish(self, block: Block, commit: Commit) -> None:
        self.executor.commit(block, commit)
        self._own.clear()
        h = block.header
        log.info("block committed", height=h.height, hash=bytes(block.hash).hex()[:16], txs=len(block.txs),
                 evidence=len(block.evidence), round=commit.round, signers=len(commit.signatures))
        self.committed.set()
        self.committed = trio.Event()
        self.sync.committed()
        nh = self._new_height_event()
        self.wal.start_height(nh.height)
        self._local.append(_Input(nh))

    def _apply_synced(self, ev: SyncedBlock) -> None:
        if ev.block.header.height != self.chain.head.height + 1:
            return
        try:
            self._finish(ev.block, ev.commit)
        except ChainError as exc:
            log.warning("synced block refused", height=ev.block.header.height, reason=exc.message)
            if not exc.temporary:
                self.gossip.report(ev.source, exc)

    async def _submit_synced(self, ev: SyncedBlock) -> None:
        await self._send.send(_Input(ev))

    def _add_evidence(self, a: Evidence) -> None:
        d = a.evidence
        votes = [SignedVote(v.type, v.height, v.round, bytes(v.block_hash), v.time_ms, v.validator, bytes(v.signature))
                 for v in (d.first, d.second)]
        raw = DoubleSign(votes[0], votes[1]).encode()
        try:
            added = self.evidence.add(raw, self.chain.head_state(), self.executor.next_env())
        except ChainError as exc:  # our own state machine verified both votes: this is a bug
            log.error("own evidence refused", reason=exc.message)
            return
        if added:
            log.warning("double sign detected", validator=self._bech32(votes[0].validator), height=votes[0].height)
            self.gossip.publish("evidence", raw)

    # --- the reader gate (peers' connection tasks: check, then queue) -----------------------

    def _deciding(self, height: int) -> bool:
        """Whether a message for ``height`` can be screened now (else it is ignored)."""
        head = self.chain.head.height
        if height > head + 1:
            self.sync.wanted()
        s = self.state
        return height == head + 1 and s.height == height and s.step in (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT)

    async def _on_vote_msg(self, source: NodeId, data: bytes) -> Verdict:
        vote = Vote.decode(data)
        if not self._deciding(vote.height):
            return Verdict.IGNORE
        verdict, reason = screen_vote(self.state, vote)
        if verdict is Admission.REJECT:
            raise InvalidConsensusMessage(reason, f"vote: {reason}")
        if verdict is Admission.IGNORE:
            return Verdict.IGNORE
        await self._send.send(_Input(VoteReceived(vote), source, topic="vote", raw=data))
        return Verdict.ACCEPT

    async def _on_proposal_msg(self, source: NodeId, data: bytes) -> Verdict:
        max_block = self.chain.app.params.max_block_bytes
        items = expect_array(decode(data, max_size=max_block + MAX_PROPOSAL_BYTES + 64), "proposal msg", 2)
        proposal = Proposal.decode(expect_bytes(items[0], "proposal", max_len=MAX_PROPOSAL_BYTES))
        block_bytes = expect_bytes(items[1], "block", max_len=max_block)
        if not self._deciding(proposal.height):
            return Verdict.IGNORE
        # Signer, round and signature first (the block's own author is checked by step once decoded).
        verdict, reason = screen_proposal(self.state, proposal, proposal.proposer)
        if verdict is Admission.REJECT:
            raise InvalidConsensusMessage(reason, f"proposal: {reason}")
        if verdict is Admission.IGNORE:
            return Verdict.IGNORE
        block = self.executor.decode(block_bytes)
        if block.hash != proposal.block_hash:
            raise InvalidConsensusMessage("proposal-of-another-block", "the block does not hash to the proposal's")
        event = ProposalReceived(proposal, block_bytes, block.header.proposer)
        await self._send.send(_Input(event, source, block=block, topic="proposal", raw=data))
        return Verdict.ACCEPT

    async def _on_commit_msg(self, source: NodeId, data: bytes) -> Verdict:
        max_block = self.chain.app.params.max_block_bytes
        items = expect_array(decode(data, max_size=max_block + MAX_COMMIT_BYTES + 64), "commit msg", 2)
        block_bytes = expect_bytes(items[0], "block", max_len=max_block)
        commit = Commit.decode(expect_bytes(items[1], "commit", max_len=MAX_COMMIT_BYTES))
        if not self._deciding(commit.height) or self.state.certificate is not None:
            return Verdict.IGNORE
        try:
            verify_commit(commit, chain_id=self.chain.chain_id, validators=self.state.validators,
                          height=commit.height, block_hash=commit.block_hash)
        except ChainError as exc:
            raise InvalidConsensusMessage("bad-commit", exc.message) from None
        block = self.executor.decode(block_bytes)
        if block.hash != commit.block_hash:
            raise InvalidConsensusMessage("commit-of-another-block", "the block is not the one the commit signs")
        event = CommitReceived(commit, block_bytes)
        await self._send.send(_Input(event, source, block=block, topic="commit", raw=data))
        return Verdict.ACCEPT

    def submit_evidence(self, raw: bytes) -> bool:
        """Double-sign evidence from a client (``evidence.submit``, a light client's report):
        verified against the head state like a peer's (``EvidencePool.add`` raises for evidence
        that no honest node would send), pooled, and gossiped; False if already pooled or not
        usable here."""
        if not self.evidence.add(raw, self.chain.head_state(), self.executor.next_env()):
            return False
        self.gossip.publish("evidence", raw)
        return True

    async def _on_evidence_msg(self, source: NodeId, data: bytes) -> Verdict:
        if not self.evidence.add(data, self.chain.head_state(), self.executor.next_env()):
            return Verdict.IGNORE
        self.gossip.publish("evidence", data, exclude=source)
        return Verdict.ACCEPT

    def _bech32(self, address: bytes) -> str:
        """Addresses in logs are written as everywhere else (node ids stay hex, as in ``ID@host:port``)."""
        return encode_address(address, self.chain.app.params.address_prefix)

    def _on_peer(self, peer: NodeId, connected: bool) -> None:
        if connected:
            for topic, data in self._own:
                self.gossip.send_to(peer, topic, data)

    # --- background loops ---------------------------------------------------------------------

    async def _regossip_loop(self) -> None:
        """Re-send our own messages of the current height: gossip is lossy, quorums must form."""
        while True:
            await trio.sleep(max(0.5, self.timeouts.prevote_ms / 1000))
            for topic, data in list(self._own):
                self.gossip.publish(topic, data)

