"""Shared helpers for the p2p tests: fast configs, in-process nodes on loopback or over memory
streams, a frame proxy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from typing import Any

import trio
import trio.testing

from chain.errors import ChainError
from chain.keys import PrivateKey
from node.p2p.gossip import Gossip
from node.p2p.handshake import HELLO_SIZE, NodeId, Session, handshake
from node.p2p.peers import Direction, PeerConfig, PeerManager
from node.p2p.transport import HEADER_SIZE, BufferedReader

CHAIN = "cairn-p2p-test"
WAIT = 5.0
"""Upper bound of every wait in these tests; they normally finish in milliseconds."""


def node_key(label: str) -> PrivateKey:
    return PrivateKey.derive(f"p2p-test/{label}")


def fast_config(**overrides: Any) -> PeerConfig:
    base: dict[str, Any] = dict(
        listen_host="127.0.0.1",
        listen_port=0,
        handshake_timeout=2.0,
        dial_timeout=2.0,
        backoff_initial=0.02,
        backoff_max=0.2,
    )
    base.update(overrides)
    return PeerConfig(**base)


@dataclass
class Node:
    """One in-process node: peer manager, gossip and what its handlers received."""

    label: str
    key: PrivateKey
    peers: PeerManager
    gossip: Gossip
    received: list[tuple[str, NodeId, bytes]] = field(default_factory=list)
    cancel_scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    @property
    def node_id(self) -> NodeId:
        return self.peers.node_id

    @property
    def port(self) -> int:
        return self.peers.listen_addresses[0][1]

    def address(self, port: int | None = None) -> str:
        return f"{self.node_id.hex()}@127.0.0.1:{self.port if port is None else port}"

    def connected_to(self, other: Node) -> bool:
        return self.peers.get(other.node_id) is not None

    def stop(self) -> None:
        self.cancel_scope.cancel()


async def start_node(
    nursery: trio.Nursery,
    label: str,
    *,
    topics: tuple[str, ...] = ("tx",),
    key: PrivateKey | None = None,
    chain_id: str = CHAIN,
    **config: Any,
) -> Node:
    """Start a node listening on a free loopback port; its handlers record into ``received``."""
    node = make_node(label, topics=topics, key=key, chain_id=chain_id, **config)
    peers = node.peers

    async def run(task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED) -> None:
        with node.cancel_scope:
            await peers.run(task_status=task_status)

    await nursery.start(run)
    return node


def make_node(
    label: str,
    *,
    topics: tuple[str, ...] = ("tx",),
    key: PrivateKey | None = None,
    chain_id: str = CHAIN,
    **config: Any,
) -> Node:
    """A node that is not running yet; its handlers record into ``received``."""
    key = key or node_key(label)
    peers = PeerManager(key, chain_id, fast_config(**config))
    node = Node(label, key, peers, Gossip(peers))
    for topic in topics:

        async def record(source: NodeId, data: bytes, topic: str = topic) -> None:
            node.received.append((topic, source, data))

        node.gossip.subscribe(topic, record)
    return node


def memory_node(label: str, **kw: Any) -> Node:
    """A node with no sockets at all (``listen_port=None``, no persistent peers unless given):
    connect it to others with ``link_memory``.  Nothing needs to run first."""
    return make_node(label, listen_port=None, **kw)


@dataclass
class Link:
    """One connection over ``trio.testing.memory_stream_pair``, each end run by ``serve_stream``."""

    dialer_result: NodeId | None = None
    listener_result: NodeId | None = None
    ended: int = 0
    """How many of the two ``serve_stream`` calls have returned."""


_memory_hosts = count(1)


def link_memory(
    nursery: trio.Nursery, dialer: Node, listener: Node, *, address: tuple[str, int] | None = None
) -> Link:
    """Connect ``dialer`` (outbound, expecting ``listener``'s id) to ``listener`` (inbound, seeing the
    dialer at ``address``) over a memory stream pair.

    By default each link gets a host of its own (``memory-N``), so the per-address limits
    do not lump all memory connections together; pass ``address`` to share one.
    """
    if address is None:
        address = (f"memory-{next(_memory_hosts)}", 0)
    left, right = trio.testing.memory_stream_pair()
    link = Link()

    async def dial() -> None:
        link.dialer_result = await dialer.peers.serve_stream(
            left, direction=Direction.OUTBOUND, expected=listener.node_id
        )
        link.ended += 1

    async def accept() -> None:
        link.listener_result = await listener.peers.serve_stream(
            right, direction=Direction.INBOUND, address=address
        )
        link.ended += 1

    nursery.start_soon(dial)
    nursery.start_soon(accept)
    return link


def open_memory_stub(nursery: trio.Nursery, node: Node, address: tuple[str, int]) -> trio.abc.Stream:
    """An inbound memory connection to ``node`` from ``address``; the caller holds (and drives) the other
    end, e.g. sends nothing, the way an attacker holds a handshake slot."""
    ours, theirs = trio.testing.memory_stream_pair()
    nursery.start_soon(partial(node.peers.serve_stream, theirs, direction=Direction.INBOUND, address=address))
    return ours


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.005)


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    """A connected (client, server) pair of real TCP streams on 127.0.0.1."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with listeners[0]:
        client = await trio.open_tcp_stream("127.0.0.1", port)
        server = await listeners[0].accept()
    return client, server


