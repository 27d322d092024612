"""A small synchronous JSON-RPC client (httpx) for the CLI, benchmarks and tests."""

from __future__ import annotations

import itertools
from typing import Any

import httpx


class RpcClientError(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class NodeUnreachable(Exception):
    """No node answered at the URL."""


class RpcClient:
    def __init__(self, url: str = "http://127.0.0.1:26657", *, timeout: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, /, **params: Any) -> Any:
        """Call ``method`` with named params (``None`` values are left out); the result.

        ``method`` is positional-only, so a param may itself be called ``method``.
        """
        try:
            resp = self._http.post(self.url, json=request_body(method, params, next(self._ids)))
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"cannot reach a node at {self.url}: {exc}") from None
        return answer_of(resp, self.url)


def request_body(method: str, params: dict[str, Any], ident: int) -> dict[str, Any]:
    """A JSON-RPC request with named params, ``None`` values left out."""
    return {"jsonrpc": "2.0", "id": ident, "method": method,
            "params": {k: v for k, v in params.items() if v is not None}}


def answer_of(resp: httpx.Response, url: str) -> Any:
    """The result of a JSON-RPC answer; ``RpcClientError`` for an error object,
    ``NodeUnreachable`` for something that is not a JSON-RPC answer."""
    try:
        doc = resp.json()
    except ValueError:
        raise NodeUnreachable(f"{url} did not answer JSON-RPC (HTTP {resp.status_code})") from None
    return result_of(doc)


def result_of(doc: Any) -> Any:
    """The result of a decoded JSON-RPC answer (over HTTP or ``/ws``), or the error it carries."""
    if not isinstance(doc, dict):
        raise NodeUnreachable(f"not a JSON-RPC answer: {doc!r:.200}")
    if "error" in doc:
        e = doc["error"]
        raise RpcClientError(int(e.get("code", 0)), str(e.get("message", "")), e.get("data"))
    return doc.get("result")
