"""Epoch settlement: the AI Compute Fund pays providers for verified work.

Money flow (``docs/ECONOMICS.md``).  A job's price moves from escrow to the fund when the job
resolves (``aicf.resolver``); each agreeing replica becomes a **claim** on the fund, queued
here.  At the end of every epoch the fund pays claims in order, under the epoch's cap.

Epochs
------
The chain's ``epoch_length`` ``L`` (genesis ``params``; validator sets change at the same
boundaries): epoch ``e ≥ 1`` is heights ``(e-1)·L + 1 .. e·L`` and settles in the end-block
of height ``e·L``, after the block's matching and treasury inflow.

The pay queue
-------------
One FIFO queue per **priority class**, the requester's tier points (``aicf.queue.tiers``;
0 for every requester genesis does not rank).  Claims are paid class by class, highest
first, and in order of resolution within a class (``seq``, a counter over all claims).
Settlement stops at the first claim that does not fit, so no claim is ever paid before one
ahead of it; everything from there on **carries** to the next epoch, in order:

* the **Γ cap**: an epoch pays at most ``aicf.epoch.gamma_cap`` units
  (``gamma_cap × 1000`` milli-units, the unit of ``WorkEntry.units``); a claim whose units
  exceed what is left of the cap stops settlement;
* **budget exhaustion**: a claim whose provider and producer shares exceed the fund's
  balance stops settlement too.  (The fund holds the price of every queued claim, taken
  from escrow at resolution, so this does not happen with the shipped rules; it guards a
  fund that a future rule lets pay out more than it took in.)

**Throttle.**  After a settlement that stopped for lack of funds, or that carried at least
one epoch's Γ of units (the next epoch's cap is spoken for before any new work), the
matcher assigns no new leases until a later settlement ends with neither
(``throttled``; seed §9, "budget exhaustion: throttle new leases; carry jobs").

The split
---------
A paid claim of price ``p`` (the job's price for that replica, ``WorkEntry.price``)::

    provider_share = p × provider_bps // 10000      → the provider's account
    producer_share = p × miner_bps // 10000         → the proposer of the block that
                                                       included the proof
    fund_share     = p − provider_share − producer_share   stays in the fund

Rounding is down on both paid shares, so the remainders stay in the fund with its share and
no unit is created or lost.  Payouts credit the accounts directly: there is no claimable
balance to withdraw (``docs/ECONOMICS.md`` says why).

Records (namespace ``aicf``)
----------------------------
::

    SETTLEMENT_KEY          = state_key("aicf", b"settlement")            Ledger (the epoch in progress)
    claim_key(class, seq)   = state_key("aicf", b"claim", class₈, seq₈)   Claim (queued)
    payout_key(task_id)     = state_key("aicf", b"payout", task_id)       Payout (one per job)
    epoch_key(e)            = state_key("aicf", b"epoch", e₈)             EpochRecord
    paid_key(e, i)          = state_key("aicf", b"paid", e₈, i₈)          [task_id, provider]: the i-th claim e paid

``class₈`` is the class's points as 8 bytes big-endian.  A **Payout** holds one share per paid
replica: provider, proof hash, the epoch that paid it, units, base rate, each multiplier and
the three amounts.  An **EpochRecord** is the fund's ledger for the epoch: inflows (treasury
slices, job prices, slashed stake), escrow refunds, what was paid, retained and carried, and
the cap used.  Both are provable with ``state.getProof``.

Conservation
------------
Over any run, to the unit (a Hypothesis property in ``tests/aicf/test_settlement.py``)::

    Σ inflows = Σ (provider + producer shares paid) + retained + carried

with inflows = treasury slices + job prices + slashed stake credited to the fund, carried =
the prices of the claims still queued, and retained = everything else the fund holds: the
fund shares and remainders of paid claims, the treasury slices and slashed stake.  With the
escrow's side, every unit a finished job escrowed is a job price or a refund.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from aicf.params import BPS, AicfParams
from aicf.records import FUND_ADDRESS, MAX_FAULTS, WorkEntry, decode_record, encode_record
from aicf.store import load_provider, save_provider
from chain.codec import decode, encode
from chain.module import BlockEnv, Event
from chain.smt import state_key
from chain.state import StateDB
from chain.types import Address, Hash32

MILLI: Final = 1_000
"""Milli-units per unit (``WorkEntry.units`` are milli-units; Γ is in units)."""
SETTLEMENT_KEY: Final = state_key("aicf", b"settlement")


@dataclass(frozen=True, slots=True)
class Claim:
    """A replica's verified work the fund owes: ``WorkEntry`` with its job and class."""

    task_id: Hash32
    kind: str
    klass: int
    seq: int
    epoch: int
    """The epoch its job resolved in."""
    work: WorkEntry


