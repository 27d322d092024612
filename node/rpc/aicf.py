"""JSON-RPC methods of the AI Compute Fund and the capability records (``docs/RPC.md``).

``aicf.listProviders {cursor, limit}`` · ``aicf.getProvider {address}`` ·
``aicf.listJobs {status, provider, requester, cursor, limit}`` · ``aicf.getJob {task_id}`` ·
``aicf.submitProof {envelope}`` · ``cap.getJob {task_id}`` · ``cap.readResult {task_id}`` ·
``state.getProof {kind, id, height}``.

Everything reads the head state (``getRecordProof`` any height).  Lists page with an opaque
integer ``cursor`` (``next_cursor`` of the previous page, null on the last) and ``limit`` at
most ``MAX_PAGE``; ``listJobs`` walks the job log newest first and looks at most ``MAX_SCAN``
jobs per call, so a filter that matches rarely returns a short page with a cursor to go on
from.  Amounts are decimal strings, addresses bech32, hashes and bytes hex.

``state.getProof`` with a ``kind`` proves any record a light client may ask about against the header's
``state_root``: ``kind`` ``provider`` (id an address), ``job`` (the AICF's job record, with
its leases), ``receipt`` (the capability ``JobReceipt``), ``request`` (the request bytes) or
``result`` (the ``ResultRecord``), id a task id; ``attestation_policy`` (the vendor roots and
allowlists in force, ``aicf.attestation``) takes no id; ``collateral`` (a stored Intel
collateral part, ``aicf.collateral``) takes the part's name, e.g. ``tcb_info/TDX/b0c06f000000``.  The proof is the sparse Merkle proof of
the record's key (present or absent) — the same format ``state.getProof`` gives for accounts.
"""

from __future__ import annotations

import re
from typing import Any

from aicf.attestation import POLICY_KEY
from aicf.collateral import part_key
from aicf.health import eligible, health
from aicf.params import AicfParams
from aicf.records import OPEN_STATES, AicfJob, ProviderRecord, job_record_key, provider_key
from aicf.settlement import (
    EpochRecord,
    Payout,
    PayoutShare,
    epoch_key,
    load_claim,
    load_epoch,
    load_ledger,
    load_payout,
    paid_in,
    payout_key,
    split,
)
from aicf.store import job_count, load_job_record, load_provider, logged_job, provider_addresses
from capabilities.records import (
    AiRequest,
    JobReceipt,
    QuantumRequest,
    ResultRecord,
    job_key,
    load_job,
    load_request,
    request_key,
    result_key,
)
from chain.errors import NotFound
from chain.keys import encode_address
from chain.state import StateDB, account_key
from node.chain_service import ChainService
from node.proofpool import ProofPool
from node.rpc import spec
from node.rpc.jsonrpc import InvalidParams, Params
from node.rpc.views import address_param, header_json

MAX_PAGE = 100
MAX_SCAN = 1_000
COLLATERAL_NAME = re.compile(r"tcb_info/(SGX|TDX)/[0-9a-f]{12}|qe_identity/(SGX|TDX)|crl/(root_ca|pck_processor|pck_platform)|amd_crl/ARK-[A-Za-z]{1,16}")
RECORD_KINDS = ("account", "provider", "job", "receipt", "request", "result", "attestation_policy", "collateral",
                "payout", "epoch")


