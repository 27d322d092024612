"""What every JSON-RPC method takes and answers: the one source of the method table.

Each routed method has a ``Method`` here: its name, its params (name, JSON Schema of what
the method accepts, required or not, a note) in positional order, the JSON Schema of its
result, the error codes it answers besides the generic ones, and the text of its row in
docs/RPC.md.  Three things are built from it and nothing else:

* the routes table's param names (``routes``), so a handler takes exactly the params its
  spec lists, in the listed positional order;
* the OpenRPC 1.2.6 document ``rpc.discover`` returns (``node.rpc.openrpc``);
* the method table of docs/RPC.md (``python -m node.rpc.openrpc --markdown``).

Result schemas use a small subset of JSON Schema (draft 7): ``type``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``enum``, ``const``, ``pattern``,
``minimum``, ``oneOf`` and ``$ref`` into ``COMPONENTS`` (``#/components/schemas/<Name>``,
as OpenRPC places them).  Objects list every field the node sends and allow no others, so
a field added to an answer without its spec fails the tests (tests/node/test_rpc_spec.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chain.errors import ErrorCode

Schema = dict[str, Any]

# --- schema building blocks ----------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(fields: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None) -> Schema:
    """An object with exactly ``fields`` (all required) and maybe ``optional`` ones; no others."""
    return {"type": "object", "properties": {**fields, **(optional or {})}, "required": list(fields),
            "additionalProperties": False}


ANY: Schema = {}
OBJECT: Schema = {"type": "object"}
STRING: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
UINT: Schema = {"type": "integer", "minimum": 0}
HEX: Schema = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
HASH: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
ADDRESS: Schema = {"type": "string", "pattern": "^[a-z0-9]+1[02-9ac-hj-np-z]{6,}$"}
"""A bech32m address with the chain's prefix."""
AMOUNT: Schema = {"type": "string", "pattern": "^[0-9]+$"}
"""An amount in the smallest unit, as a decimal string."""

# What params accept (Params in node/rpc/jsonrpc.py): hex with an optional 0x, either case;
# integers as JSON integers or as decimal digit strings.
HEX_IN: Schema = {"type": "string", "pattern": "^(0[xX])?([0-9a-fA-F]{2})*$"}
HASH_IN: Schema = {"type": "string", "pattern": "^(0[xX])?[0-9a-fA-F]{64}$"}
UINT_IN: Schema = {"oneOf": [UINT, {"type": "string", "pattern": "^[0-9]{1,20}$"}]}
ADDRESS_IN: Schema = {"type": "string", "maxLength": 128}


def page_limit(hi: int) -> Schema:
    return {"oneOf": [{"type": "integer", "minimum": 1, "maximum": hi},
                      {"type": "string", "pattern": "^[0-9]{1,20}$"}]}


# --- shared result shapes (OpenRPC components) ----------------------------------------------------

