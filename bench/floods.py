"""``make floods``: a 4-validator devnet of ``cairn run`` processes on loopback under each flood of
the red team's report (issue 9), one after another; figures for docs/RELIABILITY.md.

For each flood: blocks committed during it (against a quiet baseline of the same length measured
first), ``node.status`` latency at its worst, and the largest resident memory and consensus WAL of
any validator while it ran.  Strangers use fresh, unfunded keys that the p2p handshake lets in; a
banned stranger comes back with a new key, as an attacker would.

* ``votes``       votes naming real validators with random signatures, at full speed
* ``proposals``   proposals naming the round's proposer, garbage signature, 3 MiB block
* ``txs``         60 KB transactions with a nonce gap: an unknown kind from an unfunded key, and a
                  transfer from an unfunded key (refused without penalty: it may be fine elsewhere)
* ``evidence``    double-sign evidence with forged signatures
* ``idle``        64 idle TCP connections to every validator's p2p port; then validator 3 is
                  killed and restarted and must reconnect
* ``slow-rpc``    600 RPC connections sending a body one byte a second
* ``one-sender``  one funded account filling the mempool to its per-sender cap
* ``slowdowns``   a random validator stopped (SIGSTOP) for 1–2.5 s at a time: rounds fail and
                  blocks are re-proposed; no validator may ban another

``BENCH_FLOOD_SECONDS`` (default 20) sets each flood's length, ``BENCH_FLOOD_DIR`` a directory to
keep the homes and node logs in; ``python -m bench.floods NAME ...``
runs some of them.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

from chain.block import PREVOTE
from chain.codec import encode
from chain.consensus import Proposal, Vote
from chain.keys import PrivateKey
from chain.staking import DoubleSign, SignedVote
from chain.tx import TxBody
from chain.types import Hash32, Signature64
from genesis.devnet import DEVNET_CHAIN_ID, devnet_account_key, devnet_validator_key
from node.blocksync import frame_size
from node.home import Home
from node.logs import configure
from node.network import free_base
from node.p2p import Gossip, PeerConfig, PeerManager

CAIRN = str(Path(sys.executable).parent / "cairn")
SECONDS = float(os.environ.get("BENCH_FLOOD_SECONDS", "20"))
N = 4




@dataclass
class Devnet:
    root: Path
    base: int
    procs: dict[int, subprocess.Popen[bytes]]
    tip: int = 0
    """Validator 0's height, kept fresh by ``follow`` (floods read it without blocking)."""

    async def follow(self) -> None:
        while True:
            self.tip = max(self.tip, await trio.to_thread.run_sync(self.height, 0))
            await trio.sleep(0.2)

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.base + 10 * i}"

    def p2p(self, i: int) -> str:
        node = bytes(devnet_validator_key(i).address).hex()
        return f"{node}@127.0.0.1:{self.base - 1 + 10 * i}"

    def home(self, i: int) -> Path:
        return self.root / f"v{i}"

    def start(self, i: int) -> None:
        log = open(self.root / f"node{i}.log", "ab")
        self.procs[i] = subprocess.Popen([CAIRN, "run", "--home", str(self.home(i))], stdout=log, stderr=log)

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(i)
        p.send_signal(sig)
        p.wait(timeout=30)

    def height(self, i: int = 0) -> int:
        try:
            return int(rpc(self.url(i), "node.status")["height"])
        except (httpx.HTTPError, OSError, KeyError, RuntimeError):  # RuntimeError: an RPC error answer
            return -1

    def top(self) -> int:
        """The highest height any running validator reports (one may be stopped or slow)."""
        return max(self.height(i) for i in self.procs)

    def rss_mb(self) -> float:
        worst = 0
        for p in self.procs.values():
            try:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        worst = max(worst, int(line.split()[1]))
            except OSError:
                pass
        return worst / 1024

    def wal_mb(self) -> float:
        sizes = [(self.home(i) / "data" / "consensus.wal").stat().st_size
                 for i in range(N) if (self.home(i) / "data" / "consensus.wal").exists()]
        return max(sizes, default=0) / 1024 / 1024

    def bans(self) -> tuple[int, int]:
        """(bans of strangers, bans of validators) in all logs so far."""
        validators = {bytes(devnet_validator_key(i).address).hex() for i in range(N)}
        strangers = honest = 0
        for i in range(N):
            for line in (self.root / f"node{i}.log").read_text(errors="replace").splitlines():
                if "peer banned" in line:
                    if any(f"peer={v}" in line for v in validators):
                        honest += 1
                    else:
                        strangers += 1
        return strangers, honest


