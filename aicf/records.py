"""The AICF's records in state: providers, jobs with their leases, lanes and the schedule.

Every record is a frozen dataclass stored as the canonical CBOR array
``[1, field_1, field_2, ...]`` in field order (:func:`encode_record`, :func:`decode_record`:
strict, a field of the wrong type or length is a ``DecodeError``).  Keys (ARCHITECTURE §4,
namespace ``aicf``)::

    provider_key(address)   = state_key("aicf", b"provider", address)   ProviderRecord
    job_record_key(task_id) = state_key("aicf", b"job", task_id)        AicfJob (its leases inside)
    lane_key(lane)          = state_key("aicf", b"lane", lane)          Lane
    LANES_KEY               = state_key("aicf", b"lanes")               [lane, ...] sorted, with jobs queued
    schedule_key(height)    = state_key("aicf", b"schedule", height₈)   [[what, id], ...]
    PROVIDERS_KEY           = state_key("aicf", b"providers")           [address, ...] sorted: every provider
    JOB_COUNT_KEY           = state_key("aicf", b"job-count")           n: jobs ever queued
    job_log_key(i)          = state_key("aicf", b"job-log", i₈)         task_id of the i-th job (0-based)
    nullifier_key(n)        = state_key("aicf", b"nullifier", n)        b"\\x01" once spent

A **lane** is ``"ai/<model>"`` or ``"quantum/<device>"`` (``"quantum/any"`` when the job
names no device): the jobs queued for it, in priority order, and the providers serving it,
sorted by address.  Providers are indexed by lane so the matcher never scans a provider
that cannot take the job.

The **schedule** holds what must happen at a height without scanning: ``"sla"`` (a job's
deadline), ``"lease"`` (a provider's lease deadline), ``"requeue"`` (a job's backoff ends),
``"unbond"`` (stake matures), ``"reveal"`` (record the beacon that opens a quantum job's
traps).  An entry is checked against the record when it fires, so a stale one is a no-op.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from chain.codec import decode, encode
from chain.errors import DecodeError, ErrorCode
from chain.keys import module_address
from chain.smt import state_key
from chain.types import Address, FixedBytes, Hash32

FUND_ADDRESS = module_address("aicf/fund")
"""The AI Compute Fund's account: treasury inflow and the price of verified jobs."""
STAKE_ADDRESS = module_address("aicf/stake")
"""Holds every provider's bonded stake."""

VERSION = 1
MAX_RECORD_BYTES = 4 * 1024 * 1024

R = TypeVar("R")

# --- job and provider states -------------------------------------------------------------

QUEUED = "queued"
"""Waiting in its lane for providers."""
BACKOFF = "backoff"
"""Lost its lease or got a failed proof; waits out its backoff before requeueing."""
LEASED = "leased"
"""Assigned to ``replicas`` providers whose leases are open."""
RESOLVED = "resolved"
"""Its result is recorded."""
EXPIRED = "expired"
"""No result by the deadline (or the retry budget ran out): refunded."""
REVOKED = "revoked"
"""Cancelled by its origin while queued: refunded."""
OPEN_STATES = (QUEUED, BACKOFF, LEASED)
JOB_STATES = (*OPEN_STATES, RESOLVED, EXPIRED, REVOKED)

ACTIVE = "active"
UNBONDING = "unbonding"


# --- records -----------------------------------------------------------------------------


ANY_DEVICE = "any"
"""The device of a quantum job that names none; every quantum provider serves it."""


def lane(kind: str, name: str) -> str:
    """``"<kind>/<model or device>"``: the one spelling of a lane's name (module docstring)."""
    return f"{kind}/{name}"


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What the last heartbeat reported."""

    bandwidth_mbps: int = 0
    latency_ms: int = 0
    compute_bp: int = 0
    """Free compute, 0..10000 bp of the provider's capacity."""
    temperature_c: int = 0
    errors: int = 0
    """Errors since the previous heartbeat (the breaker's window)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault in a provider's history: ``missed``, ``failed`` or ``dissent`` on a task."""

    height: int
    task_id: Hash32
    reason: str


