"""The handshake: an authenticated key exchange between two node identities.

Each node has a long-lived Ed25519 *node key*; its node id is the 20-byte address of
the public key (``address_of``), written as 40 hex digits.  A peer in the config is
``ID@host:port`` where ID is the node id (hex or bech32m address) or the public key
(64 hex digits).

Both sides run the same steps, so either may dial:

1. **Hello** (plaintext, fixed 74 bytes)::

       "CAIRNP2P" ‖ version:u16be ‖ chain_hash:32 ‖ ephemeral:32

   ``chain_hash = H("cairn/p2p-chain/v1", chain_id)``; ``ephemeral`` is a fresh
   X25519 public key.  A different magic or version, another chain, or a peer that
   echoes our own ephemeral key is refused.
2. **Keys.**  ``shared = X25519(our ephemeral, theirs)`` (an all-zero result, from a
   low-order point, is refused).  The transcript binds everything agreed so far::

       transcript = H("cairn/p2p-transcript/v1",
                      encode([version, chain_hash, min(eph_a, eph_b), max(eph_a, eph_b)]))
       k_lo ‖ k_hi = HKDF-SHA256(ikm = shared, salt = transcript,
                                 info = "cairn/p2p-keys/v1", length = 64)

   The side with the smaller ephemeral key sends with ``k_lo`` and receives with
   ``k_hi``; the other side the reverse.  From here on everything is in frames
   (``transport.py``), each direction with its own key and counter.
3. **Auth** (the first frame each way): ``Auth(node_pubkey, signature)`` with::

       signature = Ed25519(node key, signing_digest("cairn/p2p-auth/v1", chain_id,
                                                    transcript ‖ signer's ephemeral))

   The receiver checks the signature against the claimed key and the transcript
   *it* computed.  A man in the middle runs two handshakes with two different
   transcripts, so it can neither forward a signature from one to the other nor
   make one itself; the signer's own ephemeral key in the signed bytes stops a
   signature being reflected back to its maker.  A dialer that knows whom it
   dialled (``expected``) refuses any other identity; a node refuses itself.

The whole handshake runs under ``timeout`` (default ``DEFAULT_HANDSHAKE_TIMEOUT``,
5 s: an honest handshake takes one round trip and two signatures, so a peer that
needs longer is broken or stalling on purpose).  Every failure is a
``HandshakeError`` (reason ``bad_hello``, ``version``, ``wrong_chain``, ``reflected``, ``bad_key``,
``bad_auth``, ``bad_signature``, ``unexpected_peer``, ``self``, ``timeout``,
``closed``); no node id is known yet when most of them happen, so they close the
connection without scoring anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

import trio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chain.codec import encode
from chain.errors import ChainError
from chain.hashing import H
from chain.keys import (
    DEFAULT_PREFIX,
    PrivateKey,
    address_of,
    decode_address,
    signing_digest,
    verify_signature,
)
from chain.types import PublicKey32
from node.p2p.transport import (
    DEFAULT_MAX_FRAME_SIZE,
    Auth,
    BufferedReader,
    FrameError,
    P2PError,
    SecureConnection,
)

PROTOCOL_VERSION = 1
HELLO_MAGIC = b"CAIRNP2P"
HELLO_SIZE = len(HELLO_MAGIC) + 2 + 32 + 32
AUTH_TAG = b"cairn/p2p-auth/v1"
TRANSCRIPT_TAG = b"cairn/p2p-transcript/v1"
CHAIN_TAG = b"cairn/p2p-chain/v1"
KEYS_INFO = b"cairn/p2p-keys/v1"
DEFAULT_HANDSHAKE_TIMEOUT = 5.0
"""Seconds; honest handshakes take one round trip and two signatures (milliseconds on a LAN)."""

NodeId = NewType("NodeId", bytes)
"""20 bytes: ``address_of(node public key)``."""


class HandshakeError(P2PError):
    """The handshake failed; ``reason`` says which check."""


def node_id_of(public_key: bytes) -> NodeId:
    return NodeId(bytes(address_of(public_key)))


def parse_node_id(text: str, prefix: str = DEFAULT_PREFIX) -> NodeId:
    """A node id from 64 hex digits (public key), 40 hex digits or a bech32m address."""
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) == 32 and len(text) == 64:
        return node_id_of(raw)
    if len(raw) == 20 and len(text) == 40:
        return NodeId(raw)
    return NodeId(bytes(decode_address(text, prefix)))


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """A peer's authenticated node key."""

    public_key: PublicKey32
    node_id: NodeId


@dataclass(frozen=True, slots=True)
class Hello:
    version: int
    chain_hash: bytes
    ephemeral: bytes


@dataclass(frozen=True, slots=True)
class Session:
    """The result of a handshake: the encrypted connection and who is at the other end."""

    conn: SecureConnection
    peer: PeerIdentity
    transcript: bytes


def chain_hash(chain_id: str) -> bytes:
    return H(CHAIN_TAG, chain_id.encode())


def encode_hello(hello: Hello) -> bytes:
    return HELLO_MAGIC + hello.version.to_bytes(2, "big") + hello.chain_hash + hello.ephemeral


