"""The AICF's transaction kinds: providers and their lifecycle, quantum commitments, revokes.

Payloads (canonical CBOR; a malformed one is refused by the mempool and makes a block
invalid, like any bad payload)::

    provider_register  [kinds, models, devices, region, attestation, stake, max_leases]
                       kinds ⊆ ["ai", "quantum"], non-empty; models / devices: text lists;
                       attestation: an AI_V1 attestation value (["devnet", report],
                       ["sev-snp", report, vcek, chain_pem], ["sgx", quote, collateral]);
                       max_leases 0 = the genesis default
    provider_heartbeat [bandwidth_mbps, latency_ms, compute_bp, temperature_c, errors]
    provider_unbond    []
    provider_unjail    []
    quantum_commit     [task_id, root]          root: the Merkle root of every slot histogram
    job_revoke         [task_id]
    attestation_policy [policy, [[governance pubkey, signature], ...]]   (``aicf.attestation``)
    collateral_update  [tee, fmspc, collateral document]                 (``aicf.collateral``)

Execution rules; each refusal fails the transaction with a receipt whose reason starts with
the stable word given here:

* ``provider_register``: the sender is not registered (``provider_exists``); it serves
  at least one model for AI / is a quantum provider (``no_models``); ``stake >= min_stake``
  (``stake_too_low``) and the sender can pay it (``insufficient_balance``); ``max_leases <=
  max_leases_cap`` (``max_leases_too_high``); the attestation verifies under genesis's trust
  anchors and allowlists at block time, and its report data binds this provider on this
  chain: ``report_data[0:32] = H("cairn/provider-attest/v1", encode([chain_id, address]))``
  (``attestation_invalid: <verifier reason>``).  The roots and allowlists are the attestation
  policy in state (``aicf.attestation``), the rest of the configuration genesis's.  The stake moves to the module account
  ``aicf/stake``; the provider joins the lanes it serves.
* ``provider_heartbeat``: from a registered provider (``unknown_provider``); stores the
  telemetry and moves ``lease_deadline`` to ``h + lease_blocks``, renewing every lease it holds.
* ``provider_unbond``: from an active provider (``unknown_provider``, ``already_unbonding``):
  no new leases; the stake stays slashable and returns at ``h + unbonding_blocks``, when any
  lease still open ends.
* ``provider_unjail``: from a jailed provider (``not_jailed``) whose jail has run out
  (``still_jailed``).
* ``quantum_commit``: from the provider holding an open lease on that quantum job
  (``not_leased``), once (``already_committed``).  The beacon of the next block opens its traps.
* ``attestation_policy``: a new attestation policy signed by the governance keys genesis names
  (``aicf.attestation``: ``no_governance``, ``stale_version``, ``not_enough_signatures``,
  ``bad_policy``).
* ``job_revoke``: by the job's origin (``not_origin``) while it is queued or backing off
  (``not_revocable``): the whole escrow returns to the requester.
* ``collateral_update``: Intel collateral for one TEE and FMSPC, or an AMD CRL, from any
  account, verified under the roots in state and never rolled back (``aicf.collateral``:
  ``no_intel_root``, ``collateral_malformed``, ``collateral_signature``,
  ``collateral_fmspc_mismatch``, ``collateral_not_yet_valid``, ``collateral_expired``, ``collateral_rollback``,
  ``collateral_not_newer``, ``collateral_store_full``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aicf.attestation import (
    AttestationPolicy,
    attestation_rules,
    count_signers,
    decode_policy_payload,
    load_policy,
    save_policy,
)
from aicf.collateral import AMD, UPDATE_GAS, CollateralUpdate, apply_update, decode_update, verify_update
from aicf.jobs import refund
from aicf.params import AicfParams
from aicf.records import ACTIVE, BACKOFF, QUEUED, REVOKED, STAKE_ADDRESS, UNBONDING, ProviderRecord, Telemetry
from aicf.store import (
    dequeue,
    index_provider,
    load_job_record,
    load_provider,
    save_job_record,
    save_provider,
    schedule,
)
from chain.codec import expect_array, expect_bytes, expect_int, expect_str
from chain.errors import DecodeError, ErrorCode, InvalidProof
from chain.hashing import hash_items
from chain.module import Event, TxContext, TxFailed, TxKind
from chain.state import StateDB
from chain.types import Hash32
from proofs.ai import AiVerifyConfig, Attestation, decode_attestation, verify_attestation

ATTEST_TAG = b"cairn/provider-attest/v1"
MAX_NAME = 64
KINDS = ("ai", "quantum")
AICF_TX_GAS = 20_000
"""Gas of every AICF transaction on top of the intrinsic gas (ours: a few record writes)."""
REGISTER_GAS = 1_000_000
"""Gas of ``provider_register``: verifying a TEE quote's certificate chain takes milliseconds,
priced at the transfer rate of ~60 gas/µs (``capabilities.costs``)."""


def fail(reason: str, detail: str = "", code: ErrorCode = ErrorCode.TX_BAD_PAYLOAD) -> TxFailed:
    """A failed AICF transaction: its receipt's reason starts with ``reason``."""
    return TxFailed(f"{reason}: {detail}" if detail else reason, code=code, reason=reason)


