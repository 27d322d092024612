"""The RPC routes table: each method reads committed state through narrow interfaces.

What each method takes and answers is declared once, in ``node.rpc.spec`` (its params'
names and positional order come from there, and so do ``rpc.discover``'s OpenRPC document
and docs/RPC.md's table).  The AICF and capability methods are ``node.rpc.aicf``'s, the searches ``node.rpc.search``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from chain.block import Header
from chain.errors import ChainError, ErrorCode, InvalidTransaction, NotFound
from chain.keys import encode_address
from chain.staking import NEXT_VALIDATORS_KEY, VALIDATORS_KEY, load_set
from chain.state import account_key
from chain.store import EventsUnavailable
from chain.tx import SignedTx
from chain.types import Address
from chain.vm.runtime import MAX_ARGS_BYTES, MAX_METHOD_BYTES, code_of
from genesis.fields import dump_dataclass
from node.chain_service import ChainService
from node.consensus import wall_clock_ms
from node.event_index import EventIndex
from node.mempool import Mempool
from node.proofpool import ProofPool
from node.rpc import openrpc, spec
from node.rpc.aicf import AicfRpc
from node.rpc.evidence import EvidenceRpc
from node.rpc.jsonrpc import Dispatcher, Handler, InvalidParams, Params, chain_error_object, strip_hex_prefix
from node.rpc.search import SearchRpc
from node.rpc.views import (
    address_param,
    block_json,
    commit_json,
    event_json,
    header_json,
    receipt_json,
    tx_json,
)

VERSION = "0.1.0"
MAX_SEND_BATCH = 1000
MAX_PENDING_PAGE = spec.MAX_PAGE
HEALTH_SLACK_MS = 10_000
"""``node.health``: a head older than 3 block intervals plus this is not ok."""


class RpcApi:
    """Binds the methods to a node's chain, mempool and block producer."""

    def __init__(self, chain: ChainService, mempool: Mempool, *,
                 on_tx: Callable[[list[bytes]], None] = lambda raws: None,
                 validator: Address | None = None, peers: Any = None, driver: Any = None,
                 proofs: ProofPool | None = None, clock_ms: Callable[[], int] = wall_clock_ms,
                 index: EventIndex | None = None) -> None:
        self.chain = chain
        self.search = SearchRpc(chain, index)
        self.clock_ms = clock_ms
        self.aicf = AicfRpc(chain, proofs, on_proof=getattr(driver, "notify_proof", None))
        self.mempool = mempool
        self.on_tx = on_tx
        self.validator = validator
        self.peers = peers
        self.driver = driver
        # contract.call runs on a worker thread, one at a time (ChainService.query_contract)
        self._query_limiter = trio.CapacityLimiter(1)

    @property
    def prefix(self) -> str:
        return self.chain.app.params.address_prefix

    def _address(self, p: Params, name: str = "address") -> Address:
        return address_param(p, self.prefix, name)

    def _header_at(self, p: Params) -> Header:
        if not p.has("height"):
            return self.chain.head
        height = p.int("height")
        if height > self.chain.head.height:
            raise NotFound(f"height {height} is above the head {self.chain.head.height}")
        return self.chain.store.load_block_at(height).header

    # --- node / chain -----------------------------------------------------------------

    async def status(self, p: Params) -> Any:
        head = self.chain.head
        return {
            "version": VERSION,
            "chain_id": self.chain.chain_id,
            "genesis_hash": self.chain.genesis.hash().hex(),
            "address_prefix": self.prefix,
            "height": head.height,
            "head_hash": bytes(head.hash()).hex(),
            "head_time_ms": head.time_ms,
            "state_root": bytes(head.state_root).hex(),
            "validator": encode_address(self.validator, self.prefix) if self.validator else None,
            "mempool": {"txs": len(self.mempool), "bytes": self.mempool.size_bytes},
            "syncing": False,
            "min_gas_price": self.chain.app.params.min_gas_price,
        }

    async def health(self, p: Params) -> Any:
        """``ok`` while the head is recent; the age is by this node's clock."""
        head = self.chain.head
        age = self.clock_ms() - head.time_ms
        interval = getattr(self.driver, "max_block_interval", None) or getattr(self.driver, "max_interval", None)
        max_age = None if interval is None else int(3 * interval * 1000) + HEALTH_SLACK_MS
        return {"ok": max_age is None or age <= max_age, "height": head.height,
                "head_hash": bytes(head.hash()).hex(), "head_time_ms": head.time_ms, "head_age_ms": age,
                "max_head_age_ms": max_age, "peers": len(self.peers.peers()) if self.peers is not None else None}

    async def get_head(self, p: Params) -> Any:
        return header_json(self.chain.head, self.prefix)

    async def get_genesis(self, p: Params) -> Any:
        genesis = self.chain.genesis
        return {"genesis": genesis.to_json(), "hash": genesis.hash().hex(), "chain_id": genesis.chain_id}

    async def get_block_results(self, p: Params) -> Any:
        """A block's receipts and its whole event log (``BlockStore.load_events``), as ``/ws`` numbers it."""
        height = p.int("height", default=self.chain.head.height)
        if height > self.chain.head.height:
            raise NotFound(f"height {height} is above the head {self.chain.head.height}")
        store = self.chain.store
        block_hash = store.hash_at(height)
        receipts = [{"index": i, **receipt_json(r, self.prefix)} for i, r in enumerate(store.load_receipts(block_hash))]
        try:
            events: list[Any] | None = [{"index": i, **event_json(e, self.prefix)}
                                        for i, e in enumerate(store.load_events(height))]
        except EventsUnavailable:
            events = None
        return {"height": height, "block_hash": bytes(block_hash).hex(), "receipts": receipts, "events": events}

    async def get_block(self, p: Params) -> Any:
        store = self.chain.store
        if p.has("hash"):
            block = store.load_block(p.hex("hash", length=32))
        else:
            block = store.load_block_at(p.int("height", default=self.chain.head.height))
        return block_json(block, self.prefix, full=p.bool("full"))

    async def get_commit(self, p: Params) -> Any:
        """The commit that finalized the block at ``height`` (default: the head), with its header."""
        height = p.int("height", default=self.chain.head.height, lo=1)
        if height > self.chain.head.height:
            raise NotFound(f"height {height} is above the head {self.chain.head.height}")
        block = self.chain.store.load_block_at(height)
        return {"height": height, "header": header_json(block.header, self.prefix),
                "commit": commit_json(self.chain.store.load_commit(height), self.prefix)}

    async def get_validators(self, p: Params) -> Any:
        """The validator set that signs the block at ``height`` (default: the next block)."""
        head = self.chain.head
        height = p.int("height", default=head.height + 1, lo=1)
        if height > head.height + 2:
            raise NotFound(f"validators for height {height} are not known yet (head {head.height})")
        if height == head.height + 2:
            key = NEXT_VALIDATORS_KEY
            state = self.chain.head_state()
        elif height == head.height + 1:
            key = VALIDATORS_KEY
            state = self.chain.head_state()
        else:  # the set that signed block ``height`` was VALIDATORS after block height - 1
            key = VALIDATORS_KEY
            state = self.chain.store.state_at(self.chain.store.load_block_at(height - 1).header.state_root)
        vs = load_set(state, key)
        return {"height": height, "hash": bytes(vs.hash()).hex(), "total_power": vs.total_power,
                "validators": [{"address": encode_address(v.address, self.prefix), "pubkey": bytes(v.pubkey).hex(),
                                "power": v.power} for v in vs.validators]}

    # --- state ------------------------------------------------------------------------

    async def get_account(self, p: Params) -> Any:
        address = self._address(p)
        header = self._header_at(p)
        if header.height == self.chain.head.height:
            acct = self.chain.account(address)
        else:
            acct = self.chain.store.state_at(header.state_root).get_account(address)
        return {
            "address": encode_address(address, self.prefix),
            "balance": str(acct.balance),
            "nonce": acct.nonce,
            "next_nonce": self.mempool.next_nonce(address) if header.height == self.chain.head.height else acct.nonce,
            "code_hash": acct.code_hash.hex(),
            "height": header.height,
            "state_root": bytes(header.state_root).hex(),
        }

    async def get_proof(self, p: Params) -> Any:
        """An account's proof; with ``kind`` (and ``id``) another record's (``node.rpc.aicf``)."""
        if p.has("kind"):
            return await self.aicf.record_proof(p)
        address = self._address(p)
        header = self._header_at(p)
        key = account_key(address)
        state = self.chain.store.state_at(header.state_root)
        value = state.tree.get(key)
        proof = state.tree.prove(key)
        return {
            "address": encode_address(address, self.prefix),
            "key": key.hex(),
            "value": value.hex() if value is not None else None,
            "proof": proof.encode().hex(),
            "height": header.height,
            "state_root": bytes(header.state_root).hex(),
            "header": header_json(header, self.prefix),
        }

    # --- transactions -----------------------------------------------------------------

    def _raw_tx(self, value: Any, what: str) -> bytes | InvalidTransaction:
        """A hex transaction's bytes, or ``TX_TOO_LARGE`` for one past ``max_tx_bytes``.

        Any length the request body can carry is read, so an oversize transaction is
        refused with its stable code (not ``-32602``), and without decoding its hex.
        """
        if not isinstance(value, str):
            raise InvalidParams(f"param {what} must be a hex string")
        s = strip_hex_prefix(value)
        cap = self.chain.app.params.max_tx_bytes
        if len(s) > 2 * cap:
            return InvalidTransaction(f"transaction of {len(s) // 2} bytes exceeds the cap of {cap} bytes",
                                      code=ErrorCode.TX_TOO_LARGE, size=len(s) // 2, limit=cap)
        try:
            return bytes.fromhex(s)
        except ValueError:
            raise InvalidParams(f"param {what} must be hex") from None

    async def send(self, p: Params) -> Any:
        if not p.has("tx"):
            raise InvalidParams("missing param 'tx'")
        raw = self._raw_tx(p.raw["tx"], "'tx'")
        if isinstance(raw, InvalidTransaction):
            raise raw
        entered = self.mempool.add_raw(raw)  # the tx, then queued ones it made next in line
        self.on_tx([t.raw for t in entered])
        return {"hash": bytes(entered[0].hash).hex()}

    async def send_batch(self, p: Params) -> Any:
        """Each tx admitted or refused on its own; a param error (not hex) refuses the whole call."""
        out: list[Any] = []
        raws = [self._raw_tx(item, f"'txs'[{i}]") for i, item in enumerate(p.list("txs", max_items=MAX_SEND_BATCH))]
        admitted: list[bytes] = []
        for raw in raws:
            try:
                if isinstance(raw, InvalidTransaction):
                    raise raw
                entered = self.mempool.add_raw(raw)  # the tx, then queued ones it made next in line
                out.append({"hash": bytes(entered[0].hash).hex()})
                admitted.extend(t.raw for t in entered)
            except ChainError as exc:
                out.append({"error": chain_error_object(exc)})
        self.on_tx(admitted)
        return out

    async def get_tx(self, p: Params) -> Any:
        h = p.hex("hash", length=32)
        pending = self.mempool.get(h)
        if pending is not None:
            return {"status": "pending", "tx": tx_json(pending, self.prefix)}
        loc = self.chain.store.tx_location(h)
        block = self.chain.store.load_block(loc.block_hash)
        tx = SignedTx.decode(block.txs[loc.index])
        return {"status": "committed", "height": loc.height, "index": loc.index,
                "block_hash": bytes(loc.block_hash).hex(), "tx": tx_json(tx, self.prefix)}

    async def get_receipt(self, p: Params) -> Any:
        h = p.hex("hash", length=32)
        loc = self.chain.store.tx_location(h)
        receipt = self.chain.store.load_receipts(loc.block_hash)[loc.index]
        return {"height": loc.height, "index": loc.index, "block_hash": bytes(loc.block_hash).hex(),
                **receipt_json(receipt, self.prefix)}

    # --- contracts --------------------------------------------------------------------

    async def contract_call(self, p: Params) -> Any:
        """A read-only call against the head state; a failed call is a result with ``ok`` false."""
        contract = self._address(p)
        method = p.str("method", max_len=MAX_METHOD_BYTES)
        args = p.hex("args", max_len=MAX_ARGS_BYTES) if p.has("args") else b""
        if len(args) > MAX_ARGS_BYTES:
            raise InvalidParams(f"param 'args' holds more than {MAX_ARGS_BYTES} bytes")
        caller = self._address(p, "caller") if p.has("caller") else Address(bytes(20))
        cap = self.chain.app.params.max_query_gas
        gas_limit = min(p.int("gas_limit", default=cap), cap)
        head = self.chain.head
        # Up to max_query_gas of host calls takes seconds: off the trio thread, so blocks keep coming.
        out, events = await trio.to_thread.run_sync(
            partial(self.chain.query_contract, head, contract, method, args, caller=caller, gas_limit=gas_limit),
            limiter=self._query_limiter)
        return {"status": out.status, "ok": out.ok, "gas_used": out.gas_used, "return": out.return_data.hex(),
                "reason": out.reason, "events": [event_json(e, self.prefix) for e in events],
                "height": head.height}

    async def get_code(self, p: Params) -> Any:
        address = self._address(p)
        head = self.chain.head
        state = self.chain.head_state()
        code = code_of(state, address)
        if code is None:
            raise NotFound(f"no contract at {encode_address(address, self.prefix)}")
        return {"address": encode_address(address, self.prefix),
                "code_hash": state.get_account(address).code_hash.hex(), "code": code.hex(),
                "height": head.height}

    async def net_peers(self, p: Params) -> Any:
        """Connected peers (empty for a solo node)."""
        return [info.to_json() for info in self.peers.peers()] if self.peers is not None else []

    async def consensus_state(self, p: Params) -> Any:
        """The driver's round state: height, round, step, locks, proposer."""
        return self.driver.round_state_json() if self.driver is not None else None

    async def consensus_params(self, p: Params) -> Any:
        """Genesis's chain params, and the AICF's epoch parameters (Γ, treasury inflows, the split)."""
        genesis = self.chain.genesis
        return {"chain_id": genesis.chain_id, "params": dump_dataclass(self.chain.app.params),
                "aicf": {"epoch_length": self.chain.app.params.epoch_length, "gamma_cap": genesis.aicf.epoch.gamma_cap,
                         "treasury": dump_dataclass(genesis.aicf.treasury), "split": dump_dataclass(genesis.aicf.split)},
                "height": self.chain.head.height}

    async def mempool_pending(self, p: Params) -> Any:
        """Counts, and a page of pending hashes in hash order after ``cursor``."""
        after = p.hex("cursor", length=32) if p.has("cursor") else b""
        limit = p.int("limit", default=MAX_PENDING_PAGE, lo=1, hi=MAX_PENDING_PAGE)
        hashes = sorted(h for h in self.mempool.pending_hashes() if h > after)
        page = hashes[:limit]
        return {"txs": len(self.mempool), "bytes": self.mempool.size_bytes, "queued": self.mempool.future_len,
                "queued_bytes": self.mempool.future_bytes, "hashes": [h.hex() for h in page],
                "next_cursor": page[-1].hex() if len(hashes) > limit else None}

    async def discover(self, p: Params) -> Any:
        return openrpc.document(VERSION)

    def dispatcher(self) -> Dispatcher:
        """Every method of ``node.rpc.spec``, each bound to its handler; a spec without one is a bug."""
        routes: dict[str, tuple[tuple[str, ...], Handler]] = spec.routes({
            "node.status": self.status,
            "node.health": self.health,
            "chain.getHead": self.get_head,
            "chain.getGenesis": self.get_genesis,
            "chain.getBlock": self.get_block,
            "chain.getBlockResults": self.get_block_results,
            "chain.getCommit": self.get_commit,
            "chain.getValidators": self.get_validators,
            "state.getAccount": self.get_account,
            "state.getProof": self.get_proof,
            "tx.send": self.send,
            "tx.sendBatch": self.send_batch,
            "tx.get": self.get_tx,
            "tx.getReceipt": self.get_receipt,
            "contract.call": self.contract_call,
            "contract.getCode": self.get_code,
            "net.peers": self.net_peers,
            "consensus.state": self.consensus_state,
            "consensus.params": self.consensus_params,
            "mempool.pending": self.mempool_pending,
            "rpc.discover": self.discover,
        })
        routes.update(self.aicf.routes())
        routes.update(self.search.routes())
        routes.update(spec.routes({"evidence.submit": EvidenceRpc(self.driver).submit}))
        unbound = sorted(set(spec.METHODS) - set(routes))
        if unbound:
            raise KeyError(f"methods of node/rpc/spec.py without a handler: {', '.join(unbound)}")
        return Dispatcher(routes)
