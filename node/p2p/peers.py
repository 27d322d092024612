"""The peer manager: who we are connected to, who we keep dialling, and whom we refuse.

``PeerManager.run`` is the p2p service.  It listens for inbound TCP connections,
keeps one dial loop per persistent peer, runs each connection as a small nursery
(one reader task, one writer task) and hands every message that is not a
keep-alive to the router (``gossip.Gossip``).

Decisions:

* **One connection per node id.**  When both sides dial at once, both keep the
  connection dialled by the smaller node id, so they agree without talking; when
  a second connection arrives in the same direction the newer wins (the old one
  is most likely half-open after a restart).
* **One path.**  Every connection — accepted, dialled, or handed over as any
  ``trio.abc.Stream`` through ``serve_stream`` (tests run nodes over memory
  streams) — goes through ``serve_stream``: IP ban and handshake slot (inbound
  only), handshake, refusal checks, then the connection until it closes.
* **Handshake slots.**  An inbound connection holds a *handshake slot* from
  accept until its handshake ends (at most ``handshake_timeout``, default 5 s;
  honest handshakes take one round trip).  Strangers share
  ``max_pending_handshakes`` slots (default 16), one address at most
  ``max_pending_handshakes_per_ip`` of them (default 8).  Connections from the
  address of a configured persistent peer — only where that peer's host is
  written as a non-loopback IP, since a devnet puts everyone on 127.0.0.1 —
  may also use ``reserved_handshakes`` more (default 4), which strangers can
  neither take nor evict; all together never hold more than
  ``max_pending_handshakes + reserved_handshakes``.  Streams that are not
  sockets count under the host their caller names (``serve_stream``).  When a newcomer finds its slots full it does not
  wait: it *evicts* a pending handshake that has run at least
  ``handshake_evict_after`` (default 1 s) — from its own address if that
  address is at its cap, else from any stranger (or anyone, for a reserved
  address) — choosing first one that has not sent a single byte, then one
  from the address with the most pending handshakes, then the oldest.  Only
  when every candidate is younger than that is the newcomer refused
  (``refused_busy_ip`` / ``refused_busy``).  So idle or trickling connections
  can delay an honest peer by at most ``handshake_evict_after`` plus its dial
  backoff, and an honest handshake, once admitted, finishes long before it
  could be evicted.  Evictions count as ``handshake_evicted``.
* **Connection limits.**  At most ``max_inbound`` inbound connections (default
  40) and at most ``max_inbound_per_ip`` from one address (default 8); peers
  whose node id is a configured persistent peer are exempt from both (a
  validator must not be locked out by strangers), and a node that reconnects
  replaces its old connection rather than counting twice.  At most
  ``max_outbound`` dial loops (default 10) hold a connection or a dial attempt
  at once.
* **Dialling.**  A persistent peer is redialled after every failure with
  exponential backoff (``backoff_initial`` doubling to ``backoff_max``, ±25 %
  jitter); the backoff resets once a connection has lasted ``backoff_max``.  A
  loop does not dial while the peer is connected the other way or banned.
* **Sending never blocks the caller.**  Each connection has a bounded queue of
  encoded messages; when it is full further messages to that peer are dropped
  (gossip is best effort; requests time out).  A write that takes longer than
  ``write_timeout`` or a peer silent for ``idle_timeout`` closes the connection;
  an idle direction sends a ``Ping`` every ``keepalive_interval``.
* **Scoring.**  Each node id carries penalty points that decay at
  ``penalty_decay_per_second``; ``score = -points``.  ``report(id, error)`` adds
  ``temporary_penalty`` for a temporary ``ChainError`` and ``ban_threshold`` (an
  immediate ban) for a permanent one.  Reaching ``ban_threshold`` disconnects
  the peer and bans its id for ``ban_duration``.  Transport failures (a frame
  that fails authentication, an oversize frame, a malformed message) are
  reported like any other permanent error; a stream that ends inside a frame is
  a disconnect (a crash, a cut link), not a fault, and costs nothing.
* **Bans** are by node id (automatic, above) and by IP (``ban_ip``, or
  automatically after ``ip_ban_strikes`` node-id bans from one non-loopback
  address: a devnet puts every node on 127.0.0.1, and one bad node must not cut
  off the others).  A banned IP is refused before the handshake, a banned id
  right after it.  Bans and scores live in memory and expire; a restart
  forgets them.
* Handshake failures close the connection without scoring: no identity is
  proven yet.
"""

