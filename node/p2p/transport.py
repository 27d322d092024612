"""Framed, encrypted connections between two nodes, and the messages they carry.

After the handshake (``handshake.py``) each direction of a TCP stream is a
sequence of frames::

    frame      = length ‖ ciphertext
    length     = u32, big-endian: the number of ciphertext bytes that follow
    ciphertext = ChaCha20-Poly1305(key, nonce, plaintext, aad = length)
    nonce      = the number of frames sent before this one in this direction,
                 as a 96-bit big-endian integer

Rules:

* ``length`` is checked against ``max_frame_size`` (default 4 MiB) *before* the
  body is read, so a peer can never make us buffer more than one maximal frame.
  It must also be at least the 16-byte tag.
* Each direction has its own key and its own counter, so a frame that is
  replayed, dropped, reordered, spliced from another connection or has one
  flipped bit fails authentication.  Any failure raises a permanent
  ``FrameError``: the connection is closed and the peer manager bans the peer.
  (A frame cannot be skipped and the stream resynchronised: after a bad frame
  nothing that follows can be trusted.)
* A nonce is never reused: sending the frame whose counter would wrap raises
  ``FrameError`` and the connection is closed instead.
* A clean end of stream at a frame boundary is a normal close; an end of stream
  inside a frame is a temporary ``FrameError`` (a network drop, not misbehaviour).

Every plaintext is one message, the canonical CBOR (``chain.codec``) of
``[type, payload]``:

======  ===========  ================================================
type    message      payload
======  ===========  ================================================
0       ``Auth``     ``[public_key: bytes32, signature: bytes64]`` (first frame only)
1       ``Ping``     ``null`` (keep-alive)
2       ``Gossip``   ``[topic: text, data: bytes]``
3       ``Request``  ``[request_id: uint, kind: text, data: bytes]``
4       ``Response`` ``[request_id: uint, data: bytes]``
5       ``Refusal``  ``[request_id: uint, code: uint, reason: text]``
======  ===========  ================================================

``decode_message`` is strict: any other shape is a ``DecodeError``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import trio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from chain.codec import decode, encode, expect_array, expect_bytes, expect_int, expect_str
from chain.errors import ChainError, DecodeError, ErrorCode

DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
"""Largest accepted ``length`` (ciphertext bytes, tag included)."""

TAG_SIZE = 16
HEADER_SIZE = 4
NONCE_SIZE = 12
NONCE_LIMIT = 2 ** (8 * NONCE_SIZE) - 1
"""The connection closes rather than send or accept a frame with this counter."""

MAX_NAME_LEN = 64
"""Longest topic or request kind."""
MAX_REASON_LEN = 256
_READ_CHUNK = 1 << 16
_MAX_READ = 1 << 20


class P2PError(ChainError):
    """A peer-to-peer failure.  ``reason`` is a short stable string naming it.

    Permanent unless built with ``temporary=True``: a permanent error from a peer
    means the peer (not the network) is at fault, so the peer manager bans it.
    """

    default_code = ErrorCode.DECODE

    def __init__(
        self,
        reason: str,
        message: str | None = None,
        *,
        temporary: bool = False,
        code: ErrorCode | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message or reason, code=code, reason=reason, **details)
        self.reason = reason
        self._temporary = temporary

    @property
    def temporary(self) -> bool:
        return self._temporary


class FrameError(P2PError):
    """A frame that cannot be accepted (too large, not authentic, truncated)."""


# --- messages -----------------------------------------------------------------------


class MsgType(enum.IntEnum):
    AUTH = 0
    PING = 1
    GOSSIP = 2
    REQUEST = 3
    RESPONSE = 4
    REFUSAL = 5


@dataclass(frozen=True, slots=True)
class Auth:
    """The handshake's proof of identity (see ``handshake.py``)."""

    public_key: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """Sent when a direction has been idle for the keep-alive interval."""


