"""Typed JSON-RPC clients of a Cairn node: every method of ``node.rpc.spec`` as a Python method.

``Client`` blocks (httpx); ``AsyncClient`` awaits, on trio (httpx's async client runs on
trio through anyio) and subscribes to ``/ws`` topics.  The methods themselves are generated
(``node.rpcclient_methods``, ``python -m node.rpc.clientgen``): ``chain.getBlock`` is
``chain_get_block(*, height=None, hash=None, full=None)``, and each returns the result's
JSON; a JSON-RPC error raises ``RpcClientError`` with its code.

A **subscription** (``AsyncClient.subscribe``) is an async iterator of notifications
(``{id, cursor: {height, index}, event}``, docs/RPC.md).  It remembers the cursor of the
last one it yielded; when the connection drops (the node restarted, closed it as a slow
consumer, the network failed) it reconnects and subscribes again ``from`` that cursor, so
the stream resumes with the next event, none skipped or repeated, as long as the node still
replays that far back (``ws_replay_blocks``; else ``RpcClientError`` ``-32002``).  The
WebSocket protocol is ``wsproto``'s over trio streams: ``websockets`` runs on asyncio only.
"""

from __future__ import annotations

import itertools
import json
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, RejectConnection, Request, TextMessage

from node.client import NodeUnreachable, RpcClient, RpcClientError, answer_of, request_body, result_of
from node.rpcclient_methods import AsyncMethods, SyncMethods

__all__ = ["AsyncClient", "Client", "Dropped", "NodeUnreachable", "RpcClientError", "Subscription"]


class Client(RpcClient, SyncMethods):
    """The blocking client: ``Client(url).chain_get_head()``."""

    def __enter__(self) -> Client:
        return self


class AsyncClient(AsyncMethods):
    """The trio client: ``async with AsyncClient(url) as c: await c.chain_get_head()``."""

    def __init__(self, url: str = "http://127.0.0.1:26657", *, timeout: float = 30.0) -> None:
        self.url = url
        self._http = httpx.AsyncClient(timeout=timeout)
        self._ids = itertools.count(1)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def call(self, method: str, /, **params: Any) -> Any:
        """Call ``method`` with named params (``None`` values are left out); the result."""
        try:
            resp = await self._http.post(self.url, json=request_body(method, params, next(self._ids)))
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"cannot reach a node at {self.url}: {exc}") from None
        return answer_of(resp, self.url)

    async def subscribe(self, topic: str, *, filter: dict[str, Any] | None = None,
                        after: tuple[int, int] | None = None, max_reconnects: int = 10,
                        backoff: float = 0.2) -> Subscription:
        """A subscription to ``topic`` (module docstring), live once this returns; from just after
        cursor ``after`` when given.  ``aclose`` it when done."""
        sub = Subscription(self.url, topic, filter, after, max_reconnects=max_reconnects, backoff=backoff)
        sub._ws = await sub._open()
        return sub


class Dropped(Exception):
    """The WebSocket connection ended (a close frame, or the stream broke)."""


class _Ws:
    """One ``/ws`` connection: JSON text messages over wsproto on a trio stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.inbox: list[Any] = []
        self.parts: list[str] = []

    @classmethod
    async def connect(cls, url: str) -> _Ws:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise Dropped(f"cannot connect to {host}:{port}: {exc}") from None
        conn = cls(stream)
        await conn._send(conn.ws.send(Request(host=f"{host}:{port}", target="/ws")))
        while True:
            for event in await conn._events():
                if isinstance(event, AcceptConnection):
                    return conn
                if isinstance(event, RejectConnection):
                    await conn.aclose()
                    raise Dropped(f"WebSocket refused: HTTP {event.status_code}")

    async def _send(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise Dropped(str(exc)) from None

    async def _events(self) -> list[Any]:
        try:
            data = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise Dropped(str(exc)) from None
        if not data:
            raise Dropped("the connection closed without a close frame")
        self.ws.receive_data(bytes(data))
        return list(self.ws.events())

    async def send_json(self, doc: Any) -> None:
        await self._send(self.ws.send(TextMessage(json.dumps(doc))))

    async def receive_json(self) -> Any:
        while not self.inbox:
            for event in await self._events():
                if isinstance(event, TextMessage):
                    self.parts.append(event.data)
                    if event.message_finished:
                        self.inbox.append(json.loads("".join(self.parts)))
                        self.parts = []
                elif isinstance(event, Ping):
                    await self._send(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    raise Dropped(f"closed {event.code}: {event.reason}")
        return self.inbox.pop(0)

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


class Subscription:
    """An async iterator of one topic's notifications that resumes from its cursor (module docstring)."""

    def __init__(self, url: str, topic: str, filter: dict[str, Any] | None, after: tuple[int, int] | None, *,
                 max_reconnects: int, backoff: float) -> None:
        self.url = url
        self.topic = topic
        self.filter = filter
        self.cursor = after
        """The cursor of the last notification yielded (or the starting one)."""
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.reconnects = 0
        """Times the connection was made again after a drop."""
        self._ws: _Ws | None = None
        self._failures = 0

    def __aiter__(self) -> Subscription:
        return self

    async def _open(self) -> _Ws:
        ws = await _Ws.connect(self.url)
        params: dict[str, Any] = {"topic": self.topic}
        if self.filter is not None:
            params["filter"] = self.filter
        if self.cursor is not None:
            params["from"] = {"height": self.cursor[0], "index": self.cursor[1]}
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": params})
        while True:
            doc = await ws.receive_json()
            if isinstance(doc, dict) and doc.get("id") == 1 and "method" not in doc:
                try:
                    result_of(doc)
                except RpcClientError:
                    await ws.aclose()
                    raise
                return ws

    async def __anext__(self) -> dict[str, Any]:
        while True:
            try:
                if self._ws is None:
                    self._ws = await self._open()
                    if self._failures:
                        self.reconnects += 1
                doc = await self._ws.receive_json()
            except Dropped:
                if self._ws is not None:
                    await self._ws.aclose()
                    self._ws = None
                self._failures += 1
                if self._failures > self.max_reconnects:
                    raise
                await trio.sleep(self.backoff * min(self._failures, 10))
                continue
            if not (isinstance(doc, dict) and doc.get("method") == "subscription"):
                continue  # an answer to nothing we asked: skip
            self._failures = 0
            params: dict[str, Any] = doc["params"]
            self.cursor = (int(params["cursor"]["height"]), int(params["cursor"]["index"]))
            return params

    async def aclose(self) -> None:
        if self._ws is not None:
            await self._ws.aclose()
            self._ws = None