@dataclass(frozen=True, slots=True)
class PayoutShare:
    """One paid replica of a job (module docstring, "The split")."""

    provider: Address
    producer: bytes
    proof_hash: Hash32
    epoch: int
    """The epoch whose settlement paid it."""
    units: int
    """Milli-units."""
    base_rate: int
    weight_bp: int
    latency_bp: int
    availability_bp: int
    qos_bp: int
    price: int
    provider_share: int
    producer_share: int
    fund_share: int


@dataclass(frozen=True, slots=True)
class Payout:
    """Every paid replica of one job."""

    task_id: Hash32
    kind: str
    shares: tuple[PayoutShare, ...] = ()


@dataclass(frozen=True, slots=True)
class Ledger:
    """The epoch in progress: its inflows so far, the queue's classes and counters."""

    epoch: int = 1
    treasury_in: int = 0
    fees_in: int = 0
    slashed_in: int = 0
    refunds: int = 0
    next_seq: int = 0
    classes: tuple[tuple[int, int, int], ...] = ()
    """``(class, head seq index, tail seq index)`` per class with queued claims, highest class first."""
    carried_units: int = 0
    carried_amount: int = 0
    """Units and prices of every queued claim."""
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """The fund's ledger for one settled epoch (module docstring)."""

    epoch: int
    start_height: int
    end_height: int
    treasury_in: int
    fees_in: int
    slashed_in: int
    refunds: int
    paid_provider: int
    paid_producer: int
    retained: int
    """Fund shares (with rounding remainders) of the claims paid this epoch."""
    payouts: int
    """Claims paid."""
    carried_claims: int
    carried_units: int
    carried_amount: int
    gamma_cap: int
    """Units."""
    gamma_used: int
    """Milli-units."""
    stopped: str
    """Why settlement stopped before the queue was empty: ``""``, ``gamma_cap`` or ``fund``."""
    throttled: bool
    fund_balance: int
    """The fund's balance after settlement."""


def claim_key(klass: int, seq: int) -> bytes:
    return state_key("aicf", b"claim", klass.to_bytes(8, "big"), seq.to_bytes(8, "big"))


def payout_key(task_id: bytes) -> bytes:
    return state_key("aicf", b"payout", bytes(Hash32(task_id)))


def epoch_key(epoch: int) -> bytes:
    return state_key("aicf", b"epoch", epoch.to_bytes(8, "big"))


def paid_key(epoch: int, index: int) -> bytes:
    return state_key("aicf", b"paid", epoch.to_bytes(8, "big"), index.to_bytes(8, "big"))


def paid_in(state: StateDB, epoch: int, index: int) -> tuple[Hash32, Address] | None:
    """The ``index``-th claim epoch ``epoch`` paid: ``(task_id, provider)``, or None past the end."""
    data = state.get(paid_key(epoch, index))
    if data is None:
        return None
    task_id, provider = decode(data)
    return Hash32(task_id), Address(provider)


def load_ledger(state: StateDB) -> Ledger:
    data = state.get(SETTLEMENT_KEY)
    return Ledger() if data is None else decode_record(Ledger, data)


def save_ledger(state: StateDB, ledger: Ledger) -> None:
    state.set(SETTLEMENT_KEY, encode_record(ledger))


def load_payout(state: StateDB, task_id: bytes) -> Payout | None:
    data = state.get(payout_key(task_id))
    return None if data is None else decode_record(Payout, data)


def load_claim(state: StateDB, klass: int, seq: int) -> Claim | None:
    data = state.get(claim_key(klass, seq))
    return None if data is None else decode_record(Claim, data)


