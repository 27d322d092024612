"""Four validators in one process, over real loopback TCP: they agree, they carry transfers,
and a validator forced to double-sign is slashed through included evidence."""

from __future__ import annotations

import socket
from functools import partial
from pathlib import Path

import trio

from chain.block import PREVOTE
from chain.consensus import sign_vote
from chain.staking import load_record
from genesis.devnet import devnet_account_key, devnet_genesis, devnet_onion, devnet_validator_key
from node.home import NodeConfig
from node.service import Node, run_node
from tests.chain.helpers import transfer

N = 4
WAIT = 60


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def configs() -> list[NodeConfig]:
    ports = free_ports(N)
    ids = [bytes(devnet_validator_key(i).address).hex() for i in range(N)]
    out = []
    for i in range(N):
        peers = tuple(f"{ids[j]}@127.0.0.1:{ports[j]}" for j in range(N) if j != i)
        out.append(NodeConfig(rpc_port=0, p2p_port=ports[i], persistent_peers=peers, max_block_interval=0.1,
                              timeout_propose_ms=800, timeout_prevote_ms=400, timeout_precommit_ms=400,
                              timeout_delta_ms=200))
    return out


async def start(nursery: trio.Nursery, tmp: Path) -> list[Node]:
    genesis = devnet_genesis(N)
    nodes = []
    for i, cfg in enumerate(configs()):
        node: Node = await nursery.start(partial(run_node, onion=devnet_onion(i)), genesis, devnet_validator_key(i),
                                         str(tmp / f"v{i}"), cfg)
        nodes.append(node)
    return nodes


async def wait_height(nodes: list[Node], height: int) -> None:
    with trio.fail_after(WAIT):
        while min(n.chain.head.height for n in nodes) < height:
            await trio.sleep(0.05)


def assert_agreement(nodes: list[Node]) -> None:
    top = min(n.chain.head.height for n in nodes)
    for h in range(1, top + 1):
        hashes = {bytes(n.chain.store.hash_at(h)) for n in nodes}
        assert len(hashes) == 1, f"fork at height {h}"


async def test_four_validators_agree_and_slash_a_double_signer(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        nodes = await start(nursery, tmp_path)
        await wait_height(nodes, 3)
        # transfers submitted to one node reach the other proposers by gossip
        a, b = devnet_account_key(0), devnet_account_key(1)
        for k in range(5):
            tx = transfer(a, b.address, 10 + k, k)
            nodes[0].mempool.add(tx)
            nodes[0].driver.notify_tx([tx.raw])
        with trio.fail_after(WAIT):
            while any(n.chain.account(a.address).nonce < 5 for n in nodes):
                await trio.sleep(0.05)
        # gossip may deliver a sender's transactions out of order: the later one waits, then both commit
        c = devnet_account_key(2)
        later, first = transfer(c, b.address, 2, 1), transfer(c, b.address, 1, 0)
        gossip0 = nodes[0].driver.gossip  # type: ignore[union-attr]
        gossip0.publish("tx", later.raw)
        await trio.sleep(0.2)
        gossip0.publish("tx", first.raw)
        with trio.fail_after(WAIT):
            while nodes[0].chain.account(c.address).nonce < 2:
                await trio.sleep(0.05)
        # every commit is signed by more than 2/3 of the power
        commit = nodes[0].chain.store.load_commit(nodes[0].chain.head.height)
        assert 3 * len(commit.signatures) > 2 * N
        # force validator 3 to double-sign (bypassing its signer's guard) and gossip both votes
        culprit = devnet_validator_key(3)
        gossip = nodes[0].driver.gossip  # type: ignore[union-attr]
        with trio.fail_after(WAIT):
            while True:
                h = nodes[0].chain.head.height + 1
                for tag in (b"\x0a", b"\x0b"):
                    vote = sign_vote(culprit, "cairn-devnet", PREVOTE, h, 0, tag * 32, 1)
                    gossip.publish("vote", vote.encode())
                await trio.sleep(0.3)
                record = load_record(nodes[0].chain.head_state(), culprit.address)
                if record is not None and record.tombstoned:
                    break
        stake_before = 100
        assert record.stake == stake_before - stake_before * nodes[0].chain.app.params.double_sign_slash_bps // 10_000
        included = [nodes[0].chain.store.load_block_at(h) for h in range(1, nodes[0].chain.head.height + 1)]
        assert any(blk.evidence for blk in included)
        await wait_height(nodes, nodes[0].chain.head.height + 1)
        assert_agreement(nodes)
        nursery.cancel_scope.cancel()


