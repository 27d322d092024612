"""Prometheus metrics at ``GET /metrics`` on the RPC port (the text exposition format).

Each node has its own ``CollectorRegistry`` (tests run several nodes in one process).  Most
values are read at scrape time from the head state, the mempool and the peer manager, so
nothing on the hot paths changes for them; what only exists as an event (an assignment, a
requeue, a failed proof, an absent signature, the time between two blocks) is counted by a
``ChainService.on_commit`` listener.  Counters start at zero when the node starts.  A scrape
reads at most ``MAX_SERIES`` providers, lanes and collateral parts.

Consensus
  ``cairn_height``                       gauge: the head's height (``ChainService.head``)
  ``cairn_head_time_seconds``            gauge: the head's block time (BFT time), Unix seconds
  ``cairn_consensus_validators``         gauge: validators in the head's set (``load_validators``)
  ``cairn_consensus_rounds``             histogram: rounds each height took to commit
                                         (``last_commit.round + 1`` of each committed block)
  ``cairn_consensus_last_rounds``        gauge: the same for the latest commit seen
  ``cairn_block_interval_seconds``       histogram: header time minus the parent's header time
  ``cairn_consensus_missed_signatures_total{validator}``  counter: validators of the parent's
                                         set (``LAST_VALIDATORS_KEY`` in the parent's state) absent
                                         from a block's ``last_commit``
  ``cairn_consensus_byzantine_validators_total``  counter: double-sign evidence committed
                                         (``staking/slashed`` events with reason ``double_sign``)

P2P (``node.p2p.PeerManager``; zero on a solo node, which has no p2p)
  ``cairn_p2p_peers``                    gauge: connected peers
  ``cairn_p2p_received_bytes_total``     counter: bytes read on peer connections (``traffic()``)
  ``cairn_p2p_sent_bytes_total``         counter: bytes written on peer connections
  ``cairn_p2p_bans_total{kind}``         counter: bans by node id (``id``) and by IP (``ip``)

Mempool (``node.mempool.Mempool``)
  ``cairn_mempool_size``                 gauge: pending transactions
  ``cairn_mempool_bytes``                gauge: their bytes
  ``cairn_mempool_future_size``          gauge: gossiped transactions waiting for their nonce
  ``cairn_mempool_rejected_total{reason}``  counter: refused transactions by ``ErrorCode`` name
  ``cairn_mempool_evicted_total``        counter: pending transactions evicted by a better bid

AICF (head state, ``aicf.store`` / ``aicf.settlement``)
  ``cairn_aicf_jobs``                    gauge: jobs ever enqueued (``job_count``)
  ``cairn_aicf_queue_size{lane}``        gauge: jobs queued per lane (``active_lanes``, ``load_lane``)
  ``cairn_aicf_queue_jobs``              gauge: jobs queued in all lanes
  ``cairn_aicf_queue_oldest_age_blocks`` gauge: head height minus the oldest queued job's
                                         enqueue height (0 with an empty queue)
  ``cairn_aicf_assignments_total``       counter: ``aicf/job_assigned`` events (its rate: assigns/s)
  ``cairn_aicf_requeues_total{reason}``  counter: ``aicf/job_requeued`` events
  ``cairn_aicf_proofs_failed_total{reason}``  counter: ``aicf/proof_failed`` events
  ``cairn_aicf_jobs_resolved_total``     counter: ``aicf/job_resolved`` events
  ``cairn_aicf_jobs_expired_total``      counter: ``aicf/job_expired`` events
  ``cairn_aicf_providers``               gauge: registered providers (``provider_addresses``)
  ``cairn_aicf_leases_active``           gauge: open leases of those providers (``ProviderRecord.leases``)
  ``cairn_aicf_provider_leases{provider}``          gauge: a provider's open leases
  ``cairn_aicf_provider_jobs_total{provider,outcome}``  counter: its ``completed``, ``failed``
                                         and ``missed`` leases over its life
  ``cairn_aicf_provider_success_ratio{provider}``   gauge: completed / (completed + failed +
                                         missed), for providers with at least one
  ``cairn_aicf_provider_latency_seconds{provider}`` gauge: the latency its last heartbeat reported
  ``cairn_aicf_epoch``                   gauge: the latest settled epoch (``load_ledger().epoch - 1``);
                                         the ``cairn_aicf_epoch_*`` series are its ``EpochRecord``
  ``cairn_aicf_epoch_payouts``           gauge: claims it paid
  ``cairn_aicf_epoch_paid{share}``       gauge: what it paid (``provider``, ``producer``) and
                                         kept (``fund``), smallest units
  ``cairn_aicf_epoch_gamma_used_units``  gauge: Γ used: the units of the claims it paid
  ``cairn_aicf_epoch_gamma_cap_units``   gauge: Γ, the epoch's cap on units
  ``cairn_aicf_epoch_carried_claims``    gauge: claims left queued for later epochs
  ``cairn_aicf_fund_balance``            gauge: the fund's balance after that settlement

Attestation (``aicf.collateral``)
  ``cairn_attestation_collateral_next_update_seconds{part}``  gauge: a stored part's
                                         ``nextUpdate`` minus the head's block time (negative: overdue)
  ``cairn_attestation_collateral_next_update_min_seconds``    gauge: the smallest of those
                                         (absent while no collateral is stored)

Process (``prometheus_client.ProcessCollector``, Linux): ``cairn_process_resident_memory_bytes``,
``cairn_process_open_fds``, ``cairn_process_cpu_seconds_total``, ``cairn_process_start_time_seconds`` …
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aicf.collateral import load_part, stored_names
from aicf.settlement import load_epoch, load_ledger
from aicf.store import active_lanes, job_count, load_lane, load_provider, provider_addresses
from chain.apply import BlockOutput, load_validators
from chain.block import Block, Header
from chain.keys import encode_address
from chain.staking import LAST_VALIDATORS_KEY
from node.chain_service import ChainService
from node.mempool import Mempool
from node.p2p import PeerManager

log = structlog.get_logger("cairn.metrics")

MAX_SERIES = 256
"""At most this many providers, lanes and collateral parts are read per scrape."""
MILLI = 1000
"""Milli-units per unit (``EpochRecord.gamma_used`` is in milli-units)."""
ROUND_BUCKETS = (1, 2, 3, 4, 6, 10)
INTERVAL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class NodeMetrics:
    """A node's registry: the commit listener's counters and the scrape-time collector."""

    def __init__(self, chain: ChainService, mempool: Mempool, peers: PeerManager | None = None) -> None:
        self.chain = chain
        self.registry = CollectorRegistry()
        r = self.registry
        self.rounds = Histogram("cairn_consensus_rounds", "Rounds each height took to commit (last_commit.round + 1).",
                                buckets=ROUND_BUCKETS, registry=r)
        self.last_rounds = Gauge("cairn_consensus_last_rounds", "Rounds the latest committed height took.",
                                 registry=r)
        self.interval = Histogram("cairn_block_interval_seconds", "Block time minus the parent's block time.",
                                  buckets=INTERVAL_BUCKETS, registry=r)
        self.missed = Counter("cairn_consensus_missed_signatures", "Validators of the set absent from a "
                              "block's last_commit.", ["validator"], registry=r)
        self.byzantine = Counter("cairn_consensus_byzantine_validators", "Double-sign evidence committed.",
                                 registry=r)
        self.assignments = Counter("cairn_aicf_assignments", "AICF leases assigned (aicf/job_assigned).",
                                   registry=r)
        self.requeues = Counter("cairn_aicf_requeues", "AICF jobs requeued (aicf/job_requeued).", ["reason"],
                                registry=r)
        self.proofs_failed = Counter("cairn_aicf_proofs_failed", "AICF proofs included as failed "
                                     "(aicf/proof_failed).", ["reason"], registry=r)
        self.resolved = Counter("cairn_aicf_jobs_resolved", "AICF jobs resolved (aicf/job_resolved).", registry=r)
        self.expired = Counter("cairn_aicf_jobs_expired", "AICF jobs expired (aicf/job_expired).", registry=r)
        r.register(_StateCollector(chain, mempool, peers))
        ProcessCollector(namespace="cairn", registry=r)
        self._parent: Header = chain.head
        chain.on_commit(self._on_commit)

    def route(self) -> Route:
        """``GET /metrics`` for ``node.rpc.server.make_app``'s ``extra_routes``."""
        async def metrics(request: Request) -> Response:
            # Collected on the trio thread, like every other read of the chain (node.chain_service).
            return Response(generate_latest(self.registry), headers={"content-type": CONTENT_TYPE_LATEST})

        return Route("/metrics", metrics, methods=["GET"])

    def _on_commit(self, block: Block, output: BlockOutput) -> None:
        # A metrics bug must never stop the chain: the listener runs inside ChainService.commit.
        try:
            self._count(block, output)
        except Exception:
            log.exception("metrics: counting a committed block failed", height=block.header.height)
        self._parent = block.header

    def _count(self, block: Block, output: BlockOutput) -> None:
        header, parent = block.header, self._parent
        follows = header.height == parent.height + 1
        if follows:
            self.interval.observe(max(header.time_ms - parent.time_ms, 0) / 1000)
        commit = block.last_commit
        if commit is not None:
            self.rounds.observe(commit.round + 1)
            self.last_rounds.set(commit.round + 1)
            if follows:
                signed = {bytes(s.validator) for s in commit.signatures}
                prefix = self.chain.app.params.address_prefix
                validators = load_validators(self.chain.store.state_at(parent.state_root), LAST_VALIDATORS_KEY)
                for v in validators.validators:
                    if bytes(v.address) not in signed:
                        self.missed.labels(encode_address(v.address, prefix)).inc()
        for event in output.executed_events():
            attrs = dict(event.attrs)
            match (event.module, event.name):
                case ("aicf", "job_assigned"):
                    self.assignments.inc()
                case ("aicf", "job_requeued"):
                    self.requeues.labels(str(attrs.get("reason", ""))).inc()
                case ("aicf", "proof_failed"):
                    self.proofs_failed.labels(str(attrs.get("reason", ""))).inc()
                case ("aicf", "job_resolved"):
                    self.resolved.inc()
                case ("aicf", "job_expired"):
                    self.expired.inc()
                case ("staking", "slashed") if attrs.get("reason") == "double_sign":
                    self.byzantine.inc()


