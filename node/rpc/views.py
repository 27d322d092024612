"""JSON views of chain objects for RPC answers.

Conventions (documented in docs/RPC.md): byte strings are lowercase hex without
``0x``; addresses are in the chain's bech32m form; amounts (balances, fees,
transfer values) are decimal strings so no client loses precision; heights,
nonces, gas and times are JSON integers.
"""

from __future__ import annotations

from typing import Any

from chain.apply import Receipt
from chain.block import Block, Commit, Header
from chain.errors import DecodeError
from chain.keys import decode_address, encode_address
from chain.module import Event
from chain.tx import SignedTx
from chain.types import Address
from chain.vm.engine import code_hash
from node.rpc.jsonrpc import InvalidParams, Params


def header_json(h: Header, prefix: str) -> dict[str, Any]:
    return {
        "hash": bytes(h.hash()).hex(),
        "chain_id": h.chain_id,
        "height": h.height,
        "time_ms": h.time_ms,
        "prev_hash": bytes(h.prev_hash).hex(),
        "last_commit_hash": bytes(h.last_commit_hash).hex(),
        "txs_root": bytes(h.txs_root).hex(),
        "proofs_root": bytes(h.proofs_root).hex(),
        "evidence_root": bytes(h.evidence_root).hex(),
        "receipts_root": bytes(h.receipts_root).hex(),
        "state_root": bytes(h.state_root).hex(),
        "validators_hash": bytes(h.validators_hash).hex(),
        "next_validators_hash": bytes(h.next_validators_hash).hex(),
        "proposer": encode_address(h.proposer, prefix) if any(h.proposer) else None,
        "beacon_reveal": bytes(h.beacon_reveal).hex(),
        "beacon": bytes(h.beacon).hex(),
        "raw": h.encode().hex(),
    }


def commit_json(c: Commit | None, prefix: str) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "height": c.height,
        "round": c.round,
        "block_hash": bytes(c.block_hash).hex(),
        "signatures": [
            {"validator": encode_address(s.validator, prefix), "time_ms": s.time_ms, "signature": bytes(s.signature).hex()}
            for s in c.signatures
        ],
        "raw": c.encode().hex(),
    }


def _plain(value: Any, prefix: str) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_plain(v, prefix) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, prefix) for k, v in value.items()}
    return value


def _payload_json(kind: str, payload: Any, prefix: str) -> Any:
    """The known kinds' payloads by field name; anything else (or malformed) as raw values."""
    if not isinstance(payload, list):
        return _plain(payload, prefix)
    try:
        if kind == "transfer" and len(payload) == 2:
            return {"to": encode_address(payload[0], prefix), "amount": str(payload[1])}
        if kind == "deploy" and len(payload) == 2 and isinstance(payload[0], bytes):
            return {"code": payload[0].hex(), "code_hash": code_hash(payload[0]).hex(),
                    "init_args": payload[1].hex()}
        if kind == "call" and len(payload) == 4 and isinstance(payload[1], str):
            return {"contract": encode_address(payload[0], prefix), "method": payload[1],
                    "args": payload[2].hex(), "value": str(payload[3])}
    except Exception:  # a malformed payload is shown raw
        pass
    return _plain(payload, prefix)


def tx_json(tx: SignedTx, prefix: str) -> dict[str, Any]:
    b = tx.body
    payload = _payload_json(b.kind, b.payload, prefix)
    return {
        "hash": bytes(tx.hash).hex(),
        "chain_id": b.chain_id,
        "nonce": b.nonce,
        "sender": encode_address(tx.sender, prefix),
        "sender_pubkey": bytes(b.sender_pubkey).hex(),
        "fee": str(b.fee),
        "gas_limit": b.gas_limit,
        "gas_price": str(b.gas_price),
        "kind": b.kind,
        "payload": payload,
        "signature": bytes(tx.signature).hex(),
        "raw": tx.raw.hex(),
    }


ADDRESS_ATTRS = frozenset({"from", "to", "address", "contract", "requester", "provider"})
"""Event attributes holding a 20-byte address, shown in bech32m."""
AMOUNT_ATTRS = frozenset({"amount", "fee", "stake", "price", "refund"})
"""Event attributes holding an amount, shown as a decimal string."""


def event_json(e: Event, prefix: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for k, v in e.attrs:
        if k in ADDRESS_ATTRS and isinstance(v, bytes) and len(v) == 20:
            attrs[k] = encode_address(v, prefix)
        elif k in AMOUNT_ATTRS and isinstance(v, int):
            attrs[k] = str(v)
        else:
            attrs[k] = _plain(v, prefix)
    return {"module": e.module, "name": e.name, "attrs": attrs}


def receipt_json(r: Receipt, prefix: str) -> dict[str, Any]:
    return {
        "tx_hash": bytes(r.tx_hash).hex(),
        "status": "ok" if r.ok else "failed",
        "gas_used": r.gas_used,
        "fee_paid": str(r.fee_paid),
        "reason": r.reason,
        "events": [event_json(e, prefix) for e in r.events],
    }


def block_json(b: Block, prefix: str, *, full: bool = False) -> dict[str, Any]:
    return {
        "hash": bytes(b.hash).hex(),
        "header": header_json(b.header, prefix),
        "txs": [tx_json(SignedTx.decode(t), prefix) for t in b.txs] if full else [
            bytes(SignedTx.decode(t).hash).hex() for t in b.txs
        ],
        "proofs": [p.hex() for p in b.proofs],
        "evidence": [e.hex() for e in b.evidence],
        "last_commit": commit_json(b.last_commit, prefix),
    }


def address_param(p: Params, prefix: str, name: str = "address") -> Address:
    """Param ``name`` as a bech32 address of this chain (``InvalidParams`` otherwise)."""
    try:
        return decode_address(p.str(name, max_len=128), prefix)
    except DecodeError as exc:
        raise InvalidParams(f"param {name!r}: {exc.message}") from None