from __future__ import annotations

import enum
import ipaddress
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import structlog
import trio

from chain.errors import ChainError, DecodeError, ErrorCode
from chain.keys import PrivateKey
from node.p2p.handshake import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    HandshakeError,
    NodeId,
    PeerIdentity,
    Session,
    handshake,
    node_id_of,
    parse_node_id,
)
from node.p2p.transport import (
    DEFAULT_MAX_FRAME_SIZE,
    TAG_SIZE,
    Auth,
    BufferedReader,
    FrameError,
    Message,
    Ping,
    encode_message,
)

log = structlog.get_logger("cairn.p2p")

_PING = encode_message(Ping())
_MAX_TRACKED = 10_000
"""Cap on remembered bans, scores and IP strikes (oldest forgotten first)."""


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """``ID@host:port`` (ID optional: without it the dialer accepts any identity)."""

    node_id: NodeId | None
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        prefix = f"{self.node_id.hex()}@" if self.node_id is not None else ""
        return f"{prefix}{host}:{self.port}"


def parse_peer_address(text: str) -> PeerAddress:
    """Parse ``ID@host:port`` / ``host:port`` (IPv6 hosts in brackets); ``ValueError`` if malformed."""
    ident, at, rest = text.strip().rpartition("@")
    node_id: NodeId | None = None
    if at:
        try:
            node_id = parse_node_id(ident)
        except ChainError as exc:
            raise ValueError(f"peer {text!r}: bad node id: {exc}") from None
    host, colon, port_text = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"peer {text!r}: expected [ID@]host:port")
    return PeerAddress(node_id, host, int(port_text))


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """Tunables of the p2p layer (seconds for durations)."""

    listen_host: str = "127.0.0.1"
    listen_port: int | None = 26656
    """None: do not listen (outbound only)."""
    persistent_peers: tuple[str, ...] = ()
    """``ID@host:port`` entries dialled for as long as the node runs."""
    max_inbound: int = 40
    max_inbound_per_ip: int = 8
    """Established inbound connections from one address (persistent peers exempt)."""
    max_outbound: int = 10
    max_pending_handshakes: int = 16
    """Inbound handshakes in progress at once, from strangers (see the module docstring)."""
    max_pending_handshakes_per_ip: int = 8
    """Inbound handshakes in progress at once from one address."""
    reserved_handshakes: int = 4
    """Extra handshake slots for addresses of persistent peers given as non-loopback IPs."""
    handshake_evict_after: float = 1.0
    """A pending handshake at least this old may be evicted to make room for a newcomer."""
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    dial_timeout: float = 10.0
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    send_queue_size: int = 1024
    keepalive_interval: float = 10.0
    idle_timeout: float = 45.0
    write_timeout: float = 20.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    ban_duration: float = 600.0
    ban_threshold: int = 100
    temporary_penalty: int = 5
    penalty_decay_per_second: float = 0.1
    ip_ban_strikes: int = 3

    def __post_init__(self) -> None:
        if not TAG_SIZE < self.max_frame_size < 2**32:
            raise ValueError("max_frame_size must be between 17 bytes and 4 GiB")
        limits = (
            self.max_inbound,
            self.max_inbound_per_ip,
            self.max_outbound,
            self.max_pending_handshakes,
            self.max_pending_handshakes_per_ip,
            self.send_queue_size,
        )
        if min(limits) < 1:
            raise ValueError("connection limits and the send queue size must be at least 1")
        if self.reserved_handshakes < 0 or self.handshake_evict_after < 0 or self.handshake_timeout <= 0:
            raise ValueError(
                "reserved_handshakes and handshake_evict_after must be >= 0, handshake_timeout positive"
            )
        if self.ban_threshold <= 0 or self.backoff_initial <= 0 or self.backoff_max < self.backoff_initial:
            raise ValueError(
                "ban_threshold and backoff_initial must be positive, backoff_max >= backoff_initial"
            )


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """One connected peer, as ``net.peers`` reports it."""

    node_id: NodeId
    public_key: bytes
    address: str
    direction: Direction
    score: int
    since: float
    """Unix time the connection was established."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.node_id.hex(),
            "public_key": self.public_key.hex(),
            "address": self.address,
            "direction": str(self.direction),
            "score": self.score,
            "since": int(self.since),
        }


@dataclass(frozen=True, slots=True)
class PendingHandshake:
    """One inbound connection still in its handshake (``PeerManager.pending_handshakes``)."""

    address: tuple[str, int]
    ip: str
    age: float
    """Seconds since it took its slot."""
    bytes_received: int
    reserved: bool
    """From a persistent peer's address (may use the reserved slots)."""


