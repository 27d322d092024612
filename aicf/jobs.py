"""The job lifecycle in state: intake, priority, assignment, leases, requeue, expiry, refunds.

``docs/ECONOMICS.md`` is the reference for the money; this module implements it.  Rules:

**Intake.**  At the end of the block that enqueued it, every new job (the capability
layer's inbox) gets an ``AicfJob``, an entry in the job log (``aicf.records``), and joins its
lane's queue with the static key::

    priority = min(per_replica_ceiling // fee_unit, max_fee_points) + tier_points(requester)
               − request_bytes // size_unit_bytes − enqueue_height × age_points_per_block

A job's priority at height ``h`` is ``priority + h × age_points_per_block``: fee, requester
tier, size and age, with age growing the same for every job, so the static key orders the
queue at every height without re-sorting.  Ties go to the older job, then the smaller task id.

**Assignment** (:func:`match`, end of every block, after intake and the schedule).  Lanes in
sorted order, each lane's queue in priority order, at most ``max_scan_per_lane`` jobs per lane
and ``max_assignments_per_block`` assignments in all.  A job takes ``replicas`` distinct
providers of its lane that are eligible (``aicf.health``), pass its filters (``opts``:
``region`` equal, ``allow`` lists them, ``attestation`` class equal), have never held a lease on
it (``excluded``), and whose free stake ``stake − locked`` covers the collateral
``per_replica_ceiling × collateral_bps // 10000``; the genesis strategy picks among them
(``aicf.matcher``) with the block's beacon.  Too few: the job stays queued.  Each chosen
provider gets a lease (collateral locked) and the job becomes ``leased``.  While settlement
throttles new leases (``aicf.settlement``: the fund could not pay, or a full epoch of Γ is
carried), nothing is assigned and queued jobs wait (their SLA deadlines still run).

**Leases.**  A lease is open until its provider's ``lease_deadline`` (its last heartbeat
height + ``lease_blocks``) passes: proofs in the deadline block still count; at the end of that
block, unless a heartbeat in it moved the deadline, every lease of the provider ends as
*missed* and its jobs are requeued — except leases on which it already delivered a verified
result, which wait for the job's quorum.

**Requeue** (lost lease, failed proof).  The provider is excluded from the job (a tombstone:
it may never claim it again), ``retries`` grows by one, and the job waits
``min(backoff_base_blocks × 2^(retries−1), backoff_max_blocks)`` blocks in ``backoff`` before
rejoining its lane; past ``retry_budget`` retries it expires instead.

**Expiry and refunds.**  A job still open at the end of its SLA deadline block, or past its
retry budget, expires: ``ceiling − paid`` goes back from escrow to the requester and every
open lease ends as missed (released, without a fault, for a replica that delivered its result).  ``job_revoke`` by the job's origin refunds a job that is queued
or in backoff (never one a provider holds).  No coin is created or lost: escrow only moves to
the fund (verified work) or back to the requester.
"""

from __future__ import annotations

from dataclasses import replace

from aicf.health import eligible
from aicf.matcher import select
from aicf.params import BPS, AicfParams
from aicf.records import (
    ANY_DEVICE,
    BACKOFF,
    EXPIRED,
    LEASED,
    MAX_FAULTS,
    OPEN_STATES,
    QUEUED,
    AicfJob,
    Fault,
    Lane,
    Lease,
    ProviderRecord,
    QueueEntry,
    lane,
)
from aicf.settlement import note, throttled
from aicf.slashing import slash
from aicf.store import (
    active_lanes,
    dequeue,
    enqueue,
    load_job_record,
    load_lane,
    load_provider,
    log_job,
    save_job_record,
    save_lane,
    save_provider,
    schedule,
)
from capabilities.host import ESCROW_ADDRESS
from capabilities.records import (
    AiRequest,
    CapabilityParams,
    QuantumRequest,
    load_job,
    load_request,
    replicas_of,
    request_key,
    take_inbox,
)
from chain.module import BlockEnv, Event
from chain.state import StateDB
from chain.types import Address, Hash32


def lane_of(request: AiRequest | QuantumRequest) -> str:
    """``"ai/<model>"``, or ``"quantum/<device>"`` (``opts["device"]``, default ``any``)."""
    if isinstance(request, AiRequest):
        return lane("ai", request.model)
    device = request.opts.get("device")
    return lane("quantum", device if isinstance(device, str) and device else ANY_DEVICE)


