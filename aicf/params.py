"""AICF parameters (ARCHITECTURE §8, ``docs/ECONOMICS.md``): the ``aicf`` section of genesis.

Every number is an integer: ratios and multipliers in basis points (10000 = 1.0),
amounts in the chain's smallest unit, heights and durations in blocks, latency in
milliseconds.  The defaults are the seed document's where it gives one, ours otherwise
(each says which).

``pricing`` is the chain's **one** price schedule (``proofs.policy.PolicyParams``): the
ceiling an enqueue escrows, the policy adapter that prices a verified proof and
settlement all read it from here, through the application ``genesis`` composes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chain.errors import InvalidGenesis
from chain.types import Hash32, PublicKey32
from proofs.devnet import DevnetAttestationConfig
from proofs.policy import PolicyParams
from proofs.quantum.verify import QuantumParams

BPS = 10_000
STRATEGIES = ("weighted_health", "round_robin", "least_loaded", "latency_aware")


@dataclass(frozen=True, slots=True)
class TreasurySource:
    """Per block, the fund receives these shares of issuance and of fees."""

    block_mint_bps: int = 150
    fee_share_bps: int = 200


@dataclass(frozen=True, slots=True)
class TreasurySplit:
    """How an epoch's settled payouts are split; sums to 10000."""

    provider_bps: int = 8000
    miner_bps: int = 1500
    fund_bps: int = 500


@dataclass(frozen=True, slots=True)
class EpochParams:
    """The per-epoch payout cap Γ in units.

    There is one epoch length, the chain's ``epoch_length`` (genesis ``params``): validator
    sets change and the fund settles at the same boundaries.
    """

    gamma_cap: int = 1_000_000


@dataclass(frozen=True, slots=True)
class ProviderParams:
    """Who may serve jobs, and how long stake stays bonded (ours: the seed gives no numbers)."""

    min_stake: int = 10_000_000_000
    """Least stake a provider bonds at registration."""
    unbonding_blocks: int = 1_000
    """Blocks from ``provider_unbond`` to the stake's return; it stays slashable meanwhile."""
    max_leases_cap: int = 1_000
    """Largest ``max_leases`` a provider may declare."""
    max_models: int = 32
    """Most models (AI) or devices (quantum) one registration lists."""


@dataclass(frozen=True, slots=True)
class LeaseParams:
    """Leases, retries and backoff (ours)."""

    lease_blocks: int = 20
    """A lease expires ``lease_blocks`` after its provider's last heartbeat (or assignment)."""
    retry_budget: int = 3
    """Requeues a job may take after lost leases or failed proofs; one more ends it, refunded."""
    backoff_base_blocks: int = 2
    """A job requeued for the ``n``-th time waits ``min(base × 2^(n-1), max)`` blocks (base ≥ 1:
    a requeue always lands in a later block's schedule)."""
    backoff_max_blocks: int = 32
    collateral_bps: int = 10_000
    """Stake a lease locks, in bp of the job's per-replica ceiling."""


@dataclass(frozen=True, slots=True)
class QueueParams:
    """The priority formula's weights (ours; ``aicf.queue``)."""

    fee_unit: int = 1_000
    """One fee point per ``fee_unit`` of ceiling escrowed per replica."""
    max_fee_points: int = 1_000_000
    age_points_per_block: int = 10
    size_unit_bytes: int = 1_024
    """One size point off per ``size_unit_bytes`` of request."""
    tiers: tuple[tuple[str, int], ...] = ()
    """``(requester address, points)``: requesters genesis ranks above the rest."""


@dataclass(frozen=True, slots=True)
class MatcherParams:
    """Assignment: strategy and the per-provider concurrency cap."""

    strategy: str = "weighted_health"
    max_concurrent_tasks_per_provider: int = 50
    """Default ``max_leases`` of a registration that declares none."""
    max_assignments_per_block: int = 256
    """Bounds the matcher's work per block (ours)."""
    max_scan_per_lane: int = 512
    """Queued jobs the matcher looks at per lane per block (ours)."""


@dataclass(frozen=True, slots=True)
class HealthParams:
    """Health weights (bp, sum 10000), score references and the circuit breaker's limits."""

    bandwidth_weight_bp: int = 4_000
    latency_weight_bp: int = 3_000
    compute_weight_bp: int = 2_000
    reputation_weight_bp: int = 1_000
    bandwidth_ref_mbps: int = 1_000
    """Bandwidth that scores the full 10000 (ours)."""
    max_temperature_c: int = 85
    max_latency_ms: int = 100
    max_errors_per_window: int = 25