@dataclass(eq=False)
class _Slot:
    """A handshake slot held by one inbound connection."""

    address: tuple[str, int]
    ip: str
    reserved: bool
    reader: BufferedReader
    started: float
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


class Peer:
    """One live, authenticated connection."""

    def __init__(
        self,
        session: Session,
        address: tuple[str, int],
        ip: str,
        direction: Direction,
        since: float,
        queue_size: int,
    ) -> None:
        self.identity: PeerIdentity = session.peer
        self.node_id: NodeId = session.peer.node_id
        self.conn = session.conn
        self.address = address
        self.ip = ip
        """The numeric remote address of the socket (what IP bans match)."""
        self.direction = direction
        self.since = since
        self.connected_at = trio.current_time()
        self.cancel_scope = trio.CancelScope()
        self.closed = trio.Event()
        self.dropped = 0
        self._outbox, self._outbox_receive = trio.open_memory_channel[bytes](queue_size)
        self._nursery: trio.Nursery | None = None

    @property
    def address_text(self) -> str:
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def send_nowait(self, plaintext: bytes) -> bool:
        """Queue an encoded message; False (and counted in ``dropped``) if it cannot be."""
        try:
            self._outbox.send_nowait(plaintext)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self.dropped += 1
            return False
        return True

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: object) -> bool:
        """Run ``fn`` as a task that lives and dies with this connection."""
        if self._nursery is None or self.cancel_scope.cancel_called:
            return False
        self._nursery.start_soon(fn, *args)
        return True

    def close(self) -> None:
        self.cancel_scope.cancel()

    def __repr__(self) -> str:
        return f"Peer({self.node_id.hex()[:12]} {self.direction} {self.address_text})"