@dataclass(frozen=True, slots=True)
class Slash:
    """Stake a provider lost (``aicf.slashing``): when, why, how much, for which task
    (32 zero bytes for chronic QoS, which no single task causes)."""

    height: int
    reason: str
    amount: int
    task_id: Hash32


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A registered provider."""

    address: Address
    pubkey: bytes
    kinds: tuple[str, ...]
    models: tuple[str, ...]
    devices: tuple[str, ...]
    region: str
    attestation_class: str
    stake: int
    max_leases: int
    status: str
    registered_height: int
    heartbeat_height: int = 0
    """0 until the first heartbeat; a provider is eligible only after one."""
    telemetry: Telemetry = Telemetry()
    lease_deadline: int = 0
    """Last height at which its leases are alive; a heartbeat moves it to ``h + lease_blocks``."""
    leases: tuple[Hash32, ...] = ()
    """Task ids it holds open leases on, sorted."""
    locked: int = 0
    """Stake locked as collateral by open leases."""
    jailed_until: int = 0
    unbond_height: int = 0
    completed: int = 0
    failed: int = 0
    missed: int = 0
    faults: tuple[Fault, ...] = ()
    """The latest faults (at most ``MAX_FAULTS``)."""
    slashed: int = 0
    """Stake slashed over its life."""
    slashes: tuple[Slash, ...] = ()
    """The latest slashes (at most ``MAX_FAULTS``)."""
    paid: int = 0
    """Provider shares settlement paid it over its life."""
    payouts: tuple[Hash32, ...] = ()
    """Task ids of its latest payouts, oldest first (at most ``MAX_FAULTS``)."""
    window_missed: int = 0
    """Leases it missed in the current epoch (``aicf.slashing``: beyond the retry budget, slashed)."""
    window_completed: int = 0
    """Leases it completed in the current epoch (its QoS window)."""
    window_faults: int = 0
    """Leases it missed, failed or dissented on in the current epoch (its QoS window)."""
    qos_strikes: int = 0
    """Consecutive epochs its availability was below the QoS threshold."""

    def lanes(self) -> tuple[str, ...]:
        """The lanes it serves: each model's AI lane; for quantum, ``any`` and each device."""
        out = [lane("ai", m) for m in self.models] if "ai" in self.kinds else []
        if "quantum" in self.kinds:
            out += [lane("quantum", ANY_DEVICE), *(lane("quantum", d) for d in self.devices)]
        return tuple(sorted(set(out)))


MAX_FAULTS = 16


@dataclass(frozen=True, slots=True)
class Lease:
    """One provider's lease on a job."""

    provider: Address
    assigned_height: int
    assign_beacon: Hash32
    """The assigning block's beacon (derives a quantum job's traps)."""
    commit_root: bytes = b""
    """Quantum: the Merkle root the provider committed to (empty before)."""
    commit_height: int = 0
    reveal_beacon: bytes = b""
    """Quantum: the beacon of the block after the commitment (empty until that block)."""


@dataclass(frozen=True, slots=True)
class WorkEntry:
    """A verified proof of a job: what settlement prices and pays, with every input of the
    price (``proofs.policy``): ``price = min(units × base_rate // 1000, per-replica ceiling)``."""

    provider: Address
    output_digest: Hash32
    proof_hash: Hash32
    units: int
    qos_bp: int
    price: int
    height: int
    producer: bytes = b""
    """The proposer of the block that included the proof (its share of the payout)."""
    base_rate: int = 0
    """The schedule's base rate per unit for the job's kind."""
    weight_bp: int = 10_000
    """Model weight (AI) or depth weight (quantum)."""
    latency_bp: int = 10_000
    """AI latency multiplier (10000 for quantum)."""
    availability_bp: int = 10_000
    """AI availability multiplier; for quantum, ``qos_bp`` is the trap quality."""


@dataclass(frozen=True, slots=True)
class AicfJob:
    """The AICF's view of one job (the capability layer's ``JobReceipt`` is its other half)."""

    task_id: Hash32
    kind: str
    lane: str
    status: str
    requester: Address
    origin: Address
    """The account that signed the enqueuing transaction: it may revoke the job."""
    replicas: int
    ceiling: int
    """Escrowed in total (``replicas`` × the per-replica ceiling)."""
    deadline: int
    enqueue_height: int
    priority: int
    """The static sort key (``aicf.queue``)."""
    region: str = ""
    allow: tuple[Address, ...] = ()
    attestation: str = ""
    retries: int = 0
    leases: tuple[Lease, ...] = ()
    excluded: tuple[Address, ...] = ()
    """Providers whose lease on it ended without a result: they may not take it again."""
    results: tuple[WorkEntry, ...] = ()
    dissent: tuple[Address, ...] = ()
    end_height: int = 0
    end_reason: str = ""
    refunded: int = 0
    paid: int = 0

    def lease_of(self, provider: bytes) -> Lease | None:
        """The open lease of ``provider``, if any."""
        for lease in self.leases:
            if lease.provider == provider:
                return lease
        return None

    @property
    def per_replica_ceiling(self) -> int:
        return self.ceiling // self.replicas


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A job's place in its lane: higher ``priority`` first, then older, then smaller id."""

    priority: int
    enqueue_height: int
    task_id: Hash32

    def order(self) -> tuple[int, int, bytes]:
        return (-self.priority, self.enqueue_height, bytes(self.task_id))