def _allow(value: object) -> tuple[Address, ...]:
    if isinstance(value, bytes) and value and len(value) % 20 == 0:
        return tuple(sorted({Address(value[i:i + 20]) for i in range(0, len(value), 20)}))
    return ()


def priority_key(per_replica_ceiling: int, requester: bytes, request_bytes: int, enqueue_height: int,
                 params: AicfParams) -> int:
    """The static queue key (module docstring)."""
    q = params.queue
    fee = min(per_replica_ceiling // max(q.fee_unit, 1), q.max_fee_points)
    return (fee + tier_points(requester, params) - request_bytes // max(q.size_unit_bytes, 1)
            - enqueue_height * q.age_points_per_block)


def tier_points(requester: bytes, params: AicfParams) -> int:
    """The requester's points in ``aicf.queue.tiers`` (0 when genesis does not rank it; the
    last listing wins).  Also its job's priority class in settlement (``aicf.settlement``)."""
    tier = 0
    for address, points in params.queue.tiers:
        if address == bytes(requester).hex():
            tier = points
    return tier


def collateral(job: AicfJob, params: AicfParams) -> int:
    return job.per_replica_ceiling * params.leases.collateral_bps // BPS


def backoff_blocks(retries: int, params: AicfParams) -> int:
    lp = params.leases
    return min(lp.backoff_base_blocks * 2 ** max(retries - 1, 0), lp.backoff_max_blocks)


def _event(name: str, job: AicfJob, *attrs: tuple[str, object]) -> Event:
    """A job event: ``task_id`` and ``requester`` (what event subscribers filter on), then ``attrs``."""
    return Event("aicf", name, (("task_id", bytes(job.task_id)), ("requester", bytes(job.requester)), *attrs))


# --- intake ------------------------------------------------------------------------------


def intake(state: StateDB, env: BlockEnv, params: AicfParams, caps: CapabilityParams) -> list[Event]:
    """Queue the jobs enqueued in this block (module docstring)."""
    events: list[Event] = []
    queued: dict[str, list[QueueEntry]] = {}
    for task_id, origin in take_inbox(state):
        receipt = load_job(state, task_id)
        request = load_request(state, task_id, caps)
        if receipt is None or request is None:  # pragma: no cover - the host writes all three together
            raise AssertionError("inbox names a job without its receipt or request")
        replicas = replicas_of(request)
        size = len(state.get(request_key(task_id)) or b"")
        job = AicfJob(
            task_id=Hash32(task_id), kind=receipt.kind, lane=lane_of(request), status=QUEUED,
            requester=receipt.requester, origin=origin, replicas=replicas, ceiling=receipt.fee_escrowed,
            deadline=receipt.sla_deadline, enqueue_height=receipt.enqueue_height,
            priority=priority_key(receipt.fee_escrowed // replicas, receipt.requester, size,
                                  receipt.enqueue_height, params),
            region=_text_opt(request.opts.get("region")), allow=_allow(request.opts.get("allow")),
            attestation=_text_opt(request.opts.get("attestation")),
        )
        save_job_record(state, job)
        log_job(state, job.task_id)
        queued.setdefault(job.lane, []).append(QueueEntry(job.priority, job.enqueue_height, job.task_id))
        schedule(state, job.deadline, "sla", job.task_id)
        events.append(_event("job_queued", job, ("lane", job.lane)))
    for lane_name, entries in sorted(queued.items()):
        enqueue(state, lane_name, *entries)
    return events


def _text_opt(value: object) -> str:
    return value if isinstance(value, str) else ""


# --- leases ------------------------------------------------------------------------------


def _record_fault(record: ProviderRecord, height: int, task_id: bytes, reason: str) -> tuple[Fault, ...]:
    return (*record.faults, Fault(height, Hash32(task_id), reason))[-MAX_FAULTS:]


def end_lease(state: StateDB, job: AicfJob, provider: bytes, height: int, outcome: str,
              params: AicfParams) -> tuple[AicfJob, list[Event]]:
    """Close ``provider``'s lease on ``job`` with ``outcome`` (``completed``, ``missed``,
    ``failed``, ``dissent`` or ``released``); return the job without it, and any slash.

    Unlocks the collateral, counts the outcome in the provider's history (reputation) and in
    its epoch's QoS window, records a fault for ``missed``, ``failed`` and ``dissent``, slashes
    a ``dissent`` and a ``missed`` beyond the epoch's first ``retry_budget`` misses
    (``aicf.slashing``; a ``failed`` proof is slashed by the resolver, which knows why), and
    excludes the provider from the job unless it completed or was released.
    """
    lease = job.lease_of(provider)
    if lease is None:
        return job, []
    events: list[Event] = []
    record = load_provider(state, provider)
    if record is not None:
        changes: dict[str, object] = {
            "leases": tuple(t for t in record.leases if t != job.task_id),
            "locked": max(record.locked - collateral(job, params), 0),
        }
        if outcome == "completed":
            changes["completed"] = record.completed + 1
            changes["window_completed"] = record.window_completed + 1
        elif outcome == "missed":
            changes["missed"] = record.missed + 1
            changes["window_missed"] = record.window_missed + 1
        elif outcome in ("failed", "dissent"):
            changes["failed"] = record.failed + 1
        if outcome in ("missed", "failed", "dissent"):
            changes["faults"] = _record_fault(record, height, job.task_id, outcome)
            changes["window_faults"] = record.window_faults + 1
        record = replace(record, **changes)  # type: ignore[arg-type]
        save_provider(state, record)
        s = params.slashing
        if outcome == "dissent":
            record, events = slash(state, record, "quorum_dissent", s.quorum_dissent_bps, height, job.task_id, params)
        elif outcome == "missed" and record.window_missed > params.leases.retry_budget:
            record, events = slash(state, record, "missed_lease", s.missed_lease_bps, height, job.task_id, params)
    excluded = job.excluded if outcome in ("completed", "released") else tuple(
        sorted({*job.excluded, Address(provider)}))
    return replace(job, leases=tuple(le for le in job.leases if le.provider != provider), excluded=excluded), events


def requeue(state: StateDB, job: AicfJob, height: int, params: AicfParams, reason: str) -> tuple[AicfJob, list[Event]]:
    """Back off and requeue a job that lost a provider, or expire it past its retry budget."""
    if job.leases:  # replicas still running: wait for them
        return job, []
    retries = job.retries + 1
    if retries > params.leases.retry_budget:
        return expire(state, replace(job, retries=retries), height, "retry_budget", params)
    wait = backoff_blocks(retries, params)
    job = replace(job, status=BACKOFF, retries=retries, results=())
    schedule(state, height + wait, "requeue", job.task_id)
    return job, [_event("job_requeued", job, ("reason", reason), ("at", height + wait))]


def refund(state: StateDB, job: AicfJob, amount: int) -> None:
    """Move ``amount`` of the job's escrow back to its requester."""
    if amount > 0:
        if not state.debit(ESCROW_ADDRESS, amount):  # pragma: no cover - escrow holds every open job's ceiling
            raise AssertionError("escrow short of an open job's ceiling")
        state.credit(job.requester, amount)
        note(state, refunds=amount)


def expire(state: StateDB, job: AicfJob, height: int, reason: str, params: AicfParams) -> tuple[AicfJob, list[Event]]:
    """End an open job without a result: refund what is left of its escrow (module docstring)."""
    delivered = {bytes(w.provider) for w in job.results}
    events: list[Event] = []
    for lease in job.leases:  # a replica that delivered waited for a quorum that never formed: no fault
        outcome = "released" if bytes(lease.provider) in delivered else "missed"
        job, slashed = end_lease(state, job, lease.provider, height, outcome, params)
        events += slashed
    if job.status == QUEUED:
        dequeue(state, job.lane, job.task_id)
    amount = job.ceiling - job.paid
    refund(state, job, amount)
    job = replace(job, status=EXPIRED, end_height=height, end_reason=reason, refunded=job.refunded + amount)
    return job, [*events, _event("job_expired", job, ("reason", reason), ("refund", amount))]


# --- the schedule ------------------------------------------------------------------------


def on_sla(state: StateDB, task_id: bytes, height: int, params: AicfParams) -> list[Event]:
    job = load_job_record(state, task_id)
    if job is None or job.status not in OPEN_STATES or job.deadline != height:
        return []
    job, events = expire(state, job, height, "sla_deadline", params)
    save_job_record(state, job)
    return events


def on_lease_deadline(state: StateDB, provider: bytes, height: int, params: AicfParams) -> list[Event]:
    """Every lease of a provider whose deadline is this block ends as missed."""
    record = load_provider(state, provider)
    if record is None or record.lease_deadline != height or not record.leases:
        return []
    events: list[Event] = []
    for task_id in record.leases:
        job = load_job_record(state, task_id)
        if job is None or job.lease_of(provider) is None or any(w.provider == provider for w in job.results):
            continue  # a replica that already delivered its result waits for the quorum, not for heartbeats
        job, slashed = end_lease(state, job, provider, height, "missed", params)
        events += [_event("lease_expired", job, ("provider", bytes(provider))), *slashed]
        job, more = requeue(state, job, height, params, "lease_expired")
        events += more
        save_job_record(state, job)
    return events


def on_requeue(state: StateDB, task_id: bytes, height: int) -> list[Event]:
    job = load_job_record(state, task_id)
    if job is None or job.status != BACKOFF:
        return []
    job = replace(job, status=QUEUED)
    enqueue(state, job.lane, QueueEntry(job.priority, job.enqueue_height, job.task_id))
    save_job_record(state, job)
    return [_event("job_queued", job, ("lane", job.lane), ("retry", job.retries))]


def on_reveal(state: StateDB, ident: bytes, env: BlockEnv) -> list[Event]:
    """Record the beacon of the block after a quantum commitment (``ident`` = task ‖ provider)."""
    task_id, provider = ident[:32], ident[32:]
    job = load_job_record(state, task_id)
    lease = None if job is None else job.lease_of(provider)
    if job is None or lease is None or not lease.commit_root or lease.reveal_beacon:
        return []
    opened = replace(lease, reveal_beacon=bytes(env.beacon))
    job = replace(job, leases=tuple(opened if le.provider == provider else le for le in job.leases))
    save_job_record(state, job)
    return [_event("quantum_reveal", job, ("provider", bytes(provider)), ("beacon", bytes(env.beacon)))]


# --- assignment --------------------------------------------------------------------------


def _passes(job: AicfJob, record: ProviderRecord, need: int) -> bool:
    return (
        record.address not in job.excluded
        and job.lease_of(record.address) is None
        and (not job.region or record.region == job.region)
        and (not job.allow or record.address in job.allow)
        and (not job.attestation or record.attestation_class == job.attestation)
        and record.stake - record.locked >= need
    )


def match(state: StateDB, env: BlockEnv, params: AicfParams) -> list[Event]:
    """Assign queued jobs to providers (module docstring); nothing while settlement throttles
    new leases (``aicf.settlement``, "Throttle")."""
    if throttled(state):
        return []
    mp = params.matcher
    budget = mp.max_assignments_per_block
    events: list[Event] = []
    for lane_name in active_lanes(state):
        if budget <= 0:
            break
        lane = load_lane(state, lane_name)
        records: dict[bytes, ProviderRecord] = {}
        for address in lane.providers:
            record = load_provider(state, address)
            if record is not None and eligible(record, env.height, params.health):
                records[bytes(address)] = record
        if not records:
            continue
        kept: list[QueueEntry] = []
        cursor = lane.cursor
        for scanned, entry in enumerate(lane.queue):
            if budget <= 0 or scanned >= mp.max_scan_per_lane or not records:
                kept.append(entry)
                continue
            job = load_job_record(state, entry.task_id)
            if job is None or job.status != QUEUED:  # pragma: no cover - the queue holds queued jobs only
                continue
            need = collateral(job, params)
            # ``records`` keeps the lane's address order (its providers are stored sorted)
            candidates = [r for r in records.values() if _passes(job, r, need)]
            chosen, cursor = select(mp.strategy, job.replicas, candidates, beacon=env.beacon,
                                    task_id=job.task_id, cursor=cursor, health_params=params.health)
            if not chosen:
                kept.append(entry)
                continue
            budget -= 1
            leases = []
            for address in chosen:
                record = records[bytes(address)]
                record = replace(record, leases=tuple(sorted((*record.leases, job.task_id))),
                                 locked=record.locked + need)
                save_provider(state, record)
                if len(record.leases) == 1:
                    schedule(state, record.lease_deadline, "lease", record.address)
                if eligible(record, env.height, params.health):
                    records[bytes(address)] = record
                else:
                    del records[bytes(address)]
                leases.append(Lease(address, env.height, Hash32(env.beacon)))
                events.append(_event("job_assigned", job, ("provider", bytes(address))))
            save_job_record(state, replace(job, status=LEASED, leases=tuple(leases)))
        current = load_lane(state, lane_name)
        save_lane(state, lane_name, Lane(tuple(kept), current.providers, cursor))
    return events


__all__ = [
    "backoff_blocks",
    "collateral",
    "end_lease",
    "expire",
    "intake",
    "lane_of",
    "match",
    "on_lease_deadline",
    "on_requeue",
    "on_reveal",
    "on_sla",
    "priority_key",
    "refund",
    "requeue",
]
