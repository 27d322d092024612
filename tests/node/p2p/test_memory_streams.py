"""Real peer managers and gossip over in-memory streams under a mock clock (no sockets at all).

``PeerManager.serve_stream`` runs any ``trio.abc.Stream`` through the same path as TCP
connections, so these tests can fake remote addresses and let ``autojump_clock`` make
every timeout instant and exact: the handshake-slot rules are checked here step by step.
"""

from __future__ import annotations

import trio
import trio.testing

from chain.errors import ErrorCode, InvalidTransaction
from node.p2p.handshake import HELLO_MAGIC, NodeId, handshake
from node.p2p.peers import Direction
from tests.node.p2p import CHAIN, Node, link_memory, memory_node, node_key, open_memory_stub, wait_until

EVICT_AFTER = 1.0
AGED = EVICT_AFTER + 0.5
"""Long enough for a pending handshake to become evictable."""
SLOW = 600.0


def pending(node: Node) -> list[tuple[str, int, int]]:
    """``(ip, port, bytes received)`` of each pending handshake, oldest first."""
    return [(p.ip, p.address[1], p.bytes_received) for p in node.peers.pending_handshakes()]


async def test_gossip_and_bans_work_over_a_memory_stream(autojump_clock: trio.abc.Clock) -> None:
    a = memory_node("a", ban_duration=100.0)
    b = memory_node("b", topics=(), ban_duration=100.0)
    got: list[tuple[NodeId, bytes]] = []

    async def check(src: NodeId, data: bytes) -> None:
        if data == b"bad":
            raise InvalidTransaction("bad signature", code=ErrorCode.TX_BAD_SIGNATURE)
        got.append((src, data))

    b.gossip.subscribe("tx", check)
    async with trio.open_nursery() as nursery:
        assert await nursery.start(b.peers.run) == []  # listen_port=None: no sockets
        link = link_memory(nursery, a, b, address=("memory", 1))
        await wait_until(lambda: a.connected_to(b) and b.connected_to(a))
        (info,) = b.peers.peers()
        assert info.direction is Direction.INBOUND and info.address == "memory:1"

        assert a.gossip.publish("tx", b"hello") == 1
        await wait_until(lambda: got == [(a.node_id, b"hello")])
        b.gossip.publish("tx", b"back")
        await wait_until(lambda: a.received == [("tx", b.node_id, b"back")])

        a.gossip.publish("tx", b"bad")
        await wait_until(lambda: link.ended == 2)
        assert b.peers.is_banned(a.node_id) and b.peers.counters["bans"] == 1
        assert (link.dialer_result, link.listener_result) == (b.node_id, a.node_id)
        assert not a.connected_to(b) and not b.connected_to(a) and got == [(a.node_id, b"hello")]

        again = link_memory(nursery, a, b)
        await wait_until(lambda: again.ended == 2)
        assert b.peers.counters["refused_banned"] == 1 and b.peers.counters["connected"] == 1

        await trio.sleep(100.0)  # the ban runs out on the mock clock
        link_memory(nursery, a, b)
        await wait_until(lambda: a.connected_to(b) and b.connected_to(a))
        assert not b.peers.is_banned(a.node_id)
        nursery.cancel_scope.cancel()


async def test_a_failed_handshake_returns_none(autojump_clock: trio.abc.Clock) -> None:
    a = memory_node("a")
    b = memory_node("b", chain_id="another-chain")
    async with trio.open_nursery() as nursery:
        link = link_memory(nursery, a, b)
        await wait_until(lambda: link.ended == 2)
    assert (link.dialer_result, link.listener_result) == (None, None)
    assert a.peers.counters["handshake_wrong_chain"] == 1 == b.peers.counters["handshake_wrong_chain"]


async def stub(nursery: trio.Nursery, node: Node, ip: str, port: int, *, talk: bool = False) -> None:
    """Open an inbound connection that never finishes its hello (``talk``: it sends one byte of it)."""
    stream = open_memory_stub(nursery, node, (ip, port))
    if talk:
        await stream.send_all(HELLO_MAGIC[:1])
    await trio.testing.wait_all_tasks_blocked()


def ports(node: Node) -> list[int]:
    return [p.address[1] for p in node.peers.pending_handshakes()]


