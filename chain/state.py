"""The authenticated state a block executes against.

``StateDB`` is a write overlay over the sparse Merkle tree of ``chain.smt``:

* reads look in the overlay, then in the *flat index* (``b"flat/" + key`` →
  value, the latest committed value of every key, kept beside the tree so a
  read costs one lookup instead of a walk of the tree), then in the tree;
* writes stay in the overlay, with a journal so a failed transaction's writes can
  be reverted to a snapshot;
* ``commit()`` folds the overlay into the tree in one batch and returns the new
  root together with every store write (tree nodes and flat entries) for the
  block store to put into its single atomic batch.

The flat index is only valid for the head state; ``StateDB`` is built with
``flat=None`` when reading an older root (proofs, history).

Accounts live at ``state_key("acct", address)`` and encode as
``[1, balance, nonce, code_hash]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chain.codec import decode, encode, expect_bytes, expect_int, expect_versioned
from chain.hashing import tag_prefix
from chain.kv import KVReader
from chain.smt import STATE_KEY_TAG, SparseMerkleTree, state_key

FLAT_PREFIX = b"flat/"
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Account:
    """An account: its balance, next nonce and (for contracts) code hash."""

    balance: int = 0
    nonce: int = 0
    code_hash: bytes = b""

    def encode(self) -> bytes:
        return encode([1, self.balance, self.nonce, self.code_hash])

    @classmethod
    def decode(cls, data: bytes) -> Account:
        i = expect_versioned(decode(data, max_size=256), "account", 1, 4)
        return cls(
            expect_int(i[1], "account.balance", hi=2**256),
            expect_int(i[2], "account.nonce"),
            expect_bytes(i[3], "account.code_hash", max_len=32),
        )

    @property
    def empty(self) -> bool:
        return self.balance == 0 and self.nonce == 0 and not self.code_hash


_ACCT_KEY_PREFIX = tag_prefix(STATE_KEY_TAG) + encode(["acct", bytes(20)])[:-20]


def account_key(address: bytes) -> bytes:
    """``state_key("acct", address)``, computed from a precomputed CBOR prefix (hot path)."""
    if len(address) != 20:
        return state_key("acct", bytes(address))
    return hashlib.sha3_256(_ACCT_KEY_PREFIX + address).digest()


@dataclass(frozen=True, slots=True)
class StateCommit:
    """The outcome of folding a block's writes into the tree."""

    root: bytes
    node_writes: dict[bytes, bytes]
    flat_writes: dict[bytes, bytes]
    flat_deletes: frozenset[bytes]
    changes: Mapping[bytes, bytes | None] = field(default_factory=dict)


class StateDB:
    """A journaled write overlay over the state tree (see the module docstring)."""

    def __init__(self, nodes: KVReader, root: bytes, flat: KVReader | None = None) -> None:
        self.tree = SparseMerkleTree(nodes, root)
        self.root = root
        self._flat = flat
        # Pending writes: bytes, None (deleted), or an Account not yet encoded (accounts
        # are encoded once, at commit, however often a block touches them).
        self._overlay: dict[bytes, bytes | Account | None] = {}
        self._journal: list[tuple[bytes, Any]] = []
        # Decoded accounts read from the store: key -> (the bytes read, the Account).
        self._accounts: dict[bytes, tuple[bytes, Account]] = {}

    # --- raw key access --------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        value = self._overlay.get(key, _MISSING)
        if value is not _MISSING:
            if isinstance(value, Account):
                return value.encode()
            return value  # type: ignore[return-value]
        if self._flat is not None:
            return self._flat.get(FLAT_PREFIX + key)
        return self.tree.get(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        self._journal.append((key, self._overlay.get(key, _MISSING)))
        self._overlay[key] = value

    def delete(self, key: bytes) -> None:
        self.set(key, None)

    def snapshot(self) -> int:
        """A mark to ``revert`` to."""
        return len(self._journal)

    def revert(self, mark: int) -> None:
        """Undo every write made since ``snapshot()`` returned ``mark``."""
        while len(self._journal) > mark:
            key, old = self._journal.pop()
            if old is _MISSING:
                del self._overlay[key]
            else:
                self._overlay[key] = old

    def commit(self) -> StateCommit:
        """Fold the overlay into the tree; the overlay is kept so reads still see it."""
        changes = {k: v.encode() if isinstance(v, Account) else v for k, v in self._overlay.items()}
        root, nodes = self.tree.update(changes)
        flat_writes = {FLAT_PREFIX + k: v for k, v in changes.items() if v is not None}
        flat_deletes = frozenset(FLAT_PREFIX + k for k, v in changes.items() if v is None)
        self._journal.clear()
        return StateCommit(root, nodes, flat_writes, flat_deletes, changes)

    # --- typed access ----------------------------------------------------------------

    def get_account(self, address: bytes) -> Account:
        key = account_key(address)
        pending = self._overlay.get(key, _MISSING)
        if isinstance(pending, Account):
            return pending
        raw = self.get(key)
        if raw is None:
            return Account()
        cached = self._accounts.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        account = Account.decode(raw)
        self._accounts[key] = (raw, account)
        return account

    def put_account(self, address: bytes, account: Account) -> None:
        key = account_key(address)
        self._journal.append((key, self._overlay.get(key, _MISSING)))
        self._overlay[key] = None if account.empty else account

    def credit(self, address: bytes, amount: int) -> None:
        if amount < 0:
            raise ValueError("credit of a negative amount")
        if amount:
            acct = self.get_account(address)
            self.put_account(address, Account(acct.balance + amount, acct.nonce, acct.code_hash))

    def debit(self, address: bytes, amount: int) -> bool:
        """Take ``amount`` from ``address``; False (and no change) if the balance is short."""
        acct = self.get_account(address)
        if acct.balance < amount:
            return False
        if amount:
            self.put_account(address, Account(acct.balance - amount, acct.nonce, acct.code_hash))
        return True
