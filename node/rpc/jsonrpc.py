"""JSON-RPC 2.0 dispatch: the one wrapper that maps errors to error objects.

Error codes are stable:

* the JSON-RPC 2.0 codes ``-32700`` parse error, ``-32600`` invalid request,
  ``-32601`` method not found, ``-32602`` invalid params, ``-32603`` internal;
* ``-32000`` server busy (the connection cap is reached; sent with HTTP 503);
* ``-32004`` rate limited (the client's request budget is spent; sent with HTTP 429,
  ``data.retry_after_ms`` the wait), ``-32005`` batch too large (``data.limit`` the cap);
* every ``ChainError`` answers with its ``ErrorCode`` value (a positive number,
  see ``chain/errors.py``), ``data.name`` the code's name and ``data.temporary``
  whether retrying later may succeed.

A handler bug answers ``-32603`` and is logged; it never takes the node down.

Parsing: any valid JSON is parsed (``-32700`` only for what is not JSON, including
``NaN`` and ``Infinity``).  A number longer than ``MAX_NUMBER_CHARS`` (100) characters,
or a fraction too large for a float, is kept as a ``TooLargeNumber`` that no param
accepts (``-32602``), so no number costs more than a bounded conversion.

Ids: a string, a number (echoed as given: integers exactly, fractions as floats) or
``null``.  Any other id (``true``, an array, an object, a ``TooLargeNumber``) makes the
request invalid (``-32600``, answered with id ``null``).  Limits: ``MAX_BATCH`` (100, the
server's ``max_batch``) requests per batch, ``MAX_NESTING`` (64) levels of arrays and objects.
"""

from __future__ import annotations

import builtins
import json
import math
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
SERVER_BUSY = -32000
RATE_LIMITED = -32004
BATCH_TOO_LARGE = -32005
MAX_BATCH = 100
MAX_NUMBER_CHARS = 100
MAX_SHOWN = 64
"""Characters of a client's method or param name repeated in an error message."""


def shown(text: str) -> str:
    """``text`` as an error message repeats it: ``repr``, cut to ``MAX_SHOWN`` characters."""
    return repr(text) if len(text) <= MAX_SHOWN else repr(text[:MAX_SHOWN]) + "..."


class TooLargeNumber:
    """A JSON number kept unconverted: longer than ``MAX_NUMBER_CHARS``, or past a float's range."""

    __slots__ = ("chars",)

    def __init__(self, chars: int) -> None:
        self.chars = chars

    def __repr__(self) -> str:
        return f"TooLargeNumber({self.chars} characters)"


def _parse_int(text: str) -> int | TooLargeNumber:
    return TooLargeNumber(len(text)) if len(text) > MAX_NUMBER_CHARS else int(text)


def _parse_float(text: str) -> float | TooLargeNumber:
    if len(text) > MAX_NUMBER_CHARS:
        return TooLargeNumber(len(text))
    value = float(text)
    return value if math.isfinite(value) else TooLargeNumber(len(text))


def _not_json(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def parse_json(body: bytes) -> Any:
    """``json.loads`` for JSON only, with numbers bounded (see the module docstring)."""
    return json.loads(body, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_not_json)


def valid_id(rid: Any) -> bool:
    """A request id JSON-RPC 2.0 allows (and we can echo): a string, a number or null."""
    if isinstance(rid, bool):
        return False
    return rid is None or isinstance(rid, (str, int)) or (isinstance(rid, float) and math.isfinite(rid))


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
            raise InvalidParams(f"unknown param {shown(unknown[0])}")
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
        """Hex bytes (``0x`` optional): exactly ``length`` bytes, or at most ``max_len`` + 1.

        The one byte of slack (whatever the prefix) lets the caller refuse an oversize
        value with its own, more precise error.
        """
        cap = length if length is not None else max_len + 1
        s = strip_hex_prefix(self.str(name, max_len=2 * cap + 2))
        if len(s) > 2 * cap:  # refused before decoding a single byte
            raise InvalidParams(f"param {name!r} must be {length} bytes" if length is not None
                                else f"param {name!r} must be hex of at most {max_len} bytes")
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


def strip_hex_prefix(s: str) -> str:
    return s[2:] if s.startswith(("0x", "0X")) else s


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
        good_id = valid_id(rid)
        if not good_id:
            rid = None
        try:
            if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
                raise RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request")
            if not good_id:
                raise RpcError(INVALID_REQUEST, "id must be a string, a number or null")
            route = self.routes.get(req["method"])
            if route is None:
                raise RpcError(METHOD_NOT_FOUND, f"method {shown(req['method'])} not found")
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
            method = req.get("method") if isinstance(req, dict) else None
            log.exception("rpc handler failed", method=shown(method) if isinstance(method, str) else None)
            err = {"code": INTERNAL_ERROR, "message": "internal error"}
        if isinstance(req, dict) and req.get("jsonrpc") == "2.0" and isinstance(req.get("method"), str) \
                and "id" not in req:
            return None  # a notification gets no answer, not even an error
        return {"jsonrpc": "2.0", "id": rid, "error": err}

    async def handle_body(self, body: bytes, *, max_batch: int = MAX_BATCH) -> Any:
        """Answer a request body (single or batch); ``None`` means no response (all notifications)."""
        try:
            doc = parse_request(body)
        except RpcError as exc:
            return error_answer(exc)
        return await self.answer(doc, max_batch=max_batch)

    async def answer(self, doc: Any, *, max_batch: int = MAX_BATCH) -> Any:
        """Answer a parsed body (``parse_request``): one request, or a batch of at most ``max_batch``."""
        if isinstance(doc, list):
            if not doc:
                return {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": "empty batch"}}
            if len(doc) > max_batch:
                return error_answer(RpcError(BATCH_TOO_LARGE, f"batch of {len(doc)} requests is larger than "
                                             f"{max_batch}", {"limit": max_batch}))
            answers = [a for a in [await self.call_one(r) for r in doc] if a is not None]
            return answers or None
        return await self.call_one(doc)


def parse_request(body: bytes) -> Any:
    """A request body's JSON, or ``RpcError`` ``-32700`` (too deeply nested, or not JSON)."""
    if not nesting_within(body, MAX_NESTING):
        raise RpcError(PARSE_ERROR, f"JSON nested deeper than {MAX_NESTING}")
    try:
        return parse_json(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RpcError(PARSE_ERROR, "parse error") from None


def error_answer(exc: RpcError) -> dict[str, Any]:
    """The answer (id ``null``) to a body refused as a whole."""
    err: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        err["data"] = exc.data
    return {"jsonrpc": "2.0", "id": None, "error": err}
