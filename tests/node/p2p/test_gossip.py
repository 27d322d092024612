"""Gossip, request/response and the peer manager, with in-process nodes over loopback TCP."""

from __future__ import annotations

from collections import Counter

import pytest
import trio

from chain.errors import ErrorCode, InvalidTransaction, NotFound
from node.p2p.gossip import TOPICS, RequestError
from node.p2p.handshake import NodeId, handshake, node_id_of
from node.p2p.peers import Direction
from node.p2p.transport import Auth, Gossip
from tests.node.p2p import CHAIN, WAIT, Node, node_key, start_node, wait_until


async def connect(a: Node, b: Node) -> None:
    """``a`` dials ``b`` (persistently) and both see the connection."""
    a.peers.add_peer(b.address())
    await wait_until(lambda: a.connected_to(b) and b.connected_to(a))


async def settle() -> None:
    """Give stray duplicates time to arrive before asserting that they did not."""
    await trio.sleep(0.1)


# --- gossip ----------------------------------------------------------------------------


async def test_four_nodes_deliver_every_message_exactly_once_to_every_handler() -> None:
    async with trio.open_nursery() as nursery:
        nodes = [await start_node(nursery, f"n{i}", topics=TOPICS) for i in range(4)]
        for i, a in enumerate(nodes):
            for b in nodes[i + 1 :]:
                a.peers.add_peer(b.address())
        await wait_until(lambda: all(len(n.peers.peers()) == 3 for n in nodes))

        for n in nodes:
            for topic in TOPICS:
                assert n.gossip.publish(topic, f"{topic} from {n.label}".encode()) == 3
        expected_each = 3 * len(TOPICS)
        await wait_until(lambda: all(len(n.received) >= expected_each for n in nodes))
        await settle()

        for n in nodes:
            got = Counter((topic, data) for topic, _, data in n.received)
            want = Counter(
                (topic, f"{topic} from {o.label}".encode()) for o in nodes if o is not n for topic in TOPICS
            )
            assert got == want, n.label
            assert all(src != n.node_id for _, src, _ in n.received)
        # relayed copies were sent and dropped as duplicates
        assert sum(n.peers.counters["gossip_duplicate"] for n in nodes) > 0
        nursery.cancel_scope.cancel()


async def test_messages_are_relayed_to_nodes_not_directly_connected() -> None:
    async with trio.open_nursery() as nursery:
        a, b, c, d = [await start_node(nursery, label) for label in "abcd"]
        await connect(a, b)
        await connect(b, c)
        await connect(c, d)
        a.gossip.publish("tx", b"travels far")
        await wait_until(lambda: len(d.received) == 1)
        await settle()
        assert d.received == [("tx", c.node_id, b"travels far")]
        assert [len(n.received) for n in (a, b, c, d)] == [0, 1, 1, 1]
        nursery.cancel_scope.cancel()


async def test_duplicates_are_delivered_once_and_the_seen_cache_is_bounded() -> None:
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, "a")
        b = await start_node(nursery, "b")
        b.gossip.seen_cache_size = 2
        await connect(a, b)
        a.gossip.publish("tx", b"m1")
        a.gossip.publish("tx", b"m1")  # a duplicate
        await wait_until(lambda: b.peers.counters["gossip_duplicate"] == 1)
        a.gossip.publish("tx", b"m2")
        a.gossip.publish("tx", b"m3")  # evicts m1 from b's cache of two
        a.gossip.publish("tx", b"m1")
        await wait_until(lambda: len(b.received) == 4)
        assert [data for _, _, data in b.received] == [b"m1", b"m2", b"m3", b"m1"]
        nursery.cancel_scope.cancel()


async def test_a_message_we_published_is_not_delivered_back_to_us() -> None:
    async with trio.open_nursery() as nursery:
        a, b, c = [await start_node(nursery, label) for label in "abc"]
        await connect(a, b)
        await connect(b, c)
        await connect(c, a)
        a.gossip.publish("tx", b"round trip")
        await wait_until(lambda: len(b.received) == 1 and len(c.received) == 1)
        await settle()
        assert a.received == []
        nursery.cancel_scope.cancel()