def registration_report_data(chain_id: str, address: bytes) -> bytes:
    """``H("cairn/provider-attest/v1", encode([chain_id, address])) ‖ 0³²``."""
    return hash_items(ATTEST_TAG, chain_id, bytes(address)) + bytes(32)


def _names(value: Any, what: str, limit: int) -> tuple[str, ...]:
    items = expect_array(value, what)
    if len(items) > limit:
        raise DecodeError(f"{what}: more than {limit}", code=ErrorCode.DECODE_SHAPE)
    names = tuple(expect_str(v, what, max_len=MAX_NAME) for v in items)
    if any(not n or not n.isascii() or not n.isprintable() or " " in n or "/" in n for n in names):
        raise DecodeError(f"{what}: names are 1..64 printable ASCII without spaces or '/'",
                          code=ErrorCode.DECODE_SHAPE)
    if len(set(names)) != len(names):
        raise DecodeError(f"{what}: listed twice", code=ErrorCode.DECODE_SHAPE)
    return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class Registration:
    kinds: tuple[str, ...]
    models: tuple[str, ...]
    devices: tuple[str, ...]
    region: str
    attestation: Attestation
    stake: int
    max_leases: int


class _Kind:
    name = ""

    def __init__(self, chain_id: str, params: AicfParams, ai_config: AiVerifyConfig) -> None:
        self.chain_id = chain_id
        self.params = params
        self.ai_config = ai_config

    def provider(self, state: StateDB, ctx: TxContext) -> ProviderRecord:
        ctx.gas.charge(AICF_TX_GAS)
        record = load_provider(state, ctx.sender)
        if record is None:
            raise fail("unknown_provider", "the sender is not a registered provider")
        return record


class ProviderRegister(_Kind):
    name = "provider_register"

    def decode_payload(self, value: Any) -> Registration:
        items = expect_array(value, "provider_register payload", 7)
        limit = self.params.providers.max_models
        kinds = _names(items[0], "provider_register.kinds", 2)
        if not kinds or any(k not in KINDS for k in kinds):
            raise DecodeError("provider_register.kinds: a non-empty subset of ai, quantum",
                              code=ErrorCode.DECODE_SHAPE)
        try:
            attestation = decode_attestation(items[4])
        except InvalidProof as exc:
            raise DecodeError(f"provider_register.attestation: {exc.reason}", code=ErrorCode.DECODE_SHAPE) from None
        return Registration(
            kinds, _names(items[1], "provider_register.models", limit), _names(items[2], "provider_register.devices",
                                                                                 limit),
            expect_str(items[3], "provider_register.region", max_len=MAX_NAME), attestation,
            expect_int(items[5], "provider_register.stake", lo=1, hi=2**128 - 1),
            expect_int(items[6], "provider_register.max_leases", hi=2**32),
        )

    def execute(self, state: StateDB, ctx: TxContext, p: Registration) -> None:
        ctx.gas.charge(REGISTER_GAS)
        params = self.params.providers
        if load_provider(state, ctx.sender) is not None:
            raise fail("provider_exists", "this address is already a provider")
        if "ai" in p.kinds and not p.models:
            raise fail("no_models", "an AI provider serves at least one model")
        if p.stake < params.min_stake:
            raise fail("stake_too_low", f"stake {p.stake} below the minimum {params.min_stake}")
        max_leases = p.max_leases or self.params.matcher.max_concurrent_tasks_per_provider
        if max_leases > params.max_leases_cap:
            raise fail("max_leases_too_high", f"max_leases {max_leases} above {params.max_leases_cap}")
        expected = registration_report_data(self.chain_id, ctx.sender)
        config, devnet = attestation_rules(state, self.ai_config, self.params)
        try:
            report_data = verify_attestation(p.attestation, chain_id=self.chain_id, now=ctx.env.time_ms // 1000,
                                             config=config, devnet=devnet, expected_report_data=expected)
        except InvalidProof as exc:
            raise fail("attestation_invalid", exc.reason) from None
        if bytes(report_data[:32]) != expected[:32]:
            raise fail("attestation_invalid", "report data does not bind this provider on this chain")
        if not state.debit(ctx.sender, p.stake):
            raise fail("insufficient_balance", "cannot pay the stake", ErrorCode.TX_INSUFFICIENT_BALANCE)
        state.credit(STAKE_ADDRESS, p.stake)
        record = ProviderRecord(
            address=ctx.sender, pubkey=bytes(ctx.tx.body.sender_pubkey), kinds=p.kinds,
            models=p.models if "ai" in p.kinds else (), devices=p.devices if "quantum" in p.kinds else (),
            region=p.region, attestation_class=_class_name(p.attestation), stake=p.stake, max_leases=max_leases,
            status=ACTIVE, registered_height=ctx.env.height,
        )
        save_provider(state, record)
        index_provider(state, record)
        ctx.events.append(Event("aicf", "provider_registered", (("provider", bytes(ctx.sender)),
                                                                ("stake", p.stake))))