@dataclass(frozen=True, slots=True)
class Lane:
    """The jobs queued for one lane and the providers serving it."""

    queue: tuple[QueueEntry, ...] = ()
    providers: tuple[Address, ...] = ()
    cursor: bytes = b""
    """Round-robin: the provider chosen last (empty: none yet)."""


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """Something due at a height (module docstring)."""

    what: str
    id: bytes


# --- keys --------------------------------------------------------------------------------


def provider_key(address: bytes) -> bytes:
    return state_key("aicf", b"provider", bytes(Address(address)))


def job_record_key(task_id: bytes) -> bytes:
    return state_key("aicf", b"job", bytes(Hash32(task_id)))


def lane_key(lane: str) -> bytes:
    return state_key("aicf", b"lane", lane.encode())


LANES_KEY = state_key("aicf", b"lanes")


def schedule_key(height: int) -> bytes:
    return state_key("aicf", b"schedule", height.to_bytes(8, "big"))


PROVIDERS_KEY = state_key("aicf", b"providers")
JOB_COUNT_KEY = state_key("aicf", b"job-count")


def job_log_key(index: int) -> bytes:
    return state_key("aicf", b"job-log", index.to_bytes(8, "big"))


def nullifier_key(nullifier: bytes) -> bytes:
    return state_key("aicf", b"nullifier", bytes(Hash32(nullifier)))


# --- the record codec ----------------------------------------------------------------------


def _shape(message: str) -> DecodeError:
    return DecodeError(message, code=ErrorCode.DECODE_SHAPE)


def to_value(obj: Any) -> Any:
    """A record as CBOR-ready values: a dataclass is the array of its fields."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [to_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    if isinstance(obj, tuple):
        return [to_value(v) for v in obj]
    if isinstance(obj, FixedBytes):
        return bytes(obj)
    return obj


@functools.cache
def _layout(tp: type) -> tuple[tuple[dataclasses.Field[Any], ...], dict[str, Any]]:
    """A record class's fields and resolved type hints (resolving them is most of a decode's cost)."""
    return dataclasses.fields(tp), typing.get_type_hints(tp)


def from_value(tp: Any, value: Any, what: str) -> Any:
    """The inverse of :func:`to_value` for type ``tp`` (``DecodeError`` on a mismatch)."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        fields, hints = _layout(tp)
        if not isinstance(value, list) or len(value) != len(fields):
            raise _shape(f"{what}: expected an array of {len(fields)}")
        return tp(**{f.name: from_value(hints[f.name], v, f"{what}.{f.name}")
                     for f, v in zip(fields, value, strict=True)})
    if typing.get_origin(tp) is tuple:
        (item,) = typing.get_args(tp)[:1]
        if not isinstance(value, list):
            raise _shape(f"{what}: expected an array")
        return tuple(from_value(item, v, what) for v in value)
    if isinstance(tp, type) and issubclass(tp, FixedBytes):
        return tp(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise _shape(f"{what}: expected a bool")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _shape(f"{what}: expected an integer")
        return value
    if tp in (str, bytes):
        if not isinstance(value, tp):
            raise _shape(f"{what}: expected {tp.__name__}")
        return value
    raise TypeError(f"unsupported record field type {tp!r}")  # pragma: no cover - programming error


def encode_record(obj: Any) -> bytes:
    """``[1, *fields]``."""
    return encode([VERSION, *to_value(obj)])


def decode_record(cls: type[R], data: bytes) -> R:
    """Strict inverse of :func:`encode_record`."""
    value = decode(data, max_size=MAX_RECORD_BYTES)
    if not isinstance(value, list) or not value or value[0] != VERSION:
        raise _shape(f"{cls.__name__}: expected [1, ...]")
    return typing.cast(R, from_value(cls, value[1:], cls.__name__))


def encode_list(items: tuple[Any, ...] | list[Any]) -> bytes:
    """A plain array of records (the lanes list, a schedule bucket)."""
    return encode([to_value(i) for i in items])


def decode_list(cls: Any, data: bytes) -> tuple[Any, ...]:
    value = decode(data, max_size=MAX_RECORD_BYTES)
    if not isinstance(value, list):
        raise _shape("expected an array")
    return tuple(from_value(cls, v, getattr(cls, "__name__", "item")) for v in value)
