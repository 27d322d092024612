"""Transactions between peers (CometBFT's mempool reactor): admit first, relay what was admitted.

* A gossiped transaction goes through every mempool admission rule.  One that arrives
  ahead of its sender's nonce (relays reorder) waits in the mempool's bounded, expiring
  future queue (``Mempool.add(..., queue_future=True)``) — after the same checks as any
  other (signature, kind, payload, gas, fee, balance), so junk never waits.
* Only admitted transactions are relayed, to every peer but the one that sent them;
  transactions that enter the pool later (a queued one whose turn came, on arrival of
  the missing nonce or after a commit) are relayed when they enter.
* A transaction that fails a rule which holds whatever the state (``FAULTS``: bad
  bytes, signature, chain id, size, kind, payload, gas or fee rules — each peer checks
  the same rules before relaying) gets its sender banned; one that fails on this
  node's state (nonce already used, balance, a full pool, a duplicate) is dropped
  without penalty, since an honest peer may have seen another state.
"""

from __future__ import annotations

from collections.abc import Iterable

from chain.errors import ErrorCode, InvalidTransaction
from chain.tx import SignedTx
from node.mempool import Mempool
from node.p2p import Gossip, Verdict
from node.p2p.handshake import NodeId

TOPIC = "tx"

FAULTS = frozenset({
    ErrorCode.TX_BAD_SIGNATURE,
    ErrorCode.TX_WRONG_CHAIN,
    ErrorCode.TX_TOO_LARGE,
    ErrorCode.TX_UNKNOWN_KIND,
    ErrorCode.TX_BAD_PAYLOAD,
    ErrorCode.TX_FEE_TOO_LOW,
    ErrorCode.TX_GAS_LIMIT,
})
"""Refusals that do not depend on the state: no honest peer relays such a transaction."""


def is_fault(code: ErrorCode) -> bool:
    """``code`` is one of ``FAULTS`` or a decoding error (bytes that are no transaction)."""
    return code in FAULTS or ErrorCode.DECODE <= code < ErrorCode.TX_BAD_SIGNATURE


class TxRelay:
    """See the module docstring."""

    def __init__(self, gossip: Gossip, mempool: Mempool) -> None:
        self.gossip = gossip
        self.mempool = mempool

    def install(self) -> None:
        self.gossip.subscribe(TOPIC, self._on_tx, relay=False)

    def announce(self, raws: Iterable[bytes]) -> None:
        """Transactions admitted locally (RPC) or promoted by a commit: send them to every peer."""
        for raw in raws:
            self.gossip.publish(TOPIC, raw)

    def promoted(self, txs: list[SignedTx]) -> None:
        self.announce(t.raw for t in txs)

    async def _on_tx(self, source: NodeId, data: bytes) -> Verdict:
        try:
            admitted = self.mempool.add_raw(data, queue_future=True)
        except InvalidTransaction as exc:
            if is_fault(exc.code):
                raise
            return Verdict.IGNORE
        for i, tx in enumerate(admitted):
            self.gossip.publish(TOPIC, tx.raw, exclude=source if i == 0 else None)
        return Verdict.ACCEPT