@dataclass(frozen=True, slots=True)
class SlashingParams:
    """Penalties in bp of stake, jail length in blocks, and the QoS rule (``aicf.slashing``)."""

    missed_lease_bps: int = 100
    """Per missed lease beyond ``leases.retry_budget`` misses in one epoch."""
    bad_proof_bps: int = 1_000
    qos_failure_bps: int = 50
    quorum_dissent_bps: int = 500
    jail_blocks: int = 1_000
    """Every slash jails the provider this long (then ``provider_unjail``)."""
    qos_min_availability_bp: int = 9_000
    """An epoch's availability ``completed × 10000 // (completed + faults)`` below this is a
    strike (ours: the seed's lowest availability tier is 99 %; leases are coarser)."""
    qos_min_leases: int = 4
    """Epochs with fewer ended leases than this are not judged (ours)."""
    qos_windows: int = 3
    """Consecutive strikes that make a chronic QoS failure, slashed ``qos_failure_bps`` (ours)."""


@dataclass(frozen=True, slots=True)
class AttestationParams:
    """Which attestation classes providers may use (``aicf.attestation``).

    ``devnet_*`` is the software signer of ``proofs.devnet``: refused on any chain whose id is
    not a devnet's, whatever this says.  Keys and measurements are hex strings in genesis.
    The allowlists (and the vendor roots shipped in ``genesis/certs``) are copied into state at
    genesis (``aicf.attestation``, version 0), where governance can change them.
    """

    devnet_enabled: bool = False
    devnet_signers: tuple[str, ...] = ()
    devnet_measurements: tuple[str, ...] = ()
    sevsnp_measurements: tuple[str, ...] = ()
    """SEV-SNP launch measurements (48 bytes, hex) allowed at genesis; empty accepts any."""
    sgx_mrenclaves: tuple[str, ...] = ()
    """SGX MRENCLAVEs (32 bytes, hex) allowed at genesis; empty accepts any."""
    tdx_mrtds: tuple[str, ...] = ()
    """TDX MRTDs (48 bytes, hex) allowed at genesis; empty accepts any."""
    collateral_grace_s: int = 7 * 24 * 3600
    """Seconds an SGX/TDX attestation is still accepted after its stored collateral's
    ``nextUpdate`` when no newer collateral has arrived (``aicf.collateral``; ours: a week,
    Intel publishes TCB info monthly).  At most a year."""

    def devnet(self) -> DevnetAttestationConfig:
        """The ``proofs.devnet`` configuration (``InvalidGenesis`` for a bad hex key)."""
        try:
            signers = tuple(PublicKey32(bytes.fromhex(k)) for k in self.devnet_signers)
            measurements = tuple(Hash32(bytes.fromhex(m)) for m in self.devnet_measurements)
        except (ValueError, TypeError) as exc:
            raise InvalidGenesis(f"aicf.attestation: {exc}", field="aicf.attestation") from None
        return DevnetAttestationConfig(self.devnet_enabled, signers, measurements)


@dataclass(frozen=True, slots=True)
class GovernanceParams:
    """The key set that may change the attestation policy in state (``aicf.attestation``)."""

    keys: tuple[str, ...] = ()
    """Ed25519 public keys (hex); none: the policy genesis sets is final."""
    threshold: int = 0
    """Distinct keys that must sign a change (at least 1 when keys are named)."""


@dataclass(frozen=True, slots=True)
class AicfParams:
    """The whole ``aicf`` genesis section."""

    treasury: TreasurySource = field(default_factory=TreasurySource)
    split: TreasurySplit = field(default_factory=TreasurySplit)
    epoch: EpochParams = field(default_factory=EpochParams)
    pricing: PolicyParams = field(default_factory=PolicyParams)
    quantum: QuantumParams = field(default_factory=QuantumParams)
    """QUANTUM_V1's trap counts, noise allowance and shot bounds."""
    providers: ProviderParams = field(default_factory=ProviderParams)
    leases: LeaseParams = field(default_factory=LeaseParams)
    queue: QueueParams = field(default_factory=QueueParams)
    matcher: MatcherParams = field(default_factory=MatcherParams)
    health: HealthParams = field(default_factory=HealthParams)
    slashing: SlashingParams = field(default_factory=SlashingParams)
    attestation: AttestationParams = field(default_factory=AttestationParams)
    governance: GovernanceParams = field(default_factory=GovernanceParams)