class _StateCollector:
    """Series read at scrape time from the head state, the mempool and the peer manager."""

    def __init__(self, chain: ChainService, mempool: Mempool, peers: PeerManager | None) -> None:
        self.chain = chain
        self.mempool = mempool
        self.peers = peers

    def describe(self) -> Iterable[Metric]:
        return ()  # nothing to check for clashes at registration; collect reads live state

    def collect(self) -> Iterator[Metric]:
        yield from self._consensus()
        yield from self._p2p()
        yield from self._mempool()
        yield from self._aicf()
        yield from self._collateral()

    def _consensus(self) -> Iterator[Metric]:
        head = self.chain.head
        yield _gauge("cairn_height", "The head's height.", head.height)
        yield _gauge("cairn_head_time_seconds", "The head's block time, Unix seconds.", head.time_ms / 1000)
        validators = load_validators(self.chain.head_state())
        yield _gauge("cairn_consensus_validators", "Validators in the head's validator set.",
                     len(validators.validators))

    def _p2p(self) -> Iterator[Metric]:
        peers = self.peers
        received, sent = peers.traffic() if peers is not None else (0, 0)
        yield _gauge("cairn_p2p_peers", "Connected peers.", len(peers.connected()) if peers is not None else 0)
        yield CounterMetricFamily("cairn_p2p_received_bytes", "Bytes read on peer connections.", value=received)
        yield CounterMetricFamily("cairn_p2p_sent_bytes", "Bytes written on peer connections.", value=sent)
        bans = CounterMetricFamily("cairn_p2p_bans", "Peer bans, by node id and by IP.", labels=["kind"])
        bans.add_metric(["id"], peers.counters["bans"] if peers is not None else 0)
        bans.add_metric(["ip"], peers.counters["ip_bans"] if peers is not None else 0)
        yield bans

    def _mempool(self) -> Iterator[Metric]:
        pool = self.mempool
        yield _gauge("cairn_mempool_size", "Pending transactions.", len(pool))
        yield _gauge("cairn_mempool_bytes", "Bytes of pending transactions.", pool.size_bytes)
        yield _gauge("cairn_mempool_future_size", "Gossiped transactions waiting for their nonce.", pool.future_len)
        rejected = CounterMetricFamily("cairn_mempool_rejected", "Transactions refused, by error code.",
                                       labels=["reason"])
        for reason, count in sorted(pool.rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield CounterMetricFamily("cairn_mempool_evicted", "Pending transactions evicted by a better bid.",
                                  value=pool.evicted)

    def _aicf(self) -> Iterator[Metric]:
        state = self.chain.head_state()
        height = self.chain.head.height
        prefix = self.chain.app.params.address_prefix
        yield _gauge("cairn_aicf_jobs", "AICF jobs ever enqueued.", job_count(state))
        lanes = GaugeMetricFamily("cairn_aicf_queue_size", "AICF jobs queued, per lane.", labels=["lane"])
        queued, oldest = 0, height
        for name in active_lanes(state)[:MAX_SERIES]:
            queue = load_lane(state, name).queue
            lanes.add_metric([name], len(queue))
            queued += len(queue)
            oldest = min([oldest, *(e.enqueue_height for e in queue)])
        yield lanes
        yield _gauge("cairn_aicf_queue_jobs", "AICF jobs queued in all lanes.", queued)
        yield _gauge("cairn_aicf_queue_oldest_age_blocks", "Blocks since the oldest queued AICF job was enqueued.",
                     height - oldest)

        addresses = provider_addresses(state)
        yield _gauge("cairn_aicf_providers", "Registered AICF providers.", len(addresses))
        leases = GaugeMetricFamily("cairn_aicf_provider_leases", "A provider's open leases.", labels=["provider"])
        jobs = CounterMetricFamily("cairn_aicf_provider_jobs", "A provider's leases by outcome, over its life.",
                                   labels=["provider", "outcome"])
        success = GaugeMetricFamily("cairn_aicf_provider_success_ratio",
                                    "completed / (completed + failed + missed) of a provider's leases.",
                                    labels=["provider"])
        latency = GaugeMetricFamily("cairn_aicf_provider_latency_seconds",
                                    "The latency a provider's last heartbeat reported.", labels=["provider"])
        active = 0
        for address in addresses[:MAX_SERIES]:
            record = load_provider(state, address)
            if record is None:
                continue
            name = encode_address(address, prefix)
            active += len(record.leases)
            leases.add_metric([name], len(record.leases))
            for outcome, count in (("completed", record.completed), ("failed", record.failed),
                                   ("missed", record.missed)):
                jobs.add_metric([name, outcome], count)
            ended = record.completed + record.failed + record.missed
            if ended:
                success.add_metric([name], record.completed / ended)
            latency.add_metric([name], record.telemetry.latency_ms / 1000)
        yield _gauge("cairn_aicf_leases_active", "Open AICF leases.", active)
        yield from (leases, jobs, success, latency)

        ledger = load_ledger(state)
        record_ = load_epoch(state, ledger.epoch - 1) if ledger.epoch > 1 else None
        if record_ is not None:
            yield _gauge("cairn_aicf_epoch", "The latest settled AICF epoch.", record_.epoch)
            yield _gauge("cairn_aicf_epoch_payouts", "Claims the latest settled epoch paid.", record_.payouts)
            paid = GaugeMetricFamily("cairn_aicf_epoch_paid", "What the latest settled epoch paid and kept, "
                                     "smallest units.", labels=["share"])
            paid.add_metric(["provider"], record_.paid_provider)
            paid.add_metric(["producer"], record_.paid_producer)
            paid.add_metric(["fund"], record_.retained)
            yield paid
            yield _gauge("cairn_aicf_epoch_gamma_used_units", "Units the latest settled epoch paid (Γ used).",
                         record_.gamma_used / MILLI)
            yield _gauge("cairn_aicf_epoch_gamma_cap_units", "Γ, the latest settled epoch's cap on units.",
                         record_.gamma_cap)
            yield _gauge("cairn_aicf_epoch_carried_claims", "Claims left queued after the latest settlement.",
                         record_.carried_claims)
            yield _gauge("cairn_aicf_fund_balance", "The fund's balance after the latest settlement.",
                         record_.fund_balance)

    def _collateral(self) -> Iterator[Metric]:
        state = self.chain.head_state()
        now_s = self.chain.head.time_ms / 1000
        parts = GaugeMetricFamily("cairn_attestation_collateral_next_update_seconds",
                                  "Seconds from the head's block time to a stored collateral part's nextUpdate.",
                                  labels=["part"])
        left: list[float] = []
        for name in stored_names(state)[:MAX_SERIES]:
            part = load_part(state, name)
            if part is not None:
                left.append(part.next_update - now_s)
                parts.add_metric([name], left[-1])
        yield parts
        if left:
            yield _gauge("cairn_attestation_collateral_next_update_min_seconds",
                         "Seconds until the first stored collateral part's nextUpdate.", min(left))


def _gauge(name: str, documentation: str, value: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