class Router(Protocol):
    """What the peer manager hands messages to (``gossip.Gossip``)."""

    async def handle(self, peer: Peer, msg: Message) -> None: ...

    def peer_connected(self, peer: Peer) -> None: ...

    def peer_disconnected(self, peer: Peer) -> None: ...


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _canonical_ip(host: str) -> str | None:
    """``host`` as a normalised IP (IPv4-mapped IPv6 as IPv4); None if it is not an IP literal."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _remote_ip(stream: trio.abc.Stream) -> str | None:
    """The numeric remote address of a socket stream; None for any other stream."""
    if isinstance(stream, trio.SocketStream):
        try:
            return str(stream.socket.getpeername()[0])
        except OSError:
            return None
    return None


def _remember(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > _MAX_TRACKED:
        table.popitem(last=False)


class PeerManager:
    """Connections, dialling, scores and bans (see the module docstring)."""

    def __init__(
        self,
        key: PrivateKey,
        chain_id: str,
        config: PeerConfig | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or PeerConfig()
        self.key = key
        self.chain_id = chain_id
        self.identity = PeerIdentity(key.public_key, node_id_of(key.public_key))
        self.node_id = self.identity.node_id
        self.listen_addresses: list[tuple[str, int]] = []
        self.counters: Counter[str] = Counter()
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._router: Router | None = None
        self._nursery: trio.Nursery | None = None
        self._peers: dict[NodeId, Peer] = {}
        self._sessions: set[Peer] = set()
        """Every connection running as a peer, including one a newer connection replaced but
        that has not wound down yet (``traffic`` sums them)."""
        self._persistent_ids: set[NodeId] = set()
        self._reserved_ips: set[str] = set()
        """Non-loopback IPs of persistent peers: their connections may use the reserved slots."""
        self._pending: dict[_Slot, None] = {}
        """Inbound connections in their handshake, oldest first."""
        self._configured = [parse_peer_address(text) for text in self.config.persistent_peers]
        for target in self._configured:
            self._note_persistent(target)
        self._banned_ids: OrderedDict[NodeId, float] = OrderedDict()
        self._banned_ips: OrderedDict[str, float] = OrderedDict()
        self._penalties: OrderedDict[NodeId, tuple[float, float]] = OrderedDict()
        self._ip_strikes: OrderedDict[str, int] = OrderedDict()
        self._outbound = trio.CapacityLimiter(self.config.max_outbound)

    def set_router(self, router: Router) -> None:
        self._router = router

    # --- service -----------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen, dial the persistent peers, serve connections until cancelled.

        ``task_status.started`` reports the bound listen addresses (empty when not listening).
        """
        cfg = self.config
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                if cfg.listen_port is not None:
                    listeners = await trio.open_tcp_listeners(cfg.listen_port, host=cfg.listen_host)
                    self.listen_addresses = [
                        (str(sn[0]), int(sn[1])) for sn in (ln.socket.getsockname() for ln in listeners)
                    ]
                    nursery.start_soon(
                        partial(
                            trio.serve_listeners, self._handle_inbound, listeners, handler_nursery=nursery
                        )
                    )
                for target in self._configured:
                    self.add_peer(target)
                log.info("p2p started", node_id=self.node_id.hex(), listen=self.listen_addresses)
                task_status.started(self.listen_addresses)
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def add_peer(self, address: str | PeerAddress) -> PeerAddress:
        """Start dialling ``address`` and keep it connected (a persistent peer)."""
        if self._nursery is None:
            raise RuntimeError("PeerManager.add_peer needs the service running")
        target = parse_peer_address(address) if isinstance(address, str) else address
        self._note_persistent(target)
        self._nursery.start_soon(self._dial_loop, target)
        return target

    def _note_persistent(self, target: PeerAddress) -> None:
        if target.node_id is not None:
            self._persistent_ids.add(target.node_id)
        ip = _canonical_ip(target.host)
        if ip is not None and not _is_loopback(ip):
            self._reserved_ips.add(ip)

    # --- queries -----------------------------------------------------------------

    def peers(self) -> list[PeerInfo]:
        """The connected peers, for ``net.peers``."""
        return [
            PeerInfo(
                p.node_id,
                bytes(p.identity.public_key),
                p.address_text,
                p.direction,
                self.score(p.node_id),
                p.since,
            )
            for p in sorted(self._peers.values(), key=lambda p: p.node_id)
        ]

    def pending_handshakes(self) -> list[PendingHandshake]:
        """The inbound connections still in their handshake, oldest first."""
        now = trio.current_time()
        return [
            PendingHandshake(s.address, s.ip, now - s.started, s.reader.received, s.reserved)
            for s in self._pending
        ]

    def traffic(self) -> tuple[int, int]:
        """Bytes received and sent on every peer connection since start (closed ones and open ones)."""
        received = self.counters["bytes_received"] + sum(p.conn.received for p in self._sessions)
        sent = self.counters["bytes_sent"] + sum(p.conn.sent for p in self._sessions)
        return received, sent

    def get(self, node_id: NodeId) -> Peer | None:
        return self._peers.get(node_id)

    def connected(self) -> list[Peer]:
        return list(self._peers.values())

    def broadcast(self, plaintext: bytes, *, exclude: NodeId | None = None) -> int:
        """Queue an encoded message to every connected peer but ``exclude``; how many took it."""
        return sum(1 for p in list(self._peers.values()) if p.node_id != exclude and p.send_nowait(plaintext))

    # --- scores and bans ---------------------------------------------------------

    def report(self, node_id: NodeId, error: ChainError) -> None:
        """A peer sent something invalid: a small penalty if ``error`` is temporary, else a ban."""
        self.counters["reports"] += 1
        points = self.config.temporary_penalty if error.temporary else self.config.ban_threshold
        reason = getattr(error, "reason", None) or error.code.name
        self.penalize(node_id, points, reason=f"{reason}: {error}")

    def penalize(self, node_id: NodeId, points: float, *, reason: str = "") -> None:
        now = trio.current_time()
        value = self._penalty(node_id, now) + points
        _remember(self._penalties, node_id, (value, now))
        if value >= self.config.ban_threshold:
            self.ban(node_id, reason=reason)

    def score(self, node_id: NodeId) -> int:
        return -round(self._penalty(node_id, trio.current_time()))

    def _penalty(self, node_id: NodeId, now: float) -> float:
        entry = self._penalties.get(node_id)
        if entry is None:
            return 0.0
        value, at = entry
        return max(0.0, value - (now - at) * self.config.penalty_decay_per_second)

    def ban(self, node_id: NodeId, *, duration: float | None = None, reason: str = "") -> None:
        """Disconnect ``node_id`` and refuse it for ``duration`` (default ``ban_duration``)."""
        until = trio.current_time() + (self.config.ban_duration if duration is None else duration)
        _remember(self._banned_ids, node_id, until)
        self._penalties.pop(node_id, None)
        self.counters["bans"] += 1
        log.warning("peer banned", peer=node_id.hex(), reason=reason, seconds=until - trio.current_time())
        peer = self._peers.get(node_id)
        if peer is not None:
            peer.close()
            self._strike_ip(peer.ip)

    def ban_ip(self, host: str, *, duration: float | None = None) -> None:
        """Refuse connections from ``host`` and drop those open now."""
        until = trio.current_time() + (self.config.ban_duration if duration is None else duration)
        _remember(self._banned_ips, host, until)
        self.counters["ip_bans"] += 1
        log.warning("ip banned", ip=host)
        for peer in list(self._peers.values()):
            if peer.ip == host:
                peer.close()

    def unban(self, node_id: NodeId) -> None:
        self._banned_ids.pop(node_id, None)

    def is_banned(self, node_id: NodeId) -> bool:
        return self._ban_remaining(node_id) > 0

    def is_ip_banned(self, host: str) -> bool:
        until = self._banned_ips.get(host)
        if until is None:
            return False
        if until > trio.current_time():
            return True
        del self._banned_ips[host]
        return False

    def _ban_remaining(self, node_id: NodeId) -> float:
        until = self._banned_ids.get(node_id)
        if until is None:
            return 0.0
        left = until - trio.current_time()
        if left <= 0:
            del self._banned_ids[node_id]
            return 0.0
        return left

    def _strike_ip(self, host: str) -> None:
        if _is_loopback(host) or self.config.ip_ban_strikes <= 0:
            return
        strikes = self._ip_strikes.get(host, 0) + 1
        _remember(self._ip_strikes, host, strikes)
        if strikes >= self.config.ip_ban_strikes:
            self._ip_strikes.pop(host, None)
            self.ban_ip(host)

    # --- connections -------------------------------------------------------------

    async def serve_stream(
        self,
        stream: trio.abc.Stream,
        *,
        direction: Direction,
        expected: NodeId | None = None,
        address: tuple[str, int] = ("memory", 0),
    ) -> NodeId | None:
        """Handshake over ``stream``, then serve the connection until it closes.

        The one path of every connection: accepted and dialled TCP streams come here,
        and so can any other ``trio.abc.Stream`` (tests connect nodes over memory
        streams).  ``direction`` is who opened it: ``INBOUND`` streams are checked
        against IP bans and need a handshake slot (see the module docstring);
        ``expected`` refuses any other identity.  ``address`` is the remote
        ``(host, port)``; for a socket the IP that bans and per-address limits match
        is read from the socket, for other streams it is ``address[0]`` — so give
        each memory connection its own host when more than the per-address limits
        (``max_pending_handshakes_per_ip``, ``max_inbound_per_ip``) meet at one node.

        Returns the peer's node id once the handshake succeeded (even if the peer was
        then refused, or the connection has since closed), or None when no handshake
        completed.  Always closes ``stream``.
        """
        try:
            ip = _remote_ip(stream) or address[0]
            if direction is Direction.INBOUND:
                session = await self._inbound_handshake(stream, ip, address, expected)
            else:
                session = await self._handshake(stream, expected)
            if session is None:
                return None
            await self._run_connection(session, address, ip, direction)
            return session.peer.node_id
        finally:
            await trio.aclose_forcefully(stream)

    async def _handle_inbound(self, stream: trio.SocketStream) -> None:
        try:
            host, port = stream.socket.getpeername()[:2]
        except OSError:
            await trio.aclose_forcefully(stream)
            return
        await self.serve_stream(stream, direction=Direction.INBOUND, address=(str(host), int(port)))

    async def _inbound_handshake(
        self, stream: trio.abc.Stream, ip: str, address: tuple[str, int], expected: NodeId | None
    ) -> Session | None:
        if self.is_ip_banned(ip):
            self.counters["refused_ip_banned"] += 1
            return None
        slot = self._take_slot(ip, address, BufferedReader(stream))
        if slot is None:
            return None
        try:
            with slot.scope:
                return await self._handshake(stream, expected, slot.reader)
            return None  # evicted
        finally:
            self._pending.pop(slot, None)

    def _take_slot(self, ip: str, address: tuple[str, int], reader: BufferedReader) -> _Slot | None:
        """A handshake slot for a newcomer from ``ip``, evicting a stalled one if need be; None if refused."""
        cfg = self.config
        canonical = _canonical_ip(ip)
        reserved = canonical is not None and canonical in self._reserved_ips
        same_ip = [s for s in self._pending if s.ip == ip]
        if len(same_ip) >= cfg.max_pending_handshakes_per_ip:
            if not self._evict(same_ip):
                self.counters["refused_busy_ip"] += 1
                return None
        elif reserved:
            if len(self._pending) >= cfg.max_pending_handshakes + cfg.reserved_handshakes:
                if not self._evict(list(self._pending)):
                    self.counters["refused_busy"] += 1
                    return None
        else:
            strangers = [s for s in self._pending if not s.reserved]
            full = (
                len(strangers) >= cfg.max_pending_handshakes
                or len(self._pending) >= cfg.max_pending_handshakes + cfg.reserved_handshakes
            )
            if full and not self._evict(strangers):
                self.counters["refused_busy"] += 1
                return None
        slot = _Slot(address, ip, reserved, reader, trio.current_time())
        self._pending[slot] = None
        return slot

    def _evict(self, candidates: list[_Slot]) -> bool:
        """Evict the most stalled candidate that has run ``handshake_evict_after``; False if none has."""
        oldest_allowed = trio.current_time() - self.config.handshake_evict_after
        eligible = [s for s in candidates if s.started <= oldest_allowed]
        if not eligible:
            return False
        per_ip = Counter(s.ip for s in self._pending)
        victim = min(eligible, key=lambda s: (s.reader.received > 0, -per_ip[s.ip], s.started))
        del self._pending[victim]
        victim.scope.cancel()
        self.counters["handshake_evicted"] += 1
        log.info("handshake evicted", ip=victim.ip, bytes=victim.reader.received)
        return True

    async def _handshake(
        self, stream: trio.abc.Stream, expected: NodeId | None, reader: BufferedReader | None = None
    ) -> Session | None:
        cfg = self.config
        try:
            return await handshake(
                stream,
                self.key,
                self.chain_id,
                expected=expected,
                timeout=cfg.handshake_timeout,
                max_frame_size=cfg.max_frame_size,
                reader=reader,
            )
        except ChainError as exc:
            reason = exc.reason if isinstance(exc, HandshakeError) else "other"
            self.counters[f"handshake_{reason}"] += 1
            log.info("handshake failed", reason=reason, error=str(exc))
            return None

    def _refusal(self, node_id: NodeId, direction: Direction, ip: str) -> str | None:
        if node_id == self.node_id:
            return "self"
        if self.is_banned(node_id):
            return "banned"
        if direction is Direction.INBOUND and node_id not in self._persistent_ids:
            # A node that reconnects replaces its old connection, so that one does not count.
            inbound = [
                p for p in self._peers.values() if p.direction is Direction.INBOUND and p.node_id != node_id
            ]
            if len(inbound) >= self.config.max_inbound:
                return "full"
            same_ip = [p for p in inbound if p.ip == ip and p.node_id not in self._persistent_ids]
            if len(same_ip) >= self.config.max_inbound_per_ip:
                return "full_ip"
        return None

    def _new_wins(self, existing: Peer, new: Peer) -> bool:
        if existing.direction is new.direction:
            return True
        dialer = self.node_id if new.direction is Direction.OUTBOUND else new.node_id
        return dialer == min(self.node_id, new.node_id)

    async def _run_connection(
        self, session: Session, address: tuple[str, int], ip: str, direction: Direction
    ) -> None:
        node_id = session.peer.node_id
        refusal = self._refusal(node_id, direction, ip)
        if refusal is not None:
            self.counters[f"refused_{refusal}"] += 1
            log.info("peer refused", peer=node_id.hex(), reason=refusal, direction=str(direction))
            return
        peer = Peer(session, address, ip, direction, self._wall_clock(), self.config.send_queue_size)
        existing = self._peers.get(node_id)
        if existing is not None:
            if not self._new_wins(existing, peer):
                self.counters["refused_duplicate"] += 1
                return
            existing.close()
        self._peers[node_id] = peer
        self._sessions.add(peer)
        self.counters["connected"] += 1
        log.info("peer connected", peer=node_id.hex(), address=peer.address_text, direction=str(direction))
        try:
            if self._router is not None:
                self._router.peer_connected(peer)
            with peer.cancel_scope:
                async with trio.open_nursery() as nursery:
                    peer._nursery = nursery
                    nursery.start_soon(self._write_loop, peer)
                    await self._read_loop(peer)
                    peer.close()
        finally:
            peer._nursery = None
            peer._outbox.close()
            self._sessions.discard(peer)
            self.counters["bytes_received"] += peer.conn.received
            self.counters["bytes_sent"] += peer.conn.sent
            if self._peers.get(node_id) is peer:
                del self._peers[node_id]
            peer.closed.set()
            if self._router is not None:
                self._router.peer_disconnected(peer)
            log.info("peer disconnected", peer=node_id.hex(), address=peer.address_text)

    async def _read_loop(self, peer: Peer) -> None:
        cfg = self.config
        try:
            while True:
                msg: Message | None = None
                with trio.move_on_after(cfg.idle_timeout) as idle:
                    msg = await peer.conn.receive_message()
                if idle.cancelled_caught:
                    self.counters["idle_timeout"] += 1
                    return
                if msg is None:
                    return
                if isinstance(msg, Ping):
                    continue
                if isinstance(msg, Auth):
                    raise DecodeError("auth message after the handshake", code=ErrorCode.DECODE_SHAPE)
                if self._router is not None:
                    await self._router.handle(peer, msg)
        except ChainError as exc:
            if isinstance(exc, FrameError) and exc.reason == "truncated":
                # The stream ended mid-frame: a crash or a cut connection, which honest peers have.
                self.counters["truncated_frames"] += 1
                return
            self.counters["bad_frames" if isinstance(exc, FrameError) else "bad_messages"] += 1
            log.info("peer sent invalid data", peer=peer.node_id.hex(), error=str(exc))
            self.report(peer.node_id, exc)
        except trio.BrokenResourceError:
            pass

    async def _write_loop(self, peer: Peer) -> None:
        cfg = self.config
        try:
            while True:
                data = _PING
                with trio.move_on_after(cfg.keepalive_interval):
                    data = await peer._outbox_receive.receive()
                with trio.move_on_after(cfg.write_timeout) as slow:
                    await peer.conn.send_frame(data)
                if slow.cancelled_caught:
                    self.counters["write_timeout"] += 1
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.EndOfChannel):
            pass
        except FrameError as exc:
            log.info("closing connection", peer=peer.node_id.hex(), reason=exc.reason)
        finally:
            peer.close()

    async def _dial_loop(self, target: PeerAddress) -> None:
        cfg = self.config
        known = target.node_id
        backoff = cfg.backoff_initial
        while True:
            if known is not None:
                if known == self.node_id:
                    log.warning("persistent peer is this node; not dialling", peer=str(target))
                    return
                wait = self._ban_remaining(known)
                if wait > 0:
                    await trio.sleep(wait)
                    continue
                current = self._peers.get(known)
                if current is not None:
                    await current.closed.wait()
                    continue
            started = trio.current_time()
            async with self._outbound:
                learned = await self._dial_once(target, known)
            if learned is not None and known is None:
                known = learned
                self._persistent_ids.add(learned)
            if trio.current_time() - started >= cfg.backoff_max:
                backoff = cfg.backoff_initial
            await trio.sleep(backoff * (0.75 + 0.5 * self._rng.random()))
            backoff = min(backoff * 2, cfg.backoff_max)

    async def _dial_once(self, target: PeerAddress, expected: NodeId | None) -> NodeId | None:
        """Dial, handshake and serve one connection; the peer's id if the handshake succeeded."""
        try:
            with trio.fail_after(self.config.dial_timeout):
                stream = await trio.open_tcp_stream(target.host, target.port)
        except (OSError, trio.TooSlowError) as exc:
            self.counters["dial_failed"] += 1
            log.debug("dial failed", peer=str(target), error=str(exc))
            return None
        return await self.serve_stream(
            stream, direction=Direction.OUTBOUND, expected=expected, address=(target.host, target.port)
        )
