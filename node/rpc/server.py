"""The JSON-RPC server: a Starlette ASGI app served by hypercorn's HTTP/1.1 protocol on trio.

``POST /`` takes JSON-RPC 2.0 (single or batch).  ``GET /health`` answers 200 while the
node runs.

Everything a client can make the server hold is bounded.  Each limit is a parameter of
``make_app`` or ``serve_rpc``; the defaults are these module constants:

* ``MAX_BODY`` (16 MiB): a longer request body is answered HTTP 413 (from its
  ``Content-Length`` alone when it announces one).
* ``BODY_TIMEOUT`` (10 s): the whole body must arrive within this many seconds of the
  request head; a body still incomplete is answered HTTP 408 and the connection closed
  (a body sent one byte every few seconds no longer holds a connection for ever).
* ``KEEP_ALIVE_TIMEOUT`` (5 s, hypercorn's ``keep_alive_timeout``): a connection must
  complete its request head within this long of opening or of its previous answer, else
  it is closed — slow headers and idle keep-alive connections both end here.  A head is
  at most hypercorn's ``h11_max_incomplete_size`` (16 KiB).
* ``SEND_TIMEOUT`` (10 s): each write of an answer must be taken by the client within
  this long, else the connection is closed (a client that never reads holds nothing).
* ``MAX_BATCH`` (100, ``max_batch``): requests in one JSON-RPC batch; a larger batch is
  answered error ``-32005`` (``data.limit``), none of it run.
* ``RATE_LIMIT`` (0: off) and ``RATE_BURST`` (200): requests a second per client IP address,
  as a token bucket of ``rate_burst`` tokens (``node.rpc.ratelimit``; a batch costs one per
  request).  Past it: HTTP 429 with error ``-32004``, ``data.retry_after_ms`` and a
  ``Retry-After`` header; a request refused before its body is read also closes the connection.
* ``MAX_CONNECTIONS`` (512): RPC connections open at once.  One more is answered 503
  (JSON-RPC error ``-32000``) and closed at once, without reading it.  The cap is
  lowered to half the process's open-file limit when that is smaller, so the RPC port
  alone can never use up the descriptors LevelDB and p2p need; ``serve_rpc`` first
  raises the soft ``RLIMIT_NOFILE`` to the hard limit (``raise_open_files_limit``).
* Accept failing for lack of resources (``EMFILE``, ``ENFILE``, ``ENOBUFS``,
  ``ENOMEM``) is retried every ``ACCEPT_BACKOFF`` (0.1 s) and logged at most once per
  ``ACCEPT_LOG_INTERVAL`` (10 s): one line with the count, no traceback.

hypercorn's own ``serve`` accepts without a cap, so ``serve_rpc`` runs the accept loop
itself and hands each admitted connection to hypercorn's ``TCPServer``, or, when its first
bytes are ``GET /ws``, to the WebSocket hub (``node.rpc.ws``, which states its own limits).
Telling the two apart reads at most 8 bytes, within the same ``KEEP_ALIVE_TIMEOUT``.
"""

from __future__ import annotations

import errno
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
import trio
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper
from hypercorn.utils import wrap_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from node.rpc.jsonrpc import (
    INVALID_REQUEST,
    MAX_BATCH,
    RATE_LIMITED,
    SERVER_BUSY,
    Dispatcher,
    RpcError,
    error_answer,
    parse_request,
)
from node.rpc.ratelimit import RateLimiter
from node.rpc.ws import MAX_HEAD, WsHub, is_ws_request

log = structlog.get_logger("cairn.rpc")

MAX_BODY = 16 * 1024 * 1024
BODY_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 5.0
SEND_TIMEOUT = 10.0
MAX_CONNECTIONS = 512
RATE_LIMIT = 0.0
RATE_BURST = 200
ACCEPT_BACKOFF = 0.1
ACCEPT_LOG_INTERVAL = 10.0
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
REFUSE_TIMEOUT = 0.1
"""How long writing the 503 to a refused connection may take before it is just closed."""
MAX_LENGTH_DIGITS = 20


# --- the app ------------------------------------------------------------------------------------


