"""The proof pool: provider envelopes waiting for a block, checked before they are stored or relayed.

An envelope reaches the pool from ``aicf.submitProof`` (RPC) or from a peer (the ``proof``
gossip topic, :class:`ProofRelay`).  Before it is kept it passes the AICF module's
attribution (``aicf.resolver.attribute``) against the head state: strict decoding within
``MAX_ENVELOPE_BYTES``, the nullifier, a registered provider's signature for this chain, and
an open lease on the job held by that provider (and, for quantum, its commitment and reveal
beacon on chain).  So only a provider that holds a lease can fill the pool, and only with
envelopes for its own leases; the body (attestation, traps, pairings) is verified by every
validator when the block executes, where a failing one is a failed proof the provider pays for.

Bounds: at most ``max_proofs`` envelopes and ``max_bytes`` bytes in all, one per nullifier (a
second envelope for the same claim is refused ``duplicate``), and a ``full`` pool refuses new
ones.  After every commit the pool re-checks what it holds against the new head and drops
what no longer attributes (included, resolved, expired lease), so nothing stays forever.
``reap`` gives envelopes in arrival order, up to a block's share of bytes and
``aicf.resolver.MAX_BLOCK_PROOFS`` items.

Refusals are ``InvalidProof`` with the attribution reason (``not_leased``,
``nullifier_used``, ``bad_signature``, ...), or ``duplicate`` / ``pool_full``.  For a peer:
a refusal that no state could cure (:data:`FAULTS`: bytes that are no envelope, a bad
signature, a wrong nullifier) is a fault and bans it; the others are ignored without penalty,
since an honest peer may be a block ahead or behind.
"""

from __future__ import annotations

from collections.abc import Callable

from aicf.resolver import MAX_BLOCK_PROOFS, attribute
from chain.errors import InvalidProof
from chain.hashing import H
from chain.state import StateDB
from node.p2p import Gossip, Verdict
from node.p2p.handshake import NodeId
from proofs.envelope import MAX_ENVELOPE_BYTES

TOPIC = "proof"
DEFAULT_MAX_PROOFS = 1024
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
FAULTS = frozenset({
    "envelope_oversize", "envelope_trailing_bytes", "envelope_non_canonical", "envelope_version",
    "envelope_malformed", "envelope_bad_length", "unknown_proof_type", "nullifier_mismatch",
    "provider_key_mismatch", "bad_signature",
})
"""Reasons that hold whatever the state: an honest peer never relays such an envelope."""


class ProofPool:
    """See the module docstring."""

    def __init__(self, chain_id: str, head_state: Callable[[], StateDB], *, max_proofs: int = DEFAULT_MAX_PROOFS,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.chain_id = chain_id
        self.head_state = head_state
        self.max_proofs = max_proofs
        self.max_bytes = max_bytes
        self._items: dict[bytes, bytes] = {}
        """nullifier → envelope bytes, in arrival order."""
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, raw: bytes) -> bytes:
        """Check ``raw`` and keep it; its envelope hash.  ``InvalidProof`` if refused."""
        if not isinstance(raw, bytes) or len(raw) > MAX_ENVELOPE_BYTES:
            raise InvalidProof("envelope_oversize", f"an envelope is at most {MAX_ENVELOPE_BYTES} bytes")
        attributed = attribute(self.head_state(), self.chain_id, raw)
        key = bytes(attributed.envelope.nullifier)
        if key in self._items:
            raise InvalidProof("duplicate", "an envelope for this claim is already pooled")
        if len(self._items) >= self.max_proofs or self._bytes + len(raw) > self.max_bytes:
            raise InvalidProof("pool_full", "the proof pool is full; try again after the next block")
        self._items[key] = raw
        self._bytes += len(raw)
        return H(b"cairn/proof/v1", raw)

    def reap(self, max_bytes: int) -> list[bytes]:
        """Envelopes for the next block, in arrival order, within ``max_bytes`` and ``MAX_BLOCK_PROOFS``."""
        out: list[bytes] = []
        used = 0
        for raw in self._items.values():
            if len(out) >= MAX_BLOCK_PROOFS:
                break
            if used + len(raw) + 5 <= max_bytes:
                out.append(raw)
                used += len(raw) + 5
        return out

    def update(self) -> int:
        """Drop what no longer attributes against the new head; how many were dropped."""
        state = self.head_state()
        dropped = 0
        for key, raw in list(self._items.items()):
            try:
                attribute(state, self.chain_id, raw)
            except InvalidProof:
                del self._items[key]
                self._bytes -= len(raw)
                dropped += 1
        return dropped


class ProofRelay:
    """The ``proof`` gossip topic: pool first, then relay what the pool kept."""

    def __init__(self, gossip: Gossip, pool: ProofPool) -> None:
        self.gossip = gossip
        self.pool = pool

    def install(self) -> None:
        self.gossip.subscribe(TOPIC, self._on_proof, relay=False)

    def announce(self, raw: bytes) -> None:
        self.gossip.publish(TOPIC, raw)

    async def _on_proof(self, source: NodeId, data: bytes) -> Verdict:
        try:
            self.pool.add(data)
        except InvalidProof as exc:
            if exc.reason in FAULTS:
                raise
            return Verdict.IGNORE
        self.gossip.publish(TOPIC, data, exclude=source)
        return Verdict.ACCEPT
