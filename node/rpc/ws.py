"""Live event streams over WebSocket at ``GET /ws``, with cursors and replay (docs/RPC.md).

The endpoint shares the RPC port, its accept loop and its connection gate
(``node.rpc.server``): a connection whose first bytes are ``GET /ws`` (then a space or
``?``) is served here, every other connection goes to hypercorn.  ``/ws`` must therefore be
a connection's first request.  The WebSocket protocol itself (handshake, framing, masking,
ping/pong, close) is ``wsproto``'s; this module only decides what is said.

**Messages** are JSON-RPC 2.0 text frames (a binary frame is read as UTF-8 text):
``subscribe {topic, filter?, from?}`` answers a subscription id (a string),
``unsubscribe {id}`` answers ``true`` (or ``false`` for an id not subscribed), and each
event arrives as the notification
``{"jsonrpc": "2.0", "method": "subscription", "params": {"id", "cursor": {"height", "index"}, "event"}}``.
Errors are JSON-RPC error objects (``node.rpc.jsonrpc``); bad input never closes the
connection, except a message over the size limit.

**Topics**: ``newHeads`` (the committed header, as ``chain.getHead`` shows it),
``jobAssigned`` (``aicf/job_assigned``), ``jobCompleted`` (``aicf/job_resolved``),
``jobExpired`` (``aicf/job_expired``), ``providerSlashed`` (``aicf/provider_slashed``),
``epochSettled`` (``aicf/epoch_settled``) and ``logs`` (every event).  An event is shown as
``event_json`` shows it elsewhere (addresses bech32m, amounts decimal strings).
**Filters** (all given must match): ``provider``, ``requester`` (bech32m addresses) and
``task`` (a task id, hex) compare with the event's ``provider``, ``requester`` and
``task_id`` attributes, and an event without the attribute does not match; ``logs`` also
takes ``module`` and ``name``.  ``newHeads`` takes no filter.

**Cursors.**  An event's cursor is ``(height, index)``: its block and its position in the
block's event log (``chain.store``: begin-block hooks, transactions in order, proofs,
end-block hooks).  A header's cursor is ``(height, -1)``: it comes before its block's
events.  Cursors are totally ordered (height, then index) and notifications of one
subscription arrive in cursor order.  ``from: {height, index}`` replays, from the store,
every matching event with a cursor strictly after it, then continues live: the replay
runs to the head as it is when the subscription starts, and every later block is
delivered live, so nothing is skipped or repeated at the seam (commits and the start of a
subscription both run on the trio thread, between awaits).

**Limits** (keyword arguments of ``WsHub``, ``[rpc]`` settings; the defaults):

* ``ws_max_connections`` (128) WebSocket connections at once, each also counting against
  the RPC connection cap; one more is answered HTTP 503 with error ``-32000``.
* ``ws_max_subscriptions`` (16) per connection: one more is error ``-32001``.
* ``ws_replay_blocks`` (1,000): ``from`` may be at most this many blocks below the head,
  else error ``-32002``; a height the store has no event log for is error ``-32003``.
* ``ws_queue_messages`` (1,024) and ``ws_queue_bytes`` (8 MiB): a connection's outgoing
  buffer (answers and live notifications not yet written to the socket; a replay is read
  from the store as it is sent and takes no room).  Past either the connection is closed
  with code ``4000`` and reason ``slow consumer: N queued; resubscribe from H:I`` — the
  cursor through which every subscription of the connection was delivered.  One block can
  overflow the buffer by itself only with more matching events than it holds.
* ``ws_max_message`` (64 KiB): a larger incoming message closes with ``1009``.
* ``ws_ping_interval`` (20 s) and ``ws_pong_timeout`` (10 s): the server sends a WebSocket
  ping frame every interval; without the pong within the timeout the connection is closed
  with ``1011`` ``keepalive: no pong``.  (WebSocket clients answer pings by themselves.)
* The RPC server's ``keep_alive_timeout`` bounds the handshake (the request head must
  arrive within it, at most 16 KiB, else HTTP 431 or closed) and its ``send_timeout``
  every write, as for HTTP.

Close codes: ``1000`` the client closed; ``1001`` the node is stopping; ``1009`` message too
big; ``1011`` keepalive timeout, or a replay that met a height without an event log;
``4000`` slow consumer.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

import structlog
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from chain.apply import BlockOutput
from chain.block import Block, Header
from chain.errors import DecodeError
from chain.keys import decode_address
from chain.module import Event
from chain.store import EventsUnavailable
from node.chain_service import ChainService
from node.rpc.jsonrpc import SERVER_BUSY, Dispatcher, Handler, InvalidParams, Params, RpcError, shown
from node.rpc.views import event_json, header_json

log = structlog.get_logger("cairn.rpc.ws")

SUBSCRIPTION_LIMIT = -32001
CURSOR_TOO_OLD = -32002
EVENTS_UNAVAILABLE = -32003

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_KEEPALIVE = 1011
CLOSE_SLOW = 4000

MAX_HEAD = 16 * 1024
"""Bytes of handshake request head (as hypercorn's ``h11_max_incomplete_size``)."""
CLOSE_WAIT = 1.0
"""Seconds given to the close frame and the client's answer before the socket is closed."""
WS_PREFIXES = (b"GET /ws ", b"GET /ws?")

TOPICS: dict[str, tuple[str, str] | None] = {
    "newHeads": None,
    "jobAssigned": ("aicf", "job_assigned"),
    "jobCompleted": ("aicf", "job_resolved"),
    "jobExpired": ("aicf", "job_expired"),
    "providerSlashed": ("aicf", "provider_slashed"),
    "epochSettled": ("aicf", "epoch_settled"),
    "logs": None,
}
"""Topic → the event it carries (``None``: ``newHeads`` shows headers, ``logs`` every event)."""
ATTR_FILTERS = {"provider": "provider", "requester": "requester", "task": "task_id"}
"""Filter key → the event attribute it compares with."""

Cursor = tuple[int, int]


def is_ws_request(head: bytes) -> bool | None:
    """Whether a connection starting with ``head`` asks for ``/ws``; ``None``: not known yet."""
    for prefix in WS_PREFIXES:
        if head.startswith(prefix):
            return True
    if any(prefix.startswith(head) for prefix in WS_PREFIXES):
        return None
    return False


@dataclass
class Subscription:
    id: str
    topic: str
    attrs: dict[str, bytes]
    """Event attribute → the value it must have."""
    module: str | None = None
    name: str | None = None
    through: Cursor = (0, -1)
    """Every matching event up to this cursor has been written to the socket."""
    pending: int = 0
    """Its notifications in the connection's buffer."""
    replaying: bool = False
    active: bool = True

    def matches(self, e: Event) -> bool:
        if self.module is not None and e.module != self.module:
            return False
        if self.name is not None and e.name != self.name:
            return False
        if self.attrs:
            have = dict(e.attrs)
            return all(have.get(k) == v for k, v in self.attrs.items())
        return True


@dataclass
class Out:
    """A message waiting to be written; a notification names its subscription and cursor."""

    text: str
    sub: Subscription | None = None
    through: Cursor = (0, -1)


@dataclass
class Replay:
    """Replay ``sub`` from the store: events after ``after`` up to height ``to_height``."""

    sub: Subscription
    after: Cursor
    to_height: int


class Committed:
    """One committed block as the subscribers see it; JSON views made once, on demand."""

    def __init__(self, header: Header, events: list[Event], prefix: str) -> None:
        self.header = header
        self.height = header.height
        self.events = events
        self.prefix = prefix
        self._head: dict[str, Any] | None = None
        self._views: dict[int, dict[str, Any]] = {}

    def head_json(self) -> dict[str, Any]:
        if self._head is None:
            self._head = header_json(self.header, self.prefix)
        return self._head

    def event_view(self, index: int) -> dict[str, Any]:
        view = self._views.get(index)
        if view is None:
            view = self._views[index] = event_json(self.events[index], self.prefix)
        return view


def _notification(sub: Subscription, cursor: Cursor, event: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "subscription",
                       "params": {"id": sub.id, "cursor": {"height": cursor[0], "index": cursor[1]}, "event": event}},
                      separators=(",", ":"))