def _class_name(attestation: Attestation) -> str:
    return str(attestation.to_value()[0])


class ProviderHeartbeat(_Kind):
    name = "provider_heartbeat"

    def decode_payload(self, value: Any) -> Telemetry:
        items = expect_array(value, "provider_heartbeat payload", 5)
        bw, latency, compute, temp, errors = (expect_int(v, "provider_heartbeat", hi=2**32) for v in items)
        return Telemetry(bw, latency, compute, temp, errors)

    def execute(self, state: StateDB, ctx: TxContext, t: Telemetry) -> None:
        record = self.provider(state, ctx)
        deadline = ctx.env.height + self.params.leases.lease_blocks
        save_provider(state, replace(record, telemetry=t, heartbeat_height=ctx.env.height, lease_deadline=deadline))
        if record.leases:
            schedule(state, deadline, "lease", record.address)
        ctx.events.append(Event("aicf", "heartbeat", (("provider", bytes(ctx.sender)), ("lease_deadline", deadline))))


def _empty(value: Any, what: str) -> None:
    expect_array(value, what, 0)


class ProviderUnbond(_Kind):
    name = "provider_unbond"

    def decode_payload(self, value: Any) -> None:
        _empty(value, "provider_unbond payload")

    def execute(self, state: StateDB, ctx: TxContext, _: None) -> None:
        record = self.provider(state, ctx)
        if record.status == UNBONDING:
            raise fail("already_unbonding", f"the stake returns at height {record.unbond_height}")
        at = ctx.env.height + self.params.providers.unbonding_blocks
        save_provider(state, replace(record, status=UNBONDING, unbond_height=at))
        schedule(state, at, "unbond", record.address)
        ctx.events.append(Event("aicf", "provider_unbonding", (("provider", bytes(ctx.sender)), ("at", at))))


class ProviderUnjail(_Kind):
    name = "provider_unjail"

    def decode_payload(self, value: Any) -> None:
        _empty(value, "provider_unjail payload")

    def execute(self, state: StateDB, ctx: TxContext, _: None) -> None:
        record = self.provider(state, ctx)
        if record.jailed_until == 0:
            raise fail("not_jailed", "the provider is not jailed")
        if ctx.env.height < record.jailed_until:
            raise fail("still_jailed", f"jailed until height {record.jailed_until}")
        save_provider(state, replace(record, jailed_until=0))
        ctx.events.append(Event("aicf", "provider_unjailed", (("provider", bytes(ctx.sender)),)))


class QuantumCommit(_Kind):
    name = "quantum_commit"

    def decode_payload(self, value: Any) -> tuple[Hash32, bytes]:
        task, root = expect_array(value, "quantum_commit payload", 2)
        return Hash32(expect_bytes(task, "quantum_commit.task_id", length=32)), expect_bytes(
            root, "quantum_commit.root", length=32)

    def execute(self, state: StateDB, ctx: TxContext, p: tuple[Hash32, bytes]) -> None:
        self.provider(state, ctx)
        task_id, root = p
        job = load_job_record(state, task_id)
        lease = None if job is None or job.kind != "quantum" else job.lease_of(ctx.sender)
        if job is None or lease is None:
            raise fail("not_leased", "the sender holds no open lease on this quantum job")
        if lease.commit_root:
            raise fail("already_committed", "the provider committed to this job already")
        committed = replace(lease, commit_root=root, commit_height=ctx.env.height)
        save_job_record(state, replace(job, leases=tuple(committed if le.provider == ctx.sender else le
                                                         for le in job.leases)))
        schedule(state, ctx.env.height + 1, "reveal", bytes(task_id) + bytes(ctx.sender))
        ctx.events.append(Event("aicf", "quantum_committed", (("task_id", bytes(task_id)),
                                                              ("provider", bytes(ctx.sender)))))


