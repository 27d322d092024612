"""The consensus write-ahead log: every input of the current height, written before it is acted on.

File format: a sequence of records ``u32be length ‖ u32be crc32 ‖ data``.  The
first record of a file is ``encode(["height", h])``; the file holds only height
``h`` and is replaced (atomically, via a fresh file and ``os.replace``) when the
next height starts.  A torn last record (a crash mid-write) fails its length or
CRC check and ends the replay there — everything before it is intact.

Records are flushed to the OS on every write and fsynced for the driver's own
messages and built blocks (``sync=True``): a peer's message that is lost with
the machine arrives again by gossip; our own signatures are in any case
protected by the signer (``node.privval``), the WAL only saves the round.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from chain.codec import decode, encode
from chain.errors import DecodeError

MAX_RECORD = 64 * 1024 * 1024


class WAL:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: BinaryIO | None = None

    def start_height(self, height: int) -> None:
        """Begin a new file for ``height`` (the previous height's file is dropped)."""
        self.close()
        tmp = self.path.with_suffix(".new")
        with open(tmp, "wb") as f:
            f.write(self._frame(encode(["height", height])))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._f = open(self.path, "ab")

    @staticmethod
    def _frame(data: bytes) -> bytes:
        return struct.pack(">II", len(data), zlib.crc32(data)) + data

    def append(self, record: list[Any], *, sync: bool = False) -> None:
        assert self._f is not None, "start_height first"
        self._f.write(self._frame(encode(record)))
        self._f.flush()
        if sync:
            os.fsync(self._f.fileno())

    def open_height(self, height: int) -> list[list[Any]]:
        """Continue the log of ``height`` (returning its records to replay), or start it afresh."""
        saved = self.read()
        if saved is None or saved[0] != height:
            self.start_height(height)
            return []
        self.close()
        # Rewrite the intact prefix so a torn tail is not followed by new records.
        tmp = self.path.with_suffix(".new")
        with open(tmp, "wb") as f:
            f.write(self._frame(encode(["height", height])))
            for record in saved[1]:
                f.write(self._frame(encode(record)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._f = open(self.path, "ab")
        return saved[1]

    def read(self) -> tuple[int, list[list[Any]]] | None:
        """``(height, records)`` from the file, stopping at a torn or corrupt record."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        records: list[list[Any]] = []
        pos = 0
        while pos + 8 <= len(data):
            length, crc = struct.unpack_from(">II", data, pos)
            body = data[pos + 8 : pos + 8 + length]
            if length > MAX_RECORD or len(body) != length or zlib.crc32(body) != crc:
                break
            try:
                value = decode(body, max_size=MAX_RECORD)
            except DecodeError:
                break
            if not isinstance(value, list) or not value:
                break
            records.append(value)
            pos += 8 + length
        if not records or records[0][0] != "height" or not isinstance(records[0][1], int):
            return None
        return records[0][1], records[1:]

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
