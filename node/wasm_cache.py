"""Compiled contract code on disk, so a restarted node does not recompile every contract.

``WasmCache`` is the ``chain.vm.engine.CompiledStore`` the node gives the contract
runtime: one file per code hash, ``<dir>/<code_hash hex>.cwasm``, holding what
``Engine.serialize`` produced behind a small header::

    b"CWC1" || sha256(payload) (32) || payload

The engine loads the payload as native code without checking it, so the checksum is what
keeps a torn or bit-rotten file from ever being executed: a file that fails it is
deleted and reported as missing, and the engine recompiles (and writes it again).  The
engine itself refuses payloads from another wasmtime build.

It is a cache: every failure (a full disk, a permission, a corrupt file) is logged and
treated as a miss; nothing here raises.  Writes go to a temporary file that is synced and
then renamed over the entry, so a crash leaves the old entry, the new one, or a stray
temporary file (removed by the next write).  The total size is capped; past the cap the
entries used least recently (by mtime, which a read refreshes) are deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from pathlib import Path

import structlog

log = structlog.get_logger("cairn.wasm_cache")

DIR_NAME = "wasm-cache"
"""The cache's directory inside a node's data directory."""
MAGIC = b"CWC1"
SUFFIX = ".cwasm"
TEMP_PREFIX = ".tmp-"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_HEADER = len(MAGIC) + 32


class WasmCache:
    """A ``CompiledStore`` over files in ``directory`` (created on the first write).

    One instance may serve several threads (block execution and RPC queries): its
    operations are serialized by a lock.
    """

    def __init__(self, directory: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.hits = 0
        """Entries returned by ``get``."""
        self.misses = 0
        """``get`` calls that found no usable entry."""
        self.writes = 0
        """Entries written by ``put``."""
        self._lock = threading.Lock()

    def path_of(self, key: bytes) -> Path:
        return self.directory / f"{bytes(key).hex()}{SUFFIX}"

    def get(self, key: bytes) -> bytes | None:
        """The payload stored under ``key``, or ``None`` (missing, unreadable or corrupt)."""
        with self._lock:
            return self._get(key)

    def put(self, key: bytes, data: bytes) -> None:
        """Store ``data`` under ``key`` (replacing any entry); failures are logged, never raised."""
        with self._lock:
            self._put(key, data)

    def _get(self, key: bytes) -> bytes | None:
        if len(key) != 32:
            self.misses += 1
            return None
        path = self.path_of(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as exc:
            log.warning("wasm cache read failed", path=str(path), error=str(exc))
            self.misses += 1
            return None
        payload = data[_HEADER:]
        if data[:len(MAGIC)] != MAGIC or hashlib.sha256(payload).digest() != data[len(MAGIC):_HEADER]:
            log.warning("wasm cache entry corrupt; discarding it", path=str(path), size=len(data))
            with contextlib.suppress(OSError):
                path.unlink()
            self.misses += 1
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        self.hits += 1
        return payload

    def _put(self, key: bytes, data: bytes) -> None:
        if len(key) != 32:
            return
        blob = MAGIC + hashlib.sha256(data).digest() + bytes(data)
        if len(blob) > self.max_bytes:
            log.info("compiled module larger than the whole wasm cache; not kept", size=len(blob))
            return
        path = self.path_of(key)
        tmp: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=TEMP_PREFIX)
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            log.warning("wasm cache write failed", path=str(path), error=str(exc))
            return
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self.writes += 1
        self._evict(keep=path)

    def total_bytes(self) -> int:
        """Bytes held by the entries now."""
        with self._lock:
            return sum(size for _, _, size in self._entries())

    def _entries(self) -> list[tuple[float, Path, int]]:
        out: list[tuple[float, Path, int]] = []
        try:
            names = list(self.directory.iterdir())
        except OSError:
            return out
        for path in names:
            try:
                if path.name.startswith(TEMP_PREFIX):
                    # one node per data directory and writes hold the lock: a temporary
                    # file seen here was left by a crash
                    path.unlink()
                    continue
                if path.suffix != SUFFIX:
                    continue
                st = path.stat()
            except OSError:
                continue
            out.append((st.st_mtime, path, st.st_size))
        return out

    def _evict(self, *, keep: Path) -> None:
        entries = sorted(self._entries())
        total = sum(size for _, _, size in entries)
        for _, path, size in entries:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            try:
                path.unlink()
            except OSError as exc:
                log.warning("wasm cache eviction failed", path=str(path), error=str(exc))
                continue
            total -= size
            log.info("wasm cache entry evicted", path=str(path), size=size)
