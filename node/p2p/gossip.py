"""Topic gossip and request/response over the peer manager's connections.

**Gossip.**  ``publish(topic, data)`` queues ``Gossip(topic, data)`` to every
connected peer (but ``exclude``).  A received message is identified by
``H("cairn/p2p-gossip/v1", encode([topic, data]))`` and kept in a bounded LRU
"seen" cache (``seen_cache_size`` entries): a message already seen, including
one we published, is dropped, so each handler sees each message once however
many peers forward it.  Otherwise the topic's handler is awaited (in the
connection's reader task: handlers of one peer run in order, and a slow handler
slows only that peer); then:

* the handler returned ``IGNORE``: the message is not relayed and is forgotten
  from the "seen" cache, without penalty — it was fine but of no use *now* (for a
  height we have not reached, say), so a later copy is handled afresh;
* the handler returned anything else: the message is *relayed* to every other peer,
  unless the topic was subscribed with ``relay=False`` (the owner then validates and
  forwards it itself with ``publish(..., exclude=source)`` once it has checked it —
  the consensus driver and the tx relay do this, so nothing unverified is relayed);
* it raised a ``ChainError``: the source is reported to the peer manager
  (temporary → small penalty, permanent → ban) and nothing is relayed; after a
  temporary error the message is also forgotten, so it can be accepted later;
* a message for a topic nobody subscribed is dropped without penalty.

Handlers must not await a ``request`` to the peer whose message they are
handling: that peer's responses are read by the very task running the handler.
``send_to(peer, topic, data)`` sends one gossip message to one peer (what a
lagging peer lacks); ``watch_peers`` reports nodes connecting and disconnecting.

**Requests.**  ``request(peer, kind, data, timeout=…)`` sends ``Request(id, kind,
data)`` and waits for the ``Response`` with the same id; a ``Refusal``, a timeout
or a disconnect raises ``RequestError``.  ``serve(kind, responder)`` registers the
answer to a kind; responders run as tasks of the requester's connection, at most
``max_inflight_requests`` per peer (more are refused as ``busy``).  A ``ChainError``
raised by a responder becomes a ``Refusal`` carrying its code; it does not count
against the requester (asking for a block we lack is not misbehaviour).
Responses nobody waits for (after a timeout) are dropped.
"""

from __future__ import annotations

import enum
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count

import structlog
import trio

from chain.codec import encode
from chain.errors import ChainError, ErrorCode
from chain.hashing import H
from node.p2p.handshake import NodeId
from node.p2p.peers import Peer, PeerManager
from node.p2p.transport import (
    MAX_NAME_LEN,
    MAX_REASON_LEN,
    TAG_SIZE,
    Message,
    P2PError,
    Refusal,
    Request,
    Response,
    encode_message,
)
from node.p2p.transport import (
    Gossip as GossipMsg,
)

log = structlog.get_logger("cairn.p2p")

GOSSIP_TAG = b"cairn/p2p-gossip/v1"
TOPICS = ("tx", "proposal", "vote", "commit", "evidence", "proof")
"""The topics the node uses (any name up to 64 characters works)."""

_TRANSPORT_REFUSALS = frozenset({"unknown_kind", "busy", "too_large"})

class Verdict(enum.Enum):
    """What a topic handler may return about a message it did not refuse."""

    ACCEPT = "accept"
    """Taken (relayed unless the topic was subscribed with ``relay=False``)."""
    IGNORE = "ignore"
    """Not taken, through no fault of the sender: not relayed, forgotten from the seen cache."""


Handler = Callable[[NodeId, bytes], Awaitable["Verdict | None"]]
"""``await handler(source, data)``; ``None`` means ``ACCEPT``; raise ``ChainError`` if ``data`` is invalid."""
Responder = Callable[[NodeId, bytes], Awaitable[bytes]]
"""``await responder(requester, data) -> response data``; raise ``ChainError`` to refuse."""
PeerWatcher = Callable[[NodeId, bool], None]
"""``watcher(node_id, connected)``, called when a node's first connection opens or its last closes."""


class RequestError(P2PError):
    """A request that got no answer.  ``reason``: ``not_connected``, ``busy``, ``timeout``,
    ``disconnected``, ``unknown_kind``, ``too_large`` or ``refused`` (``remote_code`` is
    the responder's ``ChainError`` code)."""


def message_id(topic: str, data: bytes) -> bytes:
    return H(GOSSIP_TAG, encode([topic, data]))


@dataclass
class _Subscription:
    handler: Handler
    relay: bool