async def test_topics_without_relay_are_forwarded_only_by_their_owner() -> None:
    async with trio.open_nursery() as nursery:
        a, b, c = [await start_node(nursery, label, topics=()) for label in "abc"]
        for n in (a, c):

            async def record(src: NodeId, data: bytes, n: Node = n) -> None:
                n.received.append(("vote", src, data))

            n.gossip.subscribe("vote", record)
        held: list[tuple[NodeId, bytes]] = []

        async def hold(src: NodeId, data: bytes) -> None:
            held.append((src, data))

        b.gossip.subscribe("vote", hold, relay=False)
        await connect(a, b)
        await connect(b, c)
        a.gossip.publish("vote", b"v1")
        await wait_until(lambda: len(held) == 1)
        await settle()
        assert c.received == []
        # b validated it and forwards it itself, not back to its source
        assert b.gossip.publish("vote", b"v1", exclude=a.node_id) == 1
        await wait_until(lambda: len(c.received) == 1)
        await settle()
        assert a.received == []
        nursery.cancel_scope.cancel()


async def test_unknown_topics_are_dropped_without_penalty() -> None:
    async with trio.open_nursery() as nursery:
        a, b = [await start_node(nursery, label) for label in "ab"]
        await connect(a, b)
        a.gossip.publish("proposal", b"nobody listens")
        await wait_until(lambda: b.peers.counters["gossip_unknown_topic"] == 1)
        assert b.peers.score(a.node_id) == 0 and b.received == []
        nursery.cancel_scope.cancel()


# --- scoring and bans ------------------------------------------------------------------


async def test_invalid_gossip_bans_its_source_and_is_not_relayed() -> None:
    async with trio.open_nursery() as nursery:
        a, b, c = [await start_node(nursery, label, topics=()) for label in "abc"]
        c_got: list[bytes] = []

        async def check(src: NodeId, data: bytes) -> None:
            if data == b"bad":
                raise InvalidTransaction("bad signature", code=ErrorCode.TX_BAD_SIGNATURE)

        async def record(src: NodeId, data: bytes) -> None:
            c_got.append(data)

        b.gossip.subscribe("tx", check)
        c.gossip.subscribe("tx", record)
        await connect(a, b)
        await connect(b, c)
        a.gossip.publish("tx", b"good")
        await wait_until(lambda: c_got == [b"good"])
        a.gossip.publish("tx", b"bad")
        await wait_until(lambda: b.peers.is_banned(a.node_id))
        await wait_until(lambda: not a.connected_to(b) and not b.connected_to(a))
        await settle()
        assert c_got == [b"good"]
        assert b.peers.counters["gossip_invalid"] == 1
        # a keeps redialling b and is refused every time
        await wait_until(lambda: b.peers.counters["refused_banned"] >= 2)
        assert not b.connected_to(a) and b.connected_to(c)
        nursery.cancel_scope.cancel()


async def test_temporary_errors_cost_a_little_and_the_message_may_come_again() -> None:
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, "a")
        b = await start_node(nursery, "b", topics=(), penalty_decay_per_second=0.0)
        accepted: list[bytes] = []

        async def gap_then_ok(src: NodeId, data: bytes) -> None:
            if not accepted and b.peers.counters["gossip_invalid"] == 0:
                raise InvalidTransaction("nonce gap", code=ErrorCode.TX_NONCE_GAP)
            accepted.append(data)

        b.gossip.subscribe("tx", gap_then_ok)
        await connect(a, b)
        a.gossip.publish("tx", b"tx5")
        await wait_until(lambda: b.peers.counters["gossip_invalid"] == 1)
        assert b.peers.score(a.node_id) == -b.peers.config.temporary_penalty
        assert not b.peers.is_banned(a.node_id) and b.connected_to(a)
        a.gossip.publish("tx", b"tx5")  # not remembered as seen after a temporary error
        await wait_until(lambda: accepted == [b"tx5"])
        nursery.cancel_scope.cancel()


