"""Signature checks of a block's transactions on every core.

``apply_block`` verifies any signature it is not told is already verified; a
node that receives a block (from a peer, or while syncing) first runs this
pool over the block's transactions, which spreads Ed25519 verification over
worker processes, and passes the resulting set of good transaction hashes as
``verified``.  A transaction that fails here is simply not in the set, so
``apply_block`` checks it again and rejects the block with the exact reason:
the pool can speed validation up but never changes its outcome.

Workers are started with the ``spawn`` method (no fork of a trio process).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from chain.errors import ChainError
from chain.tx import SignedTx, check_stateless

CHUNK = 256


def _verify_chunk(raws: Sequence[bytes], chain_id: str, max_tx_bytes: int) -> list[bytes]:
    good = []
    for raw in raws:
        try:
            tx = SignedTx.decode(raw, max_size=max_tx_bytes)
            check_stateless(tx, chain_id=chain_id, max_tx_bytes=max_tx_bytes)
        except ChainError:
            continue
        good.append(bytes(tx.hash))
    return good


class SignaturePool:
    """A process pool that returns the hashes of transactions whose signatures verify."""

    def __init__(self, chain_id: str, max_tx_bytes: int, workers: int | None = None) -> None:
        self.chain_id = chain_id
        self.max_tx_bytes = max_tx_bytes
        n = workers or max(1, (os.cpu_count() or 1) - 1)  # leave a core for applying
        self._pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, raws: Sequence[bytes]) -> list[Future[list[bytes]]]:
        """Start checking ``raws``; collect with ``collect``."""
        return [self._pool.submit(_verify_chunk, list(raws[i:i + CHUNK]), self.chain_id, self.max_tx_bytes)
                for i in range(0, len(raws), CHUNK)]

    @staticmethod
    def collect(futures: Sequence[Future[list[bytes]]]) -> set[bytes]:
        out: set[bytes] = set()
        for f in futures:
            out.update(f.result())
        return out

    def verify(self, raws: Sequence[bytes]) -> set[bytes]:
        return self.collect(self.submit(raws))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
