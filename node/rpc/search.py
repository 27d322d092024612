"""``tx.search`` and ``chain.searchBlocks``: committed transactions and blocks by event attributes.

Both read the node's event index (``node.event_index``, which states the query language).
The first condition of a query drives the scan: its entries are read in cursor order
``(height, index)``; each transaction (or block) met is checked once, against every
condition, over all of its own events.  A call reads at most ``MAX_SCAN`` entries and
answers ``next_cursor`` (the last entry read, as 24 hex digits) while more may follow, so a
query that matches rarely still answers in bounded time, perhaps with an empty page.

A node that keeps no index answers ``INDEX_OFF`` (-32010).
"""

from __future__ import annotations

from typing import Any

from chain.apply import Receipt
from chain.codec import decode
from chain.module import Event
from chain.store import BlockStore
from node.chain_service import ChainService
from node.event_index import Condition, EventIndex, QueryError, decode_cursor, encode_cursor, parse_query
from node.rpc import spec
from node.rpc.jsonrpc import Handler, InvalidParams, Params, RpcError
from node.rpc.views import event_json

INDEX_OFF = spec.INDEX_OFF
MAX_SCAN = 1000
"""Index entries one call reads at most."""
MAX_RESULTS = spec.MAX_PAGE


class SearchRpc:
    def __init__(self, chain: ChainService, index: EventIndex | None) -> None:
        self.chain = chain
        self.index = index

    @property
    def prefix(self) -> str:
        return self.chain.app.params.address_prefix

    def _query(self, p: Params) -> tuple[EventIndex, tuple[Condition, ...], bytes | None, int]:
        if self.index is None:
            raise RpcError(INDEX_OFF, "this node keeps no event index (set [index] events = true in "
                           "config.toml and restart)")
        try:
            conditions = parse_query(p.str("query", max_len=10_000), self.prefix)
        except QueryError as exc:
            raise InvalidParams(f"param 'query': {exc}") from None
        after = p.hex("cursor", length=12) if p.has("cursor") else None
        limit = p.int("limit", default=MAX_RESULTS, lo=1, hi=MAX_RESULTS)
        return self.index, conditions, after, limit

    async def tx_search(self, p: Params) -> Any:
        """A page of committed transactions with events matching every condition."""
        index, conditions, after, limit = self._query(p)
        store = self.chain.store
        first = conditions[0]
        prefix = first.prefix()
        last_tx: tuple[int, int] | None = None
        if after is not None:  # the entry at the cursor was read: skip the rest of its transaction
            raw = store.kv.get(prefix + after)
            height, _ = decode_cursor(after)
            tx = _tx_of(raw)
            last_tx = (height, tx) if tx is not None else None
        out: list[dict[str, Any]] = []
        scanned = 0
        cursor: tuple[int, int] | None = None
        blocks = _Blocks(store)
        for (height, ev_index), tx in index.scan(prefix, after):
            scanned += 1
            cursor = (height, ev_index)
            if tx is not None and (height, tx) != last_tx:
                last_tx = (height, tx)
                receipt = blocks.receipts(height)[tx]
                if all(any(c.matches(e) for e in receipt.events) for c in conditions[1:]):
                    event = blocks.events(height)[ev_index]
                    out.append({"hash": bytes(receipt.tx_hash).hex(), "height": height, "index": tx,
                                "event_index": ev_index, "event": event_json(event, self.prefix)})
            if len(out) == limit or scanned == MAX_SCAN:
                break
        else:
            cursor = None  # the scan reached the end of the index
        return {"txs": out, "next_cursor": _cursor(cursor), "scanned": scanned, "indexed_height": index.tip()}

    async def search_blocks(self, p: Params) -> Any:
        """A page of heights whose blocks have events matching every condition."""
        index, conditions, after, limit = self._query(p)
        store = self.chain.store
        last_height = decode_cursor(after)[0] if after is not None else None
        heights: list[int] = []
        scanned = 0
        cursor: tuple[int, int] | None = None
        for (height, ev_index), _tx in index.scan(conditions[0].prefix(), after):
            scanned += 1
            cursor = (height, ev_index)
            if height != last_height:
                last_height = height
                events = store.load_events(height)
                if all(any(c.matches(e) for e in events) for c in conditions[1:]):
                    heights.append(height)
            if len(heights) == limit or scanned == MAX_SCAN:
                break
        else:
            cursor = None
        return {"heights": heights, "next_cursor": _cursor(cursor), "scanned": scanned,
                "indexed_height": index.tip()}

    def routes(self) -> dict[str, tuple[tuple[str, ...], Handler]]:
        return spec.routes({"tx.search": self.tx_search, "chain.searchBlocks": self.search_blocks})


def _tx_of(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    value = decode(raw)
    return value if isinstance(value, int) else None


def _cursor(cursor: tuple[int, int] | None) -> str | None:
    return None if cursor is None else encode_cursor(*cursor).hex()


class _Blocks:
    """The receipts and event log of the last height read (entries come in height order)."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store
        self._receipts: tuple[int, list[Receipt]] | None = None
        self._events: tuple[int, list[Event]] | None = None

    def receipts(self, height: int) -> list[Receipt]:
        if self._receipts is None or self._receipts[0] != height:
            self._receipts = (height, self.store.load_receipts(self.store.hash_at(height)))
        return self._receipts[1]

    def events(self, height: int) -> list[Event]:
        if self._events is None or self._events[0] != height:
            self._events = (height, self.store.load_events(height))
        return self._events[1]
