"""Block sync (CometBFT's ``blocksync/``): catch up from peers that are ahead, serve peers that are behind.

Requests: ``status`` → ``[head_height]``; ``get_blocks [from, count]`` → ``[[block, commit], ...]``,
at most ``MAX_SYNC_BATCH`` pairs and, past the first, ``MAX_SYNC_BYTES`` of them.

Catching up: when woken (a peer connected, a message for a later height arrived) or every
``poll_interval`` seconds, ask each peer its height and, while one is ahead, fetch batches
from it.  Each pair is decoded once (the block by the executor's decoder, within
``max_block_bytes``) and handed to the consensus driver as a ``SyncedBlock``; the driver
commits it through the block executor — the one writer — which verifies the commit
first.  A peer whose answer does not decode, or whose pair the executor refuses (a commit
that does not sign its block, a block that is invalid on its parent), is reported: an
honest node only serves blocks it committed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
import trio

from chain.block import Block, Commit
from chain.codec import decode, encode, expect_array, expect_bytes, expect_int
from chain.errors import ChainError
from node.chain_service import ChainService
from node.executor import BlockExecutor
from node.p2p import Gossip
from node.p2p.handshake import NodeId

log = structlog.get_logger("cairn.sync")

MAX_SYNC_BATCH = 50
MAX_SYNC_BYTES = 2 * 1024 * 1024
MAX_COMMIT_BYTES = 1024 * 1024
"""Cap on a commit's encoding (``chain.block.Commit.decode``'s cap)."""


def answer_cap(max_block_bytes: int) -> int:
    """The largest ``get_blocks`` answer an honest peer sends: a batch, and one block past it."""
    return MAX_SYNC_BYTES + max_block_bytes + MAX_COMMIT_BYTES + 64 * 1024


def frame_size(max_block_bytes: int) -> int:
    """The p2p frame size a node needs: room for the largest message it must carry — a
    ``get_blocks`` answer, which is larger than any proposal or commit message."""
    return answer_cap(max_block_bytes) + 64 * 1024


@dataclass(frozen=True, slots=True)
class SyncedBlock:
    """A block and its commit served by ``source``, for the driver to commit."""

    block: Block
    commit: Commit
    source: NodeId


class BlockSync:
    """See the module docstring."""

    def __init__(self, gossip: Gossip, chain: ChainService, executor: BlockExecutor,
                 submit: Callable[[SyncedBlock], Awaitable[None]], *, poll_interval: float = 2.0) -> None:
        self.gossip = gossip
        self.chain = chain
        self.executor = executor
        self.submit = submit
        self.poll_interval = poll_interval
        self._wanted = trio.Event()
        self._committed = trio.Event()

    def install(self) -> None:
        self.gossip.serve("status", self._serve_status)
        self.gossip.serve("get_blocks", self._serve_blocks)
        self.gossip.watch_peers(self._on_peer)

    def wanted(self) -> None:
        """Something suggests a peer is ahead: look now."""
        self._wanted.set()

    def committed(self) -> None:
        """The driver committed a block (wakes a sync waiting for its batch to land)."""
        self._committed.set()
        self._committed = trio.Event()

    def _on_peer(self, peer: NodeId, connected: bool) -> None:
        if connected:
            self._wanted.set()

    # --- serving --------------------------------------------------------------------------

    async def _serve_status(self, requester: NodeId, data: bytes) -> bytes:
        return encode([self.chain.head.height])

    async def _serve_blocks(self, requester: NodeId, data: bytes) -> bytes:
        items = expect_array(decode(data, max_size=64), "get_blocks", 2)
        start = expect_int(items[0], "from", lo=1)
        count = expect_int(items[1], "count", lo=1, hi=MAX_SYNC_BATCH)
        out: list[list[bytes]] = []
        size = 0
        store = self.chain.store
        for h in range(start, min(start + count, self.chain.head.height + 1)):
            pair = [store.load_block_at(h).encode(), store.load_commit(h).encode()]
            size += len(pair[0]) + len(pair[1])
            if out and size > MAX_SYNC_BYTES:
                break
            out.append(pair)
        return encode(out)

    # --- catching up ------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            with trio.move_on_after(self.poll_interval):
                await self._wanted.wait()
            self._wanted = trio.Event()
            for peer in self.gossip.connected():
                try:
                    await self._sync_from(peer)
                except ChainError as exc:
                    log.debug("sync from peer failed", peer=bytes(peer).hex()[:12], reason=exc.message)
                    if not exc.temporary:
                        self.gossip.report(peer, exc)

    async def _sync_from(self, peer: NodeId) -> None:
        status = decode(await self.gossip.request(peer, "status", b"", timeout=5.0), max_size=64)
        their = expect_int(expect_array(status, "status", 1)[0], "height")
        chain = self.chain
        began, began_height, last_line = time.monotonic(), chain.head.height, time.monotonic()
        while their > chain.head.height:
            if time.monotonic() - last_line >= 5.0:  # periodic progress lines on long syncs
                last_line = time.monotonic()
                done = chain.head.height - began_height
                rate = done / max(last_line - began, 1e-9)
                log.info("syncing", height=chain.head.height, target=their, blocks_per_s=round(rate, 1),
                         eta_s=round((their - chain.head.height) / rate) if rate else None)
            start = chain.head.height + 1
            raw = await self.gossip.request(peer, "get_blocks", encode([start, MAX_SYNC_BATCH]), timeout=20.0)
            pairs = expect_array(decode(raw, max_size=answer_cap(chain.app.params.max_block_bytes)), "blocks")
            if not pairs:
                break
            synced = []
            for pair in pairs[:MAX_SYNC_BATCH]:
                p = expect_array(pair, "block pair", 2)
                synced.append(SyncedBlock(self.executor.decode(expect_bytes(p[0], "block")),
                                          Commit.decode(expect_bytes(p[1], "commit")), peer))
            before = chain.head.height
            for s in synced:
                await self.submit(s)
            with trio.move_on_after(10.0):
                while chain.head.height < before + len(synced):
                    await self._committed.wait()
            if chain.head.height == before:
                break
        if chain.head.height > began_height + 1:
            log.info("synced", height=chain.head.height, blocks=chain.head.height - began_height,
                     seconds=round(time.monotonic() - began, 1))
