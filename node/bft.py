"""The BFT consensus driver: the one task that owns round state and commits blocks.

It runs ``chain.consensus.step`` over events from the network, its timers and
itself, and carries out the actions (CometBFT's receive routine, in trio):

* every input is appended to the WAL (``node.wal``) before ``step`` sees it;
* a vote or proposal intent is signed through ``node.privval`` (which persists
  the last signed height/round/step before releasing anything), gossiped, and
  fed back to the state machine;
* ``ValidateBlock`` runs ``apply_block`` on the head state; ``RequestProposalValue``
  builds a block from the mempool and the evidence pool;
* ``CommitBlock`` writes the block and its commit in one batch, re-checks the
  mempool, gossips the decision, and starts the next height;
* a node that is behind asks peers for blocks (``get_blocks``) and applies them
  with their commits — through this same task, so there is still one writer.

Gossip topics: ``proposal`` (``[proposal, block]``), ``vote``, ``commit``
(``[block, commit]``), ``evidence`` (``staking.DoubleSign`` bytes), ``tx``.
Requests: ``status`` → ``[head_height]``, ``get_blocks [from, count]`` →
``[[block, commit], ...]``.

On restart the WAL of the current height is replayed through ``step`` (its
actions dropped), then ``Resume`` re-emits whatever may have been lost.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import trio

from chain.apply import apply_block, build_block
from chain.block import PREVOTE, Block, Commit, verify_commit, vote_digest
from chain.codec import decode, encode, expect_array, expect_bytes, expect_int
from chain.consensus import (
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
    step,
)
from chain.consensus.types import proposal_digest
from chain.errors import ChainError, DecodeError, ErrorCode, InvalidTransaction
from chain.keys import PrivateKey
from chain.module import BlockEnv
from chain.onion import Onion
from chain.staking import (
    VALIDATORS_KEY,
    DoubleSign,
    SignedVote,
    apply_evidence,
    load_set,
    set_start_height,
    staking_of,
)
from chain.tx import SignedTx
from chain.types import Hash32, Signature64
from node.chain_service import ChainService
from node.mempool import Mempool
from node.p2p import Gossip
from node.privval import STEP_PRECOMMIT, STEP_PREVOTE, STEP_PROPOSE, PrivValidator
from node.wal import WAL

log = structlog.get_logger("cairn.bft")

MAX_SYNC_BATCH = 50
MAX_GAPPED = 10_000
MAX_SYNC_BYTES = 2 * 1024 * 1024


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SyncedBlock:
    """An event of this driver (not the state machine's): a block and its commit from a peer."""

    __slots__ = ("block", "commit")

    def __init__(self, block: Block, commit: Commit) -> None:
        self.block = block
        self.commit = commit


class BftDriver:
    """See the module docstring."""

    def __init__(self, chain: ChainService, mempool: Mempool, gossip: Gossip, *, key: PrivateKey | None,
                 privval: PrivValidator | None, wal_path: Path, timeouts: Timeouts | None = None,
                 max_block_interval: float = 1.0, clock_ms: Callable[[], int] = wall_clock_ms,
                 onion: Onion | None = None) -> None:
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
        self._send, self._recv = trio.open_memory_channel[Any](4096)
        self._local: collections.deque[Any] = collections.deque()
        self._outputs: dict[bytes, Any] = {}
        self._own: list[tuple[str, bytes]] = []
        self.evidence_pool: dict[bytes, bytes] = {}
        self._gapped: dict[tuple[bytes, int], bytes] = {}
        self._sync_wanted = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.committed = trio.Event()  # set (and replaced) after every commit, for tests and RPC

    # --- public -------------------------------------------------------------------------

    def notify_tx(self, raws: list[bytes] | None = None) -> None:
        for raw in raws or []:
            self.gossip.publish("tx", raw)

    def round_state_json(self) -> dict[str, object]:
        s = self.state
        return {"height": s.height, "round": s.round, "step": Step(s.step).name.lower(),
                "locked_round": s.locked_round, "valid_round": s.valid_round,
                "proposer": bytes(s.schedule.proposer(s.round).address).hex() if s.schedule else None}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        g = self.gossip
        g.subscribe("proposal", self._on_proposal_msg)
        g.subscribe("vote", self._on_vote_msg)
        g.subscribe("commit", self._on_commit_msg)
        g.subscribe("evidence", self._on_evidence_msg)
        g.subscribe("tx", self._on_tx_msg)
        g.serve("status", self._serve_status)
        g.serve("get_blocks", self._serve_blocks)
        g.watch_peers(self._on_peer)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._start_from_wal()
                await self._drain()
                task_status.started()
                nursery.start_soon(self._regossip_loop)
                nursery.start_soon(self._sync_loop)
                async for event in self._recv:
                    self._local.append(event)
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
            self._local.append(nh)  # its actions (propose, timeouts) run through the loop
            return
        self.state, _ = step(self.state, nh)
        for record in records:
            event = self._event_from_record(record)
            if event is not None:
                self.state, _ = step(self.state, event)
        log.info("wal replayed", height=nh.height, events=len(records), round=self.state.round)
        self._local.append(Resume())

    async def _drain(self) -> None:
        while self._local:
            event = self._local.popleft()
            if isinstance(event, SyncedBlock):
                self._apply_synced(event)
                continue
            self._log_event(event)
            self.state, actions = step(self.state, event)
            for action in actions:
                await self._act(action)

    # --- WAL records ----------------------------------------------------------------------

    def _log_event(self, e: Any) -> None:
        if isinstance(e, ProposalReceived):
            self.wal.append(["proposal", e.proposal.encode(), e.block])
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
                return ProposalReceived(Proposal.decode(r[1]), r[2])
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
            self._local.append(BlockValidity(a.height, a.block_hash, self._validate(a.height, a.block)))
        elif isinstance(a, CommitBlock):
            self._commit(a)
        elif isinstance(a, Evidence):
            self._add_evidence(a)
        elif isinstance(a, Rejected):
            log.debug("message rejected", reason=a.reason, sender=bytes(a.sender).hex() if a.sender else None)

    def _sign_vote(self, a: SignVote) -> None:
        assert self.privval is not None and self.key is not None
        step_code = STEP_PREVOTE if a.type == PREVOTE else STEP_PRECOMMIT
        t, sig = self.privval.sign(a.height, a.round, step_code, a.block_hash, self.clock_ms(),
                                   lambda t: vote_digest(self.chain.chain_id, a.type, a.height, a.round, a.block_hash, t))
        vote = Vote(a.type, a.height, a.round, Hash32(a.block_hash), t, self.key.address, Signature64(sig))
        data = vote.encode()
        self._own.append(("vote", data))
        self.gossip.publish("vote", data)
        self._local.append(VoteReceived(vote))

    def _sign_proposal(self, a: SignProposal) -> None:
        assert self.privval is not None and self.key is not None
        _, sig = self.privval.sign(a.height, a.round, STEP_PROPOSE, a.block_hash, 0,
                                   lambda _t: proposal_digest(self.chain.chain_id, a.height, a.round, a.block_hash,
                                                              a.pol_round))
        proposal = Proposal(a.height, a.round, Hash32(a.block_hash), a.pol_round, self.key.address, Signature64(sig))
        data = encode([proposal.encode(), a.block])
        self._own.append(("proposal", data))
        self.gossip.publish("proposal", data)
        self._local.append(ProposalReceived(proposal, a.block))

    async def _timer(self, event: TimeoutFired, ms: int) -> None:
        await trio.sleep(ms / 1000)
        await self._send.send(event)

    async def _build_later(self, height: int, round_: int) -> None:
        """Wait for transactions (at most ``max_block_interval``, within the propose timeout), then build."""
        wait = min(self.max_block_interval, self.timeouts.propose_ms / 2000)
        with trio.move_on_after(wait):
            while len(self.mempool) == 0 and not self.evidence_pool:
                await trio.sleep(0.02)
        if self.chain.head.height + 1 != height:
            return
        value = self._build(height, round_)
        if value is not None:
            await self._send.send(value)

    def _build(self, height: int, round_: int) -> ProposalValue | None:
        if self.key is None or self.onion is None:
            log.warning("cannot propose without a beacon onion", height=height, round=round_)
            return None
        chain = self.chain
        parent = chain.head
        last_commit = chain.store.load_commit(parent.height) if parent.height > 0 else None
        p = chain.app.params
        txs = self.mempool.reap(max_txs=p.max_block_txs, max_bytes=p.max_block_bytes // 2, max_gas=p.block_gas_limit)
        evidence = self._usable_evidence()
        try:
            block, output = build_block(chain.head_state(), parent, chain.app, txs=[t.raw for t in txs],
                                        now_ms=self.clock_ms(), proposer=self.key.address, onion=self.onion,
                                        last_commit=last_commit, evidence=evidence, verified=self.mempool.sig_cache)
        except ValueError as exc:  # the onion is used up: this validator can no longer propose
            log.error("cannot propose", reason=str(exc))
            return None
        self._outputs[bytes(block.hash)] = output
        return ProposalValue(height, round_, block.hash, block.encode())

    def _usable_evidence(self) -> list[bytes]:
        out: list[bytes] = []
        state = self.chain.head_state()
        h = self.chain.head
        env = BlockEnv(h.chain_id, h.height + 1, h.time_ms + 1, h.proposer, b"")
        for key, raw in list(self.evidence_pool.items()):
            mark = state.snapshot()
            try:
                apply_evidence(state, env, self.chain.app.params, raw, staking_of(self.chain.app).slash_to)
                out.append(raw)
            except InvalidTransaction:
                state.revert(mark)
                del self.evidence_pool[key]
        return out

    def _validate(self, height: int, raw: bytes) -> bool:
        try:
            block = Block.decode(raw, max_size=self.chain.app.params.max_block_bytes)
            if block.header.height != height:
                return False
            output = apply_block(self.chain.head_state(), self.chain.head, block, self.chain.app,
                                 verified=self.mempool.sig_cache)
        except ChainError as exc:
            log.info("proposed block invalid", height=height, reason=exc.message)
            return False
        self._outputs[bytes(block.hash)] = output
        return True

    def _commit(self, a: CommitBlock) -> None:
        block = Block.decode(a.block)
        output = self._outputs.get(bytes(block.hash))
        if output is None:  # decided through a commit before we validated it
            output = apply_block(self.chain.head_state(), self.chain.head, block, self.chain.app)
        self._finish(block, output, a.commit)
        self.gossip.publish("commit", encode([a.block, a.commit.encode()]))

    def _finish(self, block: Block, output: Any, commit: Commit) -> None:
        self.chain.commit(block, output, commit)
        self.mempool.update()
        for sender in {s for s, _ in self._gapped}:
            self._admit_gapped(sender)
        stale = [k for k in self._gapped if k[1] < self.chain.account(k[0]).nonce]  # type: ignore[arg-type]
        for k in stale:
            del self._gapped[k]
        for raw in block.evidence:
            self.evidence_pool.pop(DoubleSign.decode(raw).hash(), None)
        self._outputs.clear()
        self._own.clear()
        h = block.header
        log.info("block committed", height=h.height, hash=bytes(block.hash).hex()[:16], txs=len(block.txs),
                 evidence=len(block.evidence), round=commit.round, signers=len(commit.signatures))
        self.committed.set()
        self.committed = trio.Event()
        nh = self._new_height_event()
        self.wal.start_height(nh.height)
        self._local.append(nh)

    def _apply_synced(self, ev: SyncedBlock) -> None:
        head = self.chain.head
        if ev.block.header.height != head.height + 1:
            return
        try:
            vs = load_set(self.chain.head_state(), VALIDATORS_KEY)
            verify_commit(ev.commit, chain_id=self.chain.chain_id, validators=vs, height=ev.block.header.height,
                          block_hash=ev.block.hash)
            output = apply_block(self.chain.head_state(), head, ev.block, self.chain.app)
        except ChainError as exc:
            log.warning("synced block refused", height=ev.block.header.height, reason=exc.message)
            return
        self._finish(ev.block, output, ev.commit)

    def _add_evidence(self, a: Evidence) -> None:
        d = a.evidence
        votes = []
        for v in (d.first, d.second):
            votes.append(SignedVote(v.type, v.height, v.round, bytes(v.block_hash), v.time_ms, v.validator,
                                    bytes(v.signature)))
        ds = DoubleSign(votes[0], votes[1])
        raw = ds.encode()
        if ds.hash() not in self.evidence_pool:
            log.warning("double sign detected", validator=bytes(votes[0].validator).hex(), height=votes[0].height)
            self.evidence_pool[ds.hash()] = raw
            self.gossip.publish("evidence", raw)

    # --- gossip handlers (run in peers' reader tasks: decode, then hand over) ----------------

    async def _on_proposal_msg(self, source: bytes, data: bytes) -> None:
        items = expect_array(decode(data, max_size=self.chain.app.params.max_block_bytes + 4096), "proposal msg", 2)
        proposal = Proposal.decode(expect_bytes(items[0], "proposal"))
        block_bytes = expect_bytes(items[1], "block")
        block = Block.decode(block_bytes)
        if block.hash != proposal.block_hash:
            raise DecodeError("proposal names another block", code=ErrorCode.DECODE_SHAPE)
        if block.header.proposer != proposal.proposer:
            raise DecodeError("block's proposer is not the proposal's signer", code=ErrorCode.DECODE_SHAPE)
        if proposal.height > self.chain.head.height + 1:
            self._sync_wanted.set()
        await self._send.send(ProposalReceived(proposal, block_bytes))

    async def _on_vote_msg(self, source: bytes, data: bytes) -> None:
        vote = Vote.decode(data)
        if vote.height > self.chain.head.height + 1:
            self._sync_wanted.set()
        await self._send.send(VoteReceived(vote))

    async def _on_commit_msg(self, source: bytes, data: bytes) -> None:
        items = expect_array(decode(data, max_size=self.chain.app.params.max_block_bytes + 1024 * 1024), "commit msg", 2)
        block_bytes = expect_bytes(items[0], "block")
        commit = Commit.decode(expect_bytes(items[1], "commit"))
        if commit.height == self.chain.head.height + 1:
            await self._send.send(CommitReceived(commit, block_bytes))
        elif commit.height > self.chain.head.height + 1:
            self._sync_wanted.set()

    async def _on_evidence_msg(self, source: bytes, data: bytes) -> None:
        ds = DoubleSign.decode(data)
        self.evidence_pool.setdefault(ds.hash(), data)

    async def _on_tx_msg(self, source: bytes, data: bytes) -> None:
        """Admit a gossiped transaction; one that arrives ahead of its sender's nonce waits in
        ``_gapped`` (bounded) until the missing ones arrive, since relays can reorder."""
        try:
            tx = self.mempool.add_raw(data)
        except InvalidTransaction as exc:
            if exc.code == ErrorCode.TX_NONCE_GAP and len(self._gapped) < MAX_GAPPED:
                gapped = SignedTx.decode(data)
                self._gapped[(bytes(gapped.sender), gapped.body.nonce)] = data
                return
            if not exc.temporary and exc.code in (ErrorCode.TX_BAD_SIGNATURE, ErrorCode.TX_WRONG_CHAIN):
                raise
            return
        self._admit_gapped(bytes(tx.sender))

    def _admit_gapped(self, sender: bytes) -> None:
        """Admit waiting transactions of ``sender`` that have become next in line."""
        while True:
            nonce = self.mempool.next_nonce(sender)  # type: ignore[arg-type]
            raw = self._gapped.pop((sender, nonce), None)
            if raw is None:
                return
            try:
                self.mempool.add_raw(raw)
            except InvalidTransaction:
                return

    async def _serve_status(self, requester: bytes, data: bytes) -> bytes:
        return encode([self.chain.head.height])

    async def _serve_blocks(self, requester: bytes, data: bytes) -> bytes:
        items = expect_array(decode(data, max_size=64), "get_blocks", 2)
        start = expect_int(items[0], "from", lo=1)
        count = expect_int(items[1], "count", lo=1, hi=MAX_SYNC_BATCH)
        out: list[list[bytes]] = []
        size = 0
        store = self.chain.store
        for h in range(start, min(start + count, self.chain.head.height + 1)):
            pair = [store.load_block_at(h).encode(), store.load_commit(h).encode()]
            size += len(pair[0]) + len(pair[1])
            if out and size > MAX_SYNC_BYTES:
                break
            out.append(pair)
        return encode(out)

    def _on_peer(self, peer: bytes, connected: bool) -> None:
        if connected:
            for topic, data in self._own:
                self.gossip.send_to(peer, topic, data)  # type: ignore[arg-type]
            self._sync_wanted.set()

    # --- background loops ---------------------------------------------------------------------

    async def _regossip_loop(self) -> None:
        """Re-send our own messages of the current height: gossip is lossy, quorums must form."""
        while True:
            await trio.sleep(max(0.5, self.timeouts.prevote_ms / 1000))
            for topic, data in list(self._own):
                self.gossip.publish(topic, data)

    async def _sync_loop(self) -> None:
        """Catch up from peers that are ahead, one batch at a time through the driver's queue."""
        while True:
            with trio.move_on_after(2.0):
                await self._sync_wanted.wait()
            self._sync_wanted = trio.Event()
            for peer in self.gossip.connected():
                try:
                    status = decode(await self.gossip.request(peer, "status", b"", timeout=5.0))
                    their = expect_int(expect_array(status, "status", 1)[0], "height")
                    began, began_height, last_line = time.monotonic(), self.chain.head.height, time.monotonic()
                    while their > self.chain.head.height:
                        if time.monotonic() - last_line >= 5.0:  # periodic progress lines on long syncs
                            last_line = time.monotonic()
                            done = self.chain.head.height - began_height
                            rate = done / max(last_line - began, 1e-9)
                            log.info("syncing", height=self.chain.head.height, target=their,
                                     blocks_per_s=round(rate, 1),
                                     eta_s=round((their - self.chain.head.height) / rate) if rate else None)
                        start = self.chain.head.height + 1
                        raw = await self.gossip.request(peer, "get_blocks", encode([start, MAX_SYNC_BATCH]),
                                                        timeout=20.0)
                        pairs = expect_array(decode(raw, max_size=64 * 1024 * 1024), "blocks")
                        if not pairs:
                            break
                        before = self.chain.head.height
                        for pair in pairs:
                            p = expect_array(pair, "block pair", 2)
                            await self._send.send(SyncedBlock(Block.decode(expect_bytes(p[0], "block")),
                                                              Commit.decode(expect_bytes(p[1], "commit"))))
                        with trio.move_on_after(10.0):
                            while self.chain.head.height < before + len(pairs):
                                await self.committed.wait()
                        if self.chain.head.height == before:
                            break
                    if self.chain.head.height > began_height + 1:
                        log.info("synced", height=self.chain.head.height, blocks=self.chain.head.height - began_height,
                                 seconds=round(time.monotonic() - began, 1))
                except ChainError as exc:
                    log.debug("sync from peer failed", peer=bytes(peer).hex()[:12], reason=exc.message)
                    if not exc.temporary:
                        self.gossip.report(peer, exc)