EVENT = obj({"module": STRING, "name": STRING, "attrs": OBJECT})
COMPONENTS: dict[str, Schema] = {
    "Header": obj({
        "hash": HASH, "chain_id": STRING, "height": UINT, "time_ms": UINT, "prev_hash": HASH,
        "last_commit_hash": HASH, "txs_root": HASH, "proofs_root": HASH, "evidence_root": HASH,
        "receipts_root": HASH, "state_root": HASH, "validators_hash": HASH, "next_validators_hash": HASH,
        "proposer": nullable(ADDRESS), "beacon_reveal": HEX, "beacon": HEX, "raw": HEX}),
    "Commit": obj({
        "height": UINT, "round": UINT, "block_hash": HASH,
        "signatures": array(obj({"validator": ADDRESS, "time_ms": UINT, "signature": HEX})), "raw": HEX}),
    "Tx": obj({
        "hash": HASH, "chain_id": STRING, "nonce": UINT, "sender": ADDRESS, "sender_pubkey": HEX, "fee": AMOUNT,
        "gas_limit": UINT, "gas_price": AMOUNT, "kind": STRING, "payload": ANY, "signature": HEX, "raw": HEX}),
    "Event": EVENT,
    "Receipt": obj({"tx_hash": HASH, "status": {"enum": ["ok", "failed"]}, "gas_used": UINT, "fee_paid": AMOUNT,
                    "reason": STRING, "events": array(ref("Event"))}),
    "Block": obj({"hash": HASH, "header": ref("Header"), "txs": array({"oneOf": [HASH, ref("Tx")]}),
                  "proofs": array(HEX), "evidence": array(HEX), "last_commit": nullable(ref("Commit"))}),
    "StateProof": obj({"key": HEX, "value": nullable(HEX), "proof": HEX, "height": UINT, "state_root": HASH,
                       "header": ref("Header")}, {"address": ADDRESS, "kind": STRING}),
    "ErrorObject": {"type": "object", "properties": {"code": INT, "message": STRING, "data": ANY},
                    "required": ["code", "message"], "additionalProperties": False},
    "Provider": obj({
        "address": ADDRESS, "pubkey": HEX, "kinds": array(STRING), "models": array(STRING),
        "devices": array(STRING), "region": STRING, "attestation_class": STRING, "stake": AMOUNT,
        "locked": AMOUNT, "max_leases": UINT, "status": STRING, "jailed_until": UINT, "unbond_height": UINT,
        "registered_height": UINT, "heartbeat_height": UINT, "lease_deadline": UINT,
        "telemetry": obj({"bandwidth_mbps": UINT, "latency_ms": UINT, "compute_bp": UINT, "temperature_c": INT,
                          "errors": UINT}),
        "health_bp": UINT, "eligible": BOOL, "leases": array(HASH), "completed": UINT, "failed": UINT,
        "missed": UINT, "faults": array(obj({"height": UINT, "task_id": HASH, "reason": STRING})),
        "slashed": AMOUNT,
        "slashes": array(obj({"height": UINT, "reason": STRING, "amount": AMOUNT, "task_id": nullable(HASH)})),
        "paid": AMOUNT, "payouts": array(HASH),
        "qos_window": obj({"completed": UINT, "faults": UINT, "missed": UINT, "strikes": UINT})}),
    "JobReceipt": obj({"task_id": HASH, "kind": STRING, "requester": ADDRESS, "fee_escrowed": AMOUNT,
                       "price_ceiling": AMOUNT, "sla_deadline": UINT, "enqueue_height": UINT,
                       "request_digest": HASH}),
    "ResultRecord": obj({"task_id": HASH, "provider": ADDRESS, "output_digest": HASH, "output": nullable(HEX),
                         "committed_height": UINT, "proof_hash": HASH}),
    "Job": obj({
        "task_id": HASH, "kind": STRING, "lane": STRING, "status": STRING, "requester": ADDRESS,
        "origin": ADDRESS, "replicas": UINT, "ceiling": AMOUNT, "deadline": UINT, "enqueue_height": UINT,
        "priority": INT, "retries": UINT,
        "leases": array(obj({"provider": ADDRESS, "assigned_height": UINT, "expires": UINT, "assign_beacon": HEX,
                             "commit_root": nullable(HEX), "commit_height": nullable(UINT),
                             "reveal_beacon": nullable(HEX)})),
        "excluded": array(ADDRESS),
        "results": array(obj({"provider": ADDRESS, "output_digest": HASH, "proof_hash": HASH, "units": UINT,
                              "qos_bp": UINT, "price": AMOUNT, "height": UINT})),
        "dissent": array(ADDRESS), "end_height": nullable(UINT), "end_reason": nullable(STRING),
        "paid": AMOUNT, "refunded": AMOUNT},
        {"receipt": ref("JobReceipt"), "request": nullable(OBJECT), "result": nullable(ref("ResultRecord")),
         "height": UINT}),
    "PayoutShare": obj({
        "provider": ADDRESS, "producer": ADDRESS, "proof_hash": HASH, "epoch": UINT, "units_milli": UINT,
        "base_rate": AMOUNT, "weight_bp": UINT, "latency_bp": UINT, "availability_bp": UINT, "qos_bp": UINT,
        "price": AMOUNT, "provider_share": AMOUNT, "producer_share": AMOUNT, "fund_share": AMOUNT}),
    "Peer": obj({"id": HEX, "public_key": HEX, "address": ANY, "direction": STRING, "score": {"type": "number"},
                 "since": INT}),
}

# --- the format ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: Schema
    required: bool = False
    note: str = ""
    """Shown after the name in docs/RPC.md's table, in parentheses."""


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    summary: str
    """One line: what the method is for (OpenRPC ``summary``)."""
    params: tuple[Param, ...]
    result: Schema
    doc: str
    """The result column of docs/RPC.md's table (markdown; OpenRPC ``description``)."""
    errors: tuple[int, ...] = ()
    """Codes this method answers besides the generic ones (docs/RPC.md, "Errors")."""
    params_doc: str | None = None
    """The params column, when the generated one would say less."""

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def P(name: str, schema: Schema, note: str = "") -> Param:
    return Param(name, schema, True, note)


