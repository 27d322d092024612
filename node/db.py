"""LevelDB through plyvel: the ``KV`` the chain's block store runs on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import plyvel

from chain.errors import ChainError


class StoreUnavailable(ChainError):
    """The database cannot be opened: another process holds it, or the files are unreadable."""


class LevelDBKV:
    """One LevelDB database; batches are atomic, and synced when asked.

    LevelDB lets one process open a database at a time; a second one (a second node on the
    same home, ``cairn check`` beside a running node) gets ``StoreUnavailable`` saying so.
    """

    def __init__(self, path: Path | str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            self._db = plyvel.DB(str(path), create_if_missing=True, lru_cache_size=64 * 1024 * 1024)
        except plyvel.IOError as exc:
            text = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            if "lock" in text.lower():
                raise StoreUnavailable(f"{path} is in use by another process (a node already running on this "
                                       "home?); stop it first") from None
            raise StoreUnavailable(f"cannot open {path}: {text}") from None

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: frozenset[bytes] = frozenset(), *, sync: bool = True) -> None:
        with self._db.write_batch(sync=sync, transaction=True) as wb:
            for key in deletes:
                wb.delete(key)
            for key, value in puts.items():
                wb.put(key, value)

    def iterate(self, prefix: bytes, *, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if start is None or start <= prefix:
            yield from self._db.iterator(prefix=prefix)
            return
        for key, value in self._db.iterator(start=start):  # plyvel takes prefix or start, not both
            if not key.startswith(prefix):
                return
            yield key, value

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()