def load_epoch(state: StateDB, epoch: int) -> EpochRecord | None:
    data = state.get(epoch_key(epoch))
    return None if data is None else decode_record(EpochRecord, data)


def epoch_of(height: int, epoch_length: int) -> int:
    """The epoch a height belongs to: ``(height - 1) // L + 1`` (height 0, genesis, is epoch 1's start)."""
    return max(height - 1, 0) // epoch_length + 1


def is_epoch_end(height: int, epoch_length: int) -> bool:
    return height > 0 and height % epoch_length == 0


# --- inflows (each credit to the fund is counted once, where it happens) ---------------------


def note(state: StateDB, *, treasury: int = 0, fees: int = 0, slashed: int = 0, refunds: int = 0) -> None:
    """Add to the epoch's inflow counters (the caller has moved the coins)."""
    if treasury or fees or slashed or refunds:
        ledger = load_ledger(state)
        save_ledger(state, replace(ledger, treasury_in=ledger.treasury_in + treasury, fees_in=ledger.fees_in + fees,
                                   slashed_in=ledger.slashed_in + slashed, refunds=ledger.refunds + refunds))


def throttled(state: StateDB) -> bool:
    """Whether the matcher must assign nothing (module docstring, "Throttle")."""
    return load_ledger(state).throttled


def enqueue_claims(state: StateDB, task_id: bytes, kind: str, klass: int, works: tuple[WorkEntry, ...],
                   height: int, epoch_length: int) -> None:
    """Queue each agreeing replica's work as a claim, in order, in its class's queue."""
    if not works:
        return
    ledger = load_ledger(state)
    classes = {c: (head, tail) for c, head, tail in ledger.classes}
    head, tail = classes.get(klass, (0, 0))
    seq = ledger.next_seq
    units = amount = 0
    for work in works:
        claim = Claim(Hash32(task_id), kind, klass, seq, epoch_of(height, epoch_length), work)
        state.set(claim_key(klass, tail), encode_record(claim))
        tail += 1
        seq += 1
        units += work.units
        amount += work.price
    classes[klass] = (head, tail)
    save_ledger(state, replace(ledger, next_seq=seq, classes=_ordered(classes),
                               carried_units=ledger.carried_units + units,
                               carried_amount=ledger.carried_amount + amount))


def _ordered(classes: dict[int, tuple[int, int]]) -> tuple[tuple[int, int, int], ...]:
    return tuple((c, h, t) for c, (h, t) in sorted(classes.items(), key=lambda kv: -kv[0]) if h < t)


def split(price: int, params: AicfParams) -> tuple[int, int, int]:
    """``(provider, producer, fund)`` shares of ``price`` (module docstring, "The split")."""
    provider = price * params.split.provider_bps // BPS
    producer = price * params.split.miner_bps // BPS
    return provider, producer, price - provider - producer


def _pay(state: StateDB, claim: Claim, epoch: int, params: AicfParams) -> PayoutShare:
    """Pay one claim (module docstring, "The split"); append its share to the job's Payout.
    A work entry that names no producer (none does since producers are recorded) pays the
    producer share back to the fund."""
    work = claim.work
    provider_share, producer_share, fund_share = split(work.price, params)
    if not state.debit(FUND_ADDRESS, provider_share + producer_share):  # pragma: no cover - checked by settle
        raise AssertionError("the fund cannot cover a payout settle admitted")
    state.credit(work.provider, provider_share)
    producer = work.producer if work.producer else bytes(FUND_ADDRESS)
    state.credit(producer, producer_share)
    share = PayoutShare(
        provider=work.provider, producer=producer, proof_hash=work.proof_hash, epoch=epoch, units=work.units,
        base_rate=work.base_rate, weight_bp=work.weight_bp, latency_bp=work.latency_bp,
        availability_bp=work.availability_bp, qos_bp=work.qos_bp, price=work.price,
        provider_share=provider_share, producer_share=producer_share, fund_share=fund_share)
    payout = load_payout(state, claim.task_id) or Payout(claim.task_id, claim.kind)
    state.set(payout_key(claim.task_id), encode_record(replace(payout, shares=(*payout.shares, share))))
    return share