async def test_penalties_add_up_to_a_ban_and_decay_over_time() -> None:
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, "a")
        b = await start_node(
            nursery, "b", ban_threshold=20, temporary_penalty=5, penalty_decay_per_second=0.0
        )
        await connect(a, b)
        for _ in range(3):
            b.peers.report(a.node_id, InvalidTransaction("full", code=ErrorCode.MEMPOOL_FULL))
        assert b.peers.score(a.node_id) == -15 and b.connected_to(a)
        b.peers.report(a.node_id, InvalidTransaction("full", code=ErrorCode.MEMPOOL_FULL))
        assert b.peers.is_banned(a.node_id)
        await wait_until(lambda: not b.connected_to(a))
        nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        c = await start_node(
            nursery, "c", ban_threshold=20, temporary_penalty=5, penalty_decay_per_second=100.0
        )
        c.peers.penalize(a.node_id, 15)
        await trio.sleep(0.2)
        assert c.peers.score(a.node_id) == 0
        nursery.cancel_scope.cancel()


async def test_a_banned_peer_is_refused_until_the_ban_expires() -> None:
    async with trio.open_nursery() as nursery:
        a, b = [await start_node(nursery, label) for label in "ab"]
        await connect(a, b)
        b.peers.ban(a.node_id, duration=0.5, reason="test")
        await wait_until(lambda: not a.connected_to(b) and not b.connected_to(a))
        await wait_until(lambda: b.peers.counters["refused_banned"] >= 2)
        assert not b.connected_to(a)
        # after expiry a's persistent dial gets through again
        await wait_until(lambda: a.connected_to(b) and b.connected_to(a))
        assert not b.peers.is_banned(a.node_id)
        nursery.cancel_scope.cancel()


async def test_a_banned_ip_is_refused_before_the_handshake() -> None:
    async with trio.open_nursery() as nursery:
        a, b = [await start_node(nursery, label) for label in "ab"]
        await connect(a, b)
        b.peers.ban_ip("127.0.0.1", duration=0.5)
        await wait_until(lambda: b.peers.counters["refused_ip_banned"] >= 2)
        assert not b.connected_to(a) and b.peers.counters["handshake_timeout"] == 0
        await wait_until(lambda: a.connected_to(b) and b.connected_to(a))
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "bad", [b"\xff\x00garbage", Auth(bytes(32), bytes(64))], ids=["garbage", "second-auth"]
)
async def test_a_malformed_message_after_the_handshake_bans_the_sender(bad: bytes | Auth) -> None:
    async with trio.open_nursery() as nursery:
        b = await start_node(nursery, "b")
        mallory = node_key("mallory")
        stream = await trio.open_tcp_stream("127.0.0.1", b.port)
        session = await handshake(stream, mallory, CHAIN)
        if isinstance(bad, bytes):
            await session.conn.send_frame(bad)
        else:
            await session.conn.send_message(bad)
        await wait_until(lambda: b.peers.is_banned(node_id_of(mallory.public_key)))
        with trio.fail_after(WAIT):
            assert await session.conn.receive_message() is None  # b hung up
        assert b.peers.counters["bad_messages"] == 1
        await session.conn.aclose()
        nursery.cancel_scope.cancel()


async def test_an_auth_flood_is_bounded_by_the_inbound_limit() -> None:
    async with trio.open_nursery() as nursery:
        server = await start_node(nursery, "server", max_inbound=1)
        first = await start_node(nursery, "first")
        second = await start_node(nursery, "second")
        await connect(first, server)
        second.peers.add_peer(server.address())
        await wait_until(lambda: server.peers.counters["refused_full"] >= 1)
        assert [p.node_id for p in server.peers.peers()] == [first.node_id]
        nursery.cancel_scope.cancel()


# --- connections ----------------------------------------------------------------------


