"""The mempool: admitted transactions waiting for a block.

Admission, in order (each failure is an ``InvalidTransaction`` with its code):

1. decode strictly and check size, chain id and signature (``check_stateless``);
   a verified signature is remembered by transaction hash, so neither a repeat
   submission nor block execution verifies it again;
2. a duplicate hash is refused (``TX_DUPLICATE``, temporary);
3. the nonce must be the sender's next one *after its pending transactions*
   (``TX_NONCE_TOO_LOW`` / ``TX_NONCE_GAP``), or equal a pending nonce with a gas
   price at least ``replace_bump_bps`` higher (replacement);
4. the sender's balance must cover the fees and spends of all its pending
   transactions plus this one (``TX_INSUFFICIENT_BALANCE``);
5. the pool's caps (count and bytes): a full pool evicts the lowest-priced tail
   transaction of some sender if the newcomer bids more, else ``MEMPOOL_FULL``.

``reap`` returns transactions by descending gas price while keeping each
sender's nonce order (a priority queue of each sender's next transaction).
``update`` runs after every commit: it drops what was included or became stale
and re-checks the rest against the new state.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain.apply import Application, check_against_account
from chain.errors import ErrorCode, InvalidTransaction
from chain.state import Account
from chain.tx import SignedTx, check_stateless, decode_tx_or_invalid
from chain.types import Address


@dataclass(frozen=True, slots=True)
class PoolTx:
    tx: SignedTx
    spend: int
    seq: int

    @property
    def price(self) -> int:
        return self.tx.body.gas_price


class SignatureCache:
    """Hashes of transactions whose signatures verified; bounded, oldest dropped first."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._seen

    def add(self, tx_hash: bytes) -> None:
        self._seen[bytes(tx_hash)] = None
        self._seen.move_to_end(bytes(tx_hash))
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


def spend_of(payload: Any) -> int:
    """What a transaction moves out of the sender besides its fee (the transfer amount)."""
    amount = getattr(payload, "amount", 0)
    return amount if isinstance(amount, int) else 0