class JobRevoke(_Kind):
    name = "job_revoke"

    def decode_payload(self, value: Any) -> Hash32:
        (task,) = expect_array(value, "job_revoke payload", 1)
        return Hash32(expect_bytes(task, "job_revoke.task_id", length=32))

    def execute(self, state: StateDB, ctx: TxContext, task_id: Hash32) -> None:
        ctx.gas.charge(AICF_TX_GAS)
        job = load_job_record(state, task_id)
        if job is None:
            raise fail("unknown_job", "no job has this task id", ErrorCode.NOT_FOUND)
        if job.origin != ctx.sender:
            raise fail("not_origin", "only the account that enqueued the job may revoke it")
        if job.status not in (QUEUED, BACKOFF):
            raise fail("not_revocable", f"the job is {job.status}")
        if job.status == QUEUED:
            dequeue(state, job.lane, job.task_id)
        amount = job.ceiling - job.paid
        refund(state, job, amount)
        save_job_record(state, replace(job, status=REVOKED, end_height=ctx.env.height, end_reason="revoked",
                                       refunded=job.refunded + amount))
        ctx.events.append(Event("aicf", "job_revoked", (("task_id", bytes(task_id)), ("refund", amount))))


class AttestationPolicyUpdate(_Kind):
    name = "attestation_policy"

    def decode_payload(self, value: Any) -> tuple[AttestationPolicy, tuple[tuple[bytes, bytes], ...]]:
        return decode_policy_payload(value)

    def execute(self, state: StateDB, ctx: TxContext,
                p: tuple[AttestationPolicy, tuple[tuple[bytes, bytes], ...]]) -> None:
        ctx.gas.charge(AICF_TX_GAS + 5_000 * len(p[1]))
        policy, signatures = p
        g = self.params.governance
        if not g.keys:
            raise fail("no_governance", "genesis names no governance keys: the attestation policy is final")
        current = load_policy(state)
        version = -1 if current is None else current.version
        if policy.version != version + 1:
            raise fail("stale_version", f"the policy is at version {version}; a change carries {version + 1}")
        keys = frozenset(bytes.fromhex(k) for k in g.keys)
        signed = count_signers(self.chain_id, policy, signatures, keys)
        if signed < g.threshold:
            raise fail("not_enough_signatures", f"{signed} of the {g.threshold} governance signatures needed")
        if not policy.roots_are_certificates():
            raise fail("bad_policy", "a vendor root is not a DER certificate")
        save_policy(state, policy)
        ctx.events.append(Event("aicf", "attestation_policy", (("version", policy.version), ("signers", signed))))


class CollateralUpdateTx(_Kind):
    name = "collateral_update"

    def decode_payload(self, value: Any) -> CollateralUpdate:
        return decode_update(value)

    def execute(self, state: StateDB, ctx: TxContext, p: CollateralUpdate) -> None:
        ctx.gas.charge(UPDATE_GAS)
        policy = load_policy(state)
        if policy is None:
            raise fail("no_policy", "no attestation policy in state")
        if p.tee != AMD and not policy.intel_root:
            raise fail("no_intel_root", "the attestation policy in state names no Intel root")
        parts = verify_update(p, intel_root=policy.intel_root, amd_arks=policy.amd_arks,
                              now_s=ctx.env.time_ms // 1000, grace_s=self.params.attestation.collateral_grace_s)
        stored = apply_update(state, parts)
        ctx.events.append(Event("aicf", "collateral_updated", (("tee", p.tee), ("fmspc", p.fmspc),
                                                               ("parts", ",".join(stored)))))


def tx_kinds(chain_id: str, params: AicfParams, ai_config: AiVerifyConfig) -> Mapping[str, TxKind]:
    kinds: list[TxKind] = [k(chain_id, params, ai_config) for k in (
        ProviderRegister, ProviderHeartbeat, ProviderUnbond, ProviderUnjail, QuantumCommit, JobRevoke,
        AttestationPolicyUpdate, CollateralUpdateTx)]
    return {k.name: k for k in kinds}


__all__ = ["STAKE_ADDRESS", "registration_report_data", "tx_kinds"]
