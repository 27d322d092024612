"""The two critical findings of the red team, against real ``cairn run`` processes over loopback TCP.

* A stranger that the handshake lets in fetches block 1 and its commit, builds another valid
  block 1, and gossips it beside the real commit to a fresh full node one height behind: the
  node must not commit it (it did, and then refused every later block), and must ban the sender.
* A re-proposal in round 1 of a block built by round 0's proposer must not get the honest
  re-proposer banned (the chain halted for minutes): two validator processes, a third validator
  played by the test that withholds one precommit, a fourth down.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import trio

from chain.block import Block, Commit, Header
from chain.codec import decode, encode, expect_array
from chain.keys import PrivateKey, address_of
from genesis.devnet import DEVNET_CHAIN_ID, devnet_account_key, devnet_genesis, devnet_validator_key
from genesis.schema import load_genesis
from node.blocksync import frame_size
from node.p2p import PeerConfig
from tests.chain.helpers import transfer
from tests.node.bftnet import Accomplice, Actor, devnet_index, forge_block, powers_of, schedule_of
from tests.node.test_network_processes import CAIRN, Net, height, rpc, speed_up

DEADLINE = 90.0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def until(cond: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    with trio.move_on_after(timeout):
        while not cond():
            await trio.sleep(0.1)
        return
    raise AssertionError(f"timed out waiting for {what}")


def node_id(home: Path) -> str:
    key = json.loads((home / "validator_key.json").read_text())
    return bytes(address_of(bytes.fromhex(key["pubkey"]))).hex()


def peer_config(**kw: object) -> PeerConfig:
    return PeerConfig(**{"listen_port": None, "max_frame_size": frame_size(4 * 1024 * 1024),  # type: ignore[arg-type]
                         "backoff_initial": 0.2, "backoff_max": 1.0, **kw})


async def stranger(nursery: trio.Nursery, label: str, target: str) -> Actor:
    """A peer with a fresh, unfunded key, connected to ``target`` (``ID@host:port``)."""
    actor = await Actor.start(nursery, PrivateKey.derive(f"attack-test/{label}"), DEVNET_CHAIN_ID,
                              config=peer_config())
    actor.peers.add_peer(target)
    wanted = bytes.fromhex(target.partition("@")[0])
    await until(lambda: actor.peers.get(wanted) is not None, f"{label} connecting")  # type: ignore[arg-type]
    return actor


def logs(base_dir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(base_dir.glob("node*.log")))


async def test_a_full_node_refuses_a_forged_block_gossiped_with_a_real_commit(tmp_path: Path) -> None:
    net = Net.init(tmp_path / "net", fast=False)
    base = net.base
    # a fresh full node with no peers of its own: it stays one height behind until told
    subprocess.run([CAIRN, "init", "--home", str(net.home(4)), "--genesis", str(net.home(0) / "genesis.json"),
                    "--rpc-laddr", f"127.0.0.1:{base + 40}", "--p2p-laddr", f"127.0.0.1:{base + 39}"],
                   check=True, capture_output=True)
    for i in range(5):
        speed_up(net.home(i) / "config.toml")
    genesis = load_genesis((net.home(0) / "genesis.json").read_text())
    try:
        for i in range(5):
            net.start(i)
        await until(lambda: min(height(net.url(i)) for i in range(4)) >= 2 and height(net.url(4)) == 0,
                    "the validators' first blocks")
        async with trio.open_nursery() as nursery:
            spy = await stranger(nursery, "spy", f"{node_id(net.home(0))}@127.0.0.1:{base - 1}")
            answer = await spy.gossip.request(spy.peers.connected()[0].node_id, "get_blocks", encode([1, 1]))
            block_raw, commit_raw = expect_array(expect_array(decode(answer), "blocks")[0], "pair", 2)
            real, commit = Block.decode(block_raw), Commit.decode(commit_raw)
            tx = transfer(devnet_account_key(3), devnet_account_key(4).address, 5, 0)
            forged = forge_block(genesis, [], real, [tx.raw], now_ms=real.header.time_ms)

            full = f"{node_id(net.home(4))}@127.0.0.1:{base + 39}"
            forger = await stranger(nursery, "forger", full)
            forger.gossip.publish("commit", encode([forged.encode(), commit.encode()]))
            await until(lambda: not forger.peers.connected(), "the full node dropping the forger")
            await trio.sleep(1.0)
            assert height(net.url(4)) == 0, "the full node committed a block its commit does not sign"
            assert "commit-of-another-block" in logs(net.base_dir)

            honest = await stranger(nursery, "relay", full)  # now the real pair, from another peer
            honest.gossip.publish("commit", encode([real.encode(), commit.encode()]))
            await until(lambda: height(net.url(4)) >= 1, "the full node committing the real block 1")
            assert rpc(net.url(4), "chain.getBlock", height=1)["hash"] == bytes(real.hash).hex()
            nursery.cancel_scope.cancel()
    finally:
        net.stop_all()


async def test_an_honest_re_proposal_does_not_get_its_proposer_banned(tmp_path: Path) -> None:
    net = Net.init(tmp_path / "net")
    base = net.base
    genesis = devnet_genesis(4)
    sched = schedule_of(genesis, 1)
    p0, p1, z, _down = (devnet_index(sched.proposer(r).address) for r in range(4))
    try:
        async with trio.open_nursery() as nursery:
            actor = await Actor.start(nursery, devnet_validator_key(z), DEVNET_CHAIN_ID,
                                      config=peer_config(listen_port=base - 1 + 10 * z))
            accomplice = Accomplice(actor, DEVNET_CHAIN_ID, powers_of(genesis), lambda h, r: (h, r) == (1, 0),
                                    wall_ms)
            net.start(p0)
            net.start(p1)
            await until(lambda: min(height(net.url(i)) for i in (p0, p1)) >= 3, "three blocks with a re-proposal")
            commit1 = rpc(net.url(p0), "chain.getCommit", height=1)["commit"]
            block1 = rpc(net.url(p0), "chain.getBlock", height=1)
            header1 = Header.decode(bytes.fromhex(block1["header"]["raw"]))
            assert commit1["round"] >= 1, "height 1 should have needed a second round"
            assert header1.proposer == devnet_validator_key(p0).address  # built by round 0's proposer ...
            assert any(a == header1.proposer and p.proposer == devnet_validator_key(p1).address
                       for p, a in accomplice.reproposals), "... and re-proposed by round 1's"
            assert block1["hash"] == commit1["block_hash"]
            assert "peer banned" not in logs(net.base_dir)
            nursery.cancel_scope.cancel()
    finally:
        net.stop_all()