class Mempool:
    """See the module docstring.  ``account_of`` reads the committed head state."""

    def __init__(
        self,
        app: Application,
        account_of: Callable[[Address], Account],
        *,
        max_txs: int = 50_000,
        max_bytes: int = 64 * 1024 * 1024,
        replace_bump_bps: int = 1_000,
        sig_cache: SignatureCache | None = None,
    ) -> None:
        self.app = app
        self.account_of = account_of
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.replace_bump_bps = replace_bump_bps
        self.sig_cache = sig_cache or SignatureCache()
        self._by_sender: dict[Address, dict[int, PoolTx]] = {}
        self._by_hash: dict[bytes, PoolTx] = {}
        self._bytes = 0
        self._seq = 0

    # --- queries --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_hash)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, tx_hash: bytes) -> SignedTx | None:
        p = self._by_hash.get(bytes(tx_hash))
        return p.tx if p else None

    def next_nonce(self, sender: Address) -> int:
        """The nonce a new transaction from ``sender`` should carry."""
        base = self.account_of(sender).nonce
        queue = self._by_sender.get(sender, {})
        while base in queue:
            base += 1
        return base

    # --- admission ------------------------------------------------------------------

    def add_raw(self, raw: bytes) -> SignedTx:
        tx = decode_tx_or_invalid(raw, self.app.params.max_tx_bytes)
        self.add(tx)
        return tx

    def add(self, tx: SignedTx) -> None:
        """Admit ``tx`` or raise ``InvalidTransaction`` (see the module docstring)."""
        if bytes(tx.hash) in self._by_hash:
            raise InvalidTransaction("transaction already in the mempool", code=ErrorCode.TX_DUPLICATE)
        if tx.hash not in self.sig_cache:
            check_stateless(tx, chain_id=self.app.chain_id, max_tx_bytes=self.app.params.max_tx_bytes)
            self.sig_cache.add(tx.hash)
        sender = tx.sender
        account = self.account_of(sender)
        queue = self._by_sender.get(sender, {})
        nonce = tx.body.nonce
        replacing = queue.get(nonce)
        expected = nonce if replacing is not None else self._next_from(account.nonce, queue)
        payload = check_against_account(tx, Account(2**256, account.nonce, account.code_hash), self.app,
                                        expected_nonce=expected)
        spend = spend_of(payload)
        if replacing is not None:
            need = replacing.price * (10_000 + self.replace_bump_bps)
            if tx.body.gas_price * 10_000 < need:
                raise InvalidTransaction("replacement must raise the gas price by "
                                         f"{self.replace_bump_bps / 100:.0f}%",
                                         code=ErrorCode.TX_REPLACEMENT_UNDERPRICED)
        committed = sum(p.tx.body.fee + p.spend for n, p in queue.items() if n != nonce)
        if account.balance < committed + tx.body.fee + spend:
            raise InvalidTransaction(
                f"balance {account.balance} cannot cover fee and amount {tx.body.fee + spend} "
                f"after pending transactions ({committed})",
                code=ErrorCode.TX_INSUFFICIENT_BALANCE,
            )
        size = len(tx.raw)
        freed = len(replacing.tx.raw) if replacing is not None else 0
        count = len(self._by_hash) + (0 if replacing is not None else 1)
        if count > self.max_txs or self._bytes - freed + size > self.max_bytes:
            self._evict_for(tx, size - freed, count)
        if replacing is not None:
            self._remove(replacing)
        self._seq += 1
        entry = PoolTx(tx, spend, self._seq)
        self._by_sender.setdefault(sender, {})[nonce] = entry
        self._by_hash[bytes(tx.hash)] = entry
        self._bytes += size

    @staticmethod
    def _next_from(base: int, queue: dict[int, PoolTx]) -> int:
        while base in queue:
            base += 1
        return base

    def _evict_for(self, tx: SignedTx, size: int, count: int) -> None:
        queues = {s: sorted(q) for s, q in self._by_sender.items() if s != tx.sender}
        victims: list[PoolTx] = []
        nbytes = self._bytes
        while count > self.max_txs or nbytes + size > self.max_bytes:
            tails = [self._by_sender[s][ns[-1]] for s, ns in queues.items() if ns]
            if not tails:
                raise InvalidTransaction("mempool is full", code=ErrorCode.MEMPOOL_FULL)
            victim = min(tails, key=lambda p: (p.price, -p.seq))
            if victim.price >= tx.body.gas_price:
                raise InvalidTransaction("mempool is full and the gas price is not high enough to enter",
                                         code=ErrorCode.MEMPOOL_FULL)
            queues[victim.tx.sender].pop()
            victims.append(victim)
            count -= 1
            nbytes -= len(victim.tx.raw)
        for victim in victims:
            self._remove(victim)

    def _remove(self, entry: PoolTx) -> None:
        sender = entry.tx.sender
        queue = self._by_sender.get(sender)
        if queue is not None:
            queue.pop(entry.tx.body.nonce, None)
            if not queue:
                del self._by_sender[sender]
        if self._by_hash.pop(bytes(entry.tx.hash), None) is not None:
            self._bytes -= len(entry.tx.raw)

    # --- block building -------------------------------------------------------------

    def reap(self, *, max_txs: int, max_bytes: int, max_gas: int) -> list[SignedTx]:
        """Transactions for the next block: highest gas price first, nonce order per sender."""
        heads: list[tuple[int, int, Address, int]] = []
        cursors: dict[Address, list[int]] = {}
        for sender, queue in self._by_sender.items():
            nonces = sorted(queue)
            start = self.account_of(sender).nonce
            chain: list[int] = []
            for n in nonces:
                if n != start + len(chain):
                    break
                chain.append(n)
            if chain:
                cursors[sender] = chain
                p = queue[chain[0]]
                heads.append((-p.price, p.seq, sender, 0))
        heapq.heapify(heads)
        out: list[SignedTx] = []
        size = gas = 0
        while heads and len(out) < max_txs:
            _, _, sender, i = heapq.heappop(heads)
            p = self._by_sender[sender][cursors[sender][i]]
            if size + len(p.tx.raw) > max_bytes or gas + p.tx.body.gas_limit > max_gas:
                continue  # this sender's later txs cannot come before this one
            out.append(p.tx)
            size += len(p.tx.raw)
            gas += p.tx.body.gas_limit
            if i + 1 < len(cursors[sender]):
                q = self._by_sender[sender][cursors[sender][i + 1]]
                heapq.heappush(heads, (-q.price, q.seq, sender, i + 1))
        return out

    def update(self) -> None:
        """After a commit: drop included or stale transactions, re-check the rest."""
        for sender in list(self._by_sender):
            account = self.account_of(sender)
            queue = self._by_sender[sender]
            budget = account.balance
            broken = False
            for nonce in sorted(queue):
                entry = queue[nonce]
                if nonce >= account.nonce and (broken or budget < entry.tx.body.fee + entry.spend):
                    broken = True
                if nonce < account.nonce or broken:
                    self._remove(entry)
                    continue
                budget -= entry.tx.body.fee + entry.spend
