"""The handshake over real loopback TCP: who learns what, and every way it refuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chain.errors import ChainError
from chain.keys import PrivateKey, encode_address
from node.p2p.handshake import (
    HELLO_SIZE,
    PROTOCOL_VERSION,
    HandshakeError,
    Hello,
    Session,
    auth_digest,
    chain_hash,
    decode_hello,
    derive_keys,
    encode_hello,
    handshake,
    node_id_of,
    parse_node_id,
    shared_secret,
    transcript_hash,
)
from node.p2p.peers import PeerAddress, parse_peer_address
from node.p2p.transport import Auth, BufferedReader, Gossip, Ping, SecureConnection
from tests.node.p2p import CHAIN, WAIT, node_key, start_node, tcp_pair, wait_until

ALICE, BOB, MALLORY = node_key("alice"), node_key("bob"), node_key("mallory")


async def run_sides(
    client: Callable[[trio.SocketStream], Awaitable[Any]],
    server: Callable[[trio.SocketStream], Awaitable[Any]],
    *,
    keep_open: bool = False,
) -> tuple[Any, Any]:
    """Run both ends concurrently; each result is a value or the ``ChainError`` raised.

    A side that fails closes its stream so the other side is never left waiting;
    both streams are closed at the end unless ``keep_open``.
    """
    c_stream, s_stream = await tcp_pair()
    results: list[Any] = [None, None]

    async def side(
        i: int, fn: Callable[[trio.SocketStream], Awaitable[Any]], stream: trio.SocketStream
    ) -> None:
        try:
            results[i] = await fn(stream)
        except ChainError as exc:
            results[i] = exc
            await trio.aclose_forcefully(stream)

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(side, 0, client, c_stream)
            nursery.start_soon(side, 1, server, s_stream)
    if not keep_open:
        await trio.aclose_forcefully(c_stream)
        await trio.aclose_forcefully(s_stream)
    return results[0], results[1]


async def until_closed(stream: trio.abc.ReceiveStream) -> None:
    """Read and discard until the other side closes (how a fake peer waits to be refused)."""
    try:
        while await stream.receive_some():
            pass
    except trio.BrokenResourceError:
        pass


def honest(
    key: PrivateKey, chain_id: str = CHAIN, **kw: Any
) -> Callable[[trio.SocketStream], Awaitable[Session]]:
    async def go(stream: trio.SocketStream) -> Session:
        return await handshake(stream, key, chain_id, **kw)

    return go


async def open_manually(
    stream: trio.abc.Stream, *, chain_id: str = CHAIN, version: int = PROTOCOL_VERSION
) -> tuple[SecureConnection, bytes, bytes]:
    """The key-exchange half of the handshake done by hand: (connection, transcript, our ephemeral)."""
    eph = X25519PrivateKey.generate()
    ours = eph.public_key().public_bytes_raw()
    await stream.send_all(encode_hello(Hello(version, chain_hash(chain_id), ours)))
    reader = BufferedReader(stream)
    raw = await reader.receive_exactly(HELLO_SIZE)
    assert raw is not None
    theirs = decode_hello(raw).ephemeral
    transcript = transcript_hash(version, chain_hash(chain_id), ours, theirs)
    send, receive = derive_keys(shared_secret(eph, theirs), transcript, ours, theirs)
    return SecureConnection(stream, reader, send_key=send, receive_key=receive), transcript, ours


def reason(result: Any) -> str:
    assert isinstance(result, HandshakeError), result
    return result.reason


# --- success ---------------------------------------------------------------------------


async def test_both_sides_learn_each_others_identity() -> None:
    c, s = await run_sides(honest(ALICE, expected=node_id_of(BOB.public_key)), honest(BOB), keep_open=True)
    assert isinstance(c, Session) and isinstance(s, Session)
    assert c.peer.public_key == BOB.public_key and c.peer.node_id == BOB.address
    assert s.peer.public_key == ALICE.public_key and s.peer.node_id == ALICE.address
    assert c.transcript == s.transcript
    with trio.fail_after(WAIT):
        await c.conn.send_message(Gossip("tx", b"from alice"))
        await s.conn.send_message(Gossip("vote", b"from bob"))
        assert await s.conn.receive_message() == Gossip("tx", b"from alice")
        assert await c.conn.receive_message() == Gossip("vote", b"from bob")
        await c.conn.aclose()
        assert await s.conn.receive_message() is None  # a clean close at a frame boundary
    await s.conn.aclose()


async def test_each_connection_gets_fresh_keys() -> None:
    first, _ = await run_sides(honest(ALICE), honest(BOB))
    second, _ = await run_sides(honest(ALICE), honest(BOB))
    assert first.transcript != second.transcript


# --- refusals --------------------------------------------------------------------------


async def test_dialer_refuses_an_unexpected_identity() -> None:
    c, s = await run_sides(
        honest(ALICE, expected=node_id_of(MALLORY.public_key)), honest(BOB), keep_open=True
    )
    assert reason(c) == "unexpected_peer"
    assert not c.temporary
    # Bob saw a valid handshake, then the connection closed.
    assert isinstance(s, Session)
    with trio.fail_after(WAIT):
        try:
            assert await s.conn.receive_message() is None
        except trio.BrokenResourceError:
            pass
    await s.conn.aclose()


async def test_wrong_chain_is_refused_by_both_sides() -> None:
    c, s = await run_sides(honest(ALICE, chain_id="other-chain"), honest(BOB))
    assert reason(c) == "wrong_chain"
    assert reason(s) == "wrong_chain"


async def test_other_protocol_version_is_refused() -> None:
    async def client(stream: trio.SocketStream) -> None:
        await open_manually(stream, version=PROTOCOL_VERSION + 1)
        await until_closed(stream)

    _, s = await run_sides(client, honest(BOB))
    assert reason(s) == "version"


async def test_node_refuses_to_connect_to_itself() -> None:
    c, s = await run_sides(honest(ALICE), honest(ALICE))
    assert reason(c) == "self" and reason(s) == "self"


@pytest.mark.parametrize("forgery", ["other_key", "other_chain", "peer_role"])
async def test_auth_signature_must_match_claimed_key_and_transcript(forgery: str) -> None:
    """Mallory claims Alice's key; or signs for another chain; or signs Bob's role's bytes."""

    async def client(stream: trio.SocketStream) -> None:
        conn, transcript, ours = await open_manually(stream)
        if forgery == "other_key":
            claimed, sig = ALICE.public_key, MALLORY.sign_digest(auth_digest(CHAIN, transcript, ours))
        elif forgery == "other_chain":
            claimed, sig = MALLORY.public_key, MALLORY.sign_digest(auth_digest("other", transcript, ours))
        else:  # a signature over the transcript but bound to the other side's ephemeral key
            raw = bytes(reversed(ours))
            claimed, sig = MALLORY.public_key, MALLORY.sign_digest(auth_digest(CHAIN, transcript, raw))
        await conn.send_message(Auth(bytes(claimed), bytes(sig)))
        await until_closed(stream)

    _, s = await run_sides(client, honest(BOB))
    assert reason(s) == "bad_signature"
    assert not s.temporary


