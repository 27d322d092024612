"""An index of committed blocks' events by attribute, for ``tx.search`` and ``chain.searchBlocks``.

Node storage, not consensus state: no root commits to it, it is off by default
(``[index] events = true`` in ``config.toml`` turns it on) and it can be rebuilt at any
time from the store's event log (``BlockStore.load_events``) and receipts.

Layout, in the block store's LevelDB (heights 8-byte, event indexes 4-byte big-endian)::

    b"idx/" + b"<module>.<name>.<attr>=" + encode(value) + b"/" + height + index  -> encode(tx)
    b"idx-tip"                                                                  -> encode(height)

``value`` is the attribute's value as the event holds it (canonical CBOR, so an address is
its 20 bytes and an amount its integer); ``index`` is the event's position in its block's
log (the ``/ws`` cursor's); ``tx`` is the position in the block of the transaction whose
receipt emitted it, or ``None`` for a begin-block, proofs or end-block event.  Only scalar
attributes (bytes, text, integers, booleans) are indexed.  CBOR items are self-delimiting,
so one value's prefix never runs into another's.

**Writes.**  ``on_commit`` (a ``ChainService.on_commit`` listener) writes one block's
entries and the new ``idx-tip`` in one batch right after the block's own batch; it is not
synced, and a crash may lose it.  ``catch_up`` runs at startup and indexes every height
after ``idx-tip`` up to the head, from the event log: so a lost batch, or blocks committed
while the index was off, are indexed before the node serves RPC.  Writing the same height
twice writes the same keys, so both are idempotent.  A height the store keeps no event log
for (committed before the log existed) is skipped.

**Queries** (``parse_query``): a subset of CometBFT's query language, one or more conditions
joined by ``AND``::

    query     = condition { "AND" condition }
    condition = module "." name "." attr "=" value
    value     = "'" text "'" | integer | "true" | "false"

A quoted value is an address when it is a bech32m address of the chain (compared as its 20
bytes), bytes when it is even-length hex with or without ``0x`` (a task id, a digest), and
text otherwise; an integer (amounts too) is written bare, in decimal.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog

from chain.apply import BlockOutput
from chain.block import Block
from chain.codec import decode, encode, expect_int
from chain.errors import DecodeError
from chain.keys import decode_address
from chain.kv import KV
from chain.module import Event
from chain.store import BlockStore, EventsUnavailable

log = structlog.get_logger("cairn.index")

PREFIX = b"idx/"
TIP = b"idx-tip"
SUFFIX_LEN = 12
"""Bytes after an entry's value: the height (8) and the event's index (4)."""
MAX_CONDITIONS = 8
MAX_QUERY_CHARS = 1024
NAME = re.compile(r"[A-Za-z0-9_]+")


def _scalar(value: Any) -> bool:
    return isinstance(value, (bytes, str, int))  # bool is an int


def value_prefix(module: str, name: str, attr: str, value: Any) -> bytes:
    """The key prefix of every entry of events ``module.name`` whose ``attr`` is ``value``."""
    return PREFIX + f"{module}.{name}.{attr}=".encode() + encode(value) + b"/"


def encode_cursor(height: int, index: int) -> bytes:
    return struct.pack(">QI", height, index)


def decode_cursor(suffix: bytes) -> tuple[int, int]:
    height, index = struct.unpack(">QI", suffix)
    return int(height), int(index)


def block_entries(height: int, events: list[Event], tx_of: list[int | None]) -> dict[bytes, bytes]:
    """One block's index entries: ``events`` is its log, ``tx_of[i]`` the tx that emitted event ``i``."""
    puts: dict[bytes, bytes] = {}
    for index, e in enumerate(events):
        if not (NAME.fullmatch(e.module) and NAME.fullmatch(e.name)):
            continue
        for attr, value in e.attrs:
            if NAME.fullmatch(attr) and _scalar(value):
                puts[value_prefix(e.module, e.name, attr, value) + encode_cursor(height, index)] = encode(tx_of[index])
    return puts


def tx_positions(begin: int, receipt_event_counts: list[int], total: int) -> list[int | None]:
    """Which tx emitted each of a block's ``total`` logged events (``BlockOutput.executed_events``)."""
    out: list[int | None] = [None] * begin
    for tx, n in enumerate(receipt_event_counts):
        out.extend([tx] * n)
    return out + [None] * (total - len(out))


def find_begin(events: list[Event], tx_events: list[Event]) -> int:
    """Where the receipts' events start in a stored log (the log does not record it):
    the first offset at which they all appear in order.  Only a begin-block event equal
    to a transaction's could make this ambiguous, and then only its tx attribution."""
    n = len(tx_events)
    if n == 0:
        return len(events)
    for begin in range(len(events) - n + 1):
        if events[begin:begin + n] == tx_events:
            return begin
    raise DecodeError("the block's receipts' events are not in its event log")