async def test_a_newcomer_evicts_the_silent_then_the_crowded_then_the_oldest(
    autojump_clock: trio.abc.Clock,
) -> None:
    server = memory_node(
        "server",
        handshake_timeout=SLOW,
        max_pending_handshakes=4,
        max_pending_handshakes_per_ip=4,
        handshake_evict_after=EVICT_AFTER,
    )
    counters = server.peers.counters
    async with trio.open_nursery() as nursery:
        await stub(nursery, server, "198.51.100.1", 1, talk=True)
        await trio.sleep(0.1)
        await stub(nursery, server, "198.51.100.2", 2)
        await trio.sleep(0.1)
        await stub(nursery, server, "198.51.100.3", 3, talk=True)
        await trio.sleep(0.1)
        await stub(nursery, server, "198.51.100.3", 4, talk=True)
        assert pending(server) == [
            ("198.51.100.1", 1, 1),
            ("198.51.100.2", 2, 0),
            ("198.51.100.3", 3, 1),
            ("198.51.100.3", 4, 1),
        ]
        # All too young to evict: the newcomer is refused.
        await stub(nursery, server, "203.0.113.1", 5)
        assert counters["refused_busy"] == 1 and ports(server) == [1, 2, 3, 4]

        await trio.sleep(AGED)
        # The one that never sent a byte goes first, though 1 is older.
        await stub(nursery, server, "203.0.113.2", 6, talk=True)
        assert ports(server) == [1, 3, 4, 6]
        # Then the address holding the most slots loses its oldest, though 1 is older still.
        await stub(nursery, server, "203.0.113.3", 7, talk=True)
        assert ports(server) == [1, 4, 6, 7]
        # Otherwise the oldest goes.
        await trio.sleep(AGED)
        await stub(nursery, server, "203.0.113.4", 8, talk=True)
        assert ports(server) == [4, 6, 7, 8]
        assert counters["handshake_evicted"] == 3 and counters["refused_busy"] == 1

        # An honest node arriving now evicts one and completes its handshake.
        await trio.sleep(AGED)
        honest = memory_node("honest")
        link_memory(nursery, honest, server, address=("203.0.113.5", 9))
        await wait_until(lambda: server.connected_to(honest) and honest.connected_to(server))
        assert counters["handshake_evicted"] == 4 and ports(server) == [6, 7, 8]
        nursery.cancel_scope.cancel()


async def test_one_address_cannot_take_more_than_its_share_of_slots(autojump_clock: trio.abc.Clock) -> None:
    server = memory_node(
        "server",
        handshake_timeout=SLOW,
        max_pending_handshakes=8,
        max_pending_handshakes_per_ip=3,
        handshake_evict_after=EVICT_AFTER,
    )
    counters = server.peers.counters
    async with trio.open_nursery() as nursery:
        await stub(nursery, server, "198.51.100.2", 10)
        await trio.sleep(0.1)
        for port in range(1, 6):
            await stub(nursery, server, "198.51.100.1", port, talk=True)
        assert ports(server) == [10, 1, 2, 3] and counters["refused_busy_ip"] == 2

        await trio.sleep(AGED)
        # At its cap, an address evicts only its own handshakes, never another address's
        # (10 is older and silent: it would be the first to go if the global slots were full).
        await stub(nursery, server, "198.51.100.1", 6, talk=True)
        assert ports(server) == [10, 2, 3, 6] and counters["handshake_evicted"] == 1
        nursery.cancel_scope.cancel()


async def test_a_persistent_peers_address_has_reserved_slots(autojump_clock: trio.abc.Clock) -> None:
    validator = memory_node("validator")
    server = memory_node(
        "server",
        handshake_timeout=SLOW,
        max_pending_handshakes=2,
        reserved_handshakes=1,
        handshake_evict_after=EVICT_AFTER,
        persistent_peers=(f"{validator.node_id.hex()}@203.0.113.7:26656",),
    )
    counters = server.peers.counters
    async with trio.open_nursery() as nursery:
        await stub(nursery, server, "198.51.100.1", 1, talk=True)
        await stub(nursery, server, "198.51.100.2", 2, talk=True)
        await stub(nursery, server, "198.51.100.3", 3)
        assert counters["refused_busy"] == 1 and ports(server) == [1, 2]

        # The strangers' slots are full, yet the validator gets in at once from its address.
        link_memory(nursery, validator, server, address=("203.0.113.7", 4))
        await wait_until(lambda: server.connected_to(validator) and validator.connected_to(server))
        assert counters["handshake_evicted"] == 0 and counters["refused_busy"] == 1

        # Strangers never evict a handshake in the reserve, even a silent one.
        await stub(nursery, server, "203.0.113.7", 5)
        assert [(p.address[1], p.reserved) for p in server.peers.pending_handshakes()] == [
            (1, False),
            (2, False),
            (5, True),
        ]
        await trio.sleep(AGED)
        await stub(nursery, server, "198.51.100.3", 6)
        assert ports(server) == [2, 5, 6] and counters["handshake_evicted"] == 1
        nursery.cancel_scope.cancel()