def provider_json(r: ProviderRecord, height: int, params: AicfParams, prefix: str) -> dict[str, Any]:
    t = r.telemetry
    return {
        "address": encode_address(r.address, prefix), "pubkey": r.pubkey.hex(), "kinds": list(r.kinds),
        "models": list(r.models), "devices": list(r.devices), "region": r.region,
        "attestation_class": r.attestation_class, "stake": str(r.stake), "locked": str(r.locked),
        "max_leases": r.max_leases, "status": r.status, "jailed_until": r.jailed_until,
        "unbond_height": r.unbond_height, "registered_height": r.registered_height,
        "heartbeat_height": r.heartbeat_height, "lease_deadline": r.lease_deadline,
        "telemetry": {"bandwidth_mbps": t.bandwidth_mbps, "latency_ms": t.latency_ms, "compute_bp": t.compute_bp,
                      "temperature_c": t.temperature_c, "errors": t.errors},
        "health_bp": health(r, params.health), "eligible": eligible(r, height + 1, params.health),
        "leases": [bytes(t).hex() for t in r.leases], "completed": r.completed, "failed": r.failed,
        "missed": r.missed,
        "faults": [{"height": f.height, "task_id": bytes(f.task_id).hex(), "reason": f.reason} for f in r.faults],
        "slashed": str(r.slashed),
        "slashes": [{"height": x.height, "reason": x.reason, "amount": str(x.amount),
                     "task_id": None if x.task_id == bytes(32) else bytes(x.task_id).hex()} for x in r.slashes],
        "paid": str(r.paid), "payouts": [bytes(t).hex() for t in r.payouts],
        "qos_window": {"completed": r.window_completed, "faults": r.window_faults, "missed": r.window_missed,
                       "strikes": r.qos_strikes},
    }


def share_json(share: PayoutShare, prefix: str) -> dict[str, Any]:
    return {"provider": encode_address(share.provider, prefix), "producer": encode_address(share.producer, prefix),
            "proof_hash": bytes(share.proof_hash).hex(), "epoch": share.epoch, "units_milli": share.units,
            "base_rate": str(share.base_rate), "weight_bp": share.weight_bp, "latency_bp": share.latency_bp,
            "availability_bp": share.availability_bp, "qos_bp": share.qos_bp, "price": str(share.price),
            "provider_share": str(share.provider_share), "producer_share": str(share.producer_share),
            "fund_share": str(share.fund_share)}


def payout_json(payout: Payout, prefix: str) -> dict[str, Any]:
    return {"task_id": bytes(payout.task_id).hex(), "kind": payout.kind,
            "shares": [share_json(s, prefix) for s in payout.shares]}


def epoch_json(e: EpochRecord) -> dict[str, Any]:
    amounts = ("treasury_in", "fees_in", "slashed_in", "refunds", "paid_provider", "paid_producer", "retained",
               "carried_amount", "fund_balance")
    doc: dict[str, Any] = {name: str(getattr(e, name)) for name in amounts}
    doc.update(epoch=e.epoch, start_height=e.start_height, end_height=e.end_height, payouts=e.payouts,
               carried_claims=e.carried_claims, carried_units_milli=e.carried_units, gamma_cap=e.gamma_cap,
               gamma_used_milli=e.gamma_used, stopped=e.stopped or None, throttled=e.throttled)
    return doc


def receipt_json(r: JobReceipt, prefix: str) -> dict[str, Any]:
    return {"task_id": bytes(r.task_id).hex(), "kind": r.kind, "requester": encode_address(r.requester, prefix),
            "fee_escrowed": str(r.fee_escrowed), "price_ceiling": str(r.price_ceiling),
            "sla_deadline": r.sla_deadline, "enqueue_height": r.enqueue_height,
            "request_digest": bytes(r.request_digest).hex()}


def result_json(r: ResultRecord, prefix: str) -> dict[str, Any]:
    return {"task_id": bytes(r.task_id).hex(), "provider": encode_address(r.provider, prefix),
            "output_digest": bytes(r.output_digest).hex(), "output": None if r.output is None else r.output.hex(),
            "committed_height": r.committed_height, "proof_hash": bytes(r.proof_hash).hex()}


