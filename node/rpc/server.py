"""The JSON-RPC server: a Starlette ASGI app served by hypercorn on trio.

``POST /`` takes JSON-RPC 2.0 (single or batch).  ``GET /health`` answers 200
while the node runs.  Request bodies are capped at ``MAX_BODY`` bytes.
"""

from __future__ import annotations

import json

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from node.rpc.jsonrpc import INVALID_REQUEST, Dispatcher

MAX_BODY = 16 * 1024 * 1024


def make_app(dispatcher: Dispatcher) -> Starlette:
    async def rpc(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return _error(INVALID_REQUEST, f"request body larger than {MAX_BODY} bytes", 413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(INVALID_REQUEST, f"request body larger than {MAX_BODY} bytes", 413)
        answer = await dispatcher.handle_body(body)
        if answer is None:
            return Response(status_code=204)
        return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/", rpc, methods=["POST"]), Route("/health", health, methods=["GET"])])


def _error(code: int, message: str, status: int) -> Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status)


async def serve_rpc(app: Starlette, host: str, port: int, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; ``task_status.started`` gets the bound addresses."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    await serve(app, config, task_status=task_status)  # type: ignore[arg-type]