async def test_inbound_per_address_cap_and_a_reconnect_replaces_its_old_connection(
    autojump_clock: trio.abc.Clock,
) -> None:
    server = memory_node("server", max_inbound_per_ip=2)
    a, b, c = memory_node("a"), memory_node("b"), memory_node("c")
    same = ("192.0.2.1", 0)
    async with trio.open_nursery() as nursery:
        first = link_memory(nursery, a, server, address=same)
        link_memory(nursery, b, server, address=same)
        await wait_until(lambda: server.connected_to(a) and server.connected_to(b))
        refused = link_memory(nursery, c, server, address=same)
        await wait_until(lambda: refused.ended == 2)
        assert server.peers.counters["refused_full_ip"] == 1 and not server.connected_to(c)
        link_memory(nursery, c, server, address=("192.0.2.2", 0))
        await wait_until(lambda: server.connected_to(c))

        # a comes back on a new connection while the old one is still open: it replaces it.
        old = server.peers.get(a.node_id)
        link_memory(nursery, a, server, address=same)
        await wait_until(lambda: first.ended == 2)
        assert server.peers.get(a.node_id) is not old and server.connected_to(a)
        assert server.peers.counters["refused_full_ip"] == 1
        nursery.cancel_scope.cancel()


async def test_persistent_peers_addresses_cannot_push_the_total_past_the_reserve(
    autojump_clock: trio.abc.Clock,
) -> None:
    validator = memory_node("validator")
    server = memory_node(
        "server",
        handshake_timeout=SLOW,
        max_pending_handshakes=2,
        reserved_handshakes=1,
        handshake_evict_after=EVICT_AFTER,
        persistent_peers=(f"{validator.node_id.hex()}@203.0.113.7:26656",),
    )
    async with trio.open_nursery() as nursery:
        for port in (1, 2, 3, 4):
            await stub(nursery, server, "203.0.113.7", port)
        assert ports(server) == [1, 2, 3] and server.peers.counters["refused_busy"] == 1
        await stub(nursery, server, "198.51.100.1", 5)  # a stranger finds no stranger to evict
        assert ports(server) == [1, 2, 3] and server.peers.counters["refused_busy"] == 2
        nursery.cancel_scope.cancel()


async def test_an_ip_ban_applies_to_the_host_a_memory_stream_names(autojump_clock: trio.abc.Clock) -> None:
    a, b = memory_node("a"), memory_node("b")
    b.peers.ban_ip("203.0.113.5", duration=10.0)
    async with trio.open_nursery() as nursery:
        banned = link_memory(nursery, a, b, address=("203.0.113.5", 1))
        await wait_until(lambda: banned.ended == 2)
        assert banned.listener_result is None and b.peers.counters["refused_ip_banned"] == 1
        assert b.peers.counters["connected"] == 0
        link_memory(nursery, a, b, address=("203.0.113.6", 1))
        await wait_until(lambda: a.connected_to(b) and b.connected_to(a))
        nursery.cancel_scope.cancel()


async def test_a_stream_that_ends_inside_a_frame_is_a_disconnect_not_a_fault(
        autojump_clock: trio.abc.Clock) -> None:
    """A peer killed mid-send (or a cut link) leaves half a frame: no penalty, so it is welcome back."""
    node = memory_node("node")
    peer_key = node_key("crashing")
    async with trio.open_nursery() as nursery:
        ours = open_memory_stub(nursery, node, ("10.1.1.1", 1))
        session = await handshake(ours, peer_key, CHAIN, expected=node.node_id)
        await wait_until(lambda: len(node.peers.connected()) == 1)
        assert session.peer.node_id == node.node_id
        peer_id = node.peers.connected()[0].node_id
        await ours.send_all((1000).to_bytes(4, "big") + b"only part of it")
        await ours.aclose()
        await wait_until(lambda: not node.peers.connected())
        assert node.peers.counters["truncated_frames"] == 1
        assert node.peers.score(peer_id) == 0 and not node.peers.is_banned(peer_id)
        nursery.cancel_scope.cancel()
