"""JSON-RPC 2.0 dispatch: the one wrapper that maps errors to error objects.

Error codes are stable:

* the JSON-RPC 2.0 codes ``-32700`` parse error, ``-32600`` invalid request,
  ``-32601`` method not found, ``-32602`` invalid params, ``-32603`` internal;
* every ``ChainError`` answers with its ``ErrorCode`` value (a positive number,
  see ``chain/errors.py``), ``data.name`` the code's name and ``data.temporary``
  whether retrying later may succeed.

A handler bug answers ``-32603`` and is logged; it never takes the node down.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from chain.errors import ChainError

log = structlog.get_logger("cairn.rpc")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
MAX_BATCH = 100


class RpcError(Exception):
    """An error answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class InvalidParams(RpcError):
    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMS, message)


class Params:
    """Typed access to a request's params; each getter names the bad parameter."""

    def __init__(self, raw: Any, names: tuple[builtins.str, ...]) -> None:
        if raw is None:
            raw = {}
        if isinstance(raw, list):
            if len(raw) > len(names):
                raise InvalidParams(f"too many positional params (at most {len(names)})")
            raw = dict(zip(names, raw, strict=False))
        if not isinstance(raw, dict):
            raise InvalidParams("params must be an object or an array")
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise InvalidParams(f"unknown param {unknown[0]!r}")
        self.raw: dict[builtins.str, Any] = raw

    def has(self, name: builtins.str) -> builtins.bool:
        return self.raw.get(name) is not None

    def int(self, name: builtins.str, *, default: builtins.int | None = None, lo: builtins.int = 0, hi: builtins.int = 2**63) -> builtins.int:
        v = self.raw.get(name, default)
        if v is None:
            raise InvalidParams(f"missing param {name!r}")
        if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 20:
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise InvalidParams(f"param {name!r} must be an integer in [{lo}, {hi}]")
        return v

    def str(self, name: builtins.str, *, default: builtins.str | None = None, max_len: builtins.int = 10_000_000) -> builtins.str:
        v = self.raw.get(name, default)
        if v is None:
            raise InvalidParams(f"missing param {name!r}")
        if not isinstance(v, str) or len(v) > max_len:
            raise InvalidParams(f"param {name!r} must be a string of at most {max_len} characters")
        return v

    def hex(self, name: builtins.str, *, length: builtins.int | None = None, max_len: builtins.int = 4 * 1024 * 1024) -> bytes:
        s = self.str(name, max_len=2 * max_len + 2)
        if s.startswith(("0x", "0X")):
            s = s[2:]
        try:
            b = bytes.fromhex(s)
        except ValueError:
            raise InvalidParams(f"param {name!r} must be hex") from None
        if length is not None and len(b) != length:
            raise InvalidParams(f"param {name!r} must be {length} bytes")
        return b

    def bool(self, name: builtins.str, *, default: builtins.bool = False) -> builtins.bool:
        v = self.raw.get(name)
        if v is None:
            v = default
        if not isinstance(v, bool):
            raise InvalidParams(f"param {name!r} must be true or false")
        return v

    def list(self, name: builtins.str, *, max_items: builtins.int) -> builtins.list[Any]:
        v = self.raw.get(name)
        if not isinstance(v, list):
            raise InvalidParams(f"param {name!r} must be an array")
        if len(v) > max_items:
            raise InvalidParams(f"param {name!r} holds more than {max_items} items")
        return v


Handler = Callable[[Params], Awaitable[Any]]
MAX_NESTING = 64


def nesting_within(body: bytes, limit: int) -> bool:
    """True when no array/object in ``body`` nests deeper than ``limit``.

    Checked before ``json.loads``, whose C parser recurses once per level and can
    exhaust the C stack on hostile input when the recursion limit is high.
    Brackets inside strings are skipped (escapes honoured).
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return True
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def chain_error_object(exc: ChainError) -> dict[str, Any]:
    data: dict[str, Any] = {"name": exc.code.name, "temporary": exc.temporary}
    for k, v in exc.details.items():
        data[k] = v.hex() if isinstance(v, bytes) else v if isinstance(v, (int, str, bool, type(None))) else str(v)
    return {"code": int(exc.code), "message": exc.message, "data": data}


class Dispatcher:
    """A routes table: method name → (param names, handler)."""

    def __init__(self, routes: Mapping[str, tuple[tuple[str, ...], Handler]]) -> None:
        self.routes = dict(routes)

    async def call_one(self, req: Any) -> dict[str, Any] | None:
        rid = req.get("id") if isinstance(req, dict) else None
        if not isinstance(rid, (str, int, type(None))) or isinstance(rid, bool):
            rid = None
        try:
            if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
                raise RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request")
            route = self.routes.get(req["method"])
            if route is None:
                raise RpcError(METHOD_NOT_FOUND, f"method {req['method']!r} not found")
            names, handler = route
            result = await handler(Params(req.get("params"), names))
            if "id" not in req:
                return None  # a notification
            return {"jsonrpc": "2.0", "id": rid, "result": result}
        except RpcError as exc:
            err: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if exc.data is not None:
                err["data"] = exc.data
        except ChainError as exc:
            err = chain_error_object(exc)
        except Exception:
            log.exception("rpc handler failed", method=req.get("method") if isinstance(req, dict) else None)
            err = {"code": INTERNAL_ERROR, "message": "internal error"}
        if isinstance(req, dict) and req.get("jsonrpc") == "2.0" and isinstance(req.get("method"), str) \
                and "id" not in req:
            return None  # a notification gets no answer, not even an error
        return {"jsonrpc": "2.0", "id": rid, "error": err}

    async def handle_body(self, body: bytes) -> Any:
        """Answer a request body (single or batch); ``None`` means no response (all notifications)."""
        if not nesting_within(body, MAX_NESTING):
            return {"jsonrpc": "2.0", "id": None,
                    "error": {"code": PARSE_ERROR, "message": f"JSON nested deeper than {MAX_NESTING}"}}
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "parse error"}}
        if isinstance(doc, list):
            if not doc:
                return {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": "empty batch"}}
            if len(doc) > MAX_BATCH:
                return {"jsonrpc": "2.0", "id": None,
                        "error": {"code": INVALID_REQUEST, "message": f"batch larger than {MAX_BATCH}"}}
            answers = [a for a in [await self.call_one(r) for r in doc] if a is not None]
            return answers or None
        return await self.call_one(doc)
