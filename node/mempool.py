"""The mempool: admitted transactions waiting for a block, and a bounded queue of gossiped
transactions that arrived ahead of their sender's nonce.

Admission (``add`` / ``add_raw``), in order; each failure is an ``InvalidTransaction`` with
its code, and a refused transaction leaves the pool as it was (except that pending
transactions whose nonce the chain has already used are dropped whenever their sender is
looked at, even before ``update``):

1. ``add_raw`` decodes strictly first (``DECODE_*``, ``TX_TOO_LARGE``);
2. a hash already pending or queued is refused (``TX_DUPLICATE``, temporary);
3. size, chain id and signature (``check_stateless``: ``TX_TOO_LARGE``, ``TX_WRONG_CHAIN``,
   ``TX_BAD_SIGNATURE``); a verified signature is remembered by transaction hash in the
   ``SignatureCache`` (``capacity`` 200,000, oldest dropped first), so neither a repeat
   submission, a promotion from the queue nor block execution verifies it again;
4. the nonce must be the sender's next one *after its pending transactions*
   (``TX_NONCE_TOO_LOW`` / ``TX_NONCE_GAP``, the latter temporary), or equal a pending nonce
   (a replacement, see 7);
5. gas price at least ``min_gas_price`` (``TX_FEE_TOO_LOW``), gas limit between the intrinsic
   gas and the block gas limit (``TX_GAS_LIMIT``), a known kind (``TX_UNKNOWN_KIND``) whose
   payload decodes (``TX_BAD_PAYLOAD``) — ``chain.apply.check_against_account``;
6. the sender's balance must cover the fees and spends (transfer amounts) of all its pending
   transactions plus this one (``TX_INSUFFICIENT_BALANCE``, temporary);
7. a replacement must bid a gas price at least ``replace_bump_bps`` (default 1,000 = 10%)
   above the transaction it replaces (``TX_REPLACEMENT_UNDERPRICED``, temporary); it is
   checked before the balance (6), which then counts the newcomer instead of the replaced one;
8. a sender holds at most ``max_txs_per_sender`` (default 10,000) pending transactions
   (``MEMPOOL_FULL``, temporary, ``details["limit"] == "sender"``);
9. the pool's caps, ``max_txs`` (default 50,000) and ``max_bytes`` (default 64 MiB): a full
   pool evicts the lowest-priced tail transaction of other senders (newest first among equal
   prices) while the newcomer bids more, else ``MEMPOOL_FULL`` (``limit == "pool"``), and a
   refused newcomer evicts nothing.

Why ``max_txs_per_sender`` defaults to 10,000: it is one full block of transfers
(``max_block_txs`` is 10,000 and ``block_gas_limit`` / 20,000 gas per transfer is 10,000 too),
so a lone heavy sender (an exchange paying out; ``bench/transfers.py`` sends at most a few per
account, ``bench/network.py`` 200 per devnet key, the tests a few dozen) can still fill every
block, while filling the 50,000-slot pool takes at least five funded senders, each paying for
what it holds, and price eviction (9) decides among them.

**Queued ("future") transactions.** Gossip may deliver a sender's transactions out of order.
With ``queue_future=True`` (gossip only; RPC keeps answering ``TX_NONCE_GAP``) a transaction
whose nonce is ahead of the sender's next nonce by at most ``max_future_gap`` (default 64) is
held in a bounded queue instead of being refused (further ahead: ``TX_NONCE_GAP`` as without
it) — but only after every other rule above passed (3, 5; a queued nonce may be replaced
under rule 7 against the queued transaction), so junk (an unknown kind, a bad payload, a bad
signature, an unfunded sender) is never held.  Its balance rule (6) counts the sender's
pending *and* queued transactions.  Caps, each ``MEMPOOL_FULL`` (temporary) with its
``limit``: the sender's pending plus queued transactions stay within ``max_txs_per_sender``
(``"sender"``); a sender queues at most ``max_future_per_sender`` (default 16,
``"future_sender"``); the queue holds at most ``max_future_txs`` (default 1,024,
``"future_txs"``) and ``max_future_bytes`` (default 4 MiB = 64 transactions of the largest
size, ``"future_bytes"``).  A full queue refuses newcomers rather than evicting: a
transaction refused here reaches us again in order, or reaches the proposer by another path.

A queued transaction that becomes next in line (after an admission or a commit) is
*promoted*: removed from the queue and put through the whole admission again; one that fails
is dropped.  A queued transaction is dropped when its nonce falls below the sender's next
nonce (included, or superseded by a pending one at its nonce), and when
``future_ttl_commits`` (default 100) commits — calls of ``update``, no clock — have passed
since it was queued without it being promoted (a replacement keeps the original's age).

Why these defaults: relays reorder a burst by a few places, not by dozens, so a gap of 64
and 16 waiting per sender cover honest reordering; 100 commits are 20–100 s at 0.2–1 s a
block, long past any reordering on the way.  What a sender can make us hold without its
transactions being includable is then 16 transactions for 100 commits, and 4 MiB over all
senders.

**Work.**  Each sender's pending transactions are a ``SenderQueue``: the contiguous nonces
from its first pending one, with the running sum of their fees and spends.  Admission,
replacement, ``next_nonce`` and eviction do O(log n) work per transaction, amortized
(eviction keeps a heap of every sender's tail, cleaned lazily), never work that grows with a
sender's queue; queueing costs O(``max_future_per_sender``).  ``reap`` returns transactions
by descending gas price while keeping each sender's nonce order (a heap of each sender's next
transaction): O(senders + reaped × log senders).  ``update`` runs after every commit: it drops what was
included or became stale and, if the balance no longer covers a sender's queue, drops from
the tail until it does (every transaction left can run in nonce order); then it handles the
queued transactions (promote, drop stale, expire) and returns the promoted ones, so the
caller can relay them: O(senders + dropped + queued).
"""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain.apply import Application, check_against_account
from chain.errors import ErrorCode, InvalidTransaction
from chain.state import Account
from chain.tx import SignedTx, check_stateless, decode_tx_or_invalid
from chain.types import Address