async def test_a_man_in_the_middle_cannot_splice_an_auth_message() -> None:
    """Mallory terminates Alice's handshake, then forwards Alice's (valid) auth to Bob."""
    alice_leg_c, alice_leg_m = await tcp_pair()
    bob_leg_m, bob_leg_b = await tcp_pair()
    results: dict[str, Any] = {}

    async def alice() -> None:
        try:
            results["alice"] = await handshake(alice_leg_c, ALICE, CHAIN, expected=node_id_of(BOB.public_key))
        except HandshakeError as exc:
            results["alice"] = exc

    async def bob() -> None:
        try:
            results["bob"] = await handshake(bob_leg_b, BOB, CHAIN)
        except HandshakeError as exc:
            results["bob"] = exc
            await trio.aclose_forcefully(bob_leg_b)

    async def mallory() -> None:
        to_alice, _, _ = await open_manually(alice_leg_m)
        alices_auth = await to_alice.receive_message()
        assert isinstance(alices_auth, Auth) and alices_auth.public_key == ALICE.public_key
        to_bob, _, _ = await open_manually(bob_leg_m)
        await to_bob.send_message(alices_auth)
        await trio.sleep(0.2)
        await trio.aclose_forcefully(alice_leg_m)

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alice)
            nursery.start_soon(bob)
            nursery.start_soon(mallory)
    for stream in (alice_leg_c, alice_leg_m, bob_leg_m, bob_leg_b):
        await trio.aclose_forcefully(stream)
    assert reason(results["bob"]) == "bad_signature"
    assert isinstance(results["alice"], HandshakeError)  # Mallory could not answer as Bob


