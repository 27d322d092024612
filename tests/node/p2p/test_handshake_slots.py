"""Handshake slots and per-address limits over real loopback TCP (issue 9, finding 7).

A red team held all 16 handshake slots with idle connections, and a restarted
validator could not reconnect while they were held.  Here strangers hold dozens
of idle (or trickling) connections while an honest node dials in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from node.p2p.handshake import HELLO_MAGIC, HELLO_SIZE, node_id_of
from node.p2p.peers import PeerConfig
from node.p2p.transport import BufferedReader
from tests.node.p2p import WAIT, node_key, start_node, wait_until

SLOW = 60.0
"""A handshake timeout far beyond the test's waits: only eviction can free a slot in time."""


class Idle:
    """Connections a stranger opens and holds; all closed when the test ends, however it ends."""

    def __init__(self) -> None:
        self.streams: list[trio.SocketStream] = []

    async def open(self, port: int, count: int) -> list[trio.SocketStream]:
        new = []
        for _ in range(count):
            new.append(await trio.open_tcp_stream("127.0.0.1", port))
            self.streams.append(new[-1])
        return new


@pytest.fixture
async def idle() -> AsyncIterator[Idle]:
    held = Idle()
    try:
        yield held
    finally:
        for stream in held.streams:
            await trio.aclose_forcefully(stream)


async def given_a_slot(stream: trio.SocketStream) -> bool:
    """True if the node started a handshake on ``stream`` (its hello arrives), False if it hung up at once."""
    with trio.fail_after(WAIT):
        return await BufferedReader(stream).receive_exactly(HELLO_SIZE) is not None


def local_port(stream: trio.SocketStream) -> int:
    return int(stream.socket.getsockname()[1])


async def trickle(stream: trio.SocketStream) -> None:
    """Send the hello one byte at a time, far too slowly to finish within the test."""
    try:
        for byte in HELLO_MAGIC:
            await stream.send_all(bytes([byte]))
            await trio.sleep(0.5)
        await trio.sleep_forever()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def test_idle_connections_cannot_keep_an_honest_peer_out(idle: Idle) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_node(nursery, "server", handshake_timeout=SLOW)
        streams = await idle.open(server.port, 64)
        admitted = [s for s in streams if await given_a_slot(s)]

        honest = await start_node(nursery, "honest")
        honest.peers.add_peer(server.address())
        await wait_until(lambda: server.connected_to(honest) and honest.connected_to(server))

        cfg = server.peers.config
        evicted = server.peers.counters["handshake_evicted"]
        pending = server.peers.pending_handshakes()
        # One address never holds more than its share of the slots; the rest were refused at once.
        assert len(admitted) - evicted <= cfg.max_pending_handshakes_per_ip
        assert server.peers.counters["refused_busy_ip"] >= 64 - len(admitted)
        # The honest node got in by evicting idle connections; every other one is still held open.
        assert evicted >= 1
        assert len(pending) == len(admitted) - evicted
        assert {p.address[1] for p in pending} <= {local_port(s) for s in admitted}
        assert all(p.bytes_received == 0 for p in pending)
        nursery.cancel_scope.cancel()


async def test_silent_connections_are_evicted_before_trickling_ones(idle: Idle) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_node(nursery, "server", handshake_timeout=SLOW)
        per_ip = server.peers.config.max_pending_handshakes_per_ip
        tricklers = await idle.open(server.port, 3)
        for s in tricklers:
            nursery.start_soon(trickle, s)
        await wait_until(
            lambda: [p.bytes_received > 0 for p in server.peers.pending_handshakes()] == [True] * 3
        )
        # Just enough silent ones to fill the address's slots: none is refused or evicted yet.
        await idle.open(server.port, per_ip - len(tricklers))
        counters = server.peers.counters
        await wait_until(lambda: len(server.peers.pending_handshakes()) == per_ip)
        # Every slot old enough to evict, so the rule, not the ages, picks the victim (the
        # tricklers are older: were only they eligible, one of them would go).
        await trio.sleep(server.peers.config.handshake_evict_after + 0.2)
        before = counters["handshake_evicted"]

        honest = await start_node(nursery, "honest")
        honest.peers.add_peer(server.address())
        await wait_until(lambda: server.connected_to(honest) and honest.connected_to(server))

        pending = server.peers.pending_handshakes()
        ports = {p.address[1] for p in pending}
        evicted = counters["handshake_evicted"] - before
        assert evicted >= 1 and len(pending) == per_ip - evicted
        assert {local_port(s) for s in tricklers} <= ports  # the trickling ones all survived
        assert sum(p.bytes_received == 0 for p in pending) == per_ip - len(tricklers) - evicted
        nursery.cancel_scope.cancel()


async def test_a_stalled_handshake_is_not_evicted_before_its_minimum_age(idle: Idle) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_node(
            nursery,
            "server",
            handshake_timeout=SLOW,
            max_pending_handshakes_per_ip=2,
            handshake_evict_after=SLOW,
        )
        streams = await idle.open(server.port, 2)
        assert [await given_a_slot(s) for s in streams] == [True, True]
        honest = await start_node(nursery, "honest")
        honest.peers.add_peer(server.address())
        await wait_until(lambda: server.peers.counters["refused_busy_ip"] >= 2)
        assert not server.connected_to(honest) and server.peers.counters["handshake_evicted"] == 0
        assert len(server.peers.pending_handshakes()) == 2
        for s in streams:
            await s.aclose()
        # the slots free up, and the redialling honest node gets in
        await wait_until(lambda: server.connected_to(honest) and honest.connected_to(server))
        nursery.cancel_scope.cancel()


async def test_inbound_connections_per_address_are_capped_and_persistent_peers_are_exempt() -> None:
    async with trio.open_nursery() as nursery:
        validator_id = node_id_of(node_key("validator").public_key)
        closed = await trio.open_tcp_listeners(0, host="127.0.0.1")
        dead_port = closed[0].socket.getsockname()[1]
        await closed[0].aclose()
        server = await start_node(
            nursery,
            "server",
            max_inbound_per_ip=2,
            persistent_peers=(f"{validator_id.hex()}@127.0.0.1:{dead_port}",),
        )
        a, b, c = [await start_node(nursery, label) for label in "abc"]
        for n in (a, b):
            n.peers.add_peer(server.address())
        await wait_until(lambda: server.connected_to(a) and server.connected_to(b))
        c.peers.add_peer(server.address())
        await wait_until(lambda: server.peers.counters["refused_full_ip"] >= 2)
        assert not server.connected_to(c) and len(server.peers.peers()) == 2

        validator = await start_node(nursery, "validator")
        validator.peers.add_peer(server.address())
        await wait_until(lambda: server.connected_to(validator) and validator.connected_to(server))
        assert {p.node_id for p in server.peers.peers()} == {a.node_id, b.node_id, validator.node_id}
        assert not server.connected_to(c)
        nursery.cancel_scope.cancel()


def test_slot_knobs_have_their_documented_defaults_and_are_checked() -> None:
    cfg = PeerConfig()
    assert (cfg.handshake_timeout, cfg.max_pending_handshakes, cfg.max_pending_handshakes_per_ip) == (
        5.0,
        16,
        8,
    )
    assert (cfg.reserved_handshakes, cfg.handshake_evict_after, cfg.max_inbound_per_ip) == (4, 1.0, 8)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_pending_handshakes_per_ip": 0},
        {"max_inbound_per_ip": 0},
        {"reserved_handshakes": -1},
        {"handshake_evict_after": -0.1},
        {"handshake_timeout": 0.0},
    ],
)
def test_slot_knobs_are_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PeerConfig(**bad)