def rpc(url: str, method: str, **params: Any) -> Any:
    doc = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30).json()
    if "error" in doc:
        raise RuntimeError(doc["error"])
    return doc["result"]


def stranger_config() -> PeerConfig:
    return PeerConfig(listen_port=None, max_frame_size=frame_size(4 * 1024 * 1024), backoff_initial=0.05,
                      backoff_max=0.2, send_queue_size=64)


Messages = Callable[[random.Random], list[tuple[str, bytes]]]


async def spam(net: Devnet, target: int, make: Messages, stop: trio.Event, seed: str, pace: float) -> int:
    """Strangers (a new key after every ban) gossiping ``make``'s messages to ``target`` until
    ``stop``, one batch every ``pace`` seconds (large messages must not queue up for so long
    that they arrive for a height already decided: those are ignored, as they should be, and
    exercise nothing)."""
    rng = random.Random(seed)
    sent = 0
    n = 0
    while not stop.is_set():
        n += 1
        key = PrivateKey.derive(f"flood/{seed}/{n}")  # a seed per flood: earlier floods' keys are banned
        peers = PeerManager(key, DEVNET_CHAIN_ID, stranger_config())
        gossip = Gossip(peers)
        async with trio.open_nursery() as nursery:
            await nursery.start(peers.run)
            peers.add_peer(net.p2p(target))
            with trio.move_on_after(3):
                while not peers.connected():
                    await trio.sleep(0.02)
            while peers.connected() and not stop.is_set():
                for topic, data in make(rng):
                    sent += gossip.publish(topic, data)
                await trio.sleep(pace)
            nursery.cancel_scope.cancel()
    return sent


def junk_votes(net: Devnet) -> Messages:
    """Votes for the height being decided (each must be checked, then costs its sender a ban) and
    for random later heights (ignored unchecked: no node can check them yet)."""
    def make(rng: random.Random) -> list[tuple[str, bytes]]:
        h = net.tip + 1
        return [("vote", Vote(PREVOTE, h if k % 2 else rng.randint(h + 2, 10**6), 0, Hash32(rng.randbytes(32)), 1,
                              devnet_validator_key(rng.randrange(N)).address, Signature64(rng.randbytes(64))).encode())
                for k in range(50)]
    return make


def junk_proposals(net: Devnet) -> Messages:
    def make(rng: random.Random) -> list[tuple[str, bytes]]:
        h = net.tip + 1
        p = Proposal(h, 0, Hash32(rng.randbytes(32)), -1, devnet_validator_key(rng.randrange(N)).address,
                     Signature64(rng.randbytes(64)))
        return [("proposal", encode([p.encode(), rng.randbytes(3 * 1024 * 1024)]))]
    return make


def junk_txs(rng: random.Random) -> list[tuple[str, bytes]]:
    out = []
    for k in range(4):
        key = PrivateKey.derive(f"flood/poor/{rng.random()}")
        kind, payload = ("junk", [rng.randbytes(60_000)]) if k % 2 == 0 else (
            "transfer", [bytes(devnet_account_key(1).address), 1])
        body = TxBody(DEVNET_CHAIN_ID, 7, key.public_key, 700_000, 700_000, kind, payload)
        out.append(("tx", body.sign(key).raw))
    return out


def junk_evidence(net: Devnet) -> Messages:
    """Evidence of a recent height (inside the window), so only the signatures can refuse it."""
    def make(rng: random.Random) -> list[tuple[str, bytes]]:
        who = devnet_validator_key(rng.randrange(N)).address
        h = max(1, net.tip - 1)
        votes = [SignedVote(PREVOTE, h, 0, bytes([b]) * 32, 1, who, rng.randbytes(64)) for b in (1, 2)]
        return [("evidence", DoubleSign(votes[0], votes[1]).encode())]
    return make