def job_json(job: AicfJob, lease_deadlines: dict[bytes, int], prefix: str) -> dict[str, Any]:
    return {
        "task_id": bytes(job.task_id).hex(), "kind": job.kind, "lane": job.lane, "status": job.status,
        "requester": encode_address(job.requester, prefix), "origin": encode_address(job.origin, prefix),
        "replicas": job.replicas, "ceiling": str(job.ceiling), "deadline": job.deadline,
        "enqueue_height": job.enqueue_height, "priority": job.priority, "retries": job.retries,
        "leases": [{"provider": encode_address(le.provider, prefix), "assigned_height": le.assigned_height,
                    "expires": lease_deadlines.get(bytes(le.provider), 0),
                    "assign_beacon": bytes(le.assign_beacon).hex(), "commit_root": le.commit_root.hex() or None,
                    "commit_height": le.commit_height or None, "reveal_beacon": le.reveal_beacon.hex() or None}
                   for le in job.leases],
        "excluded": [encode_address(a, prefix) for a in job.excluded],
        "results": [{"provider": encode_address(w.provider, prefix), "output_digest": bytes(w.output_digest).hex(),
                     "proof_hash": bytes(w.proof_hash).hex(), "units": w.units, "qos_bp": w.qos_bp,
                     "price": str(w.price), "height": w.height} for w in job.results],
        "dissent": [encode_address(a, prefix) for a in job.dissent],
        "end_height": job.end_height or None, "end_reason": job.end_reason or None,
        "paid": str(job.paid), "refunded": str(job.refunded),
    }


def request_json(request: AiRequest | QuantumRequest) -> dict[str, Any]:
    opts = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in request.opts.items()}
    if isinstance(request, AiRequest):
        return {"kind": "ai", "model": request.model, "prompt": request.prompt, "max_tokens": request.max_tokens,
                "opts": opts}
    return {"kind": "quantum", "circuit": request.circuit, "shots": request.shots, "opts": opts}