def decode_hello(data: bytes) -> Hello:
    if len(data) != HELLO_SIZE or not data.startswith(HELLO_MAGIC):
        raise HandshakeError("bad_hello", "not a Cairn p2p hello")
    n = len(HELLO_MAGIC)
    return Hello(int.from_bytes(data[n : n + 2], "big"), data[n + 2 : n + 34], data[n + 34 :])


def transcript_hash(version: int, chain_hash_: bytes, eph_a: bytes, eph_b: bytes) -> bytes:
    lo, hi = sorted((eph_a, eph_b))
    return H(TRANSCRIPT_TAG, encode([version, chain_hash_, lo, hi]))


def derive_keys(shared: bytes, transcript: bytes, ours: bytes, theirs: bytes) -> tuple[bytes, bytes]:
    """``(send_key, receive_key)`` for the side whose ephemeral key is ``ours``."""
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=transcript, info=KEYS_INFO).derive(shared)
    k_lo, k_hi = okm[:32], okm[32:]
    return (k_lo, k_hi) if ours < theirs else (k_hi, k_lo)


def auth_digest(chain_id: str, transcript: bytes, signer_ephemeral: bytes) -> bytes:
    return signing_digest(AUTH_TAG, chain_id, transcript + signer_ephemeral)


def check_hello(hello: Hello, chain_id: str, our_ephemeral: bytes) -> None:
    if hello.version != PROTOCOL_VERSION:
        raise HandshakeError("version", f"peer speaks protocol {hello.version}, we speak {PROTOCOL_VERSION}")
    if hello.chain_hash != chain_hash(chain_id):
        raise HandshakeError("wrong_chain", "peer is on another chain")
    if hello.ephemeral == our_ephemeral:
        raise HandshakeError("reflected", "peer echoed our ephemeral key")


def shared_secret(private: X25519PrivateKey, peer_ephemeral: bytes) -> bytes:
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer_ephemeral))
    except ValueError:  # all-zero shared secret (low-order point)
        raise HandshakeError("bad_key", "peer's ephemeral key is a low-order point") from None


async def handshake(
    stream: trio.abc.Stream,
    key: PrivateKey,
    chain_id: str,
    *,
    expected: NodeId | None = None,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    reader: BufferedReader | None = None,
) -> Session:
    """Run the handshake on ``stream`` (see the module docstring); ``HandshakeError`` if refused.

    The caller owns ``stream`` and closes it on failure.  ``reader``, if given, must be a
    fresh ``BufferedReader`` over ``stream``; the caller can watch its ``received`` count
    while the handshake runs (the session keeps using it afterwards).
    """
    try:
        with trio.fail_after(timeout):
            return await _handshake(stream, key, chain_id, expected, max_frame_size, reader)
    except trio.TooSlowError:
        raise HandshakeError("timeout", f"handshake took longer than {timeout}s", temporary=True) from None
    except trio.BrokenResourceError as exc:
        raise HandshakeError(
            "closed", f"connection broke during the handshake: {exc}", temporary=True
        ) from None


async def _handshake(
    stream: trio.abc.Stream,
    key: PrivateKey,
    chain_id: str,
    expected: NodeId | None,
    max_frame_size: int,
    reader: BufferedReader | None,
) -> Session:
    reader = reader or BufferedReader(stream)
    eph = X25519PrivateKey.generate()
    ours = eph.public_key().public_bytes_raw()
    await stream.send_all(encode_hello(Hello(PROTOCOL_VERSION, chain_hash(chain_id), ours)))
    try:
        raw = await reader.receive_exactly(HELLO_SIZE)
    except FrameError:
        raw = None
    if raw is None:
        raise HandshakeError("closed", "peer closed the connection before its hello", temporary=True)
    hello = decode_hello(raw)
    check_hello(hello, chain_id, ours)
    theirs = hello.ephemeral
    transcript = transcript_hash(PROTOCOL_VERSION, hello.chain_hash, ours, theirs)
    send_key, receive_key = derive_keys(shared_secret(eph, theirs), transcript, ours, theirs)
    conn = SecureConnection(
        stream, reader, send_key=send_key, receive_key=receive_key, max_frame_size=max_frame_size
    )
    signature = key.sign_digest(auth_digest(chain_id, transcript, ours))
    await conn.send_message(Auth(bytes(key.public_key), bytes(signature)))
    try:
        msg = await conn.receive_message()
    except ChainError as exc:
        raise HandshakeError("bad_auth", f"unreadable auth frame: {exc}") from None
    if msg is None:
        raise HandshakeError("closed", "peer closed the connection before authenticating", temporary=True)
    if not isinstance(msg, Auth):
        raise HandshakeError("bad_auth", f"expected auth, got {type(msg).__name__}")
    if not verify_signature(msg.public_key, msg.signature, auth_digest(chain_id, transcript, theirs)):
        raise HandshakeError("bad_signature", "auth signature does not match the claimed node key")
    peer = PeerIdentity(PublicKey32(msg.public_key), node_id_of(msg.public_key))
    if peer.public_key == key.public_key:
        raise HandshakeError("self", "connected to ourselves", temporary=True)
    if expected is not None and peer.node_id != expected:
        raise HandshakeError(
            "unexpected_peer",
            f"expected node {expected.hex()}, got {peer.node_id.hex()}",
            expected=expected.hex(),
            got=peer.node_id.hex(),
        )
    return Session(conn, peer, transcript)