def _answer(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


def _http_refusal(status: str, code: int, message: str) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()
    return (b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status.encode(), len(body))) + body


class WsHub:
    """Every WebSocket connection of one node, fed by ``ChainService.on_commit``."""

    def __init__(self, chain: ChainService, *, ws_max_connections: int = 128, ws_max_subscriptions: int = 16,
                 ws_queue_messages: int = 1024, ws_queue_bytes: int = 8 * 1024 * 1024,
                 ws_max_message: int = 64 * 1024, ws_replay_blocks: int = 1000, ws_ping_interval: float = 20.0,
                 ws_pong_timeout: float = 10.0) -> None:
        self.chain = chain
        self.max_connections = ws_max_connections
        self.max_subscriptions = ws_max_subscriptions
        self.queue_messages = ws_queue_messages
        self.queue_bytes = ws_queue_bytes
        self.max_message = ws_max_message
        self.replay_blocks = ws_replay_blocks
        self.ping_interval = ws_ping_interval
        self.pong_timeout = ws_pong_timeout
        self.connections: set[WsConnection] = set()
        self.closed_slow = 0
        """Connections closed as slow consumers (for logs and tests)."""
        chain.on_commit(self._on_commit)

    @property
    def prefix(self) -> str:
        return self.chain.app.params.address_prefix

    def _on_commit(self, block: Block, output: BlockOutput) -> None:
        """Runs on the commit path: only appends to bounded buffers, never awaits."""
        if not self.connections:
            return
        committed = Committed(block.header, output.executed_events(), self.prefix)
        for conn in list(self.connections):
            conn.push_block(committed)

    async def serve(self, stream: trio.abc.Stream, head: bytes, *, handshake_timeout: float) -> None:
        """Serve one connection whose first bytes, ``head``, asked for ``/ws``."""
        if len(self.connections) >= self.max_connections:
            await self._refuse(stream, _http_refusal("503 Service Unavailable", SERVER_BUSY,
                                                     f"server busy: {self.max_connections} WebSocket connections open"))
            return
        ws = WSConnection(ConnectionType.SERVER)
        request: Request | None = None
        size = 0
        with trio.move_on_after(handshake_timeout):
            data = head
            while request is None:
                size += len(data)
                if size > MAX_HEAD:
                    await self._refuse(stream, _http_refusal("431 Request Header Fields Too Large", -32600,
                                                             f"request head larger than {MAX_HEAD} bytes"))
                    return
                try:
                    ws.receive_data(data)
                    for event in ws.events():
                        if isinstance(event, Request):
                            request = event
                            break
                except RemoteProtocolError as exc:
                    await self._refuse(stream, _http_refusal("400 Bad Request", -32600,
                                                             f"not a WebSocket handshake: {exc}"))
                    return
                if request is None:
                    data = bytes(await stream.receive_some(MAX_HEAD))
                    if not data:
                        return
        if request is None:
            return  # the head did not arrive in time
        path = request.target.partition("?")[0]
        if path != "/ws":
            await self._refuse(stream, _http_refusal("404 Not Found", -32600, f"no WebSocket at {shown(path)}"))
            return
        await stream.send_all(ws.send(AcceptConnection()))
        conn = WsConnection(self, stream, ws)
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)

    @staticmethod
    async def _refuse(stream: trio.abc.Stream, answer: bytes) -> None:
        with trio.move_on_after(CLOSE_WAIT):
            try:
                await stream.send_all(answer)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass


class WsConnection:
    """One client: a reader, a writer draining the bounded buffer, and the keepalive."""

    def __init__(self, hub: WsHub, stream: trio.abc.Stream, ws: WSConnection) -> None:
        self.hub = hub
        self.stream = stream
        self.ws = ws
        self.subs: dict[str, Subscription] = {}
        self.queue: deque[Out | Replay] = deque()
        self.queued_bytes = 0
        self.wake = trio.Event()
        self.closing: tuple[int, str] | None = None
        self.peer_closed = trio.Event()
        self.write_lock = trio.Lock()
        self.pong = trio.Event()
        self.ping_payload = b""
        self._ids = 0
        self._starting: list[tuple[Subscription, Cursor | None]] = []
        routes: dict[str, tuple[tuple[str, ...], Handler]] = {
            "subscribe": (("topic", "filter", "from"), self.subscribe),
            "unsubscribe": (("id",), self.unsubscribe),
        }
        self.dispatcher = Dispatcher(routes)

    # --- the buffer (called on the trio thread, never awaiting) -------------------------

    def push(self, item: Out | Replay) -> None:
        if self.closing is not None:
            return
        size = len(item.text) if isinstance(item, Out) else 0
        if len(self.queue) >= self.hub.queue_messages or self.queued_bytes + size > self.hub.queue_bytes:
            self._slow()
            return
        self.queue.append(item)
        self.queued_bytes += size
        self.wake.set()

    def _slow(self) -> None:
        resume = min((s.through for s in self.subs.values()), default=(self.hub.chain.head.height, -1))
        queued = len(self.queue)
        self.queue.clear()
        self.queued_bytes = 0
        self.hub.closed_slow += 1
        log.info("ws slow consumer closed", queued=queued, resume=f"{resume[0]}:{resume[1]}")
        self.close(CLOSE_SLOW, f"slow consumer: {queued} queued; resubscribe from {resume[0]}:{resume[1]}")

    def close(self, code: int, reason: str) -> None:
        """Close after the write in progress (the writer sends the close frame)."""
        if self.closing is None:
            self.closing = (code, reason)
            self.wake.set()

    def push_block(self, block: Committed) -> None:
        last = len(block.events) - 1
        for sub in list(self.subs.values()):
            if sub.topic == "newHeads":
                self.push(Out(_notification(sub, (block.height, -1), block.head_json()), sub, (block.height, -1)))
                sub.pending += 1
                continue
            found = [i for i, e in enumerate(block.events) if sub.matches(e)]
            if not found:
                if sub.pending == 0 and not sub.replaying:
                    sub.through = (block.height, last)
                continue
            for n, i in enumerate(found):
                through = (block.height, last if n == len(found) - 1 else i)
                self.push(Out(_notification(sub, (block.height, i), block.event_view(i)), sub, through))
                sub.pending += 1

    # --- requests --------------------------------------------------------------------------

    def _filter(self, topic: str, raw: Any) -> tuple[dict[str, bytes], str | None, str | None]:
        if raw is None:
            return {}, None, None
        if not isinstance(raw, dict):
            raise InvalidParams("param 'filter' must be an object")
        allowed = set(ATTR_FILTERS) | ({"module", "name"} if topic == "logs" else set())
        if topic == "newHeads":
            allowed = set()
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise InvalidParams(f"filter {shown(unknown[0])} does not apply to topic {topic!r}"
                                f" (it takes: {', '.join(sorted(allowed)) or 'no filter'})")
        p = Params(raw, tuple(sorted(allowed)))
        attrs: dict[str, bytes] = {}
        for key in ("provider", "requester"):
            if p.has(key):
                try:
                    attrs[ATTR_FILTERS[key]] = bytes(decode_address(p.str(key, max_len=128), self.hub.prefix))
                except DecodeError as exc:
                    raise InvalidParams(f"filter {key!r}: {exc.message}") from None
        if p.has("task"):
            attrs["task_id"] = p.hex("task", length=32)
        module = p.str("module", max_len=64) if p.has("module") else None
        name = p.str("name", max_len=64) if p.has("name") else None
        return attrs, module, name

    def _cursor(self, raw: Any) -> Cursor | None:
        if raw is None:
            return None
        if not isinstance(raw, dict) or set(raw) != {"height", "index"}:
            raise InvalidParams("param 'from' must be an object {height, index}")
        p = Params(raw, ("height", "index"))
        head = self.hub.chain.head.height
        height = p.int("height", hi=head)
        index = raw["index"]
        if not isinstance(index, int) or isinstance(index, bool) or not -1 <= index < 2**31:
            raise InvalidParams(f"param 'from.index' must be an integer in [-1, {2**31 - 1}]")
        if head - height > self.hub.replay_blocks:
            raise RpcError(CURSOR_TOO_OLD, f"cursor {height}:{index} is {head - height} blocks below the head "
                                           f"{head}; replay reaches back at most {self.hub.replay_blocks} blocks",
                           {"head": head, "max_blocks": self.hub.replay_blocks})
        try:
            self.hub.chain.store.load_events(height)
        except EventsUnavailable as exc:
            raise RpcError(EVENTS_UNAVAILABLE, exc.message, {"height": height}) from None
        return height, index

    async def subscribe(self, p: Params) -> Any:
        topic = p.str("topic", max_len=64)
        if topic not in TOPICS:
            raise InvalidParams(f"unknown topic {shown(topic)} (known: {', '.join(TOPICS)})")
        attrs, module, name = self._filter(topic, p.raw.get("filter"))
        after = self._cursor(p.raw.get("from"))
        if len(self.subs) + len(self._starting) >= self.hub.max_subscriptions:
            raise RpcError(SUBSCRIPTION_LIMIT, f"at most {self.hub.max_subscriptions} subscriptions per connection",
                           {"limit": self.hub.max_subscriptions})
        target = TOPICS[topic]
        if target is not None:
            module, name = target
        self._ids += 1
        sub = Subscription(str(self._ids), topic, attrs, module, name)
        self._starting.append((sub, after))  # started once its answer is in the buffer (handle)
        return sub.id

    async def unsubscribe(self, p: Params) -> Any:
        sub = self.subs.pop(p.str("id", max_len=64), None)
        if sub is None:
            return False
        sub.active = False
        return True

    async def handle(self, text: str) -> None:
        answer = await self.dispatcher.handle_body(text.encode("utf-8", "surrogatepass"))
        if answer is not None:
            self.push(Out(_answer(answer)))
        starting, self._starting = self._starting, []
        head = self.hub.chain.head.height
        for sub, after in starting:
            # No await since the head was read: the replay ends at ``head`` and every block
            # committed from now on reaches ``sub`` live.
            self.subs[sub.id] = sub
            if after is None:
                try:
                    sub.through = (head, len(self.hub.chain.store.load_events(head)) - 1)
                except EventsUnavailable:
                    sub.through = (head, 2**31 - 1)
            else:
                sub.through = after
                sub.replaying = True
                self.push(Replay(sub, after, head))

    # --- the tasks -------------------------------------------------------------------------

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._reader, nursery.cancel_scope)
            nursery.start_soon(self._keepalive)
            await self._writer()
            with trio.move_on_after(CLOSE_WAIT):
                await self.peer_closed.wait()
            nursery.cancel_scope.cancel()

    async def _write(self, data: bytes) -> None:
        async with self.write_lock:
            await self.stream.send_all(data)

    def _frame(self, event: Any) -> bytes | None:
        try:
            return self.ws.send(event)
        except LocalProtocolError:
            return None

    async def _writer(self) -> None:
        """Drain the buffer until closing; then send the close frame."""
        try:
            while True:
                while not self.queue and self.closing is None:
                    self.wake = trio.Event()
                    await self.wake.wait()
                if self.closing is not None:
                    break
                item = self.queue.popleft()
                if isinstance(item, Replay):
                    await self._replay(item)
                    continue
                self.queued_bytes -= len(item.text)
                sub = item.sub
                if sub is not None:
                    sub.pending -= 1
                    if not sub.active:
                        continue
                frame = self._frame(TextMessage(item.text))
                if frame is None:
                    return
                await self._write(frame)
                if sub is not None:
                    sub.through = item.through
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.peer_closed.set()
            return
        code, reason = self.closing
        frame = self._frame(CloseConnection(code, reason))
        if frame is not None:
            with trio.move_on_after(CLOSE_WAIT):
                try:
                    await self._write(frame)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.peer_closed.set()

    async def _replay(self, item: Replay) -> None:
        sub, (start, index) = item.sub, item.after
        store = self.hub.chain.store
        prefix = self.hub.prefix
        for height in range(start, item.to_height + 1):
            if not sub.active or self.closing is not None:
                return
            if sub.topic == "newHeads":
                if height > start:
                    header = store.load_block_at(height).header
                    await self._write_replayed(_notification(sub, (height, -1), header_json(header, prefix)))
                sub.through = (height, -1)
                continue
            try:
                events = store.load_events(height)
            except EventsUnavailable as exc:
                self.close(CLOSE_KEEPALIVE, f"replay stopped: events of height {height} are unavailable")
                log.warning("ws replay met a height without an event log", height=height, error=exc.message)
                return
            for i, e in enumerate(events):
                if (height, i) > (start, index) and sub.matches(e):
                    await self._write_replayed(_notification(sub, (height, i), event_json(e, prefix)))
                    if self.closing is not None:
                        return
            sub.through = (height, len(events) - 1)
            await trio.lowlevel.checkpoint()
        sub.replaying = False

    async def _write_replayed(self, text: str) -> None:
        frame = self._frame(TextMessage(text))
        if frame is not None:
            await self._write(frame)

    async def _reader(self, scope: trio.CancelScope) -> None:
        parts: list[str] = []
        size = 0
        try:
            while True:
                data = await self.stream.receive_some(65536)
                if not data:
                    break
                self.ws.receive_data(bytes(data))
                for event in self.ws.events():
                    if isinstance(event, (TextMessage, BytesMessage)):
                        if self.closing is not None:
                            continue  # closing: only the client's close frame matters now
                        chunk = event.data if isinstance(event, TextMessage) else \
                            bytes(event.data).decode("utf-8", "surrogateescape")
                        size += len(chunk)
                        if size > self.hub.max_message:
                            self.close(CLOSE_TOO_BIG, f"message larger than {self.hub.max_message} bytes")
                            parts, size = [], 0
                            continue
                        parts.append(chunk)
                        if event.message_finished:
                            text, parts, size = "".join(parts), [], 0
                            await self.handle(text)
                    elif isinstance(event, Ping):
                        frame = self._frame(event.response())
                        if frame is not None:
                            await self._write(frame)
                    elif isinstance(event, Pong):
                        if bytes(event.payload) == self.ping_payload:
                            self.pong.set()
                    elif isinstance(event, CloseConnection):
                        if self.closing is None:  # the client's close: answer it and end
                            frame = self._frame(event.response())
                            if frame is not None:
                                with trio.move_on_after(CLOSE_WAIT):
                                    await self._write(frame)
                            scope.cancel()
                        self.peer_closed.set()
                        return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        self.peer_closed.set()
        scope.cancel()

    async def _keepalive(self) -> None:
        n = 0
        while True:
            await trio.sleep(self.hub.ping_interval)
            n += 1
            self.ping_payload = n.to_bytes(8, "big")
            self.pong = trio.Event()
            frame = self._frame(Ping(self.ping_payload))
            if frame is None:
                return
            await self._write(frame)
            with trio.move_on_after(self.hub.pong_timeout) as scope:
                await self.pong.wait()
            if scope.cancelled_caught:
                log.info("ws keepalive timeout", pong_timeout=self.hub.pong_timeout)
                self.close(CLOSE_KEEPALIVE, f"keepalive: no pong within {self.hub.pong_timeout:g} s")
                return