async def test_peers_reports_what_net_peers_needs() -> None:
    async with trio.open_nursery() as nursery:
        a, b = [await start_node(nursery, label) for label in "ab"]
        await connect(a, b)
        (at_a,) = a.peers.peers()
        (at_b,) = b.peers.peers()
        assert at_a.direction is Direction.OUTBOUND and at_b.direction is Direction.INBOUND
        doc = at_a.to_json()
        assert doc["id"] == b.node_id.hex()
        assert doc["public_key"] == bytes(b.key.public_key).hex()
        assert doc["address"] == f"127.0.0.1:{b.port}"
        assert doc["direction"] == "outbound" and doc["score"] == 0 and doc["since"] > 1_600_000_000
        nursery.cancel_scope.cancel()


async def test_watchers_hear_of_nodes_and_send_to_reaches_one_peer() -> None:
    async with trio.open_nursery() as nursery:
        a, b, c = [await start_node(nursery, label) for label in "abc"]
        events: list[tuple[NodeId, bool]] = []
        a.gossip.watch_peers(lambda node_id, up: events.append((node_id, up)))
        await connect(a, b)
        await connect(c, a)
        assert sorted(a.gossip.connected()) == sorted([b.node_id, c.node_id])
        assert a.gossip.send_to(c.node_id, "tx", b"only for c")
        await wait_until(lambda: len(c.received) == 1)
        await settle()
        assert b.received == []  # c relays it back to a only, and a has seen it
        c.stop()
        await wait_until(lambda: len(events) == 3)
        assert events == [(b.node_id, True), (c.node_id, True), (c.node_id, False)]
        assert not a.gossip.send_to(c.node_id, "tx", b"gone")
        nursery.cancel_scope.cancel()


async def test_simultaneous_dials_settle_on_one_connection() -> None:
    async with trio.open_nursery() as nursery:
        a, b = [await start_node(nursery, label) for label in "ab"]
        events: list[tuple[NodeId, bool]] = []
        a.gossip.watch_peers(lambda node_id, up: events.append((node_id, up)))
        a.peers.add_peer(b.address())
        b.peers.add_peer(a.address())
        await wait_until(lambda: a.connected_to(b) and b.connected_to(a))
        await trio.sleep(0.3)
        assert len(a.peers.peers()) == len(b.peers.peers()) == 1
        pa, pb = a.peers.get(b.node_id), b.peers.get(a.node_id)
        assert pa is not None and pb is not None and pa.direction is not pb.direction
        dialer = a if pa.direction is Direction.OUTBOUND else b
        assert dialer.node_id == min(a.node_id, b.node_id)
        stable = a.peers.counters["connected"], b.peers.counters["connected"]
        await trio.sleep(0.3)
        assert (a.peers.counters["connected"], b.peers.counters["connected"]) == stable
        # watchers hear of the node going up and down, never twice the same way in a row
        assert events[-1] == (b.node_id, True)
        assert all(up != (i % 2 == 1) for i, (_, up) in enumerate(events))
        nursery.cancel_scope.cancel()


async def test_persistent_peer_is_redialled_after_a_restart() -> None:
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, "a")
        b = await start_node(nursery, "b")
        port = b.port
        await connect(a, b)
        b.stop()
        await wait_until(lambda: not a.connected_to(b))
        await wait_until(lambda: a.peers.counters["dial_failed"] >= 2)  # backing off against a closed port
        b2 = await start_node(nursery, "b", listen_port=port)
        await wait_until(lambda: a.connected_to(b2) and b2.connected_to(a))
        a.gossip.publish("tx", b"welcome back")
        await wait_until(lambda: len(b2.received) == 1)
        nursery.cancel_scope.cancel()


