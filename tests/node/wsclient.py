"""A small WebSocket test client on trio over a real socket (wsproto does the protocol).

It can stop reading (``paused``), answer pings or not (``answer_pings``), and set a small
receive buffer, so tests can play slow and dead clients.
"""

from __future__ import annotations

import itertools
import json
import socket
from typing import Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

WAIT = 15.0
OPEN: list[WsClient] = []
"""Every client connected, for a fixture to close after each test (``close_all``)."""


async def close_all() -> None:
    while OPEN:
        await OPEN.pop().aclose()


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class WsClient:
    def __init__(self, stream: trio.SocketStream, *, answer_pings: bool = True) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.answer_pings = answer_pings
        self.ids = itertools.count(1)
        self.inbox: list[Any] = []
        self.pings = 0
        self.parts: list[str] = []

    @classmethod
    async def connect(cls, url: str, *, rcvbuf: int | None = None, answer_pings: bool = True,
                      path: str = "/ws") -> WsClient:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect((host, int(port)))
        client = cls(trio.SocketStream(sock), answer_pings=answer_pings)
        OPEN.append(client)
        await client.stream.send_all(client.ws.send(Request(host=host, target=path)))
        with trio.fail_after(WAIT):
            while True:
                data = await client.stream.receive_some(65536)
                assert data, "closed during the handshake"
                client.ws.receive_data(data)
                for event in client.ws.events():
                    if isinstance(event, AcceptConnection):
                        return client
                    if isinstance(event, (RejectConnection, RejectData)):
                        raise AssertionError(f"handshake refused: {event}")

    async def send_text(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(text)))

    async def request(self, method: str, params: Any = None) -> int:
        rid = next(self.ids)
        doc: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            doc["params"] = params
        await self.send_text(json.dumps(doc))
        return rid

    async def receive(self) -> Any:
        """The next JSON message; ``Closed`` once the server closed."""
        with trio.fail_after(WAIT):
            while not self.inbox:
                data = await self.stream.receive_some(65536)
                if not data:
                    raise Closed(1006, "no close frame")
                self.ws.receive_data(data)
                for event in self.ws.events():
                    if isinstance(event, TextMessage):
                        self.parts.append(event.data)
                        if event.message_finished:
                            self.inbox.append(json.loads("".join(self.parts)))
                            self.parts = []
                    elif isinstance(event, Ping):
                        self.pings += 1
                        if self.answer_pings:
                            await self.stream.send_all(self.ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        self.inbox.append(Closed(event.code, event.reason))
            item = self.inbox.pop(0)
            if isinstance(item, Closed):
                raise item
            return item

    async def answer(self, rid: int) -> Any:
        """The answer to request ``rid`` (notifications before it are kept for ``notification``)."""
        held: list[Any] = []
        try:
            while True:
                doc = await self.receive()
                if doc.get("id") == rid and "method" not in doc:
                    return doc
                held.append(doc)
        finally:
            self.inbox[:0] = held

    async def call(self, method: str, params: Any = None) -> Any:
        doc = await self.answer(await self.request(method, params))
        assert "result" in doc, doc
        return doc["result"]

    async def error(self, method: str, params: Any = None) -> dict[str, Any]:
        doc = await self.answer(await self.request(method, params))
        assert "error" in doc and set(doc) == {"jsonrpc", "id", "error"}, doc
        return doc["error"]

    async def notification(self) -> dict[str, Any]:
        doc = await self.receive()
        assert doc.get("method") == "subscription", doc
        params: dict[str, Any] = doc["params"]
        return params

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)