@dataclass
class Figures:
    name: str
    baseline_blocks: int
    blocks: int
    status_ms_worst: float
    rss_mb: float
    wal_mb: float
    note: str = ""


async def watch(net: Devnet, stop: trio.Event, out: dict[str, float]) -> None:
    out.setdefault("status", 0.0)
    out.setdefault("rss", 0.0)
    out.setdefault("wal", 0.0)
    while not stop.is_set():
        t = time.monotonic()
        await trio.to_thread.run_sync(net.height, 0)
        out["status"] = max(out["status"], (time.monotonic() - t) * 1000)
        out["rss"] = max(out["rss"], net.rss_mb())
        out["wal"] = max(out["wal"], net.wal_mb())
        await trio.sleep(0.5)


async def measure(net: Devnet, name: str, attack: Callable[[trio.Event], Awaitable[str]]) -> Figures:
    start = net.top()
    await trio.sleep(SECONDS)
    baseline = net.top() - start
    stop = trio.Event()
    seen: dict[str, float] = {}
    note = ""
    start = net.top()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch, net, stop, seen)

        async def run_attack() -> None:
            nonlocal note
            note = await attack(stop)

        nursery.start_soon(run_attack)
        await trio.sleep(SECONDS)
        stop.set()
    blocks = net.top() - start
    return Figures(name, baseline, blocks, seen.get("status", 0), seen.get("rss", 0), seen.get("wal", 0), note)


def flood_with(net: Devnet, name: str, make: Messages, pace: float = 0.0) -> Callable[[trio.Event], Awaitable[str]]:
    async def attack(stop: trio.Event) -> str:
        before = net.bans()[0]
        counts: list[int] = []

        async def one(i: int) -> None:
            counts.append(await spam(net, i, make, stop, seed=f"{name}/{i}", pace=pace))

        async with trio.open_nursery() as nursery:
            for i in range(N):
                nursery.start_soon(one, i)
        return f"{sum(counts)} messages sent, {net.bans()[0] - before} strangers banned"
    return attack


def idle_connections(net: Devnet) -> Callable[[trio.Event], Awaitable[str]]:
    async def attack(stop: trio.Event) -> str:
        socks = []
        for i in range(N):
            for _ in range(64):
                s = socket.create_connection(("127.0.0.1", net.base - 1 + 10 * i))
                socks.append(s)
        await trio.sleep(1)
        net.kill(3)
        net.start(3)
        t = time.monotonic()
        while net.height(3) < net.height(0) - 1 and not stop.is_set():
            await trio.sleep(0.2)
        caught_up = time.monotonic() - t
        await stop.wait()
        for s in socks:
            s.close()
        return f"256 idle connections held; validator 3 restarted and caught up in {caught_up:.1f} s"
    return attack


def slow_rpc(net: Devnet) -> Callable[[trio.Event], Awaitable[str]]:
    async def attack(stop: trio.Event) -> str:
        streams: list[trio.SocketStream] = []
        closed = 0

        async def slow(s: trio.SocketStream) -> None:
            nonlocal closed
            try:
                await s.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
                while not stop.is_set():
                    await s.send_all(b"{")
                    await trio.sleep(1)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                closed += 1

        async with trio.open_nursery() as nursery:
            for _ in range(600):
                try:
                    s = await trio.open_tcp_stream("127.0.0.1", net.base)
                except OSError:
                    closed += 1
                    continue
                streams.append(s)
                nursery.start_soon(slow, s)
            await stop.wait()
            nursery.cancel_scope.cancel()
        for s in streams:
            await trio.aclose_forcefully(s)
        return f"600 slow-body connections opened; {closed} closed by the node before the flood ended"
    return attack


