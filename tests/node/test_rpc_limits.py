"""What a client can make the RPC server hold is bounded (issue 9, finding 10).

Real sockets against ``serve_rpc`` on 127.0.0.1, started by each test with small limits
so the waits stay short: a body sent a byte at a time is cut off (408) within its
deadline while honest requests keep being answered; slow headers end at the keep-alive
deadline; a client that never reads its answer is dropped; past the connection cap a
new connection is refused at once and the open ones keep working.  The accept loop's
handling of ``EMFILE`` runs against a listener that always fails (the operating system
is the double) under trio's autojump clock.

The only timing assertions are generous upper bounds: "closed within 3× its deadline".
"""

from __future__ import annotations

import errno
import json
import socket
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from structlog.testing import CapturingLogger

from node.rpc.jsonrpc import SERVER_BUSY, Dispatcher, Handler, Params
from node.rpc.server import ConnectionGate, Slot, accept_loop, connection_cap, make_app, serve_rpc

WAIT = 20.0
BIG = 32 * 1024 * 1024


async def echo(p: Params) -> Any:
    return p.raw.get("value")


async def big(p: Params) -> Any:
    return "x" * BIG


ROUTES: dict[str, tuple[tuple[str, ...], Handler]] = {"test.echo": (("value",), echo), "test.big": ((), big)}


@dataclass
class Server:
    host: str
    port: int
    url: str

    async def connect(self) -> trio.SocketStream:
        return await trio.open_tcp_stream(self.host, self.port)


async def start(nursery: trio.Nursery, *, body_timeout: float = 10.0, max_body: int = 16 * 1024 * 1024,
                **limits: Any) -> Server:
    app = make_app(Dispatcher(ROUTES), body_timeout=body_timeout, max_body=max_body)
    with trio.fail_after(WAIT):
        (url,) = await nursery.start(partial(serve_rpc, app, "127.0.0.1", 0, **limits))
    port = int(url.rsplit(":", 1)[1])
    return Server("127.0.0.1", port, url)


def request_bytes(value: Any = 1, *, close: bool = False) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test.echo", "params": {"value": value}}).encode()
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return head + (b"Connection: close\r\n" if close else b"") + b"\r\n" + body


async def read_response(stream: trio.SocketStream) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length: (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some()
        if not chunk:
            raise EOFError(data)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (line.partition(": ") for line in lines[1:]) if k.lower() == "content-length")
    while len(body) < length:
        chunk = await stream.receive_some()
        if not chunk:
            raise EOFError(data)
        body += chunk
    return int(lines[0].split()[1]), body


async def read_to_close(stream: trio.SocketStream) -> bytes:
    """Everything the server sends until it closes (a reset counts as closed)."""
    data = b""
    try:
        while chunk := await stream.receive_some():
            data += chunk
    except trio.BrokenResourceError:
        pass
    return data


async def ask(server: Server, value: Any) -> int | None:
    """One request on a new connection: the HTTP status (the answer checked), or ``None`` if closed unanswered."""
    stream = await server.connect()
    try:
        await stream.send_all(request_bytes(value, close=True))
        status, body = await read_response(stream)
    except (EOFError, trio.BrokenResourceError):
        return None
    finally:
        await stream.aclose()
    if status == 200:
        assert json.loads(body) == {"jsonrpc": "2.0", "id": 1, "result": value}
    return status


async def honest(server: Server, value: Any) -> None:
    assert await ask(server, value) == 200


async def served_again(server: Server, value: Any) -> None:
    """Wait (up to WAIT) until a new connection is served."""
    with trio.fail_after(WAIT):
        while await ask(server, value) != 200:
            await trio.sleep(0.05)


# --- bodies and heads that never finish ------------------------------------------------------------


async def test_slow_bodies_are_cut_off_while_honest_requests_are_answered(nursery: trio.Nursery) -> None:
    deadline = 1.0
    server = await start(nursery, body_timeout=deadline, max_connections=64)
    slow, ends = 20, []
    all_open = trio.Event()
    opened = 0

    async def slowloris() -> None:
        nonlocal opened
        stream = await server.connect()
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        await stream.send_all(head)
        sent_at = trio.current_time()
        opened += 1
        if opened == slow:
            all_open.set()
        async with trio.open_nursery() as inner:

            async def drip() -> None:
                try:
                    while True:
                        await stream.send_all(b" ")
                        await trio.sleep(0.2)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            inner.start_soon(drip)
            reply = await read_to_close(stream)
            inner.cancel_scope.cancel()
        ends.append((trio.current_time() - sent_at, reply))
        await stream.aclose()

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as crowd:
            for _ in range(slow):
                crowd.start_soon(slowloris)
            await all_open.wait()
            for i in range(5):  # answered while all the slow bodies are dripping
                await honest(server, i)
    assert len(ends) == slow
    for took, reply in ends:
        assert took < 3 * deadline, took
        assert reply == b"" or reply.startswith(b"HTTP/1.1 408"), reply[:100]
    assert any(reply.startswith(b"HTTP/1.1 408") for _, reply in ends)
    await honest(server, "after")