class AicfRpc:
    """The methods of the module docstring, over a node's chain and proof pool."""

    def __init__(self, chain: ChainService, proofs: ProofPool | None, *, on_proof: Any = None) -> None:
        self.chain = chain
        self.proofs = proofs
        self.on_proof = on_proof

    @property
    def prefix(self) -> str:
        return self.chain.app.params.address_prefix

    @property
    def params(self) -> AicfParams:
        return self.chain.genesis.aicf

    def _task(self, p: Params) -> bytes:
        return p.hex("task_id", length=32)

    def _job_view(self, state: StateDB, job: AicfJob) -> dict[str, Any]:
        deadlines = {}
        for lease in job.leases:
            record = load_provider(state, lease.provider)
            if record is not None:
                deadlines[bytes(lease.provider)] = record.lease_deadline
        return job_json(job, deadlines, self.prefix)

    async def list_providers(self, p: Params) -> Any:
        state, height = self.chain.head_state(), self.chain.head.height
        addresses = provider_addresses(state)
        start = p.int("cursor", default=0)
        limit = p.int("limit", default=MAX_PAGE, lo=1, hi=MAX_PAGE)
        page = addresses[start:start + limit]
        out = []
        for address in page:
            record = load_provider(state, address)
            if record is not None:
                out.append(provider_json(record, height, self.params, self.prefix))
        more = start + limit < len(addresses)
        return {"providers": out, "next_cursor": start + limit if more else None, "height": height}

    async def get_provider(self, p: Params) -> Any:
        address = address_param(p, self.prefix)
        record = load_provider(self.chain.head_state(), address)
        if record is None:
            raise NotFound(f"no provider {encode_address(address, self.prefix)}")
        return provider_json(record, self.chain.head.height, self.params, self.prefix)

    async def list_jobs(self, p: Params) -> Any:
        state, height = self.chain.head_state(), self.chain.head.height
        status = p.str("status", max_len=16) if p.has("status") else None
        if status is not None and status not in (*OPEN_STATES, "resolved", "expired", "revoked", "open"):
            raise InvalidParams(f"param 'status': unknown status {status!r}")
        provider = address_param(p, self.prefix, "provider") if p.has("provider") else None
        requester = address_param(p, self.prefix, "requester") if p.has("requester") else None
        limit = p.int("limit", default=MAX_PAGE, lo=1, hi=MAX_PAGE)
        jobs: list[dict[str, Any]] = []

        def keep(job: AicfJob) -> bool:
            if status == "open":
                ok = job.status in OPEN_STATES
            else:
                ok = status is None or job.status == status
            if provider is not None and job.lease_of(provider) is None and all(
                    w.provider != provider for w in job.results):
                ok = False
            return ok and (requester is None or job.requester == requester)

        if provider is not None and status in ("leased", "open") and requester is None:
            record = load_provider(state, provider)
            for task in () if record is None else record.leases:
                job = load_job_record(state, task)
                if job is not None and keep(job):
                    jobs.append(self._job_view(state, job))
            return {"jobs": jobs[:limit], "next_cursor": None, "height": height}
        total = job_count(state)
        cursor = p.int("cursor", default=total)
        index = min(cursor, total)
        scanned = 0
        while index > 0 and len(jobs) < limit and scanned < MAX_SCAN:
            index -= 1
            scanned += 1
            logged = logged_job(state, index)
            job = None if logged is None else load_job_record(state, logged)
            if job is not None and keep(job):
                jobs.append(self._job_view(state, job))
        return {"jobs": jobs, "next_cursor": index if index > 0 else None, "height": height}

    async def get_job(self, p: Params) -> Any:
        task = self._task(p)
        state = self.chain.head_state()
        job, receipt = load_job_record(state, task), load_job(state, task)
        if job is None or receipt is None:
            raise NotFound(f"no job {task.hex()}")
        request = load_request(state, task, self.chain.genesis.capabilities)
        raw = state.get(result_key(task))
        out = self._job_view(state, job)
        out["receipt"] = receipt_json(receipt, self.prefix)
        out["request"] = None if request is None else request_json(request)
        out["result"] = None if raw is None else result_json(ResultRecord.decode(raw), self.prefix)
        out["height"] = self.chain.head.height
        return out

    async def submit_proof(self, p: Params) -> Any:
        raw = p.hex("envelope", max_len=1024 * 1024)
        if self.proofs is None:
            raise NotFound("this node keeps no proof pool")
        digest = self.proofs.add(raw)  # InvalidProof: the refusal, with its reason
        if self.on_proof is not None:
            self.on_proof(raw)
        return {"hash": digest.hex(), "pooled": len(self.proofs)}

    async def cap_get_job(self, p: Params) -> Any:
        task = self._task(p)
        receipt = load_job(self.chain.head_state(), task)
        if receipt is None:
            raise NotFound(f"no job {task.hex()}")
        return {**receipt_json(receipt, self.prefix), "height": self.chain.head.height}

    async def cap_read_result(self, p: Params) -> Any:
        """The result as a contract in the next block would read it (``read_result``)."""
        task = self._task(p)
        state = self.chain.head_state()
        if load_job(state, task) is None:
            raise NotFound(f"no job {task.hex()}")
        raw = state.get(result_key(task))
        result = None if raw is None else ResultRecord.decode(raw)
        return {"task_id": task.hex(), "result": None if result is None else result_json(result, self.prefix),
                "height": self.chain.head.height}

    async def record_proof(self, p: Params) -> Any:
        kind = p.str("kind", max_len=32)
        if kind not in RECORD_KINDS:
            raise InvalidParams(f"param 'kind' must be one of {', '.join(RECORD_KINDS)}")
        if kind == "attestation_policy":  # one record: no id
            key = POLICY_KEY
        elif kind == "collateral":
            name = p.str("id", max_len=64)
            if not COLLATERAL_NAME.fullmatch(name):
                raise InvalidParams("param 'id' must name a collateral part, e.g. tcb_info/TDX/b0c06f000000")
            key = part_key(name)
        elif kind == "epoch":
            key = epoch_key(p.int("id", default=0))
        elif kind in ("account", "provider"):
            address = address_param(p, self.prefix, "id")
            key = account_key(address) if kind == "account" else provider_key(address)
        else:
            task = p.hex("id", length=32)
            key = {"job": job_record_key, "receipt": job_key, "request": request_key, "result": result_key,
                   "payout": payout_key}[kind](task)
        height = p.int("height", default=self.chain.head.height)
        if height > self.chain.head.height:
            raise NotFound(f"height {height} is above the head {self.chain.head.height}")
        header = self.chain.head if height == self.chain.head.height else self.chain.store.load_block_at(height).header
        state = self.chain.store.state_at(header.state_root)
        value = state.tree.get(key)
        return {"kind": kind, "key": key.hex(), "value": None if value is None else value.hex(),
                "proof": state.tree.prove(key).encode().hex(), "height": header.height,
                "state_root": bytes(header.state_root).hex(), "header": header_json(header, self.prefix)}

    async def get_epoch(self, p: Params) -> Any:
        """An epoch's record and its payouts, or the epoch in progress (no ``epoch``: the latest settled)."""
        state = self.chain.head_state()
        ledger = load_ledger(state)
        number = p.int("epoch", default=ledger.epoch - 1)
        if number < 1:
            raise NotFound("no epoch has been settled yet")
        record = load_epoch(state, number)
        if record is None:
            if number == ledger.epoch:
                return {"epoch": number, "settled": False, "treasury_in": str(ledger.treasury_in),
                        "fees_in": str(ledger.fees_in), "slashed_in": str(ledger.slashed_in),
                        "refunds": str(ledger.refunds), "queued_claims": sum(t - h for _, h, t in ledger.classes),
                        "queued_amount": str(ledger.carried_amount), "throttled": ledger.throttled,
                        "height": self.chain.head.height}
            raise NotFound(f"epoch {number} is not settled (the current epoch is {ledger.epoch})")
        limit = p.int("limit", default=MAX_PAGE, lo=1, hi=MAX_PAGE)
        cursor = p.int("cursor", default=0, lo=0)
        payouts = self._epoch_payouts(state, record, cursor, limit)
        following = cursor + len(payouts)
        return {**epoch_json(record), "settled": True, "payout_list": payouts,
                "cursor": following if following < record.payouts else None, "height": self.chain.head.height}

    def _epoch_payouts(self, state: Any, record: EpochRecord, cursor: int, limit: int) -> list[dict[str, Any]]:
        """The shares epoch ``record`` paid, in payment order, from ``cursor``."""
        out: list[dict[str, Any]] = []
        for index in range(cursor, min(cursor + limit, record.payouts)):
            paid = paid_in(state, record.epoch, index)
            payout = None if paid is None else load_payout(state, paid[0])
            if paid is None or payout is None:  # pragma: no cover - written together by settlement
                break
            share = next(s for s in payout.shares if s.epoch == record.epoch and s.provider == paid[1])
            out.append({"task_id": bytes(payout.task_id).hex(), "kind": payout.kind, **share_json(share, self.prefix)})
        return out

    async def get_payout(self, p: Params) -> Any:
        task = self._task(p)
        payout = load_payout(self.chain.head_state(), task)
        if payout is None:
            raise NotFound(f"no payout for task {task.hex()} (not resolved, or not settled yet)")
        return {**payout_json(payout, self.prefix), "height": self.chain.head.height}

    async def get_balance(self, p: Params) -> Any:
        """What the fund paid a provider, and what it still owes it (claims queued)."""
        address = address_param(p, self.prefix, "address")
        state = self.chain.head_state()
        record = load_provider(state, address)
        ledger = load_ledger(state)
        pending = 0
        for klass, head, tail in ledger.classes:
            for seq in range(head, min(tail, head + MAX_SCAN)):
                claim = load_claim(state, klass, seq)
                if claim is not None and claim.work.provider == address:
                    pending += split(claim.work.price, self.chain.genesis.aicf)[0]
        return {"address": encode_address(address, self.prefix), "paid": str(0 if record is None else record.paid),
                "pending": str(pending), "claimable": "0", "balance": str(state.get_account(address).balance),
                "height": self.chain.head.height}

    def routes(self) -> dict[str, tuple[tuple[str, ...], Any]]:
        """The routes of these methods, param names from their specs (``node.rpc.spec``)."""
        return spec.routes({
            "aicf.getEpoch": self.get_epoch,
            "aicf.getPayout": self.get_payout,
            "aicf.getBalance": self.get_balance,
            "aicf.listProviders": self.list_providers,
            "aicf.getProvider": self.get_provider,
            "aicf.listJobs": self.list_jobs,
            "aicf.getJob": self.get_job,
            "aicf.submitProof": self.submit_proof,
            "cap.getJob": self.cap_get_job,
            "cap.readResult": self.cap_read_result,
        })


__all__ = ["AicfRpc"]
