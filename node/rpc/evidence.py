"""``evidence.submit``: double-sign evidence from a client, such as a light client that caught
two conflicting signed headers (``node.light``, ``chain.light.conflict_evidence``).

Params ``{evidence: hex}``: ``staking.DoubleSign`` bytes (at most 4 KiB).  The node verifies
them as it verifies a peer's (``EvidencePool.add``: shape, the two votes conflict, both
signatures, the evidence window, the validator known and not yet tombstoned), pools and
gossips them; a block then slashes ``double_sign_slash_bps`` of the validator's stake and
tombstones it.  Answers ``{hash, pooled}`` (``pooled: false``: already pooled, or no longer
usable on this node's state); evidence no honest node would send is ``INVALID_PARAMS`` with
its reason; a node without an evidence pool (a one-validator chain) answers
``INVALID_REQUEST``.
"""

from __future__ import annotations

from typing import Any

from chain.errors import ChainError
from chain.staking import DoubleSign
from node.rpc.jsonrpc import INVALID_REQUEST, InvalidParams, Params, RpcError

MAX_EVIDENCE_BYTES = 4096


class EvidenceRpc:
    """The ``evidence.*`` methods over a consensus driver that keeps an evidence pool."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def submit(self, p: Params) -> Any:
        raw = p.hex("evidence", max_len=MAX_EVIDENCE_BYTES)
        submit = getattr(self.driver, "submit_evidence", None)
        if submit is None:
            raise RpcError(INVALID_REQUEST, "this node keeps no evidence pool (a one-validator chain)")
        try:
            evidence = DoubleSign.decode(raw)
            pooled = bool(submit(raw))
        except ChainError as exc:
            reason = exc.details.get("reason", exc.code.name.lower())
            raise InvalidParams(f"evidence refused ({reason}): {exc.message}") from None
        return {"hash": bytes(evidence.hash()).hex(), "pooled": pooled}

    def routes(self) -> dict[str, tuple[tuple[str, ...], Any]]:
        return {"evidence.submit": (("evidence",), self.submit)}
