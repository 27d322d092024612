"""``cairn light serve``: a local JSON-RPC endpoint that answers from verified data only.

An existing client can point at it instead of at a node.  Each answer is built from values the
light session (``node.light``) proved against a header it verified by commits, in the shape the
full node gives (``node.rpc.views``, ``node.rpc.aicf``):

    chain.getHead        the latest header the session verified (it verifies the node's head first)
    state.getAccount     address, balance, nonce, code_hash, height, state_root
    cap.readResult       the ResultRecord (``null`` while proven absent)
    aicf.getProvider     the provider's record (health and eligibility computed locally)
    aicf.getPayout       the job's Payout
    aicf.getEpoch        an epoch's EpochRecord (``epoch`` required)
    state.getProof       passed through, after checking the proof against the verified header

Anything else is answered ``-32601`` "not available through the light proxy (it cannot be
verified here)"; a refusal of the session is ``-32000`` with the check that failed.  Served by
hypercorn on trio (like the node's RPC); the session's blocking calls run on a worker thread,
one at a time.
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aicf.params import AicfParams
from node.light import LightError, LightSession, query_key

NOT_AVAILABLE = -32601
REFUSED = -32000


class LightProxy:
    """The methods of the module docstring over one session."""

    def __init__(self, session: LightSession, params: AicfParams, prefix: str) -> None:
        self.session = session
        self.params = params
        self.prefix = prefix
        self.lock = trio.Lock()

    def _head(self) -> int:
        return int(self.session.primary.call("node.status")["height"])

    def _prove(self, kind: str, ident: Any) -> tuple[bytes | None, Any]:
        k, i, key = query_key(kind, str(ident), self.prefix)
        return self.session.prove(k, i, key, self._head())

    def answer(self, method: str, params: dict[str, Any]) -> Any:
        """The verified answer (blocking; ``LightError`` or ``KeyError`` for a missing param)."""
        from aicf.records import ProviderRecord, decode_record
        from aicf.settlement import EpochRecord, Payout
        from capabilities.records import ResultRecord
        from chain.state import Account
        from node.rpc.aicf import epoch_json, payout_json, provider_json, result_json
        from node.rpc.views import header_json

        if method == "chain.getHead":
            return header_json(self.session.verify_to(self._head()), self.prefix)
        if method == "state.getAccount":
            value, header = self._prove("account", params["address"])
            acct = Account() if value is None else Account.decode(value)
            return {"address": params["address"], "balance": str(acct.balance), "nonce": acct.nonce,
                    "code_hash": acct.code_hash.hex(), "height": header.height,
                    "state_root": bytes(header.state_root).hex()}
        if method == "cap.readResult":
            value, header = self._prove("result", params["task_id"])
            result = None if value is None else result_json(ResultRecord.decode(value), self.prefix)
            return {"task_id": params["task_id"], "result": result, "height": header.height}
        if method == "aicf.getProvider":
            value, header = self._prove("provider", params["address"])
            if value is None:
                raise LightError("absent", f"proven: no provider {params['address']} at height {header.height}")
            return provider_json(decode_record(ProviderRecord, value), header.height, self.params, self.prefix)
        if method == "aicf.getPayout":
            value, header = self._prove("payout", params["task_id"])
            if value is None:
                raise LightError("absent", f"proven: no payout for {params['task_id']} at height {header.height}")
            return {**payout_json(decode_record(Payout, value), self.prefix), "height": header.height}
        if method == "aicf.getEpoch":
            value, header = self._prove("epoch", params["epoch"])
            if value is None:
                raise LightError("absent", f"proven: epoch {params['epoch']} not settled at height {header.height}")
            return {**epoch_json(decode_record(EpochRecord, value)), "settled": True, "height": header.height}
        raise LookupError(method)

    def app(self) -> Starlette:
        async def rpc(request: Request) -> JSONResponse:
            try:
                body = await request.json()
                method, params, ident = body["method"], body.get("params") or {}, body.get("id")
                if not isinstance(method, str) or not isinstance(params, dict):
                    raise ValueError("method must be a string and params an object")
            except (ValueError, KeyError, TypeError) as exc:
                return _error(None, -32600, f"invalid request: {exc}")
            try:
                async with self.lock:
                    result = await trio.to_thread.run_sync(self.answer, method, params)
            except LookupError as exc:
                if isinstance(exc, KeyError):
                    return _error(ident, -32602, f"missing param {exc}")
                return _error(ident, NOT_AVAILABLE, f"{method} is not available through the light proxy "
                                                    "(it cannot be verified here)")
            except LightError as exc:
                return _error(ident, REFUSED, f"light: refused, {exc}", {"check": exc.check})
            return JSONResponse({"jsonrpc": "2.0", "id": ident, "result": result})

        return Starlette(routes=[Route("/", rpc, methods=["POST"])])


def _error(ident: Any, code: int, message: str, data: Any = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return JSONResponse({"jsonrpc": "2.0", "id": ident, "error": error})


async def serve_proxy(proxy: LightProxy, host: str, port: int, *,
                      task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``proxy`` on ``host:port`` until cancelled; ``task_status`` gets the bound URLs."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    await serve(proxy.app(), config, task_status=task_status)  # type: ignore[arg-type]