def make_app(dispatcher: Dispatcher, *, max_body: int = MAX_BODY, body_timeout: float = BODY_TIMEOUT,
             max_batch: int = MAX_BATCH, rate_limit: float = RATE_LIMIT, rate_burst: int = RATE_BURST,
             extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The RPC app: ``POST /`` (JSON-RPC), ``GET /health``, then ``extra_routes`` (the node's
    metrics and dashboard, ``node.service``)."""
    too_large = f"request body larger than {max_body} bytes"
    limiter = RateLimiter(rate_limit, rate_burst)

    async def rpc(request: Request) -> Response:
        client = request.client.host if request.client is not None else ""
        wait = limiter.wait(client)
        if wait:
            return _rate_limited(wait, rate_limit, close=True)
        length = request.headers.get("content-length")
        if length is not None and length.isascii() and length.isdigit() and (
                len(length) > MAX_LENGTH_DIGITS or int(length) > max_body):
            return _error(INVALID_REQUEST, too_large, 413)
        chunks: list[bytes] = []
        size = 0
        with trio.move_on_after(body_timeout) as scope:
            async with aclosing(request.stream()) as stream:
                async for chunk in stream:
                    size += len(chunk)
                    if size > max_body:
                        return _error(INVALID_REQUEST, too_large, 413)
                    chunks.append(chunk)
        if scope.cancelled_caught:
            return _error(INVALID_REQUEST, f"request body not received within {body_timeout:g} s", 408)
        try:
            doc = parse_request(b"".join(chunks))
        except RpcError as exc:
            limiter.take(client)
            return Response(json.dumps(error_answer(exc), separators=(",", ":")), media_type="application/json")
        wait = limiter.take(client, len(doc) if isinstance(doc, list) else 1)
        if wait:
            return _rate_limited(wait, rate_limit, close=False)
        answer = await dispatcher.answer(doc, max_batch=max_batch)
        if answer is None:
            return Response(status_code=204)
        return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/", rpc, methods=["POST"]), Route("/health", health, methods=["GET"]),
                             *extra_routes])


def _error(code: int, message: str, status: int) -> Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    # An answer sent before the body was read ends the connection (the rest of the body is unread).
    return JSONResponse(body, status_code=status, headers={"connection": "close"})


def _rate_limited(wait: float, rate: float, *, close: bool) -> Response:
    retry_ms = max(1, math.ceil(wait * 1000))
    body = {"jsonrpc": "2.0", "id": None, "error": {
        "code": RATE_LIMITED, "message": f"rate limited: at most {rate:g} requests a second; retry in {retry_ms} ms",
        "data": {"retry_after_ms": retry_ms}}}
    headers = {"retry-after": str(math.ceil(wait))}
    if close:  # the body is unread
        headers["connection"] = "close"
    return JSONResponse(body, status_code=429, headers=headers)


def _busy_answer(max_connections: int) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {
        "code": SERVER_BUSY, "message": f"server busy: {max_connections} RPC connections open"}}).encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)) + body


# --- file descriptors ---------------------------------------------------------------------------


def open_files_limit() -> int | None:
    """The soft ``RLIMIT_NOFILE`` (``None`` where the platform has none)."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_open_files_limit() -> int | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit, if allowed; the soft limit after."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # e.g. macOS refuses RLIM_INFINITY; keep what we have
            pass
    return open_files_limit()


def connection_cap(max_connections: int, files_limit: int | None) -> int:
    """``max_connections``, lowered to half of ``files_limit`` (at least 1)."""
    if files_limit is None:
        return max(1, max_connections)
    return max(1, min(max_connections, files_limit // 2))


# --- the accept loop ---------------------------------------------------------------------------


@dataclass
class LogThrottle:
    """Logs an event at most once per ``interval`` seconds (trio's clock), counting the rest.

    ``repeated`` in a line is how many were held back since the previous line.
    """

    interval: float
    logger: Any = log
    _next: float = -math.inf
    _held: int = 0

    def note(self, event: str, **fields: Any) -> None:
        now = trio.current_time()
        if now < self._next:
            self._held += 1
            return
        self.logger.warning(event, repeated=self._held, **fields)
        self._held = 0
        self._next = now + self.interval


@dataclass
class ConnectionGate:
    """Counts open connections against ``cap``."""

    cap: int
    open: int = 0
    refused: int = 0

    def enter(self) -> bool:
        if self.open >= self.cap:
            self.refused += 1
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


class Slot:
    """One admitted connection's place under the cap, given back once: when its socket closes.

    (hypercorn may keep a closed connection's task a little longer, up to its keep-alive
    timer; the cap bounds descriptors, so the place is free as soon as the socket is.)
    """

    def __init__(self, gate: ConnectionGate) -> None:
        self.gate = gate
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.gate.leave()


class TimedStream(trio.abc.HalfCloseableStream):
    """A socket stream whose every ``send_all`` must finish within ``send_timeout`` seconds.

    A late send closes the stream and raises ``BrokenResourceError``, which hypercorn
    takes as the client going away (it even sends inside a shielded scope, whose own
    deadline this is).  Not an SSL stream: hypercorn looks for ``do_handshake`` to tell.
    """

    def __init__(self, stream: trio.SocketStream, send_timeout: float, slot: Slot) -> None:
        self.stream = stream
        self.socket = stream.socket
        self.send_timeout = send_timeout
        self.slot = slot
        self._unread = b""

    def unread(self, data: bytes) -> None:
        """Give ``data`` (already received) back: the next ``receive_some`` returns it first."""
        self._unread = data + self._unread

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with trio.move_on_after(self.send_timeout) as scope:
            await self.stream.send_all(data)
        if scope.cancelled_caught:
            await self.aclose()
            raise trio.BrokenResourceError(f"the client took no answer bytes for {self.send_timeout:g} s")

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._unread:
            n = len(self._unread) if max_bytes is None else max_bytes
            data, self._unread = self._unread[:n], self._unread[n:]
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        finally:
            self.slot.release()


Handler = Callable[[trio.SocketStream, Slot], Awaitable[None]]


async def accept_loop(listener: trio.abc.Listener[trio.SocketStream], handler: Handler, gate: ConnectionGate,
                      refusal: bytes, *, backoff: float = ACCEPT_BACKOFF,
                      log_interval: float = ACCEPT_LOG_INTERVAL, logger: Any = log) -> None:
    """Accept for ever: ``handler`` serves each connection the gate admits, in a nursery of its own.

    The handler gets the connection's ``Slot`` to release when it closes the socket (it is
    released anyway when the handler returns).

    Past the gate's cap a connection gets ``refusal`` (if it can be written at once) and is
    closed.  Accept errors for lack of resources wait ``backoff`` and retry.  Those, refusals
    and failed connections are each logged through a ``LogThrottle``; any other accept error
    ends the loop.
    """
    throttle = LogThrottle(log_interval, logger)
    failures = LogThrottle(log_interval, logger)
    refusals = LogThrottle(log_interval, logger)

    async def serve(stream: trio.SocketStream) -> None:
        slot = Slot(gate)
        try:
            await handler(stream, slot)
        except Exception as exc:  # one connection's failure must not end the server
            failures.note("rpc connection failed", error=repr(exc)[:200])
        finally:
            await trio.aclose_forcefully(stream)
            slot.release()

    async with trio.open_nursery() as nursery:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                    raise
                throttle.note("rpc accept failed, retrying", errno=errno.errorcode.get(exc.errno or 0, "?"),
                              open_connections=gate.open, retry_s=backoff)
                await trio.sleep(backoff)
                continue
            if gate.enter():
                nursery.start_soon(serve, stream)
                continue
            refusals.note("rpc connection refused at the cap", cap=gate.cap, refused_total=gate.refused)
            with trio.move_on_after(REFUSE_TIMEOUT):
                try:
                    await stream.send_all(refusal)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            await trio.aclose_forcefully(stream)


def _url(listener: trio.SocketListener) -> str:
    host, port = listener.socket.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_rpc(app: Starlette, host: str, port: int, *, max_connections: int = MAX_CONNECTIONS,
                    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT, send_timeout: float = SEND_TIMEOUT,
                    accept_backoff: float = ACCEPT_BACKOFF, accept_log_interval: float = ACCEPT_LOG_INTERVAL,
                    ws: WsHub | None = None,
                    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; ``task_status.started`` gets the bound addresses (see the module docstring)."""
    cap = connection_cap(max_connections, raise_open_files_limit())
    if cap < max_connections:
        log.warning("rpc connection cap lowered to half the open-file limit", requested=max_connections, cap=cap)
    config = Config()
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_timeout = keep_alive_timeout
    asgi: AppWrapper = wrap_app(app, config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
    context = WorkerContext(None)
    gate = ConnectionGate(cap)
    refusal = _busy_answer(cap)

    async def handler(stream: trio.SocketStream, slot: Slot) -> None:
        timed = TimedStream(stream, send_timeout, slot)
        if ws is not None:
            head = b""
            with trio.move_on_after(keep_alive_timeout) as scope:
                while is_ws_request(head) is None:
                    data = await timed.receive_some(MAX_HEAD)
                    if not data:
                        return
                    head += data
            if scope.cancelled_caught:
                return  # nothing useful within the time a request head has
            if is_ws_request(head):
                await ws.serve(timed, head, handshake_timeout=keep_alive_timeout)
                return
            timed.unread(head)
        await TCPServer(asgi, config, context, {}, timed)  # type: ignore[arg-type]

    listeners = await trio.open_tcp_listeners(port, host=host)
    try:
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(partial(accept_loop, listener, handler, gate, refusal, backoff=accept_backoff,
                                           log_interval=accept_log_interval))
            task_status.started([_url(listener) for listener in listeners])
    finally:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
