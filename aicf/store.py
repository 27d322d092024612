"""Reading and writing the AICF's records (``aicf.records``) in a ``StateDB``.

Plain functions over state; no rule lives here except keeping the indexes consistent:
a lane's provider list holds exactly the providers serving it, ``LANES_KEY`` holds
exactly the lanes with a non-empty queue, and a provider's ``leases`` the jobs whose
``leases`` name it.
"""

from __future__ import annotations

from aicf.records import (
    JOB_COUNT_KEY,
    LANES_KEY,
    PROVIDERS_KEY,
    AicfJob,
    Lane,
    ProviderRecord,
    QueueEntry,
    ScheduleEntry,
    decode_list,
    decode_record,
    encode_list,
    encode_record,
    job_log_key,
    job_record_key,
    lane_key,
    nullifier_key,
    provider_key,
    schedule_key,
)
from chain.codec import decode, encode
from chain.state import StateDB
from chain.types import Address, Hash32


def load_provider(state: StateDB, address: bytes) -> ProviderRecord | None:
    data = state.get(provider_key(address))
    return None if data is None else decode_record(ProviderRecord, data)


def save_provider(state: StateDB, record: ProviderRecord) -> None:
    state.set(provider_key(record.address), encode_record(record))


def provider_addresses(state: StateDB) -> tuple[Address, ...]:
    """Every registered provider, sorted."""
    data = state.get(PROVIDERS_KEY)
    return () if data is None else tuple(decode_list(Address, data))


def _set_providers(state: StateDB, addresses: set[Address]) -> None:
    state.set(PROVIDERS_KEY, encode_list(sorted(addresses)) if addresses else None)


def delete_provider(state: StateDB, record: ProviderRecord) -> None:
    """Remove a provider, from the directory and the lanes."""
    _set_providers(state, set(provider_addresses(state)) - {record.address})
    for lane in record.lanes():
        current = load_lane(state, lane)
        save_lane(state, lane, Lane(current.queue, tuple(p for p in current.providers if p != record.address),
                                    current.cursor))
    state.set(provider_key(record.address), None)


def load_job_record(state: StateDB, task_id: bytes) -> AicfJob | None:
    data = state.get(job_record_key(task_id))
    return None if data is None else decode_record(AicfJob, data)


def save_job_record(state: StateDB, job: AicfJob) -> None:
    state.set(job_record_key(job.task_id), encode_record(job))


def job_count(state: StateDB) -> int:
    data = state.get(JOB_COUNT_KEY)
    return 0 if data is None else int(decode(data))


def log_job(state: StateDB, task_id: bytes) -> int:
    """Append a job to the job log; its index."""
    n = job_count(state)
    state.set(job_log_key(n), bytes(Hash32(task_id)))
    state.set(JOB_COUNT_KEY, encode(n + 1))
    return n


def logged_job(state: StateDB, index: int) -> Hash32 | None:
    data = state.get(job_log_key(index))
    return None if data is None else Hash32(data)


def load_lane(state: StateDB, lane: str) -> Lane:
    data = state.get(lane_key(lane))
    return Lane() if data is None else decode_record(Lane, data)


def active_lanes(state: StateDB) -> tuple[str, ...]:
    data = state.get(LANES_KEY)
    return () if data is None else tuple(decode_list(str, data))


def save_lane(state: StateDB, lane: str, record: Lane) -> None:
    """Store a lane (deleting an empty one) and keep ``LANES_KEY`` in step with its queue."""
    empty = not record.queue and not record.providers and not record.cursor
    state.set(lane_key(lane), None if empty else encode_record(record))
    lanes = set(active_lanes(state))
    want = bool(record.queue)
    if want != (lane in lanes):
        lanes.symmetric_difference_update({lane})
        state.set(LANES_KEY, encode_list(sorted(lanes)) if lanes else None)


def index_provider(state: StateDB, record: ProviderRecord) -> None:
    """Add a provider to the directory and the lanes it serves."""
    _set_providers(state, {*provider_addresses(state), record.address})
    for lane in record.lanes():
        current = load_lane(state, lane)
        providers = tuple(sorted({*current.providers, record.address}))
        save_lane(state, lane, Lane(current.queue, providers, current.cursor))


def enqueue(state: StateDB, lane: str, *entries: QueueEntry) -> None:
    """Insert jobs into a lane in priority order (one read and one write of the lane)."""
    current = load_lane(state, lane)
    queue = tuple(sorted((*current.queue, *entries), key=QueueEntry.order))
    save_lane(state, lane, Lane(queue, current.providers, current.cursor))


def dequeue(state: StateDB, lane: str, task_id: bytes) -> None:
    current = load_lane(state, lane)
    queue = tuple(e for e in current.queue if e.task_id != task_id)
    if len(queue) != len(current.queue):
        save_lane(state, lane, Lane(queue, current.providers, current.cursor))


def schedule(state: StateDB, height: int, what: str, ident: bytes) -> None:
    """Add ``(what, ident)`` to the entries due at ``height`` (once)."""
    entry = ScheduleEntry(what, bytes(ident))
    key = schedule_key(height)
    data = state.get(key)
    entries = () if data is None else decode_list(ScheduleEntry, data)
    if entry not in entries:
        state.set(key, encode_list([*entries, entry]))


def take_schedule(state: StateDB, height: int) -> tuple[ScheduleEntry, ...]:
    """The entries due at ``height``, removed from state."""
    key = schedule_key(height)
    data = state.get(key)
    if data is None:
        return ()
    state.set(key, None)
    return tuple(decode_list(ScheduleEntry, data))


def nullifier_used(state: StateDB, nullifier: bytes) -> bool:
    return state.get(nullifier_key(nullifier)) is not None


def spend_nullifier(state: StateDB, nullifier: bytes) -> None:
    state.set(nullifier_key(nullifier), b"\x01")