@dataclass(frozen=True, slots=True)
class Gossip:
    topic: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Request:
    request_id: int
    kind: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Response:
    request_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request that was not answered.  ``code`` 0: ``reason`` is a transport-level
    reason (``unknown_kind``, ``busy``, ``too_large``); otherwise a ``ChainError`` code."""

    request_id: int
    code: int
    reason: str


Message = Auth | Ping | Gossip | Request | Response | Refusal


def encode_message(msg: Message) -> bytes:
    """The canonical CBOR ``[type, payload]`` of ``msg``."""
    match msg:
        case Auth(public_key, signature):
            return encode([MsgType.AUTH, [public_key, signature]])
        case Ping():
            return encode([MsgType.PING, None])
        case Gossip(topic, data):
            return encode([MsgType.GOSSIP, [topic, data]])
        case Request(request_id, kind, data):
            return encode([MsgType.REQUEST, [request_id, kind, data]])
        case Response(request_id, data):
            return encode([MsgType.RESPONSE, [request_id, data]])
        case Refusal(request_id, code, reason):
            return encode([MsgType.REFUSAL, [request_id, code, reason]])
    raise TypeError(f"not a message: {msg!r}")  # pragma: no cover


def decode_message(data: bytes, *, max_size: int = DEFAULT_MAX_FRAME_SIZE) -> Message:
    """Decode one message strictly; ``DecodeError`` for anything malformed."""
    outer = expect_array(decode(data, max_size=max_size), "message", 2)
    kind = expect_int(outer[0], "message type", hi=max(MsgType))
    payload = outer[1]
    match kind:
        case MsgType.AUTH:
            pub, sig = expect_array(payload, "auth", 2)
            return Auth(
                expect_bytes(pub, "auth key", length=32), expect_bytes(sig, "auth signature", length=64)
            )
        case MsgType.PING:
            if payload is not None:
                raise DecodeError("ping: payload must be null", code=ErrorCode.DECODE_SHAPE)
            return Ping()
        case MsgType.GOSSIP:
            topic, body = expect_array(payload, "gossip", 2)
            return Gossip(
                expect_str(topic, "gossip topic", max_len=MAX_NAME_LEN), expect_bytes(body, "gossip data")
            )
        case MsgType.REQUEST:
            rid, name, body = expect_array(payload, "request", 3)
            return Request(
                expect_int(rid, "request id"),
                expect_str(name, "request kind", max_len=MAX_NAME_LEN),
                expect_bytes(body, "request data"),
            )
        case MsgType.RESPONSE:
            rid, body = expect_array(payload, "response", 2)
            return Response(expect_int(rid, "request id"), expect_bytes(body, "response data"))
        case _:
            rid, code, reason = expect_array(payload, "refusal", 3)
            return Refusal(
                expect_int(rid, "request id"),
                expect_int(code, "refusal code", hi=2**32 - 1),
                expect_str(reason, "refusal reason", max_len=MAX_REASON_LEN),
            )


# --- frames -------------------------------------------------------------------------


class CipherState:
    """One direction's AEAD key and frame counter."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("ChaCha20-Poly1305 keys are 32 bytes")
        self._aead = ChaCha20Poly1305(key)
        self.counter = 0

    def _next_nonce(self) -> bytes:
        if self.counter >= NONCE_LIMIT:
            raise FrameError("nonce_exhausted", "frame counter exhausted; closing before it wraps")
        nonce = self.counter.to_bytes(NONCE_SIZE, "big")
        self.counter += 1
        return nonce

    def seal(self, plaintext: bytes, header: bytes) -> bytes:
        return self._aead.encrypt(self._next_nonce(), plaintext, header)

    def open(self, ciphertext: bytes, header: bytes) -> bytes:
        nonce = self._next_nonce()
        try:
            return self._aead.decrypt(nonce, ciphertext, header)
        except InvalidTag:
            raise FrameError(
                "bad_frame",
                "frame failed authentication (tampered, replayed or reordered)",
                counter=self.counter - 1,
            ) from None


class BufferedReader:
    """Reads exact byte counts from a stream (``receive_some`` may return less)."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buf = bytearray()
        self.received = 0
        """Bytes read from the stream so far (the peer manager ranks stalled handshakes by it)."""

    async def receive_exactly(self, n: int) -> bytes | None:
        """``n`` bytes; None on a clean end of stream before the first of them."""
        while len(self._buf) < n:
            want = n - len(self._buf)
            chunk = await self._stream.receive_some(min(max(want, _READ_CHUNK), _MAX_READ))
            if not chunk:
                if not self._buf:
                    return None
                raise FrameError("truncated", "stream ended inside a frame", temporary=True)
            self.received += len(chunk)
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


class SecureConnection:
    """A stream carrying authenticated, encrypted frames (see the module docstring).

    Built by ``handshake.handshake``; one task may send and one may receive at a time.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        reader: BufferedReader,
        *,
        send_key: bytes,
        receive_key: bytes,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        if max_frame_size <= TAG_SIZE or max_frame_size >= 2**32:
            raise ValueError("max_frame_size must be in (16, 2**32)")
        self.stream = stream
        self._reader = reader
        self.send_state = CipherState(send_key)
        self.receive_state = CipherState(receive_key)
        self.max_frame_size = max_frame_size
        self._send_lock = trio.StrictFIFOLock()
        self.sent = 0
        """Bytes written to the stream by ``send_frame`` (the node's metrics, ``node.metrics``)."""

    @property
    def received(self) -> int:
        """Bytes read from the stream so far, the handshake's included."""
        return self._reader.received

    @property
    def max_plaintext(self) -> int:
        return self.max_frame_size - TAG_SIZE

    async def send_frame(self, plaintext: bytes) -> None:
        if len(plaintext) > self.max_plaintext:
            raise FrameError(
                "too_large",
                f"frame of {len(plaintext)} bytes exceeds {self.max_plaintext}",
                code=ErrorCode.DECODE_OVERSIZE,
                temporary=True,
            )
        async with self._send_lock:
            header = (len(plaintext) + TAG_SIZE).to_bytes(HEADER_SIZE, "big")
            frame = header + self.send_state.seal(plaintext, header)
            await self.stream.send_all(frame)
            self.sent += len(frame)

    async def receive_frame(self) -> bytes | None:
        """The next frame's plaintext; None when the peer closed the stream cleanly."""
        header = await self._reader.receive_exactly(HEADER_SIZE)
        if header is None:
            return None
        length = int.from_bytes(header, "big")
        if length > self.max_frame_size:
            raise FrameError(
                "oversize",
                f"frame length {length} exceeds the limit of {self.max_frame_size}",
                code=ErrorCode.DECODE_OVERSIZE,
                size=length,
                limit=self.max_frame_size,
            )
        if length < TAG_SIZE:
            raise FrameError("undersize", f"frame length {length} is shorter than the tag", size=length)
        body = await self._reader.receive_exactly(length)
        if body is None:
            raise FrameError("truncated", "stream ended inside a frame", temporary=True)
        return self.receive_state.open(body, header)

    async def send_message(self, msg: Message) -> None:
        await self.send_frame(encode_message(msg))

    async def receive_message(self) -> Message | None:
        """The next message; None on a clean close.  ``ChainError`` for anything else."""
        plaintext = await self.receive_frame()
        if plaintext is None:
            return None
        return decode_message(plaintext, max_size=self.max_plaintext)

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)
