"""The real consensus driver as it runs: ``run_node`` validators over real gossip on memory streams,
under ``MockClock(autojump_threshold=0)`` (``tests/node/bftnet.py``), through re-proposals, round
changes, lagging nodes and byzantine peers."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
import trio

from chain.apply import build_block
from chain.block import PRECOMMIT, PREVOTE
from chain.codec import encode
from chain.consensus import Proposal, Vote, sign_proposal
from chain.errors import InvalidTransaction
from chain.keys import PrivateKey
from chain.staking import DoubleSign, SignedVote
from chain.tx import SignedTx
from chain.types import Hash32, Signature64
from genesis.devnet import DEVNET_CHAIN_ID, devnet_account_key, devnet_onion, devnet_validator_key
from node.service import WAL_FILE
from node.wal import WAL
from tests.chain.helpers import transfer
from tests.node.bftnet import Accomplice, Actor, Member, Net, forge_block, virtual_ms
from tests.node.helpers import sign_tx


async def test_an_honest_re_proposal_is_kept_and_commits(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """Round 0 ends with a polka for P0's block but no commit (an accomplice validator withholds its
    precommit, a fourth is down); in round 1, P1 re-proposes that block with ``pol_round = 0`` — a
    block whose header names P0.  Refusing it as "not the signer's block" got P1 banned by P0 and the
    chain halted; kept, it commits in round 1 and nobody is penalised."""
    async with trio.open_nursery() as nursery:
        net = Net(nursery, tmp_path, seed=1, delay=(0.0, 0.0))
        sched = net.schedule(1)
        p0, p1, z, _down = (net.index_of(sched.proposer(r).address) for r in range(4))
        await net.start(p0)
        await net.start(p1)
        await net.link(p0, p1)
        actor = await Actor.start(nursery, net[z].key, DEVNET_CHAIN_ID)
        accomplice = Accomplice(actor, DEVNET_CHAIN_ID, net.powers(), lambda h, r: (h, r) == (1, 0), virtual_ms)
        for i in (p0, p1):
            await actor.connect(nursery, net[i])
        await net.wait_height(3, [p0, p1])
        commit1 = net[p0].running.chain.store.load_commit(1)
        block1 = net[p0].running.chain.store.load_block_at(1)
        assert commit1.round >= 1, "height 1 should have needed a second round"
        assert block1.header.proposer == net[p0].key.address
        assert any(p.round == commit1.round and a == net[p0].key.address and p.proposer == net[p1].key.address
                   for p, a in accomplice.reproposals), "P1 should have re-proposed P0's block"
        net.assert_agreement()
        net.assert_no_honest_penalty()
        assert not any(m.peers.is_banned(actor.node_id) for m in net.up())
        assert PRECOMMIT  # the accomplice only ever withheld a precommit
        nursery.cancel_scope.cancel()


# --- byzantine peers: a stranger the handshake lets in ----------------------------------------------


def stranger_key(label: str) -> PrivateKey:
    return PrivateKey.derive(f"bft-driver-test/stranger/{label}")


async def three_of_four(nursery: trio.Nursery, tmp: Path, *, seed: int = 2) -> Net:
    """Validators 0–2 running and meshed (a quorum of the four); validator 3 not started."""
    net = Net(nursery, tmp, seed=seed)
    for i in range(3):
        await net.start(i)
    await net.mesh()
    await net.wait_height(2)
    return net


def wal_records(m: Member) -> list[list[Any]]:
    saved = WAL(m.home / WAL_FILE).read()
    return saved[1] if saved is not None else []


def nothing_reached(net: Net, others: list[int]) -> None:
    """The members in ``others`` never saw an invalid message: nothing unverified was relayed."""
    for i in others:
        assert net[i].peers.counters["gossip_invalid"] == 0, f"validator {i} was relayed junk"


async def test_a_forged_block_beside_a_real_commit_is_refused_and_its_sender_banned(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """The red team's fork: a real commit for height 1 gossiped with another valid block for that height
    (same proposer and beacon reveal, other transactions) to a node one height behind.  The node must
    not commit it, must ban the sender, and then catches up on the real chain from honest peers."""
    async with trio.open_nursery() as nursery:
        net = await three_of_four(nursery, tmp_path)
        chain0 = net[0].running.chain
        real_commit = chain0.store.load_commit(1)
        tx = transfer(devnet_account_key(5), devnet_account_key(6).address, 7, 0)
        forged = forge_block(net.genesis, [], chain0.store.load_block_at(1), [tx.raw], now_ms=virtual_ms())
        lagging = await net.start(3)  # a fresh validator, height 0, no honest peer yet
        attacker = await Actor.start(nursery, stranger_key("forger"), DEVNET_CHAIN_ID)
        await attacker.connect(nursery, lagging)
        attacker.gossip.publish("commit", encode([forged.encode(), real_commit.encode()]))
        with trio.fail_after(30):
            while not lagging.peers.is_banned(attacker.node_id):
                await trio.sleep(0.05)
        assert lagging.height == 0
        assert not any(r[0] == "commit" for r in wal_records(lagging))
        for i in range(3):
            await net.link(i, 3)
        await net.wait_height(chain0.head.height + 2)
        net.assert_agreement()
        assert bytes(lagging.running.chain.store.hash_at(1)) == bytes(real_commit.block_hash)
        net.assert_no_honest_penalty()
        nursery.cancel_scope.cancel()


async def test_junk_votes_proposals_evidence_and_transactions_cost_their_sender_and_stop_at_the_gate(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """One stranger per kind of junk, each connected to validator 0: votes naming real validators with
    random signatures, proposals naming the round's proposer with a garbage signature and a 3 MB block,
    evidence with forged signatures, transactions of an unknown kind from an unfunded key with a nonce
    gap.  Each stranger is banned on its first message; nothing reaches the WAL, the pools or another
    validator; the chain keeps committing."""
    async with trio.open_nursery() as nursery:
        net = await three_of_four(nursery, tmp_path, seed=3)
        target = net[0]
        rng = random.Random(3)
        validators = [devnet_validator_key(i).address for i in range(4)]

        def junk_votes() -> list[tuple[str, bytes]]:
            h = target.height + 1
            return [("vote", Vote(PREVOTE, h, 0, Hash32(rng.randbytes(32)), virtual_ms(), validators[k % 4],
                                  Signature64(rng.randbytes(64))).encode()) for k in range(200)]

        def junk_proposals() -> list[tuple[str, bytes]]:
            s = target.driver.state
            proposer = s.schedule.proposer(s.round).address if s.schedule else validators[0]
            out = []
            for _ in range(3):
                p = Proposal(s.height, s.round, Hash32(rng.randbytes(32)), -1, proposer, Signature64(rng.randbytes(64)))
                out.append(("proposal", encode([p.encode(), rng.randbytes(3 * 1024 * 1024)])))
            return out

        def junk_evidence() -> list[tuple[str, bytes]]:
            out = []
            for k in range(20):
                votes = [SignedVote(PREVOTE, 1, 0, bytes([b]) * 32, 1, validators[k % 4], rng.randbytes(64))
                         for b in (1, 2)]
                out.append(("evidence", DoubleSign(votes[0], votes[1]).encode()))
            return out

        def junk_txs() -> list[tuple[str, bytes]]:
            poor = stranger_key("poor")
            body = [rng.randbytes(60_000)]
            return [("tx", sign_tx(poor, 5 + k, kind="junk", payload=body, gas_limit=700_000).raw)
                    for k in range(20)]

        floods = {"votes": junk_votes, "proposals": junk_proposals, "evidence": junk_evidence, "txs": junk_txs}
        wal_before = wal_records(target)
        strangers = {}
        for name, make in floods.items():
            actor = await Actor.start(nursery, stranger_key(name), DEVNET_CHAIN_ID)
            await actor.connect(nursery, target)
            for topic, data in make():
                actor.gossip.publish(topic, data)
            strangers[name] = actor
        with trio.fail_after(60):
            while not all(target.peers.is_banned(a.node_id) for a in strangers.values()):
                await trio.sleep(0.05)
        height = target.height
        await net.wait_height(height + 3)
        for record in wal_records(target):
            if record[0] in ("vote", "proposal"):
                signer = Vote.decode(record[1]).validator if record[0] == "vote" else Proposal.decode(record[1]).proposer
                assert signer in validators
        assert len(wal_records(target)) <= len(wal_before) + 64  # only this height's honest messages
        assert len(target.driver.evidence) == 0
        assert target.running.mempool.future_len == 0 and len(target.running.mempool) == 0
        assert target.peers.counters["reports"] == len(strangers), "one report per stranger: banned at once"
        nothing_reached(net, [1, 2])
        net.assert_agreement()
        net.assert_no_honest_penalty()
        nursery.cancel_scope.cancel()


async def test_a_fresh_proposal_of_another_validators_block_is_refused(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """A byzantine proposer (round 0 of height 2) proposes, as fresh, a valid block that names another
    validator as its builder.  Only a re-proposal may carry someone else's block: the honest
    validators refuse it and ban the proposer, and the height commits in a later round."""
    async with trio.open_nursery() as nursery:
        net = Net(nursery, tmp_path, seed=4)
        z = net.index_of(net.schedule(2).proposer(0).address)
        honest = [i for i in range(4) if i != z]
        for i in honest:
            await net.start(i)
        await net.mesh()
        byzantine = await Actor.start(nursery, net[z].key, DEVNET_CHAIN_ID)
        for i in honest:
            await byzantine.connect(nursery, net[i])
        await net.wait_height(1)
        chain = net[honest[0]].running.chain
        other = net[honest[0]]
        block, _ = build_block(chain.head_state(), chain.head, chain.app, txs=[], now_ms=virtual_ms(),
                               proposer=other.key.address, onion=devnet_onion(other.index),
                               last_commit=chain.store.load_commit(1))
        proposal = sign_proposal(byzantine.key, DEVNET_CHAIN_ID, 2, 0, block.hash, -1)
        byzantine.gossip.publish("proposal", encode([proposal.encode(), block.encode()]))
        await net.wait_height(3)
        assert all(net[i].peers.is_banned(byzantine.node_id) for i in honest)
        assert net[honest[0]].running.chain.store.load_commit(2).round >= 1
        net.assert_agreement()
        net.assert_no_honest_penalty()
        nursery.cancel_scope.cancel()


# --- seeded runs: delays, partitions, crashes, a lagging node, transactions --------------------------------

SEEDS = int(os.environ.get("CAIRN_DRIVER_SEEDS", "3"))


@pytest.mark.parametrize("seed", range(SEEDS))
async def test_seeded_partitions_and_crashes_agree_progress_and_penalise_no_one(
        seed: int, tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """Four validators with seeded link delays; one at a time is cut off or crashed and restarted
    (rounds change while it is gone, and it catches up by block sync and commits when it is back); a
    node starts late.  Transfers are sent throughout.  Every node ends on one chain with every
    transfer in it, and no honest validator ever penalised another."""
    rng = random.Random(seed)
    async with trio.open_nursery() as nursery:
        net = Net(nursery, tmp_path, seed=seed, delay=(0.001, 0.05))
        late = rng.randrange(4)
        for i in range(4):
            if i != late:
                await net.start(i)
        await net.mesh()
        await net.wait_height(2)
        await net.start(late)
        await net.mesh()
        sender, receiver = devnet_account_key(seed % 10), devnet_account_key((seed + 1) % 10)
        txs: list[SignedTx] = []

        def submit(member: Member, tx: SignedTx) -> None:
            """As a wallet does over RPC: a refusal (a gap, a duplicate) is retried later."""
            try:
                member.running.mempool.add(tx)
            except InvalidTransaction:
                return
            member.driver.notify_tx([tx.raw])

        for _ in range(6):
            member = rng.choice(net.up())
            for _ in range(rng.randint(1, 4)):
                txs.append(transfer(sender, receiver.address, 1, len(txs)))
                submit(member, txs[-1])
            victim = rng.randrange(4)
            if rng.random() < 0.5:
                for j in range(4):
                    await net.unlink(victim, j)
                await trio.sleep(rng.uniform(0.5, 4.0))
                await net.mesh()
            else:
                await net.stop(victim)
                await trio.sleep(rng.uniform(0.5, 4.0))
                await net.start(victim)
                await net.mesh()
            await trio.sleep(rng.uniform(0.0, 2.0))
        top = max(m.height for m in net.up())
        await net.wait_height(top + 3)
        net.assert_agreement()
        net.assert_no_honest_penalty()
        with trio.fail_after(120):  # transactions lost with a crashed node's mempool are sent again
            while (done := min(m.running.chain.account(sender.address).nonce for m in net.up())) < len(txs):
                for tx in txs[done:]:
                    submit(net.up()[0], tx)
                await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