def _credit_providers(state: StateDB, paid: dict[bytes, tuple[int, list[Hash32]]]) -> None:
    """Each paid provider's record, once per settlement: its total and latest payouts (a
    provider that left keeps its history in the ``Payout`` records)."""
    for address in sorted(paid):
        record = load_provider(state, address)
        amount, tasks = paid[address]
        if record is not None:
            save_provider(state, replace(record, paid=record.paid + amount,
                                         payouts=(*record.payouts, *tasks)[-MAX_FAULTS:]))


def settle(state: StateDB, env: BlockEnv, params: AicfParams, epoch_length: int) -> list[Event]:
    """Settle the epoch ending at ``env.height`` (module docstring); write its record."""
    ledger = load_ledger(state)
    epoch = epoch_of(env.height, epoch_length)
    cap = params.epoch.gamma_cap * MILLI
    left = cap
    available = state.get_account(FUND_ADDRESS).balance
    classes = {c: (h, t) for c, h, t in ledger.classes}
    paid_provider = paid_producer = retained = count = units_paid = amount_paid = 0
    providers: dict[bytes, tuple[int, list[Hash32]]] = {}
    stopped = ""
    for klass, head, tail in ledger.classes:
        while head < tail:
            claim = load_claim(state, klass, head)
            assert claim is not None, "a queued claim is missing"
            provider_share, producer_share, _ = split(claim.work.price, params)
            if claim.work.units > left:
                stopped = "gamma_cap"
                break
            if provider_share + producer_share > available:
                stopped = "fund"
                break
            share = _pay(state, claim, epoch, params)
            amount, tasks = providers.get(bytes(share.provider), (0, []))
            providers[bytes(share.provider)] = (amount + share.provider_share, [*tasks[-MAX_FAULTS + 1:], claim.task_id])
            state.delete(claim_key(klass, head))
            state.set(paid_key(epoch, count), encode([bytes(claim.task_id), bytes(claim.work.provider)]))
            head += 1
            left -= claim.work.units
            available -= share.provider_share + share.producer_share
            paid_provider += share.provider_share
            paid_producer += share.producer_share
            retained += share.fund_share
            count += 1
            units_paid += claim.work.units
            amount_paid += claim.work.price
        classes[klass] = (head, tail)
        if stopped:
            break
    _credit_providers(state, providers)
    carried_units = ledger.carried_units - units_paid
    carried_amount = ledger.carried_amount - amount_paid
    carried_claims = sum(t - h for h, t in classes.values())
    throttle = stopped == "fund" or carried_units >= cap > 0
    record = EpochRecord(
        epoch=epoch, start_height=(epoch - 1) * epoch_length + 1, end_height=env.height,
        treasury_in=ledger.treasury_in, fees_in=ledger.fees_in, slashed_in=ledger.slashed_in,
        refunds=ledger.refunds, paid_provider=paid_provider, paid_producer=paid_producer, retained=retained,
        payouts=count, carried_claims=carried_claims, carried_units=carried_units, carried_amount=carried_amount,
        gamma_cap=params.epoch.gamma_cap, gamma_used=cap - left, stopped=stopped, throttled=throttle,
        fund_balance=state.get_account(FUND_ADDRESS).balance)
    state.set(epoch_key(epoch), encode_record(record))
    save_ledger(state, Ledger(epoch=epoch + 1, next_seq=ledger.next_seq, classes=_ordered(classes),
                              carried_units=carried_units, carried_amount=carried_amount, throttled=throttle))
    return [Event("aicf", "epoch_settled", (
        ("epoch", epoch), ("payouts", count), ("paid_provider", paid_provider), ("paid_producer", paid_producer),
        ("retained", retained), ("carried_claims", carried_claims), ("carried_amount", carried_amount),
        ("gamma_used", cap - left), ("stopped", stopped), ("throttled", throttle)))]


__all__ = [
    "Claim",
    "EpochRecord",
    "Ledger",
    "Payout",
    "PayoutShare",
    "enqueue_claims",
    "epoch_key",
    "epoch_of",
    "is_epoch_end",
    "load_claim",
    "load_epoch",
    "load_ledger",
    "load_payout",
    "note",
    "paid_in",
    "paid_key",
    "payout_key",
    "settle",
    "split",
    "throttled",
]
