"""LevelDB through plyvel: the ``KV`` the chain's block store runs on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import plyvel


class LevelDBKV:
    """One LevelDB database; batches are atomic, and synced when asked."""

    def __init__(self, path: Path | str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self._db = plyvel.DB(str(path), create_if_missing=True, lru_cache_size=64 * 1024 * 1024)

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: frozenset[bytes] = frozenset(), *, sync: bool = True) -> None:
        with self._db.write_batch(sync=sync, transaction=True) as wb:
            for key in deletes:
                wb.delete(key)
            for key, value in puts.items():
                wb.put(key, value)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from self._db.iterator(prefix=prefix)

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()
