"""The evidence pool: double-sign evidence waiting for a block (CometBFT's ``evidence/``).

Rules:

* **Verified on entry.**  Evidence enters only after ``chain.staking.check_evidence``
  accepts it against the head state, signatures included, as the first block that could
  include it would check it: the next block, or — for evidence of the height being
  decided, which this node's own state machine or a peer's may find — the one after.
  Evidence failing a check that holds whatever the state (``staking.EVIDENCE_FAULTS``:
  malformed, votes that do not conflict, a bad signature) raises
  ``InvalidConsensusMessage``, so the peer that sent it is banned; evidence that fails
  only on this node's state (outside the window, already used, a validator unknown here
  or already tombstoned) is dropped quietly.
* **Bounded.**  One piece of evidence per offender (the first one verified is enough to
  tombstone it) and at most ``max_items`` in all (default 64; each is at most 4 KiB, so
  the pool holds at most 256 KiB).  When full, new evidence is dropped (it arrives again
  by gossip while the offender stays unpunished).
* **Pruned on every commit.**  After each block, evidence that the block included, or
  that the offender's tombstone or the evidence window made useless, is removed — on
  every node, proposer or not (re-checked without signatures, which were checked on
  entry).  ``usable`` gives a proposer the evidence its block can carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from chain.errors import DecodeError, InvalidConsensusMessage, InvalidTransaction
from chain.module import BlockEnv
from chain.params import ChainParams
from chain.staking import EVIDENCE_FAULTS, DoubleSign, check_evidence
from chain.state import StateDB

DEFAULT_MAX_EVIDENCE = 64


class EvidencePool:
    """See the module docstring."""

    def __init__(self, params: ChainParams, *, max_items: int = DEFAULT_MAX_EVIDENCE) -> None:
        self.params = params
        self.max_items = max_items
        self._by_offender: dict[bytes, tuple[bytes, bytes]] = {}
        """offender address → (evidence hash, evidence bytes), in arrival order."""

    def __len__(self) -> int:
        return len(self._by_offender)

    def _check(self, raw: bytes, state: StateDB, env: BlockEnv, *, signatures: bool) -> DoubleSign:
        """``check_evidence`` in the first block after ``env``'s parent that may include ``raw``."""
        try:
            height = DoubleSign.decode(raw).a.height
        except DecodeError:
            height = -1  # check_evidence names it malformed
        at = replace(env, height=height + 1) if height == env.height else env
        return check_evidence(state, at, self.params, raw, signatures=signatures)[0]

    def add(self, raw: bytes, state: StateDB, env: BlockEnv) -> bool:
        """Verify ``raw`` against ``state`` (the head; ``env`` is the next block's); True if taken.

        Raises ``InvalidConsensusMessage`` for evidence no honest node would send.
        """
        try:
            ev = self._check(raw, state, env, signatures=True)
        except InvalidTransaction as exc:
            reason = str(exc.details.get("reason", ""))
            if reason in EVIDENCE_FAULTS:
                raise InvalidConsensusMessage(f"evidence-{reason}", exc.message) from None
            return False
        offender = bytes(ev.a.validator)
        if offender in self._by_offender or len(self._by_offender) >= self.max_items:
            return False
        self._by_offender[offender] = (ev.hash(), bytes(raw))
        return True

    def usable(self, state: StateDB, env: BlockEnv) -> list[bytes]:
        """The evidence the block ``env`` (on top of ``state``) can include."""
        out = []
        for _, raw in self._by_offender.values():
            try:
                check_evidence(state, env, self.params, raw, signatures=False)
            except InvalidTransaction:
                continue
            out.append(raw)
        return out

    def prune(self, included: Iterable[bytes], state: StateDB, env: BlockEnv) -> None:
        """After a commit: drop what the block included and what ``state`` made useless."""
        done = {DoubleSign.decode(raw).hash() for raw in included}
        for offender, (h, raw) in list(self._by_offender.items()):
            if h in done:
                del self._by_offender[offender]
                continue
            try:
                self._check(raw, state, env, signatures=False)
            except InvalidTransaction:
                del self._by_offender[offender]