@dataclass
class _Pending:
    peer: Peer
    done: trio.Event = field(default_factory=trio.Event)
    result: bytes | None = None
    error: RequestError | None = None


class Gossip:
    """Gossip and request/response on top of a ``PeerManager`` (see the module docstring)."""

    def __init__(
        self, peers: PeerManager, *, seen_cache_size: int = 65_536, max_inflight_requests: int = 8
    ) -> None:
        self.peers = peers
        self.seen_cache_size = seen_cache_size
        self.max_inflight_requests = max_inflight_requests
        self._subscriptions: dict[str, _Subscription] = {}
        self._responders: dict[str, Responder] = {}
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._pending: dict[int, _Pending] = {}
        self._inflight: dict[Peer, int] = {}
        self._ids = count(1)
        self._watchers: list[PeerWatcher] = []
        self._live: Counter[NodeId] = Counter()
        peers.set_router(self)

    # --- API -----------------------------------------------------------------------

    def subscribe(self, topic: str, handler: Handler, *, relay: bool = True) -> None:
        _check_name(topic)
        if topic in self._subscriptions:
            raise ValueError(f"topic {topic!r} already has a handler")
        self._subscriptions[topic] = _Subscription(handler, relay)

    def serve(self, kind: str, responder: Responder) -> None:
        _check_name(kind)
        if kind in self._responders:
            raise ValueError(f"request kind {kind!r} already has a responder")
        self._responders[kind] = responder

    def publish(self, topic: str, data: bytes, *, exclude: NodeId | None = None) -> int:
        """Send ``data`` on ``topic`` to every connected peer but ``exclude``; how many took it.

        Never blocks.  The message is marked seen, so it is not delivered back to us.
        """
        plaintext = self._encode_gossip(topic, data)
        return self.peers.broadcast(plaintext, exclude=exclude)

    def send_to(self, peer_id: NodeId, topic: str, data: bytes) -> bool:
        """Send one gossip message to one peer (e.g. votes a lagging peer lacks); False if not queued."""
        plaintext = self._encode_gossip(topic, data)
        peer = self.peers.get(peer_id)
        return peer is not None and peer.send_nowait(plaintext)

    def watch_peers(self, callback: PeerWatcher) -> None:
        """Call ``callback(node_id, connected)`` whenever a peer connects or disconnects."""
        self._watchers.append(callback)

    def connected(self) -> list[NodeId]:
        return [p.node_id for p in self.peers.connected()]

    async def request(self, peer_id: NodeId, kind: str, data: bytes, *, timeout: float = 10.0) -> bytes:
        """Ask ``peer_id`` and wait for its answer; ``RequestError`` if there is none."""
        _check_name(kind)
        peer = self.peers.get(peer_id)
        if peer is None:
            raise RequestError("not_connected", f"not connected to {peer_id.hex()}", temporary=True)
        request_id = next(self._ids)
        plaintext = encode_message(Request(request_id, kind, bytes(data)))
        if len(plaintext) > self._max_plaintext():
            raise ValueError(f"request of {len(plaintext)} bytes exceeds the frame limit")
        pending = _Pending(peer)
        self._pending[request_id] = pending
        try:
            if not peer.send_nowait(plaintext):
                if peer.cancel_scope.cancel_called:
                    raise RequestError("disconnected", "peer disconnected", temporary=True)
                raise RequestError("busy", "the peer's send queue is full", temporary=True)
            with trio.move_on_after(timeout):
                await pending.done.wait()
            if pending.error is not None:
                raise pending.error
            if pending.result is None:
                raise RequestError(
                    "timeout", f"{kind} to {peer_id.hex()} got no answer in {timeout}s", temporary=True
                )
            return pending.result
        finally:
            del self._pending[request_id]

    def report(self, peer_id: NodeId, error: ChainError) -> None:
        """Report a peer whose message turned out invalid after its handler returned."""
        self.peers.report(peer_id, error)

    # --- Router ----------------------------------------------------------------------

    async def handle(self, peer: Peer, msg: Message) -> None:
        match msg:
            case GossipMsg(topic, data):
                await self._on_gossip(peer, topic, data)
            case Request(request_id, kind, data):
                self._on_request(peer, request_id, kind, data)
            case Response(request_id, data):
                self._answer(peer, request_id, data, None)
            case Refusal(request_id, code, reason):
                if code == 0:
                    known = reason if reason in _TRANSPORT_REFUSALS else "refused"
                    error = RequestError(known, f"peer refused the request: {reason}", temporary=True)
                else:
                    error = RequestError("refused", reason, temporary=True, remote_code=code)
                self._answer(peer, request_id, None, error)

    def peer_connected(self, peer: Peer) -> None:
        self._inflight[peer] = 0
        # A connection can replace another to the same node: watchers hear of the node, not of sockets.
        self._live[peer.node_id] += 1
        if self._live[peer.node_id] == 1:
            for watcher in self._watchers:
                watcher(peer.node_id, True)

    def peer_disconnected(self, peer: Peer) -> None:
        self._inflight.pop(peer, None)
        for pending in self._pending.values():
            if pending.peer is peer and not pending.done.is_set():
                pending.error = RequestError("disconnected", "peer disconnected", temporary=True)
                pending.done.set()
        self._live[peer.node_id] -= 1
        if self._live[peer.node_id] <= 0:
            del self._live[peer.node_id]
            for watcher in self._watchers:
                watcher(peer.node_id, False)

    # --- internals -------------------------------------------------------------------

    def _encode_gossip(self, topic: str, data: bytes) -> bytes:
        _check_name(topic)
        data = bytes(data)
        plaintext = encode_message(GossipMsg(topic, data))
        if len(plaintext) > self._max_plaintext():
            raise ValueError(f"gossip message of {len(plaintext)} bytes exceeds the frame limit")
        self._mark_seen(message_id(topic, data))
        return plaintext

    def _max_plaintext(self) -> int:
        return self.peers.config.max_frame_size - TAG_SIZE

    def _mark_seen(self, mid: bytes) -> bool:
        """True if ``mid`` is new (and now remembered)."""
        if mid in self._seen:
            self._seen.move_to_end(mid)
            return False
        self._seen[mid] = None
        if len(self._seen) > self.seen_cache_size:
            self._seen.popitem(last=False)
        return True

    async def _on_gossip(self, peer: Peer, topic: str, data: bytes) -> None:
        counters = self.peers.counters
        mid = message_id(topic, data)
        if not self._mark_seen(mid):
            counters["gossip_duplicate"] += 1
            return
        sub = self._subscriptions.get(topic)
        if sub is None:
            counters["gossip_unknown_topic"] += 1
            return
        try:
            verdict = await sub.handler(peer.node_id, data)
        except ChainError as exc:
            counters["gossip_invalid"] += 1
            if exc.temporary:
                self._seen.pop(mid, None)
            log.info("invalid gossip", peer=peer.node_id.hex(), topic=topic, error=str(exc))
            self.peers.report(peer.node_id, exc)
            return
        if verdict is Verdict.IGNORE:
            counters["gossip_ignored"] += 1
            self._seen.pop(mid, None)
            return
        counters["gossip_delivered"] += 1
        if sub.relay:
            self.peers.broadcast(encode_message(GossipMsg(topic, data)), exclude=peer.node_id)

    def _on_request(self, peer: Peer, request_id: int, kind: str, data: bytes) -> None:
        responder = self._responders.get(kind)
        if responder is None:
            peer.send_nowait(encode_message(Refusal(request_id, 0, "unknown_kind")))
            return
        if self._inflight.get(peer, 0) >= self.max_inflight_requests:
            peer.send_nowait(encode_message(Refusal(request_id, 0, "busy")))
            return
        self._inflight[peer] = self._inflight.get(peer, 0) + 1
        if not peer.start_soon(self._respond, peer, request_id, responder, data):
            self._inflight[peer] -= 1

    async def _respond(self, peer: Peer, request_id: int, responder: Responder, data: bytes) -> None:
        try:
            try:
                answer = await responder(peer.node_id, data)
            except ChainError as exc:
                code = int(exc.code) or int(ErrorCode.DECODE)
                reply = encode_message(Refusal(request_id, code, str(exc)[:MAX_REASON_LEN]))
            else:
                reply = encode_message(Response(request_id, bytes(answer)))
                if len(reply) > self._max_plaintext():
                    reply = encode_message(Refusal(request_id, 0, "too_large"))
            peer.send_nowait(reply)
        finally:
            if peer in self._inflight:
                self._inflight[peer] -= 1

    def _answer(self, peer: Peer, request_id: int, result: bytes | None, error: RequestError | None) -> None:
        pending = self._pending.get(request_id)
        if pending is None or pending.peer is not peer or pending.done.is_set():
            self.peers.counters["unexpected_responses"] += 1
            return
        pending.result, pending.error = result, error
        pending.done.set()


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LEN:
        raise ValueError(f"topic / request kind must be 1..{MAX_NAME_LEN} characters")
