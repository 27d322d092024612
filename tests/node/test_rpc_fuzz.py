"""Fuzzing every RPC method's params from its OpenRPC schema (``node.rpc.spec``), on a real
in-process node over HTTP: only JSON-RPC answers come back (a result that fits the method's
result schema, or an error object with an integer code and a message), the node keeps
serving, and its memory stays bounded.

Params are drawn per method (Hypothesis picks the seed of each draw, so a failure shrinks
and replays): values that fit each
param's schema (strings of the right pattern, integers at the edges of their range, real
devnet addresses), values of the wrong type, missing required params, unknown extra params,
the params as a positional array or as a scalar, batches; plus bodies that are not JSON-RPC
at all.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from node.rpc.spec import METHODS, Param
from node.service import Node
from tests.node.rpc_schema import check_result
from tests.node.test_rpc import Rpc, addr, node, rpc, sync_http, threaded_node

__all__ = ["node", "rpc", "sync_http", "threaded_node"]  # test_rpc.py's fixtures: real in-process nodes

SPECIAL = ["", "0x", "00" * 32, "ff" * 32, "zz", "cairn1", "-1", "1e3", "x" * 5_000, "\u0000", "💥"]


def _json(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value (nested at most three deep)."""
    roll = rng.randrange(9 if depth < 3 else 6)
    if roll == 0:
        return None
    if roll == 1:
        return rng.random() < 0.5
    if roll == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63, 2**64 + 7, -(2**70)])
    if roll == 3:
        return rng.choice(SPECIAL)
    if roll == 4:
        return "".join(rng.choice("0123456789abcdefxyz") for _ in range(rng.randrange(70)))
    if roll == 5:
        return rng.random() * 1e6
    if roll < 8:
        return [_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["a", "id", "height", "", "0"]): _json(rng, depth + 1) for _ in range(rng.randrange(4))}


def _fitting(rng: random.Random, param: Param) -> Any:
    """A value that fits the param's schema (or sits at the edge of it)."""
    schema = param.schema
    kind = schema.get("type")
    pattern = schema.get("pattern", "")
    if "64" in pattern:
        return rng.choice(["00" * 32, "ff" * 32, "ab" * 32])
    if kind == "integer":
        return rng.choice([schema.get("minimum", 0), 0, 1, 7, 20, 100, 101, 2**63 - 1, 2**63])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "string":
        if "1[02-9" in pattern:  # an address
            return rng.choice([addr(0), addr(1), addr(9)])
        return rng.choice(["00", "deadbeef", "ai", "leased", "resolved", "llama3-8b", "newHeads"])
    return _json(rng)


def fuzzed_call(rng: random.Random) -> tuple[str, Any]:
    """A method and params (module docstring): fitting, wrong-typed, missing, extra, positional."""
    method = METHODS[rng.choice(sorted(METHODS))]
    params: dict[str, Any] = {}
    for p in method.params:
        if rng.random() < 0.5 or (p.required and rng.random() < 0.9):
            params[p.name] = _fitting(rng, p) if rng.random() < 0.75 else _json(rng)
    if rng.random() < 0.1:
        params[rng.choice(["extra", "x", "height2"])] = _json(rng)
    shape = rng.random()
    if shape < 0.1:
        return method.name, list(params.values())
    if shape < 0.2:
        return method.name, _json(rng)
    return method.name, params


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _check(method: str, doc: Any, rid: Any) -> None:
    assert isinstance(doc, dict) and doc.get("jsonrpc") == "2.0", doc
    assert doc.get("id") == rid
    if "error" in doc:
        error = doc["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"], doc
    else:
        assert "result" in doc, doc
        check_result(method, doc["result"])


SEED = 20261204


@st.composite
def spec_calls(draw: st.DrawFn) -> tuple[str, Any]:
    """A method and params drawn from its spec (module docstring), through ``fuzzed_call``'s
    rules with Hypothesis choosing every branch, so a failure shrinks and replays."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    return fuzzed_call(rng)


@settings(max_examples=400, deadline=None)
@given(call=spec_calls(), batch=st.lists(spec_calls(), max_size=3))
def test_every_method_answers_fuzzed_params_with_a_json_rpc_answer(sync_http: httpx.Client, call: tuple[str, Any],
                                                                  batch: list[tuple[str, Any]]) -> None:
    method, params = call
    resp = sync_http.post("/", json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
    assert resp.status_code in (200, 400, 413, 429), (method, params, resp.status_code)
    _check(method, resp.json(), 7)
    if batch:
        resp = sync_http.post("/", json=[{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                                         for i, (m, p) in enumerate(batch)])
        answers = resp.json()
        assert isinstance(answers, list) and sorted(a["id"] for a in answers) == list(range(len(batch))), answers
        for answer, (m, _) in zip(sorted(answers, key=lambda a: a["id"]), batch, strict=True):
            _check(m, answer, answer["id"])


async def test_bodies_that_are_not_json_rpc_get_error_objects(node: Node, rpc: Rpc) -> None:
    rng = random.Random(SEED + 1)
    for _ in range(300):
        body = (bytes(rng.randrange(256) for _ in range(rng.randrange(300))) if rng.random() < 0.5
                else json.dumps(_json(rng)).encode())
        resp = await rpc.post(body, raw=True)
        assert resp.status_code in (200, 204, 400, 413), resp.status_code
        if resp.status_code != 204:
            doc = resp.json()
            for answer in doc if isinstance(doc, list) else [doc]:
                assert "error" in answer or "result" in answer, answer


async def test_the_node_keeps_serving_and_memory_stays_bounded_under_fuzzing(node: Node, rpc: Rpc) -> None:
    before = _rss_kib()
    for round_ in range(4):
        for name, method in sorted(METHODS.items()):
            junk = {p.name: "x" * 2_000 for p in method.params} | {"extra": [1] * 100}
            resp = await rpc.post({"jsonrpc": "2.0", "id": round_, "method": name, "params": junk})
            assert resp.status_code in (200, 400, 413, 429)
    head = await rpc.wait_height((await rpc.call("node.status"))["height"] + 1)  # still committing
    assert head["height"] >= 1
    assert _rss_kib() - before < 100 * 1024, "RSS grew by more than 100 MiB over the fuzzing"