async def test_keepalive_holds_a_quiet_connection_and_a_silent_peer_is_dropped() -> None:
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, "a", keepalive_interval=0.05, idle_timeout=0.4)
        b = await start_node(nursery, "b", keepalive_interval=0.05, idle_timeout=0.4)
        silent = await start_node(nursery, "silent", keepalive_interval=60.0)
        await connect(a, b)
        await connect(silent, a)
        await wait_until(lambda: a.peers.counters["idle_timeout"] >= 1)
        assert a.peers.counters["idle_timeout"] == 1  # the silent peer, not b
        assert a.connected_to(b) and a.peers.get(b.node_id) is not None
        nursery.cancel_scope.cancel()


# --- request / response ----------------------------------------------------------------


async def test_request_response_and_its_failures() -> None:
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, "a")
        b = await start_node(nursery, "b")
        b.gossip.max_inflight_requests = 1
        release = trio.Event()

        async def get_blocks(src: NodeId, data: bytes) -> bytes:
            assert src == a.node_id
            if data == b"missing":
                raise NotFound("no block at that height")
            if data == b"slow":
                await release.wait()
            return b"blocks for " + data

        b.gossip.serve("get_blocks", get_blocks)
        await connect(a, b)

        assert await a.gossip.request(b.node_id, "get_blocks", b"10..20") == b"blocks for 10..20"

        with pytest.raises(RequestError) as info:
            await a.gossip.request(b.node_id, "get_blocks", b"missing")
        assert info.value.reason == "refused" and info.value.details["remote_code"] == ErrorCode.NOT_FOUND
        assert b.peers.score(a.node_id) == 0  # asking for what b lacks is not misbehaviour

        with pytest.raises(RequestError) as info:
            await a.gossip.request(b.node_id, "get_state", b"")
        assert info.value.reason == "unknown_kind"

        with pytest.raises(RequestError) as info:
            await a.gossip.request(b.node_id, "get_blocks", b"slow", timeout=0.1)
        assert info.value.reason == "timeout"
        # the slow one still holds b's only slot
        with pytest.raises(RequestError) as info:
            await a.gossip.request(b.node_id, "get_blocks", b"1")
        assert info.value.reason == "busy"
        release.set()
        await wait_until(lambda: a.peers.counters["unexpected_responses"] == 1)  # the late answer
        assert await a.gossip.request(b.node_id, "get_blocks", b"2") == b"blocks for 2"

        with pytest.raises(RequestError) as info:
            await a.gossip.request(node_id_of(node_key("nobody").public_key), "get_blocks", b"")
        assert info.value.reason == "not_connected"
        nursery.cancel_scope.cancel()


async def test_a_pending_request_fails_when_the_peer_disconnects() -> None:
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, "a")
        b = await start_node(nursery, "b")

        async def never(src: NodeId, data: bytes) -> bytes:
            await trio.sleep_forever()
            raise AssertionError

        b.gossip.serve("get_blocks", never)
        await connect(a, b)
        failure: list[RequestError] = []

        async def ask() -> None:
            try:
                await a.gossip.request(b.node_id, "get_blocks", b"", timeout=WAIT)
            except RequestError as exc:
                failure.append(exc)

        nursery.start_soon(ask)
        await wait_until(lambda: len(b.peers.peers()) == 1 and b.peers.counters["connected"] == 1)
        await trio.sleep(0.05)
        b.stop()
        await wait_until(lambda: len(failure) == 1)
        assert failure[0].reason == "disconnected"
        nursery.cancel_scope.cancel()


def test_gossip_refuses_bad_names_and_oversize_payloads() -> None:
    from node.p2p.gossip import Gossip as GossipService
    from node.p2p.peers import PeerConfig, PeerManager

    g = GossipService(PeerManager(node_key("x"), CHAIN, PeerConfig(max_frame_size=1024)))
    with pytest.raises(ValueError):
        g.subscribe("", lambda src, data: trio.sleep(0))
    with pytest.raises(ValueError):
        g.publish("t" * 65, b"")
    with pytest.raises(ValueError):
        g.publish("tx", bytes(1024))
    assert g.publish("tx", b"nobody connected") == 0
    assert Gossip("tx", b"") == Gossip("tx", b"")