UNLIMITED = 2**256
"""A balance that covers anything: the pool runs its own balance rule over pending txs."""


@dataclass(frozen=True, slots=True)
class PoolTx:
    """A pending transaction with what it moves out of the sender and its admission number."""

    tx: SignedTx
    spend: int
    seq: int

    @property
    def price(self) -> int:
        return self.tx.body.gas_price

    @property
    def cost(self) -> int:
        """The most it takes from the sender's balance: the whole fee plus the amount."""
        return self.tx.body.fee + self.spend


@dataclass(frozen=True, slots=True)
class FutureTx:
    """A queued transaction, waiting for the nonces before it; ``since`` is the commit count
    when its nonce was first queued."""

    tx: SignedTx
    spend: int
    since: int

    @property
    def cost(self) -> int:
        return self.tx.body.fee + self.spend


class SenderQueue:
    """One sender's pending transactions: every nonce in ``first, ..., end - 1`` is present,
    and ``cost`` is the sum of their ``PoolTx.cost``.  Every operation is O(1)."""

    __slots__ = ("first", "txs", "cost")

    def __init__(self, first: int) -> None:
        self.first = first
        self.txs: dict[int, PoolTx] = {}
        self.cost = 0

    def __len__(self) -> int:
        return len(self.txs)

    @property
    def end(self) -> int:
        """The nonce after the last pending one."""
        return self.first + len(self.txs)

    @property
    def tail(self) -> PoolTx:
        return self.txs[self.end - 1]

    def append(self, entry: PoolTx) -> None:
        self.txs[self.end] = entry
        self.cost += entry.cost

    def replace(self, entry: PoolTx) -> PoolTx:
        nonce = entry.tx.body.nonce
        old = self.txs[nonce]
        self.txs[nonce] = entry
        self.cost += entry.cost - old.cost
        return old

    def pop_first(self) -> PoolTx:
        entry = self.txs.pop(self.first)
        self.first += 1
        self.cost -= entry.cost
        return entry

    def pop_tail(self) -> PoolTx:
        entry = self.txs.pop(self.end - 1)
        self.cost -= entry.cost
        return entry


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


def _full(message: str, limit: str, **details: Any) -> InvalidTransaction:
    """``MEMPOOL_FULL`` naming the bound that was reached (``details["limit"]``)."""
    return InvalidTransaction(message, code=ErrorCode.MEMPOOL_FULL, limit=limit, **details)