def O(name: str, schema: Schema, note: str = "") -> Param:  # noqa: E743 - an optional param, as `P` is a required one
    return Param(name, schema, False, note)


NOT_FOUND = int(ErrorCode.NOT_FOUND)
INDEX_OFF = -32010
"""``tx.search`` and ``chain.searchBlocks`` on a node that keeps no event index (``node.rpc.search``)."""
ERROR_MESSAGES: dict[int, str] = {
    NOT_FOUND: "NOT_FOUND",
    INDEX_OFF: "INDEX_OFF",
    int(ErrorCode.PROOF_INVALID): "PROOF_INVALID",
    int(ErrorCode.TX_TOO_LARGE): "TX_TOO_LARGE",
    int(ErrorCode.MEMPOOL_FULL): "MEMPOOL_FULL",
    200: "TX_BAD_SIGNATURE", 201: "TX_WRONG_CHAIN", 202: "TX_NONCE_TOO_LOW", 203: "TX_NONCE_GAP",
    204: "TX_INSUFFICIENT_BALANCE", 205: "TX_FEE_TOO_LOW", 208: "TX_BAD_PAYLOAD", 210: "TX_DUPLICATE",
    212: "TX_REPLACEMENT_UNDERPRICED",
}
TX_ERRORS = (200, 201, 202, 203, 204, 205, 208, 209, 210, 211, 212)
HEIGHT = O("height", UINT_IN)
TASK = P("task_id", HASH_IN)
CURSOR = O("cursor", UINT_IN)
SEARCH_CURSOR_HEX: Schema = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
"""A search's position in the event index: the last entry read, height (8 bytes) and event index (4)."""
SEARCH_CURSOR = O("cursor", {"type": "string", "pattern": "^(0[xX])?[0-9a-fA-F]{24}$"}, "a `next_cursor`")


def limit(hi: int) -> Param:
    return O("limit", page_limit(hi), f"≤ {hi}")


MAX_PAGE = 100
"""The page size cap of the listing methods (``node.rpc.aicf.MAX_PAGE``, ``MAX_PENDING_PAGE``)."""

EPOCH = obj({
    "epoch": UINT, "start_height": UINT, "end_height": UINT, "treasury_in": AMOUNT, "fees_in": AMOUNT,
    "slashed_in": AMOUNT, "refunds": AMOUNT, "paid_provider": AMOUNT, "paid_producer": AMOUNT, "retained": AMOUNT,
    "payouts": UINT, "carried_claims": UINT, "carried_units_milli": UINT, "carried_amount": AMOUNT,
    "gamma_cap": UINT, "gamma_used_milli": UINT, "stopped": nullable({"enum": ["gamma_cap", "fund"]}),
    "throttled": BOOL, "fund_balance": AMOUNT, "settled": {"const": True},
    "payout_list": array({"type": "object", "required": ["task_id", "kind", "provider", "price"]}),
    "cursor": nullable(UINT), "height": UINT})
EPOCH_IN_PROGRESS = obj({
    "epoch": UINT, "settled": {"const": False}, "treasury_in": AMOUNT, "fees_in": AMOUNT, "slashed_in": AMOUNT,
    "refunds": AMOUNT, "queued_claims": UINT, "queued_amount": AMOUNT, "throttled": BOOL, "height": UINT})