async def session_pair(
    streams: tuple[trio.abc.Stream, trio.abc.Stream], **kw: Any
) -> tuple[Session, Session]:
    """Handshake both ends of ``streams`` concurrently (ALICE dials BOB)."""
    results: list[Session] = []

    async def side(stream: trio.abc.Stream, key: PrivateKey) -> None:
        results.append(await handshake(stream, key, CHAIN, **kw))

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(side, streams[0], node_key("alice"))
            nursery.start_soon(side, streams[1], node_key("bob"))
    results.sort(key=lambda s: s.peer.public_key != node_key("bob").public_key)
    return results[0], results[1]


Mangler = Callable[[int, bytes], list[bytes]]
"""``mangle(index, frame) -> chunks to forward``; frame 0 is the auth frame."""


class FrameProxy:
    """A TCP proxy in front of ``target`` that hands each client→server frame to ``mangle``.

    The 74-byte hello passes unchanged; after it, each frame (header and body) is
    parsed and replaced by what ``mangle`` returns.  Server→client bytes pass unchanged.
    """

    def __init__(self, target_port: int, mangle: Mangler) -> None:
        self.target_port = target_port
        self.mangle = mangle
        self.port = 0

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._serve, listeners)
            task_status.started(self.port)

    async def _serve(self, client: trio.SocketStream) -> None:
        try:
            server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        except OSError:
            return
        async with server, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump_frames, client, server, nursery.cancel_scope)
            nursery.start_soon(self._pump_raw, server, client, nursery.cancel_scope)

    async def _pump_raw(self, src: trio.abc.Stream, dst: trio.abc.Stream, scope: trio.CancelScope) -> None:
        try:
            while data := await src.receive_some():
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()

    async def _pump_frames(self, src: trio.abc.Stream, dst: trio.abc.Stream, scope: trio.CancelScope) -> None:
        reader = BufferedReader(src)
        try:
            hello = await reader.receive_exactly(HELLO_SIZE)
            if hello is None:
                return
            await dst.send_all(hello)
            index = 0
            while (header := await reader.receive_exactly(HEADER_SIZE)) is not None:
                body = await reader.receive_exactly(int.from_bytes(header, "big"))
                assert body is not None
                for chunk in self.mangle(index, header + body):
                    await dst.send_all(chunk)
                index += 1
        except (trio.BrokenResourceError, trio.ClosedResourceError, ChainError):
            pass
        finally:
            scope.cancel()
