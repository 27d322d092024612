"""The storage protocols the kernel declares; ``node/db`` implements them on LevelDB.

The kernel never writes: it reads through ``KVReader`` and returns the writes it
wants as plain dicts, which the block store folds into one atomic batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol


class KVReader(Protocol):
    """Read access to a byte-keyed store."""

    def get(self, key: bytes) -> bytes | None: ...


class KV(KVReader, Protocol):
    """A byte-keyed store that applies a batch of puts and deletes atomically."""

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: frozenset[bytes] = frozenset(), *, sync: bool = True) -> None: ...

    def iterate(self, prefix: bytes, *, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """The entries whose key starts with ``prefix``, in key order; from ``start`` on when given."""
        ...


class MemoryKV:
    """A dict-backed ``KV`` for tests and for pure computations."""

    def __init__(self, initial: Mapping[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = dict(initial or {})

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: frozenset[bytes] = frozenset(), *, sync: bool = True) -> None:
        for key in deletes:
            self.data.pop(key, None)
        self.data.update(puts)

    def iterate(self, prefix: bytes, *, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self.data if k.startswith(prefix) and (start is None or k >= start)):
            yield key, self.data[key]
