"""The bounds a node keeps on what peers and clients can make it hold, as ``config.toml`` settings.

Each setting is a keyword of the component that enforces it, with that keyword's default
as the default (docs/RELIABILITY.md lists them all with the reasoning behind each):

* ``[mempool]`` — ``node.mempool.Mempool`` (pool size, per-sender cap, the future queue);
* ``[evidence]`` — ``node.evidence.EvidencePool`` (``max_items``);
* ``[proofpool]`` — ``node.proofpool.ProofPool`` (``max_proofs``, ``max_bytes``);
* ``[p2p]`` — ``node.p2p.PeerConfig`` besides ``laddr`` and ``persistent_peers``
  (connection and handshake limits, timeouts, bans);
* ``[rpc]`` — ``node.rpc.server.make_app`` and ``serve_rpc`` besides ``laddr`` (body size
  and read time, connections), and ``node.rpc.ws.WsHub`` (the ``ws_*`` WebSocket limits).

A key that is not a setting, or a value of the wrong type, is a configuration error naming
the key.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from node.evidence import EvidencePool
from node.mempool import Mempool
from node.p2p import PeerConfig
from node.proofpool import ProofPool
from node.rpc.server import make_app, serve_rpc
from node.rpc.ws import WsHub

_NOT_SETTINGS = {"listen_host", "listen_port", "persistent_peers", "max_frame_size"}
"""PeerConfig fields that come from elsewhere (``laddr``, ``persistent_peers``, the genesis block size)."""


def _keyword_defaults(*fns: Callable[..., Any]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for fn in fns:
        for p in inspect.signature(fn).parameters.values():
            if p.kind is p.KEYWORD_ONLY and type(p.default) in (int, float):
                out[p.name] = p.default
    return out


def settings() -> dict[str, dict[str, int | float]]:
    """Every setting by section, with its default."""
    p2p = {f.name: f.default for f in dataclasses.fields(PeerConfig)
           if f.name not in _NOT_SETTINGS and type(f.default) in (int, float)}
    return {
        "mempool": _keyword_defaults(Mempool.__init__),
        "evidence": _keyword_defaults(EvidencePool.__init__),
        "proofpool": _keyword_defaults(ProofPool.__init__),
        "p2p": p2p,  # type: ignore[dict-item]
        "rpc": _keyword_defaults(make_app, serve_rpc, WsHub.__init__),
    }


def parse(doc: Mapping[str, Any], *, ignore: Mapping[str, set[str]]) -> dict[str, dict[str, int | float]]:
    """The settings given in a parsed ``config.toml``; ``ValueError`` naming a bad key or value.

    ``ignore`` names, per section, the keys read elsewhere (``rpc.laddr``, ...).
    """
    known = settings()
    out: dict[str, dict[str, int | float]] = {}
    for section, defaults in known.items():
        table = doc.get(section, {})
        if not isinstance(table, dict):
            raise ValueError(f"[{section}] must be a table")
        chosen: dict[str, int | float] = {}
        for key, value in table.items():
            if key in ignore.get(section, set()):
                continue
            if key not in defaults:
                raise ValueError(f"{section}.{key} is not a setting (known: {', '.join(sorted(defaults))})")
            default = defaults[key]
            ok = (type(value) is int) if type(default) is int else type(value) in (int, float)
            if not ok or value < 0:
                kind = "an integer" if type(default) is int else "a number"
                raise ValueError(f"{section}.{key} must be {kind} >= 0 (default {default})")
            chosen[key] = value
        if chosen:
            out[section] = chosen
    return out


def kwargs_for(fn: Callable[..., Any], chosen: Mapping[str, int | float]) -> dict[str, int | float]:
    """The settings in ``chosen`` that are keywords of ``fn``."""
    names = inspect.signature(fn).parameters
    return {k: v for k, v in chosen.items() if k in names}
