"""Homes for a multi-validator network, and the devnet supervisor.

Port layout for validator ``i`` (``base`` = the RPC port of validator 0, 26657 by
default): RPC ``base + 10·i``, p2p ``base − 1 + 10·i``.  Every home lists every
other validator as a persistent peer (``ADDRESS@host:p2p_port``), so the homes can
be copied to separate machines as they are (pass ``hosts`` for their addresses).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chain.keys import PrivateKey
from genesis.schema import Genesis
from node.home import Home
from node.logs import NAME_VARIABLE


@dataclass(frozen=True, slots=True)
class Member:
    home: Home
    key: PrivateKey
    onion: tuple[bytes, int]
    rpc: str
    p2p: str


def plan(base: Path, keys: Sequence[PrivateKey], onions: Sequence[tuple[bytes, int]], *, hosts: Sequence[str] = (),
         rpc_base: int = 26657) -> list[Member]:
    out = []
    for i, key in enumerate(keys):
        host = hosts[i] if i < len(hosts) else "127.0.0.1"
        out.append(Member(Home(base / f"v{i}"), key, onions[i], f"{host}:{rpc_base + 10 * i}",
                          f"{host}:{rpc_base - 1 + 10 * i}"))
    return out


def ports(rpc_base: int, validators: int) -> list[int]:
    """Every port of the layout: each validator's RPC and p2p port."""
    return [rpc_base + 10 * i + d for i in range(validators) for d in (0, -1)]


def free_base(validators: int, *, start: int = 31_000, stop: int = 60_000, step: int = 97) -> int:
    """The first ``rpc_base`` from ``start`` whose ports for ``validators`` nodes are all free on
    127.0.0.1 right now, even for a socket without ``SO_REUSEADDR`` (a port in TIME_WAIT is not
    free to such a socket; tests and benchmarks use it)."""
    for base in range(start, stop, step):
        if first_busy([f"127.0.0.1:{port}" for port in ports(base, validators)], reuse_address=False) is None:
            return base
    raise OSError(f"no free range of ports for {validators} nodes between {start} and {stop}")


def first_busy(addresses: Sequence[str], *, reuse_address: bool = True) -> str | None:
    """The first ``host:port`` of ``addresses`` that cannot be bound right now, else None.

    ``reuse_address`` binds as the node's listeners do (``SO_REUSEADDR``: only a listening
    socket makes a port busy, not one in TIME_WAIT)."""
    for address in addresses:
        host, _, port = address.rpartition(":")
        with socket.socket() as s:
            if reuse_address:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host or "127.0.0.1", int(port)))
            except OSError:
                return address
    return None


def write_network(members: Sequence[Member], genesis: Genesis, *, min_interval: float = 0.2,
                  max_interval: float = 1.0) -> None:
    """Initialize every member's home with the shared genesis and the others as peers."""
    for m in members:
        peers = tuple(f"{bytes(o.key.address).hex()}@{o.p2p}" for o in members if o is not m)
        m.home.init(genesis, m.key, rpc=m.rpc, p2p=m.p2p, peers=peers, min_interval=min_interval,
                    max_interval=max_interval, onion=m.onion)


def provider_command(home: Path, rpc: str, devnet_key: int) -> list[str]:
    """``cairn provider run`` for the devnet provider key ``devnet_key`` against ``rpc`` (HOST:PORT)."""
    return [sys.executable, "-m", "node.cli", "provider", "run", "--home", str(home), "--rpc", f"http://{rpc}",
            "--devnet-key", str(devnet_key)]


def supervise(homes: Sequence[Home], extra: Sequence[tuple[str, list[str]]] = ()) -> int:
    """Run ``cairn run`` for each home, and each ``(name, argv)`` of ``extra`` (a provider), until
    SIGINT/SIGTERM; a child that dies is reported, not restarted."""
    cairn = [sys.executable, "-m", "node.cli"]
    commands = [(f"validator {i}", h.path.name, [*cairn, "run", "--home", str(h.path)]) for i, h in enumerate(homes)]
    commands += [(name, name, argv) for name, argv in extra]
    children = [subprocess.Popen(argv, env={**os.environ, NAME_VARIABLE: label})  # v0, v1, ... on each log line
                for _, label, argv in commands]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    old_int = signal.signal(signal.SIGINT, stop)
    old_term = signal.signal(signal.SIGTERM, stop)
    try:
        reported: set[int] = set()
        while not stopping and any(c.poll() is None for c in children[:len(homes)]):
            for i, c in enumerate(children):
                if c.poll() is not None and i not in reported:
                    reported.add(i)
                    print(f"{commands[i][0]} exited with status {c.returncode}", file=sys.stderr)
            time.sleep(0.2)
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        for c in children:
            try:
                c.wait(timeout=15)
            except subprocess.TimeoutExpired:
                c.kill()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return 0