_Tail = tuple[int, int, PoolTx]
"""A heap item naming a sender's tail: (gas price, -seq, entry); the cheapest, newest is first."""


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
        max_txs_per_sender: int = 10_000,
        max_future_gap: int = 64,
        max_future_per_sender: int = 16,
        max_future_txs: int = 1_024,
        max_future_bytes: int = 4 * 1024 * 1024,
        future_ttl_commits: int = 100,
        sig_cache: SignatureCache | None = None,
    ) -> None:
        self.app = app
        self.account_of = account_of
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.replace_bump_bps = replace_bump_bps
        self.max_txs_per_sender = max_txs_per_sender
        self.max_future_gap = max_future_gap
        self.max_future_per_sender = max_future_per_sender
        self.max_future_txs = max_future_txs
        self.max_future_bytes = max_future_bytes
        self.future_ttl_commits = future_ttl_commits
        self.sig_cache = sig_cache or SignatureCache()
        self._senders: dict[Address, SenderQueue] = {}
        self._by_hash: dict[bytes, PoolTx] = {}
        self._bytes = 0
        self._seq = 0
        # every sender's tail is in the heap; items whose entry is no longer a tail are skipped
        self._tails: list[_Tail] = []
        self._future: dict[Address, dict[int, FutureTx]] = {}
        self._future_by_hash: dict[bytes, FutureTx] = {}
        self._future_bytes = 0
        # (since, sender, nonce) in queueing order, for expiry; stale items are skipped
        self._future_order: deque[tuple[int, Address, int]] = deque()
        self._commits = 0
        self.rejected: Counter[str] = Counter()
        """Refused transactions by ``ErrorCode`` name (``node.metrics``)."""
        self.evicted = 0
        """Pending transactions evicted for a better-paying newcomer (``node.metrics``)."""

    # --- queries --------------------------------------------------------------------

    def __len__(self) -> int:
        """Pending transactions (queued ones are counted by ``future_len``)."""
        return len(self._by_hash)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def future_len(self) -> int:
        """Queued transactions waiting for an earlier nonce."""
        return len(self._future_by_hash)

    @property
    def future_bytes(self) -> int:
        return self._future_bytes

    def get(self, tx_hash: bytes) -> SignedTx | None:
        """A pending transaction by hash (queued ones are not pending)."""
        p = self._by_hash.get(bytes(tx_hash))
        return p.tx if p else None

    def pending_hashes(self) -> list[bytes]:
        """The hashes of the pending transactions (``mempool.pending``), in no particular order."""
        return list(self._by_hash)

    def next_nonce(self, sender: Address) -> int:
        """The nonce a new transaction from ``sender`` should carry."""
        nonce = self.account_of(sender).nonce
        queue = self._senders.get(sender)
        if queue is not None and queue.first <= nonce < queue.end:
            return queue.end
        return nonce

    # --- admission ------------------------------------------------------------------

    def add_raw(self, raw: bytes, *, queue_future: bool = False) -> list[SignedTx]:
        """Decode ``raw`` strictly, then ``add`` it."""
        try:
            tx = decode_tx_or_invalid(raw, self.app.params.max_tx_bytes)
        except InvalidTransaction as exc:
            self.rejected[exc.code.name] += 1
            raise
        return self.add(tx, queue_future=queue_future)

    def add(self, tx: SignedTx, *, queue_future: bool = False) -> list[SignedTx]:
        """Admit ``tx`` or raise ``InvalidTransaction`` (see the module docstring).

        Returns what entered the pool: ``tx``, then the queued transactions of its sender that
        it made next in line, in nonce order.  With ``queue_future`` a transaction that passes
        every rule but is ahead of its nonce by at most ``max_future_gap`` is queued, and the
        result is ``[]``.
        """
        try:
            admitted = self._admit(tx, queue_future=queue_future)
        except InvalidTransaction as exc:
            self.rejected[exc.code.name] += 1
            raise
        if not admitted:
            return []
        return [tx, *self._promote(tx.sender)]

    def _admit(self, tx: SignedTx, *, queue_future: bool) -> bool:
        """Admit ``tx`` as pending (True) or queue it (False), or raise."""
        tx_hash = bytes(tx.hash)
        if tx_hash in self._by_hash or tx_hash in self._future_by_hash:
            raise InvalidTransaction("transaction already in the mempool", code=ErrorCode.TX_DUPLICATE)
        if tx.hash not in self.sig_cache:
            check_stateless(tx, chain_id=self.app.chain_id, max_tx_bytes=self.app.params.max_tx_bytes)
            self.sig_cache.add(tx.hash)
        sender = tx.sender
        account = self.account_of(sender)
        queue = self._catch_up(sender, account.nonce)
        nonce = tx.body.nonce
        replacing = queue.txs.get(nonce) if queue is not None else None
        if replacing is not None:
            expected = nonce
        else:
            expected = queue.end if queue is not None else account.nonce
        if queue_future and expected < nonce <= expected + self.max_future_gap:
            self._queue_future(tx, account, queue)
            return False
        payload = check_against_account(tx, Account(UNLIMITED, account.nonce, account.code_hash), self.app,
                                        expected_nonce=expected)
        spend = spend_of(payload)
        if replacing is not None:
            self._check_bump(replacing.price, tx)
        pending = 0 if queue is None else queue.cost - (replacing.cost if replacing is not None else 0)
        if account.balance < pending + tx.body.fee + spend:
            raise InvalidTransaction(
                f"balance {account.balance} cannot cover fee and amount {tx.body.fee + spend} "
                f"after pending transactions ({pending})",
                code=ErrorCode.TX_INSUFFICIENT_BALANCE,
            )
        held = len(queue) if queue is not None else 0
        if replacing is None and held >= self.max_txs_per_sender:
            raise _full(f"sender already has {held} pending transactions", "sender",
                        cap=self.max_txs_per_sender)
        size = len(tx.raw)
        freed = len(replacing.tx.raw) if replacing is not None else 0
        count = len(self._by_hash) + (0 if replacing is not None else 1)
        if count > self.max_txs or self._bytes - freed + size > self.max_bytes:
            self._evict_for(tx, size - freed, count)  # never touches the newcomer's own queue
        self._seq += 1
        entry = PoolTx(tx, spend, self._seq)
        if queue is None:
            queue = self._senders[sender] = SenderQueue(account.nonce)
        if replacing is not None:
            was_tail = queue.tail is replacing
            queue.replace(entry)
            self._unindex(replacing)
            if was_tail:
                self._push_tail(queue)
        else:
            queue.append(entry)
            self._push_tail(queue)
        self._by_hash[tx_hash] = entry
        self._bytes += size
        queued = self._future.get(sender)
        if queued is not None and nonce in queued:  # a queued one at this nonce lost its place
            self._drop_future(queued[nonce])
        return True

    def _check_bump(self, old_price: int, tx: SignedTx) -> None:
        if tx.body.gas_price * 10_000 < old_price * (10_000 + self.replace_bump_bps):
            raise InvalidTransaction("replacement must raise the gas price by "
                                     f"{self.replace_bump_bps / 100:.0f}%",
                                     code=ErrorCode.TX_REPLACEMENT_UNDERPRICED)

    def _catch_up(self, sender: Address, account_nonce: int) -> SenderQueue | None:
        """The sender's queue without the nonces the chain has used (each tx is dropped once)."""
        queue = self._senders.get(sender)
        if queue is None:
            return None
        if account_nonce < queue.first:  # nothing can fill the gap below it: unreachable
            while len(queue):
                self._unindex(queue.pop_tail())
        while len(queue) and queue.first < account_nonce:
            self._unindex(queue.pop_first())
        if not len(queue):
            del self._senders[sender]
            return None
        return queue

    def _unindex(self, entry: PoolTx) -> None:
        if self._by_hash.pop(bytes(entry.tx.hash), None) is not None:
            self._bytes -= len(entry.tx.raw)

    # --- eviction ---------------------------------------------------------------------

    def _push_tail(self, queue: SenderQueue) -> None:
        tail = queue.tail
        heapq.heappush(self._tails, (tail.price, -tail.seq, tail))
        if len(self._tails) > 2 * len(self._senders) + 64:  # drop the skipped items, amortized
            self._tails = [(q.tail.price, -q.tail.seq, q.tail) for q in self._senders.values()]
            heapq.heapify(self._tails)

    def _pop_tail(self, ends: dict[Address, int]) -> _Tail | None:
        """The cheapest item that is a sender's tail once the ``ends`` already chosen are gone."""
        while self._tails:
            item = heapq.heappop(self._tails)
            entry = item[2]
            queue = self._senders.get(entry.tx.sender)
            if queue is None:
                continue
            end = ends.get(entry.tx.sender, queue.end)
            if end > queue.first and queue.txs.get(end - 1) is entry:
                return item
        return None

    def _evict_for(self, tx: SignedTx, size: int, count: int) -> None:
        """Make room for ``tx`` by evicting cheaper tails of other senders, or raise and evict nothing."""
        victims: list[_Tail] = []
        kept: list[_Tail] = []  # popped tails that stay (the newcomer's own)
        ends: dict[Address, int] = {}
        nbytes = self._bytes
        while count > self.max_txs or nbytes + size > self.max_bytes:
            item = self._pop_tail(ends)
            if item is not None and item[2].tx.sender == tx.sender:
                kept.append(item)
                continue
            if item is None or item[2].price >= tx.body.gas_price:
                for back in (*kept, *victims, *([item] if item is not None else [])):
                    heapq.heappush(self._tails, back)
                message = ("mempool is full" if item is None
                           else "mempool is full and the gas price is not high enough to enter")
                raise _full(message, "pool")
            victim = item[2]
            victims.append(item)
            queue = self._senders[victim.tx.sender]
            end = ends[victim.tx.sender] = ends.get(victim.tx.sender, queue.end) - 1
            if end > queue.first:  # the tail once this victim is gone
                below = queue.txs[end - 1]
                heapq.heappush(self._tails, (below.price, -below.seq, below))
            count -= 1
            nbytes -= len(victim.tx.raw)
        for item in kept:
            heapq.heappush(self._tails, item)
        for item in victims:  # tail first, within each sender
            self._remove_tail(item[2])
        self.evicted += len(victims)

    def _remove_tail(self, entry: PoolTx) -> None:
        sender = entry.tx.sender
        queue = self._senders[sender]
        queue.pop_tail()
        self._unindex(entry)
        if len(queue):
            self._push_tail(queue)
        else:
            del self._senders[sender]

    # --- queued transactions ---------------------------------------------------------

    def _queue_future(self, tx: SignedTx, account: Account, queue: SenderQueue | None) -> None:
        """Run every rule but the nonce's on ``tx``, then hold it until its nonce is next."""
        sender = tx.sender
        nonce = tx.body.nonce
        payload = check_against_account(tx, Account(UNLIMITED, account.nonce, account.code_hash), self.app,
                                        expected_nonce=nonce)
        spend = spend_of(payload)
        queued = self._future.get(sender, {})
        replacing = queued.get(nonce)
        if replacing is not None:
            self._check_bump(replacing.tx.body.gas_price, tx)
        held = (queue.cost if queue is not None else 0) + sum(
            f.cost for f in queued.values() if f is not replacing)
        if account.balance < held + tx.body.fee + spend:
            raise InvalidTransaction(
                f"balance {account.balance} cannot cover fee and amount {tx.body.fee + spend} "
                f"after pending and queued transactions ({held})",
                code=ErrorCode.TX_INSUFFICIENT_BALANCE,
            )
        if replacing is None:
            held_count = (len(queue) if queue is not None else 0) + len(queued)
            if held_count >= self.max_txs_per_sender:
                raise _full(f"sender already has {held_count} pending and queued transactions", "sender",
                            cap=self.max_txs_per_sender)
            if len(queued) >= self.max_future_per_sender:
                raise _full(f"sender already has {len(queued)} queued transactions", "future_sender",
                            cap=self.max_future_per_sender)
            if len(self._future_by_hash) >= self.max_future_txs:
                raise _full("the queue for early transactions is full", "future_txs", cap=self.max_future_txs)
        freed = len(replacing.tx.raw) if replacing is not None else 0
        if self._future_bytes - freed + len(tx.raw) > self.max_future_bytes:
            raise _full("the queue for early transactions is full", "future_bytes", cap=self.max_future_bytes)
        if replacing is not None:
            self._drop_future(replacing)
            entry = FutureTx(tx, spend, replacing.since)
        else:
            entry = FutureTx(tx, spend, self._commits)
            self._future_order.append((self._commits, sender, nonce))
            if len(self._future_order) > 2 * len(self._future_by_hash) + 64:
                self._compact_future_order()
        self._future.setdefault(sender, {})[nonce] = entry
        self._future_by_hash[bytes(tx.hash)] = entry
        self._future_bytes += len(tx.raw)

    def _drop_future(self, entry: FutureTx) -> None:
        sender = entry.tx.sender
        queued = self._future[sender]
        del queued[entry.tx.body.nonce]
        if not queued:
            del self._future[sender]
        del self._future_by_hash[bytes(entry.tx.hash)]
        self._future_bytes -= len(entry.tx.raw)

    def _is_current(self, since: int, sender: Address, nonce: int) -> FutureTx | None:
        entry = self._future.get(sender, {}).get(nonce)
        return entry if entry is not None and entry.since == since else None

    def _compact_future_order(self) -> None:
        self._future_order = deque(item for item in self._future_order if self._is_current(*item) is not None)

    def _promote(self, sender: Address) -> list[SignedTx]:
        """Admit the sender's queued transactions that are next in line, in nonce order."""
        out: list[SignedTx] = []
        while (queued := self._future.get(sender)) is not None:
            entry = queued.get(self.next_nonce(sender))
            if entry is None:
                break
            self._drop_future(entry)
            try:
                self._admit(entry.tx, queue_future=False)
            except InvalidTransaction:
                break  # dropped; the ones after it wait for another transaction at its nonce
            out.append(entry.tx)
        return out

    # --- block building -------------------------------------------------------------

    def reap(self, *, max_txs: int, max_bytes: int, max_gas: int, lone_gas: int = 0) -> list[SignedTx]:
        """Transactions for the next block: highest gas price first, nonce order per sender.

        Gas counts each transaction's gas limit.  The first transaction taken may have up to
        ``lone_gas`` (when more than ``max_gas``), so a transaction above a proposer's own
        budget but within the block's still gets a block of its own.
        """
        heads: list[tuple[int, int, Address, int]] = []
        for sender, queue in self._senders.items():
            start = self.account_of(sender).nonce
            if queue.first <= start < queue.end:
                p = queue.txs[start]
                heads.append((-p.price, p.seq, sender, start))
        heapq.heapify(heads)
        out: list[SignedTx] = []
        size = gas = 0
        while heads and len(out) < max_txs:
            _, _, sender, nonce = heapq.heappop(heads)
            queue = self._senders[sender]
            p = queue.txs[nonce]
            room = max_gas if out else max(max_gas, lone_gas)
            if size + len(p.tx.raw) > max_bytes or gas + p.tx.body.gas_limit > room:
                continue  # this sender's later txs cannot come before this one
            out.append(p.tx)
            size += len(p.tx.raw)
            gas += p.tx.body.gas_limit
            if nonce + 1 < queue.end:
                q = queue.txs[nonce + 1]
                heapq.heappush(heads, (-q.price, q.seq, sender, nonce + 1))
        return out

    def update(self) -> list[SignedTx]:
        """After a commit: drop included or stale transactions, re-check balances, then promote,
        drop and expire queued transactions; returns the promoted ones (to relay them)."""
        self._commits += 1
        for sender in list(self._senders):
            account = self.account_of(sender)
            queue = self._catch_up(sender, account.nonce)
            while queue is not None and len(queue) and queue.cost > account.balance:
                self._remove_tail(queue.tail)  # keep the longest prefix the balance covers
        promoted: list[SignedTx] = []
        for sender in list(self._future):
            below = self.next_nonce(sender)
            for entry in [f for n, f in self._future[sender].items() if n < below]:
                self._drop_future(entry)
            promoted += self._promote(sender)
        order = self._future_order
        while order and order[0][0] + self.future_ttl_commits <= self._commits:
            expired = self._is_current(*order.popleft())
            if expired is not None:
                self._drop_future(expired)
        return promoted