def one_sender(net: Devnet) -> Callable[[trio.Event], Awaitable[str]]:
    async def attack(stop: trio.Event) -> str:
        key = devnet_account_key(7)
        nonce = first = int(rpc(net.url(0), "state.getAccount", address=_addr(key))["nonce"])
        admitted = refused = 0
        batch = 500
        while not stop.is_set():
            raws = [TxBody(DEVNET_CHAIN_ID, nonce + k, key.public_key, 40_000, 20_000, "transfer",
                           [bytes(devnet_account_key(1).address), 1]).sign(key).raw.hex() for k in range(batch)]
            out = await trio.to_thread.run_sync(functools.partial(rpc, net.url(0), "tx.sendBatch", txs=raws))
            ok = sum(1 for o in out if "hash" in o)
            admitted += ok
            refused += batch - ok
            nonce += ok
            if ok == 0:
                await trio.sleep(0.5)
        committed = int(rpc(net.url(0), "state.getAccount", address=_addr(key))["nonce"]) - first
        return (f"{admitted} admitted from one sender, {refused} refused (per-sender cap / pool full), "
                f"{committed} committed ({committed / SECONDS:.0f} tx/s)")
    return attack


def _addr(key: PrivateKey) -> str:
    from chain.keys import encode_address

    return encode_address(key.address, "cairn")


def slowdowns(net: Devnet) -> Callable[[trio.Event], Awaitable[str]]:
    async def attack(stop: trio.Event) -> str:
        rng = random.Random(9)
        stops = 0
        before = net.bans()[1]
        while not stop.is_set():
            i = rng.randrange(N)
            proc = net.procs[i]
            proc.send_signal(signal.SIGSTOP)
            await trio.sleep(rng.uniform(1.0, 2.5))
            proc.send_signal(signal.SIGCONT)
            stops += 1
            await trio.sleep(rng.uniform(0.2, 1.5))
        return f"{stops} stops; validators banned by validators: {net.bans()[1] - before}"
    return attack


def floods(net: Devnet) -> dict[str, Callable[[trio.Event], Awaitable[str]]]:
    return {
        "votes": flood_with(net, "votes", junk_votes(net), pace=0.01),
        # 3 MiB each, 4 a second per stranger: what this process can encrypt for four strangers
        "proposals": flood_with(net, "proposals", junk_proposals(net), pace=0.25),
        "txs": flood_with(net, "txs", junk_txs),
        "evidence": flood_with(net, "evidence", junk_evidence(net)),
        "idle": idle_connections(net),
        "slow-rpc": slow_rpc(net),
        "one-sender": one_sender(net),
        "slowdowns": slowdowns(net),
    }


async def run(names: list[str]) -> list[Figures]:
    keep = os.environ.get("BENCH_FLOOD_DIR")  # keep the homes and node logs there, for a look afterwards
    with tempfile.TemporaryDirectory(prefix="cairn-floods-") as tmp:
        root = Path(keep or tmp) / "net"
        base = free_base(N, start=43_000)
        subprocess.run([CAIRN, "init", "--devnet", "--validators", str(N), "--home", str(root),
                        "--rpc-laddr", f"127.0.0.1:{base}"], check=True, capture_output=True)
        net = Devnet(root, base, {})
        for i in range(N):
            assert Home(net.home(i)).exists()
            net.start(i)
        try:
            while min(net.height(i) for i in range(N)) < 3:
                await trio.sleep(0.2)
            table = floods(net)
            out = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(net.follow)
                for name in names or list(table):
                    figures = await measure(net, name, table[name])
                    out.append(figures)
                    print(f"  {name:<11} blocks {figures.blocks:>4} (quiet: {figures.baseline_blocks:>4})  "
                          f"status ≤ {figures.status_ms_worst:>6.0f} ms  RSS ≤ {figures.rss_mb:>5.0f} MB  "
                          f"WAL ≤ {figures.wal_mb:>5.2f} MB  {figures.note}", flush=True)
                nursery.cancel_scope.cancel()
            print(f"  validators banned by validators over the whole run: {net.bans()[1]}")
            return out
        finally:
            for i in list(net.procs):
                net.kill(i, signal.SIGTERM)


def main() -> None:
    configure(level="warning")  # the strangers' own p2p lines
    print(f"floods: 4 validator processes, {SECONDS:.0f} s per flood after a quiet {SECONDS:.0f} s")
    trio.run(run, sys.argv[1:])


if __name__ == "__main__":
    main()