_M = Method
METHODS_LIST: tuple[Method, ...] = (
    _M("node.status", "The node's identity and head.", (), obj({
        "version": STRING, "chain_id": STRING, "genesis_hash": HASH, "address_prefix": STRING, "height": UINT,
        "head_hash": HASH, "head_time_ms": UINT, "state_root": HASH, "validator": nullable(ADDRESS),
        "mempool": obj({"txs": UINT, "bytes": UINT}), "syncing": BOOL, "min_gas_price": UINT}),
       "chain id, genesis hash, address prefix, head height/hash/time/state root, validator, mempool size, "
       "`min_gas_price`"),
    _M("node.health", "Whether the node is keeping up with its chain.", (), obj({
        "ok": BOOL, "height": UINT, "head_hash": HASH, "head_time_ms": UINT, "head_age_ms": INT,
        "max_head_age_ms": nullable(UINT), "peers": nullable(UINT)}),
       "`ok` (false when the head is older than `max_head_age_ms`: three of the driver's longest block "
       "intervals plus 10 s), `height`, `head_hash`, `head_time_ms`, `head_age_ms` (by the node's wall clock), "
       "`peers` (connected; `null` for a solo node). No catching-up flag: block sync keeps none yet"),
    _M("chain.getHead", "The head header.", (), ref("Header"),
       "the head header (every field, plus `hash` and the canonical `raw` bytes)"),
    _M("chain.getGenesis", "The genesis document.", (), obj({"genesis": OBJECT, "hash": HASH, "chain_id": STRING}),
       "`genesis` (the document as `genesis.json` holds it, `genesis/schema.py`), `hash` (as `node.status`'s "
       "`genesis_hash`), `chain_id`"),
    _M("chain.getBlock", "A block by height (default: the head) or hash.",
       (HEIGHT, O("hash", HASH_IN, "instead of `height`"), O("full", BOOL)), ref("Block"),
       "header, tx hashes (or decoded txs with `full`), proofs, evidence, `last_commit`", (NOT_FOUND,)),
    _M("chain.getBlockResults", "What a block's execution produced: receipts and its event log.",
       (HEIGHT,), obj({
           "height": UINT, "block_hash": HASH,
           "receipts": array(obj({"index": UINT, "tx_hash": HASH, "status": {"enum": ["ok", "failed"]},
                                  "gas_used": UINT, "fee_paid": AMOUNT, "reason": STRING,
                                  "events": array(ref("Event"))})),
           "events": nullable(array(obj({"index": UINT, "module": STRING, "name": STRING, "attrs": OBJECT})))}),
       "`height` (default the head), `block_hash`, `receipts` (each tx's, in block order, as `tx.getReceipt` "
       "shows it, with its `index`), `events`: the block's whole event log in cursor order (begin-block hooks, "
       "receipts, proofs, end-block hooks; `index` is the `/ws` cursor's), or `null` when the node keeps no log "
       "for that height; `600 NOT_FOUND` above the head", (NOT_FOUND,)),
    _M("chain.searchBlocks", "Heights whose blocks' events match a query (the node's event index).", (
        P("query", STRING, "as `tx.search`'s"), SEARCH_CURSOR, limit(MAX_PAGE)),
       obj({"heights": array(UINT), "next_cursor": nullable(SEARCH_CURSOR_HEX), "scanned": UINT,
            "indexed_height": nullable(UINT)}),
       "`heights`, ascending, of blocks whose event logs (every event: hooks, txs, proofs) satisfy every "
       "condition of `query`; `next_cursor`, `scanned`, `indexed_height` as `tx.search`'s; `-32010` when the "
       "node keeps no index", (INDEX_OFF,)),
    _M("chain.getCommit", "The commit that finalized a height.", (O("height", UINT_IN),), obj({
        "height": UINT, "header": ref("Header"), "commit": nullable(ref("Commit"))}),
       "the header and the commit (with `raw` bytes) that finalized it", (NOT_FOUND,)),
    _M("chain.getValidators", "The validator set that signs a height.", (O("height", UINT_IN),), obj({
        "height": UINT, "hash": HASH, "total_power": UINT,
        "validators": array(obj({"address": ADDRESS, "pubkey": HEX, "power": UINT}))}),
       "the validator set that signs that height (default: the next block), with its hash", (NOT_FOUND,)),
    _M("consensus.state", "The consensus driver's round state.", (),
       nullable({"type": "object", "required": ["height", "round", "step"]}),
       "the driver's height, round, step, locked/valid rounds, proposer"),
    _M("consensus.params", "The chain's consensus parameters and the AICF epoch parameters.", (), obj({
        "chain_id": STRING, "params": OBJECT,
        "aicf": obj({"epoch_length": UINT, "gamma_cap": UINT, "treasury": OBJECT, "split": OBJECT}),
        "height": UINT}),
       "`params` (genesis's `ChainParams`: block and tx limits, gas, fees, staking, `epoch_length`, ...), `aicf` "
       "(`epoch_length`, the per-epoch payout cap Γ `gamma_cap` in units, the `treasury` inflows and the payout "
       "`split`), `chain_id`, `height`"),
    _M("net.peers", "Connected peers.", (), array(ref("Peer")),
       "connected peers: id, public key, address, direction, score, since"),
    _M("mempool.pending", "The pending transactions, by hash.", (
        O("cursor", HASH_IN, "a hash: the page starts after it"), limit(MAX_PAGE)), obj({
            "txs": UINT, "bytes": UINT, "queued": UINT, "queued_bytes": UINT, "hashes": array(HASH),
            "next_cursor": nullable(HASH)}),
       "`txs` and `bytes` pending, `queued` and `queued_bytes` (held for an earlier nonce), `hashes`: a page "
       "of pending tx hashes in hash order, after `cursor`; `next_cursor` (`null` on the last page)"),
    _M("state.getAccount", "An account at a height.", (P("address", ADDRESS_IN), HEIGHT), obj({
        "address": ADDRESS, "balance": AMOUNT, "nonce": UINT, "next_nonce": UINT, "code_hash": HEX,
        "height": UINT, "state_root": HASH}),
       "`balance`, `nonce`, `next_nonce` (counting the mempool), `code_hash`, `height`, `state_root`",
       (NOT_FOUND,)),
    _M("state.getProof", "A Merkle proof of an account or another record.", (
        O("address", ADDRESS_IN), HEIGHT, O("kind", STRING), O("id", ANY)), ref("StateProof"),
       "an account's proof: `key`, `value` (account bytes or `null`), `proof` (an `SmtProof`), `state_root`, "
       "and the `header` it belongs to; with `kind`, another record's (below)", (NOT_FOUND,),
       "`address`, `height`?, `kind`?, `id`?"),
    _M("tx.send", "Submit a signed transaction to the mempool.", (P("tx", HEX_IN, "hex of a signed tx"),),
       obj({"hash": HASH}),
       "`{hash}` once admitted to the mempool; a tx over `max_tx_bytes` (genesis, 64 KiB), however long, is "
       "`209 TX_TOO_LARGE`", TX_ERRORS),
    _M("tx.sendBatch", "Submit signed transactions, each admitted or refused on its own.",
       (P("txs", array(HEX_IN), "≤ 1000"),),
       array({"oneOf": [obj({"hash": HASH}), obj({"error": ref("ErrorObject")})]}),
       "one `{hash}` or `{error}` per tx, in order (an oversize item is its own `209`; an item that is not hex "
       "refuses the whole call with `-32602`)"),
    _M("tx.get", "A transaction, pending or committed.", (P("hash", HASH_IN),), obj(
        {"status": {"enum": ["pending", "committed"]}, "tx": ref("Tx")},
        {"height": UINT, "index": UINT, "block_hash": HASH}),
       "`status` `pending` or `committed` (with `height`, `index`, `block_hash`) and the decoded tx",
       (NOT_FOUND,)),
    _M("tx.getReceipt", "A committed transaction's receipt.", (P("hash", HASH_IN),), obj({
        "height": UINT, "index": UINT, "block_hash": HASH, "tx_hash": HASH, "status": {"enum": ["ok", "failed"]},
        "gas_used": UINT, "fee_paid": AMOUNT, "reason": STRING, "events": array(ref("Event"))}),
       "`status` `ok`/`failed`, `reason`, `gas_used`, `fee_paid`, `events`, location", (NOT_FOUND,)),
    _M("tx.search", "Committed transactions by their events' attributes (the node's event index).", (
        P("query", STRING, "e.g. `aicf.job_assigned.provider = 'cairn1…'`"), SEARCH_CURSOR, limit(MAX_PAGE)),
       obj({"txs": array(obj({"hash": HASH, "height": UINT, "index": UINT, "event_index": UINT,
                              "event": ref("Event")})),
            "next_cursor": nullable(SEARCH_CURSOR_HEX), "scanned": UINT, "indexed_height": nullable(UINT)}),
       "`txs`: each committed tx (oldest first, once) whose receipt's events satisfy every condition of "
       "`query` ([Searching](#searching-by-event-attributes)): `hash`, `height`, `index` (in the block), and the "
       "`event` matching the first condition with its `event_index` (the `/ws` cursor's); `next_cursor` while "
       "more may follow (one call reads at most 1,000 index entries, so a page may be short or empty), "
       "`scanned`, `indexed_height`; `-32010` when the node keeps no index", (INDEX_OFF,)),
    _M("contract.call", "A read-only contract call at the head.", (
        P("address", ADDRESS_IN), P("method", STRING), O("args", HEX_IN), O("caller", ADDRESS_IN),
        O("gas_limit", UINT_IN)), obj({
            "status": STRING, "ok": BOOL, "gas_used": UINT, "return": HEX, "reason": STRING,
            "events": array(ref("Event")), "height": UINT}),
       "a read-only call at the head: `status`, `ok`, `gas_used`, `return`, `reason`, `events`, `height` "
       "(below)"),
    _M("contract.getCode", "A contract's code.", (P("address", ADDRESS_IN),), obj({
        "address": ADDRESS, "code_hash": HEX, "code": HEX, "height": UINT}),
       "`address`, `code_hash`, `code` (the wasm bytes), `height`; `600 NOT_FOUND` if no contract is there",
       (NOT_FOUND,)),
    _M("aicf.listProviders", "A page of registered providers.", (CURSOR, limit(MAX_PAGE)), obj({
        "providers": array(ref("Provider")), "next_cursor": nullable(UINT), "height": UINT}),
       "`providers` (each as in `aicf.getProvider`), in address order, `next_cursor` (`null` on the last page), "
       "`height`"),
    _M("aicf.getProvider", "A provider's record.", (P("address", ADDRESS_IN),), ref("Provider"),
       "the provider: `pubkey`, `kinds`, `models`, `devices`, `region`, `attestation_class`, `stake`, `locked`, "
       "`max_leases`, `status` (`active`/`unbonding`), `jailed_until`, `unbond_height`, `registered_height`, "
       "`heartbeat_height`, `lease_deadline`, `telemetry`, `health_bp`, `eligible` (for a lease in the next "
       "block), `leases` (task ids), `completed`, `failed`, `missed`, `faults`, `slashed` and `slashes` (each "
       "`height`, `reason`, `amount`, `task_id`), `paid` and `payouts` (its latest paid task ids), `qos_window` "
       "(this epoch's `completed`, `faults`, `missed`, and `strikes`); `600 NOT_FOUND` if it is not registered",
       (NOT_FOUND,)),
    _M("aicf.listJobs", "A page of jobs, newest first, filtered.", (
        O("status", {"enum": ["queued", "backoff", "leased", "resolved", "expired", "revoked", "open"]}),
        O("provider", ADDRESS_IN), O("requester", ADDRESS_IN), CURSOR, limit(MAX_PAGE)), obj({
            "jobs": array(ref("Job")), "next_cursor": nullable(UINT), "height": UINT}),
       "`jobs`, newest first, each as in `aicf.getJob` without `receipt`, `request` and `result`; "
       "`next_cursor`, `height` (below)"),
    _M("aicf.getJob", "A job's AICF record, receipt, request and result.", (TASK,), ref("Job"),
       "the AICF's job record: `kind`, `lane`, `status`, `requester`, `origin`, `replicas`, `ceiling`, "
       "`deadline`, `enqueue_height`, `priority`, `retries`, `leases` (`provider`, `assigned_height`, "
       "`expires`, `assign_beacon`, and for quantum `commit_root`, `commit_height`, `reveal_beacon`), "
       "`excluded`, `results` (each verified replica's `provider`, `output_digest`, `proof_hash`, `units`, "
       "`qos_bp`, `price`, `height`), `dissent`, `end_height`, `end_reason`, `paid`, `refunded`; with the "
       "`receipt` (as `cap.getJob`), the decoded `request`, the `result` (as `cap.readResult`, or `null`) and "
       "`height`; `600 NOT_FOUND` if no job has that id", (NOT_FOUND,)),
    _M("aicf.submitProof", "Submit a proof envelope to the proof pool.",
       (P("envelope", HEX_IN, "hex of a `ProofEnvelope`"),), obj({"hash": HASH, "pooled": UINT}),
       "`hash` (the envelope's, as a result's `proof_hash` will name it) and `pooled` (envelopes now in the "
       "pool) once the proof pool keeps it; the node relays it to its peers; a refusal is `400 PROOF_INVALID` "
       "(below)", (int(ErrorCode.PROOF_INVALID), NOT_FOUND)),
    _M("aicf.getEpoch", "A settled epoch's record and payouts, or the epoch in progress.", (
        O("epoch", UINT_IN, "default: the latest settled"), CURSOR, limit(MAX_PAGE)),
       {"oneOf": [EPOCH, EPOCH_IN_PROGRESS]},
       "a settled epoch's record (`docs/ECONOMICS.md`, \"Settlement\"): `epoch`, `start_height`, `end_height`, "
       "`treasury_in`, `fees_in`, `slashed_in`, `refunds`, `paid_provider`, `paid_producer`, `retained`, "
       "`payouts`, `carried_claims`, `carried_units_milli`, `carried_amount`, `gamma_cap`, `gamma_used_milli`, "
       "`stopped` (`gamma_cap`, `fund` or `null`), `throttled`, `fund_balance`, `settled: true`, and "
       "`payout_list` (the shares it paid, in payment order, from `cursor`; `cursor` for the next page or "
       "`null`); for the epoch in progress, `settled: false` with its inflows so far and the queue; "
       "`600 NOT_FOUND` for a later epoch", (NOT_FOUND,)),
    _M("aicf.getPayout", "What a resolved job paid, per replica.", (TASK,), obj({
        "task_id": HASH, "kind": STRING, "shares": array(ref("PayoutShare")), "height": UINT}),
       "the job's `Payout`: `task_id`, `kind`, `shares` (each paid replica's `provider`, `producer`, "
       "`proof_hash`, `epoch`, `units_milli`, `base_rate`, `weight_bp`, `latency_bp`, `availability_bp`, "
       "`qos_bp`, `price`, `provider_share`, `producer_share`, `fund_share`); `600 NOT_FOUND` until an epoch "
       "paid it", (NOT_FOUND,)),
    _M("aicf.getBalance", "What the fund paid a provider and still owes it.", (P("address", ADDRESS_IN),), obj({
        "address": ADDRESS, "paid": AMOUNT, "pending": AMOUNT, "claimable": AMOUNT, "balance": AMOUNT,
        "height": UINT}),
       "`paid` (provider shares received), `pending` (provider shares of its queued claims, counted over the "
       "first 1,000 queued claims of each priority class), `claimable` (always `\"0\"`: payouts are credited "
       "directly), `balance` (the account's), `height`"),
    _M("cap.getJob", "A job's capability receipt.", (TASK,), obj({
        **COMPONENTS["JobReceipt"]["properties"], "height": UINT}),
       "the `JobReceipt`: `task_id`, `kind`, `requester`, `fee_escrowed`, `price_ceiling`, `sla_deadline`, "
       "`enqueue_height`, `request_digest`, and `height`; `600 NOT_FOUND` if no job has that id", (NOT_FOUND,)),
    _M("cap.readResult", "A job's result as a contract would read it.", (TASK,), obj({
        "task_id": HASH, "result": nullable(ref("ResultRecord")), "height": UINT}),
       "`task_id`, `result` (the `ResultRecord`: `task_id`, `provider`, `output_digest`, `output` (hex, or "
       "`null` when held off chain), `committed_height`, `proof_hash`; `null` while there is none) and "
       "`height`: what `read_result` returns to a contract in the next block; `600 NOT_FOUND` if no job has "
       "that id", (NOT_FOUND,)),
    _M("evidence.submit", "Submit double-sign evidence (a light client's report of conflicting headers).",
       (P("evidence", HEX_IN, "hex of a `DoubleSign`, ≤ 4 KiB"),), obj({"hash": HASH, "pooled": BOOL}),
       "`hash` (the evidence's) and `pooled` (`false`: already pooled, or no longer usable here) once verified "
       "as a peer's would be; the node gossips it and a block slashes and tombstones the validator. Evidence "
       "no honest node would send is `-32602` with its reason; a one-validator node, which keeps no evidence "
       "pool, answers `-32600`"),
    _M("rpc.discover", "This API's OpenRPC document.", (), obj({
        "openrpc": {"const": "1.2.6"}, "info": obj({"title": STRING, "version": STRING, "description": STRING}),
        "methods": array({"type": "object", "required": ["name", "params", "result"]}),
        "components": OBJECT}),
       "the OpenRPC 1.2.6 document of every method above (params and result as JSON Schema, errors), with the "
       "node's version; `python -m node.rpc.openrpc` prints the same document"),
)
METHODS: dict[str, Method] = {m.name: m for m in METHODS_LIST}


def routes(handlers: Mapping[str, Any]) -> dict[str, tuple[tuple[str, ...], Any]]:
    """A routes table for ``handlers``, each method's param names (positional order) from its spec."""
    missing = sorted(set(handlers) - set(METHODS))
    if missing:
        raise KeyError(f"methods without a spec in node/rpc/spec.py: {', '.join(missing)}")
    return {name: (METHODS[name].param_names, handler) for name, handler in handlers.items()}