async def test_a_head_sent_slowly_is_cut_off_at_the_keep_alive_deadline(nursery: trio.Nursery) -> None:
    deadline = 1.0
    server = await start(nursery, keep_alive_timeout=deadline)
    stream = await server.connect()
    start_at = trio.current_time()
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as inner:

            async def drip() -> None:
                try:
                    for byte in b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000:
                        await stream.send_all(bytes([byte]))
                        await trio.sleep(0.1)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            inner.start_soon(drip)
            await read_to_close(stream)
            inner.cancel_scope.cancel()
    assert trio.current_time() - start_at < 3 * deadline
    await stream.aclose()
    await honest(server, 1)


async def test_a_client_that_never_reads_its_answer_is_dropped(nursery: trio.Nursery) -> None:
    deadline = 1.0
    server = await start(nursery, send_timeout=deadline, max_connections=1)
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect((server.host, server.port))
    stream = trio.SocketStream(sock)
    body = b'{"jsonrpc":"2.0","id":1,"method":"test.big"}'
    await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    # The only slot is held by the non-reader; it frees once the server gives up on it.
    await served_again(server, "freed")
    with trio.fail_after(WAIT):
        got = await read_to_close(stream)
    assert len(got) < BIG, "the server sent the whole answer to a client that did not read"
    await stream.aclose()


async def test_a_chunked_body_over_the_cap_is_refused_once_it_passes_it(nursery: trio.Nursery) -> None:
    # No Content-Length to refuse it by: the server counts as the chunks arrive.
    server = await start(nursery, max_body=1000)
    stream = await server.connect()
    await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    with trio.fail_after(WAIT):
        for _ in range(3):
            await stream.send_all(b"190\r\n" + b" " * 400 + b"\r\n")
        reply = await read_to_close(stream)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    assert "1000" in json.loads(reply.partition(b"\r\n\r\n")[2])["error"]["message"]
    await stream.aclose()
    await honest(server, "x" * 900)


# --- the connection cap -------------------------------------------------------------------------------


async def test_the_connection_cap_refuses_one_more_and_keeps_the_open_ones(nursery: trio.Nursery) -> None:
    cap = 4
    server = await start(nursery, max_connections=cap, keep_alive_timeout=60)
    held = [await server.connect() for _ in range(cap)]
    with trio.fail_after(WAIT):
        for i, stream in enumerate(held):  # each answered once: each holds a slot, kept alive
            await stream.send_all(request_bytes(i))
            assert (await read_response(stream))[0] == 200
        for _ in range(3):  # one more: refused at once (503, or just closed), never served
            extra = await server.connect()
            try:
                await extra.send_all(request_bytes("no"))
            except trio.BrokenResourceError:
                pass
            reply = await read_to_close(extra)
            await extra.aclose()
            assert reply == b"" or reply.startswith(b"HTTP/1.1 503"), reply[:200]
            if reply:
                status_body = json.loads(reply.partition(b"\r\n\r\n")[2])
                assert status_body["error"]["code"] == SERVER_BUSY and str(cap) in status_body["error"]["message"]
        for i, stream in enumerate(held):  # the open connections still work
            await stream.send_all(request_bytes(f"again {i}"))
            status, body = await read_response(stream)
            assert status == 200 and json.loads(body)["result"] == f"again {i}"
        await held.pop().aclose()  # a slot frees: a new client is served again
    await served_again(server, "in")
    for stream in held:
        await stream.aclose()


def test_the_cap_stays_below_the_open_file_limit() -> None:
    assert connection_cap(512, 20_000) == 512
    assert connection_cap(512, 256) == 128
    assert connection_cap(512, 1) == 1
    assert connection_cap(512, None) == 512


# --- accept failing for lack of descriptors ---------------------------------------------------------


class ExhaustedListener(trio.abc.Listener[trio.SocketStream]):
    """The operating system out of file descriptors: every accept fails with EMFILE."""

    def __init__(self) -> None:
        self.accepts = 0

    async def accept(self) -> trio.SocketStream:
        self.accepts += 1
        await trio.lowlevel.checkpoint()
        raise OSError(errno.EMFILE, "Too many open files")

    async def aclose(self) -> None:
        pass


async def no_handler(stream: trio.SocketStream, slot: Slot) -> None:
    raise AssertionError("no connection was accepted")


async def test_emfile_is_retried_and_logged_once_per_interval(autojump_clock: trio.abc.Clock) -> None:
    listener, logger = ExhaustedListener(), CapturingLogger()
    interval, backoff, run_for = 10.0, 0.1, 60.0
    with trio.move_on_after(run_for):
        await accept_loop(listener, no_handler, ConnectionGate(8), b"", backoff=backoff, log_interval=interval,
                          logger=logger)
    assert listener.accepts >= 0.9 * run_for / backoff  # it kept retrying
    lines = logger.calls
    assert 1 <= len(lines) <= run_for / interval + 1, lines
    for call in lines:
        assert call.method_name == "warning" and call.kwargs["errno"] == "EMFILE"
        assert "exc_info" not in call.kwargs  # one line, no traceback
    assert sum(c.kwargs["repeated"] for c in lines) + len(lines) <= listener.accepts
    assert lines[-1].kwargs["repeated"] > 0  # the held-back failures are counted, not dropped

