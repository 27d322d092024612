"""Provider slashing: which faults cost stake, how much, and what follows.

Magnitudes are genesis parameters (``aicf.slashing``, basis points of the provider's stake
at the time).  Each slash, in the block where the fault is established:

* moves ``stake × bps // 10000`` (rounded down) from the stake account to the fund, counted as
  the epoch's ``slashed_in`` (``aicf.settlement``), and lowers the record's ``stake``;
* jails the provider for ``jail_blocks``: it gets no lease until it sends ``provider_unjail``
  after that (``aicf.txs``), and loses eligibility meanwhile (``aicf.health``);
* appends a ``Slash`` to its record and emits ``aicf/provider_slashed`` (provider, reason,
  amount, task_id).

Reasons:

``missed_lease``   a lease missed (its provider stopped heartbeating), beyond the first
                   ``leases.retry_budget`` misses of the epoch: an honest provider that loses
                   its connection now and then is not slashed, one that keeps missing is;
``bad_proof``      a failed proof (bad attestation, wrong binding, failed traps, invalid zk;
                   ``aicf.resolver``);
``quorum_dissent`` an output digest that disagreed with its job's quorum;
``qos_failure``    chronic QoS failure: ``qos_windows`` consecutive epochs whose availability
                   ``completed × 10000 // (completed + missed + failed + dissented)`` was below
                   ``qos_min_availability_bp``, each epoch with at least ``qos_min_leases``
                   ended leases; judged at every epoch end, then the count starts again.

Stake that is unbonding stays slashable until the unbonding matures: the record (and the
stake) stays until then, and what returns is what is left.
"""

from __future__ import annotations

from dataclasses import replace

from aicf.params import BPS, AicfParams
from aicf.records import FUND_ADDRESS, MAX_FAULTS, STAKE_ADDRESS, ProviderRecord, Slash
from aicf.settlement import note
from aicf.store import load_provider, provider_addresses, save_provider
from chain.module import Event
from chain.state import StateDB
from chain.types import Hash32

NO_TASK = Hash32(bytes(32))


def slash(state: StateDB, record: ProviderRecord, reason: str, bps: int, height: int, task_id: bytes,
          params: AicfParams) -> tuple[ProviderRecord, list[Event]]:
    """Slash ``record`` (module docstring); the saved record and the event."""
    amount = record.stake * bps // BPS
    if amount:
        if not state.debit(STAKE_ADDRESS, amount):  # pragma: no cover - the stake account holds every stake
            raise AssertionError("stake account short of a provider's stake")
        state.credit(FUND_ADDRESS, amount)
        note(state, slashed=amount)
    entry = Slash(height, reason, amount, Hash32(task_id))
    record = replace(record, stake=record.stake - amount, slashed=record.slashed + amount,
                     slashes=(*record.slashes, entry)[-MAX_FAULTS:],
                     jailed_until=max(record.jailed_until, height + params.slashing.jail_blocks))
    save_provider(state, record)
    return record, [Event("aicf", "provider_slashed", (("provider", bytes(record.address)), ("reason", reason),
                                                       ("amount", amount), ("task_id", bytes(task_id))))]


def slash_by_address(state: StateDB, provider: bytes, reason: str, bps: int, height: int, task_id: bytes,
                     params: AicfParams) -> list[Event]:
    record = load_provider(state, provider)
    return [] if record is None else slash(state, record, reason, bps, height, task_id, params)[1]


def availability_bp(record: ProviderRecord) -> int:
    """The epoch's availability: ``completed × 10000 // (completed + faults)``."""
    ended = record.window_completed + record.window_faults
    return BPS if ended == 0 else record.window_completed * BPS // ended


def close_qos_windows(state: StateDB, height: int, params: AicfParams) -> list[Event]:
    """At an epoch end: judge every provider's epoch, slash chronic failures, reset the windows."""
    s = params.slashing
    events: list[Event] = []
    for address in provider_addresses(state):
        record = load_provider(state, address)
        if record is None:
            continue
        strikes = record.qos_strikes
        if record.window_completed + record.window_faults >= s.qos_min_leases:
            strikes = strikes + 1 if availability_bp(record) < s.qos_min_availability_bp else 0
        changed = replace(record, window_missed=0, window_completed=0, window_faults=0, qos_strikes=strikes)
        if strikes >= s.qos_windows:
            changed, more = slash(state, replace(changed, qos_strikes=0), "qos_failure", s.qos_failure_bps,
                                  height, NO_TASK, params)
            events += more
        elif changed != record:
            save_provider(state, changed)
    return events


__all__ = ["availability_bp", "close_qos_windows", "slash", "slash_by_address"]