class EventIndex:
    """The event index on the block store's ``KV`` (module docstring)."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def tip(self) -> int | None:
        """The height through which every block is indexed (``None``: none yet)."""
        raw = self.kv.get(TIP)
        return None if raw is None else expect_int(decode(raw), "index tip")

    def on_commit(self, block: Block, output: BlockOutput) -> None:
        height = block.header.height
        events = output.executed_events()
        tx_of = tx_positions(output.begin_events, [len(r.events) for r in output.receipts], len(events))
        puts = block_entries(height, events, tx_of)
        tip = self.tip()
        if tip is None or tip == height - 1:
            puts[TIP] = encode(height)
        # else a gap below (catch_up has not run): leave the tip for it to repair
        self.kv.write_batch(puts, sync=False)

    def catch_up(self, store: BlockStore, *, batch_blocks: int = 256) -> int:
        """Index every height after the tip up to the head, from the event log; the heights indexed."""
        head = store.head_height()
        tip = self.tip()
        start = 0 if tip is None else tip + 1
        done = 0
        puts: dict[bytes, bytes] = {}
        for height in range(start, head + 1):
            puts.update(self._entries_from_store(store, height))
            done += 1
            if done % batch_blocks == 0 or height == head:
                puts[TIP] = encode(height)
                self.kv.write_batch(puts, sync=True)
                puts = {}
        if done:
            log.info("event index caught up", heights=done, through=head)
        return done

    @staticmethod
    def _entries_from_store(store: BlockStore, height: int) -> dict[bytes, bytes]:
        try:
            events = store.load_events(height)
        except EventsUnavailable:
            return {}
        receipts = store.load_receipts(store.hash_at(height))
        tx_events = [e for r in receipts for e in r.events]
        begin = find_begin(events, tx_events)
        return block_entries(height, events, tx_positions(begin, [len(r.events) for r in receipts], len(events)))

    def scan(self, prefix: bytes, after: bytes | None) -> Iterator[tuple[tuple[int, int], int | None]]:
        """Entries under ``prefix`` in cursor order, strictly after cursor ``after``: ``((height, index), tx)``."""
        start = None if after is None else prefix + after + b"\x00"
        for key, value in self.kv.iterate(prefix, start=start):
            suffix = key[len(prefix):]
            if len(suffix) != SUFFIX_LEN:
                continue  # cannot happen: values are self-delimiting (module docstring)
            tx = decode(value)
            yield decode_cursor(suffix), tx if isinstance(tx, int) else None


# --- queries ------------------------------------------------------------------------------------


class QueryError(ValueError):
    """A query that is not in the language (``parse_query``); the message says where."""


@dataclass(frozen=True, slots=True)
class Condition:
    module: str
    name: str
    attr: str
    value: Any
    """As the event holds it: bytes, text or an integer."""

    def prefix(self) -> bytes:
        return value_prefix(self.module, self.name, self.attr, self.value)

    def matches(self, e: Event) -> bool:
        if e.module != self.module or e.name != self.name:
            return False
        return any(k == self.attr and type(v) is type(self.value) and v == self.value for k, v in e.attrs)


_TOKEN = re.compile(r"\s*(?:(?P<key>[A-Za-z0-9_]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+)\s*=\s*"
                    r"(?:'(?P<text>[^']*)'|(?P<int>-?[0-9]{1,40})\b|(?P<bool>true|false)\b))\s*")
_AND = re.compile(r"AND\b", re.IGNORECASE)
_HEX = re.compile(r"(?:0[xX])?((?:[0-9a-fA-F]{2})+)")


def _quoted(text: str, address_prefix: str) -> bytes | str:
    if text.startswith(address_prefix + "1"):
        try:
            return bytes(decode_address(text, address_prefix))
        except DecodeError:
            pass
    m = _HEX.fullmatch(text)
    if m:
        return bytes.fromhex(m.group(1))
    return text


def parse_query(query: str, address_prefix: str) -> tuple[Condition, ...]:
    """The conditions of ``query`` (module docstring); ``QueryError`` saying what is wrong."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"a query is at most {MAX_QUERY_CHARS} characters")
    out: list[Condition] = []
    pos = 0
    while True:
        m = _TOKEN.match(query, pos)
        if m is None:
            raise QueryError(f"expected module.name.attr = value at character {pos}")
        module, name, attr = m.group("key").split(".")
        value: Any
        if m.group("text") is not None:
            value = _quoted(m.group("text"), address_prefix)
        elif m.group("int") is not None:
            value = int(m.group("int"))
        else:
            value = m.group("bool") == "true"
        out.append(Condition(module, name, attr, value))
        if len(out) > MAX_CONDITIONS:
            raise QueryError(f"a query has at most {MAX_CONDITIONS} conditions")
        pos = m.end()
        if pos == len(query):
            return tuple(out)
        a = _AND.match(query, pos)
        if a is None:
            raise QueryError(f"expected AND at character {pos}")
        pos = a.end()
