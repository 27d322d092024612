"""The AICF chain module: providers, the job queue, matching, leases, proofs and the treasury.

It registers the transaction kinds of ``aicf.txs`` and claims the block's proofs section
(``chain.module.ProofModule``: ``aicf.resolver.apply_proofs``).  At the end of every block,
in this order:

1. **intake**: the jobs enqueued in this block join their lanes (``aicf.jobs.intake``);
2. **the schedule** due at this height, in the order its entries were added: SLA deadlines
   (expire and refund), lease deadlines (missed leases, requeue), backoffs that end
   (requeue), quantum reveal beacons, unbonding stake that matures;
3. **the matcher** assigns queued jobs to providers (``aicf.jobs.match``);
4. **the treasury inflow**: with ``pot`` the block's fees and reward,

       to_fund = fees × fee_share_bps // 10000 + reward × block_mint_bps // 10000

   is credited to the fund's module account ``module_address("aicf/fund")``; the kernel pays
   the rest of the pot to the proposer.  Rounding is down, so the proposer receives the
   remainders and no unit is created or lost;
5. at an **epoch end** (``height % epoch_length == 0``): every provider's QoS window is judged
   and reset (``aicf.slashing.close_qos_windows``), then the fund settles the epoch
   (``aicf.settlement.settle``).

Proofs are applied before step 1, so a proof in a job's deadline block (or its provider's
lease-deadline block) still counts.  ``docs/ECONOMICS.md`` is where the money is described.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from aicf.jobs import end_lease, intake, match, on_lease_deadline, on_requeue, on_reveal, on_sla, requeue
from aicf.params import AicfParams
from aicf.records import FUND_ADDRESS, STAKE_ADDRESS, UNBONDING
from aicf.resolver import ProofContext, apply_proofs
from aicf.settlement import is_epoch_end, note, settle
from aicf.slashing import close_qos_windows
from aicf.store import delete_provider, load_job_record, load_provider, save_job_record, take_schedule
from aicf.txs import tx_kinds
from capabilities.records import CapabilityParams
from chain.module import BlockEnv, BlockPot, Event, TxKind
from chain.state import StateDB
from proofs.ai import AiVerifyConfig

BPS = 10_000
__all__ = ["FUND_ADDRESS", "STAKE_ADDRESS", "AicfModule", "treasury_share"]


def treasury_share(fees: int, reward: int, params: AicfParams) -> int:
    """The fund's part of a block's pot (see the module docstring)."""
    t = params.treasury
    return fees * t.fee_share_bps // BPS + reward * t.block_mint_bps // BPS


def _on_unbond(state: StateDB, address: bytes, height: int, params: AicfParams) -> list[Event]:
    """Matured unbonding: open leases end (released), the stake returns, the provider is removed."""
    record = load_provider(state, address)
    if record is None or record.status != UNBONDING or record.unbond_height != height:
        return []
    events: list[Event] = []
    for task_id in record.leases:
        job = load_job_record(state, task_id)
        if job is not None:
            job, _ = end_lease(state, job, address, height, "released", params)  # no fault, no slash
            job, more = requeue(state, job, height, params, "provider_unbonded")
            save_job_record(state, job)
            events += more
    record = load_provider(state, address)
    assert record is not None
    if not state.debit(STAKE_ADDRESS, record.stake):  # pragma: no cover - the stake account holds every stake
        raise AssertionError("stake account short of a provider's stake")
    state.credit(record.address, record.stake)
    delete_provider(state, replace(record, leases=()))
    return [*events, Event("aicf", "provider_unbonded", (("provider", bytes(address)), ("stake", record.stake)))]


class AicfModule:
    """The AI Compute Fund as a kernel module."""

    name = "aicf"

    def __init__(self, chain_id: str, params: AicfParams, capabilities: CapabilityParams,
                 ai_config: AiVerifyConfig, epoch_length: int = 100) -> None:
        self.params = params
        self.epoch_length = epoch_length
        self.proof_context = ProofContext(chain_id, params, capabilities, ai_config, epoch_length)
        self._kinds = tx_kinds(chain_id, params, ai_config)

    def tx_kinds(self) -> Mapping[str, TxKind]:
        return self._kinds

    def begin_block(self, state: StateDB, env: BlockEnv) -> list[Event]:
        return []

    def apply_proofs(self, state: StateDB, env: BlockEnv, proofs: Sequence[bytes]) -> list[Event]:
        return apply_proofs(state, env, proofs, self.proof_context)

    def end_block(self, state: StateDB, env: BlockEnv, pot: BlockPot) -> list[Event]:
        params, h = self.params, env.height
        events = intake(state, env, params, self.proof_context.capabilities)
        for entry in take_schedule(state, h):
            if entry.what == "sla":
                events += on_sla(state, entry.id, h, params)
            elif entry.what == "lease":
                events += on_lease_deadline(state, entry.id, h, params)
            elif entry.what == "requeue":
                events += on_requeue(state, entry.id, h)
            elif entry.what == "reveal":
                events += on_reveal(state, entry.id, env)
            elif entry.what == "unbond":
                events += _on_unbond(state, entry.id, h, params)
        events += match(state, env, params)
        amount = pot.take(treasury_share(pot.fees, pot.reward, params))
        state.credit(FUND_ADDRESS, amount)
        if amount:
            note(state, treasury=amount)
            events.append(Event("aicf", "treasury", (("amount", amount),)))
        if is_epoch_end(h, self.epoch_length):
            events += close_qos_windows(state, h, params)
            events += settle(state, env, params, self.epoch_length)
        return events
