"""Peer-to-peer networking of validators and full nodes (ARCHITECTURE §9).

Layers, bottom up:

* ``transport`` — frames (u32 length ‖ ChaCha20-Poly1305 ciphertext, per-direction
  counter nonces, a maximum frame size) and the messages in them (canonical CBOR
  ``[type, payload]``);
* ``handshake`` — X25519 ephemeral key exchange, HKDF-SHA256 over the transcript,
  and mutual authentication by each node's Ed25519 key;
* ``peers`` — ``PeerManager``, the service: listener, persistent peers with
  backoff, limits, scores and bans;
* ``gossip`` — ``Gossip``: topic broadcast with de-duplication, and request/response.

Typical use in the node::

    peers = PeerManager(node_key, chain_id, PeerConfig(listen_port=26656, persistent_peers=...))
    gossip = Gossip(peers)
    gossip.subscribe("vote", on_vote)
    gossip.serve("get_blocks", serve_blocks)
    await nursery.start(peers.run)
    gossip.publish("vote", vote_bytes)
    blocks = await gossip.request(peer_id, "get_blocks", encode([height, count]))
"""

from node.p2p.gossip import TOPICS, Gossip, RequestError, Verdict, message_id
from node.p2p.handshake import (
    PROTOCOL_VERSION,
    HandshakeError,
    NodeId,
    PeerIdentity,
    Session,
    handshake,
    node_id_of,
    parse_node_id,
)
from node.p2p.peers import (
    Direction,
    Peer,
    PeerAddress,
    PeerConfig,
    PeerInfo,
    PeerManager,
    parse_peer_address,
)
from node.p2p.transport import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameError,
    Message,
    P2PError,
    SecureConnection,
    decode_message,
    encode_message,
)

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "PROTOCOL_VERSION",
    "TOPICS",
    "Direction",
    "FrameError",
    "Gossip",
    "HandshakeError",
    "Message",
    "NodeId",
    "P2PError",
    "Peer",
    "PeerAddress",
    "PeerConfig",
    "PeerIdentity",
    "PeerInfo",
    "PeerManager",
    "RequestError",
    "SecureConnection",
    "Session",
    "Verdict",
    "decode_message",
    "encode_message",
    "handshake",
    "message_id",
    "node_id_of",
    "parse_node_id",
    "parse_peer_address",
]
