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
        req = {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
               "params": {k: v for k, v in params.items() if v is not None}}
        try:
            resp = self._http.post(self.url, json=req)
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"cannot reach a node at {self.url}: {exc}") from None
        try:
            doc = resp.json()
        except ValueError:
            raise NodeUnreachable(f"{self.url} did not answer JSON-RPC (HTTP {resp.status_code})") from None
        if "error" in doc:
            e = doc["error"]
            raise RpcClientError(int(e.get("code", 0)), str(e.get("message", "")), e.get("data"))
        return doc.get("result")