async def test_first_frame_must_be_auth() -> None:
    async def client(stream: trio.SocketStream) -> None:
        conn, _, _ = await open_manually(stream)
        await conn.send_message(Ping())
        await until_closed(stream)

    _, s = await run_sides(client, honest(BOB))
    assert reason(s) == "bad_auth"


@pytest.mark.parametrize(
    ("hello", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(HELLO_SIZE), "bad_hello"),
        (b"CAIRNP2Q" + bytes(HELLO_SIZE - 8), "bad_hello"),
        (encode_hello(Hello(PROTOCOL_VERSION, chain_hash(CHAIN), bytes(32))), "bad_key"),
    ],
    ids=["http", "magic", "low-order-point"],
)
async def test_malformed_hello_is_refused(hello: bytes, expected: str) -> None:
    async def client(stream: trio.SocketStream) -> None:
        await stream.send_all(hello)
        await until_closed(stream)

    _, s = await run_sides(client, honest(BOB))
    assert reason(s) == expected


async def test_reflected_hello_is_refused() -> None:
    async def client(stream: trio.SocketStream) -> None:
        reader = BufferedReader(stream)
        raw = await reader.receive_exactly(HELLO_SIZE)
        assert raw is not None
        await stream.send_all(raw)
        await until_closed(stream)

    _, s = await run_sides(client, honest(BOB))
    assert reason(s) == "reflected"


async def test_silent_peer_times_out() -> None:
    async def client(stream: trio.SocketStream) -> None:
        await until_closed(stream)

    _, s = await run_sides(client, honest(BOB, timeout=0.1))
    assert reason(s) == "timeout" and s.temporary


async def test_peer_closing_early_is_a_temporary_failure() -> None:
    async def client(stream: trio.SocketStream) -> None:
        await stream.send_all(b"CAIRN")
        await stream.aclose()

    _, s = await run_sides(client, honest(BOB))
    assert reason(s) == "closed" and s.temporary


# --- the peer manager uses the expected identity ---------------------------------------


async def test_persistent_peer_with_wrong_id_is_never_connected() -> None:
    async with trio.open_nursery() as nursery:
        bob = await start_node(nursery, "bob")
        alice = await start_node(nursery, "alice")
        alice.peers.add_peer(f"{MALLORY.address.hex()}@127.0.0.1:{bob.port}")
        await wait_until(lambda: alice.peers.counters["handshake_unexpected_peer"] >= 2)
        assert alice.peers.peers() == [] and alice.peers.counters["connected"] == 0
        nursery.cancel_scope.cancel()


# --- addresses -------------------------------------------------------------------------


def test_node_id_forms() -> None:
    nid = node_id_of(ALICE.public_key)
    assert nid == ALICE.address
    assert parse_node_id(bytes(ALICE.public_key).hex()) == nid
    assert parse_node_id(nid.hex()) == nid
    assert parse_node_id(nid.hex().upper()) == nid
    assert parse_node_id(encode_address(nid)) == nid
    with pytest.raises(ChainError):
        parse_node_id("abcd")


def test_peer_address_forms() -> None:
    nid = node_id_of(ALICE.public_key)
    assert parse_peer_address(f"{nid.hex()}@10.0.0.1:26656") == PeerAddress(nid, "10.0.0.1", 26656)
    assert parse_peer_address(f"{bytes(ALICE.public_key).hex()}@[::1]:7") == PeerAddress(nid, "::1", 7)
    assert parse_peer_address("example.org:1") == PeerAddress(None, "example.org", 1)
    assert str(PeerAddress(nid, "::1", 7)) == f"{nid.hex()}@[::1]:7"
    for bad in ["nohost", "h:0", "h:70000", "h:x", "zz@h:1", ":5"]:
        with pytest.raises(ValueError):
            parse_peer_address(bad)
