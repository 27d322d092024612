"""Frames and messages: counters, limits, tampering on the wire, and fuzzed input."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from chain.codec import encode
from chain.errors import ChainError, DecodeError, ErrorCode
from node.p2p.transport import (
    HEADER_SIZE,
    NONCE_LIMIT,
    TAG_SIZE,
    Auth,
    FrameError,
    Gossip,
    Message,
    Ping,
    Refusal,
    Request,
    Response,
    SecureConnection,
    decode_message,
    encode_message,
)
from tests.node.p2p import (
    WAIT,
    FrameProxy,
    Mangler,
    session_pair,
    start_node,
    tcp_pair,
    wait_until,
)

MESSAGES: list[Message] = [
    Auth(bytes(range(32)), bytes(64)),
    Ping(),
    Gossip("tx", b"\x00payload"),
    Gossip("vote", b""),
    Request(7, "get_blocks", encode([10, 20])),
    Response(2**64 - 1, b"blocks"),
    Refusal(3, int(ErrorCode.NOT_FOUND), "no such block"),
    Refusal(4, 0, "busy"),
]


def seal(conn: SecureConnection, plaintext: bytes) -> bytes:
    """One frame exactly as ``conn`` would send it (advances its counter)."""
    header = (len(plaintext) + TAG_SIZE).to_bytes(HEADER_SIZE, "big")
    return header + conn.send_state.seal(plaintext, header)


async def close_all(*conns: SecureConnection) -> None:
    for conn in conns:
        await conn.aclose()


# --- messages --------------------------------------------------------------------------


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_message_round_trip(msg: Message) -> None:
    assert decode_message(encode_message(msg)) == msg


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", ErrorCode.DECODE),
        (encode([2, ["tx", b"x"]]) + b"\x00", ErrorCode.DECODE_TRAILING),
        (bytes.fromhex("821802820000"), ErrorCode.DECODE_NON_CANONICAL),  # type 2 in a 2-byte head
        (encode([9, None]), ErrorCode.DECODE_SHAPE),  # unknown type
        (encode([1, b""]), ErrorCode.DECODE_SHAPE),  # ping with a payload
        (encode([2, ["tx"]]), ErrorCode.DECODE_SHAPE),
        (encode([2, ["t" * 65, b""]]), ErrorCode.BAD_LENGTH),  # topic too long
        (encode([3, [-1, "k", b""]]), ErrorCode.DECODE_SHAPE),  # negative request id
        (encode([0, [bytes(31), bytes(64)]]), ErrorCode.BAD_LENGTH),
        (encode([True, None]), ErrorCode.DECODE_SHAPE),
    ],
    ids=[
        "empty",
        "trailing",
        "non-canonical",
        "unknown-type",
        "ping-payload",
        "gossip-shape",
        "long-topic",
        "negative-id",
        "auth-key-length",
        "bool-type",
    ],
)
def test_malformed_messages_are_decode_errors(raw: bytes, code: ErrorCode) -> None:
    with pytest.raises(DecodeError) as info:
        decode_message(raw)
    assert info.value.code == code
    assert not info.value.temporary


# --- frames over real TCP --------------------------------------------------------------


async def test_frames_round_trip_with_per_direction_counters() -> None:
    a, b = await session_pair(await tcp_pair())
    sizes = [0, 1, 1000, 70_000, 300_000]
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            for n in sizes:
                nursery.start_soon(a.conn.send_frame, bytes([n % 251]) * n)
                await trio.sleep(0)
            for n in sizes:
                assert await b.conn.receive_frame() == bytes([n % 251]) * n
    # frame 0 each way was the auth message
    assert a.conn.send_state.counter == b.conn.receive_state.counter == len(sizes) + 1
    assert b.conn.send_state.counter == a.conn.receive_state.counter == 1
    await close_all(a.conn, b.conn)


async def test_sending_a_message_larger_than_the_limit_is_refused_locally() -> None:
    a, b = await session_pair(await tcp_pair(), max_frame_size=1024)
    with pytest.raises(FrameError) as info:
        await a.conn.send_frame(bytes(1024 - TAG_SIZE + 1))
    assert info.value.reason == "too_large"
    await a.conn.send_frame(bytes(1024 - TAG_SIZE))  # exactly the limit is fine
    with trio.fail_after(WAIT):
        assert await b.conn.receive_frame() == bytes(1024 - TAG_SIZE)
    await close_all(a.conn, b.conn)


async def test_oversize_length_is_refused_before_the_body_is_read() -> None:
    a, b = await session_pair(await tcp_pair(), max_frame_size=1024)
    # Only the header is sent: if the receiver waited for the body this would time out.
    await a.conn.stream.send_all((1025).to_bytes(HEADER_SIZE, "big"))
    with trio.fail_after(WAIT), pytest.raises(FrameError) as info:
        await b.conn.receive_frame()
    assert (info.value.reason, info.value.code, info.value.temporary) == (
        "oversize",
        ErrorCode.DECODE_OVERSIZE,
        False,
    )
    await close_all(a.conn, b.conn)


async def test_frame_shorter_than_the_tag_is_refused() -> None:
    a, b = await session_pair(await tcp_pair())
    await a.conn.stream.send_all((TAG_SIZE - 1).to_bytes(HEADER_SIZE, "big") + bytes(TAG_SIZE - 1))
    with trio.fail_after(WAIT), pytest.raises(FrameError, match="shorter"):
        await b.conn.receive_frame()
    await close_all(a.conn, b.conn)


@pytest.mark.parametrize("attack", ["flip-body", "flip-header", "replay", "reorder", "drop", "splice"])
async def test_any_change_to_the_frame_sequence_fails_authentication(attack: str) -> None:
    a, b = await session_pair(await tcp_pair())
    f1, f2 = seal(a.conn, b"first"), seal(a.conn, b"second")
    if attack == "flip-body":
        wire = f1[:-3] + bytes([f1[-3] ^ 0x40]) + f1[-2:]
    elif attack == "flip-header":  # claims one byte less: the tag no longer matches the header (aad)
        wire = (len(f1) - HEADER_SIZE - 1).to_bytes(HEADER_SIZE, "big") + f1[HEADER_SIZE:-1]
    elif attack == "replay":
        wire = f1 + f1
    elif attack == "reorder":
        wire = f2 + f1
    elif attack == "drop":
        wire = f2
    else:  # a frame sealed for another connection
        c, d = await session_pair(await tcp_pair())
        wire = seal(c.conn, b"first")
        await close_all(c.conn, d.conn)
    await a.conn.stream.send_all(wire)
    with trio.fail_after(WAIT):
        if attack == "replay":
            assert await b.conn.receive_frame() == b"first"
        with pytest.raises(FrameError) as info:
            await b.conn.receive_frame()
    assert info.value.reason == "bad_frame" and not info.value.temporary
    await close_all(a.conn, b.conn)


async def test_stream_ending_inside_a_frame_is_temporary() -> None:
    a, b = await session_pair(await tcp_pair())
    frame = seal(a.conn, b"cut short")
    await a.conn.stream.send_all(frame[:-5])
    await a.conn.aclose()
    with trio.fail_after(WAIT), pytest.raises(FrameError) as info:
        await b.conn.receive_frame()
    assert info.value.reason == "truncated" and info.value.temporary
    await b.conn.aclose()


async def test_the_connection_closes_before_a_nonce_could_repeat() -> None:
    a, b = await session_pair(await tcp_pair())
    a.conn.send_state.counter = NONCE_LIMIT - 1
    b.conn.receive_state.counter = NONCE_LIMIT - 1
    await a.conn.send_frame(b"last")
    with trio.fail_after(WAIT):
        assert await b.conn.receive_frame() == b"last"
    with pytest.raises(FrameError) as info:
        await a.conn.send_frame(b"one too many")
    assert info.value.reason == "nonce_exhausted"
    await close_all(a.conn, b.conn)


# --- a misbehaving peer is cut off and banned; the node keeps serving ------------------


def _tamper(index: int, frame: bytes) -> list[bytes]:
    if index == 1:
        frame = frame[:10] + bytes([frame[10] ^ 0x01]) + frame[11:]
    return [frame]


def _replay(index: int, frame: bytes) -> list[bytes]:
    return [frame, frame] if index == 1 else [frame]


class _Reorder:
    def __init__(self) -> None:
        self.held = b""

    def __call__(self, index: int, frame: bytes) -> list[bytes]:
        if index == 1:
            self.held = frame
            return []
        if index == 2:
            return [frame, self.held]
        return [frame]


def _oversize(index: int, frame: bytes) -> list[bytes]:
    if index == 1:
        return [(1 << 20).to_bytes(HEADER_SIZE, "big")]  # more than the server's 64 KiB limit, no body
    return [frame]


MANGLERS: dict[str, Any] = {"tamper": _tamper, "replay": _replay, "reorder": _Reorder, "oversize": _oversize}


@pytest.mark.parametrize("attack", list(MANGLERS))
async def test_bad_frame_closes_the_connection_bans_the_peer_and_the_node_keeps_serving(attack: str) -> None:
    mangle: Mangler = MANGLERS[attack]() if attack == "reorder" else MANGLERS[attack]
    async with trio.open_nursery() as nursery:
        server = await start_node(nursery, "server", max_frame_size=64 * 1024)
        proxy = FrameProxy(server.port, mangle)
        await nursery.start(proxy.run)
        client = await start_node(nursery, "client")
        client.peers.add_peer(server.address(proxy.port))
        await wait_until(lambda: client.connected_to(server) and server.connected_to(client))

        assert client.gossip.publish("tx", b"m1") == 1
        assert client.gossip.publish("tx", b"m2") == 1
        await wait_until(lambda: server.peers.is_banned(client.node_id))
        await wait_until(lambda: not server.connected_to(client) and not client.connected_to(server))
        assert server.peers.counters["bad_frames"] == 1
        delivered = [data for _, _, data in server.received]
        assert delivered == ([b"m1"] if attack == "replay" else [])

        # The client keeps redialling through the proxy; every attempt is refused after the handshake.
        await wait_until(lambda: server.peers.counters["refused_banned"] >= 2)
        assert not server.connected_to(client)

        # Meanwhile an honest peer connects and gossips as usual.
        honest = await start_node(nursery, "honest")
        honest.peers.add_peer(server.address())
        await wait_until(lambda: honest.connected_to(server) and server.connected_to(honest))
        honest.gossip.publish("tx", b"still serving")
        await wait_until(lambda: ("tx", honest.node_id, b"still serving") in server.received)
        assert server.peers.score(honest.node_id) == 0
        nursery.cancel_scope.cancel()


# --- fuzzing: hostile bytes only ever produce ChainError or a clean close ---------------


@given(st.binary(max_size=512))
def test_fuzz_message_decoder_with_random_bytes(data: bytes) -> None:
    try:
        decode_message(data)
    except ChainError:
        pass


_cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.binary(max_size=70) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


@given(st.integers(-2, 8), _cbor_values)
def test_fuzz_message_decoder_with_well_formed_cbor(kind: int, payload: Any) -> None:
    try:
        msg = decode_message(encode([kind, payload]))
    except ChainError:
        return
    assert decode_message(encode_message(msg)) == msg


async def _feed(wire: bytes, *, sealed: list[bytes]) -> list[Message]:
    """Handshake over memory streams, send ``sealed`` as valid frames then raw ``wire``; read all."""
    alice, bob = await session_pair(trio.testing.memory_stream_pair(), max_frame_size=4096)
    for plaintext in sealed:
        await alice.conn.stream.send_all(seal(alice.conn, plaintext))
    await alice.conn.stream.send_all(wire)
    await alice.conn.aclose()
    got: list[Message] = []
    with trio.fail_after(WAIT):
        try:
            while (msg := await bob.conn.receive_message()) is not None:
                got.append(msg)
        except ChainError:
            pass
    return got


@given(st.binary(max_size=600))
def test_fuzz_frame_decoder_with_random_wire_bytes(wire: bytes) -> None:
    assert trio.run(lambda: _feed(wire, sealed=[])) == []


@given(st.integers(0, 5000), st.binary(max_size=300))
def test_fuzz_frame_decoder_with_plausible_lengths(length: int, body: bytes) -> None:
    assert trio.run(lambda: _feed(length.to_bytes(HEADER_SIZE, "big") + body, sealed=[])) == []


@given(st.lists(st.binary(max_size=200), max_size=3), st.binary(max_size=100))
def test_fuzz_authentic_frames_with_random_plaintext(plaintexts: list[bytes], tail: bytes) -> None:
    """Frames that pass authentication but carry garbage must still fail only as ChainError."""
    got = trio.run(lambda: _feed(tail, sealed=plaintexts))
    assert len(got) <= len(plaintexts)
