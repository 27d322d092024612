"""The genesis document: its JSON schema, validation, and canonical hash.

JSON shape (every field checked; unknown fields are errors)::

    {
      "chain_id": "cairn-devnet",            # 1..64 chars of [a-z0-9-]
      "genesis_time": "2026-01-01T00:00:00Z", # RFC 3339, UTC, whole milliseconds
      "initial_balances": [{"address": "cairn1...", "amount": 1000}],
      "validators": [{"name": "v0", "pubkey": "<64 hex>", "power": 100, "onion_tip": "<64 hex>"}],
      "params": { ChainParams fields },      # optional, defaults apply
      "aicf":   { AicfParams sections }      # optional, ARCHITECTURE §8 defaults apply;
                                             # pricing is the chain's one price schedule
      "capabilities": { CapabilityParams fields }  # optional: enqueue caps and SLAs
    }

Amounts are JSON integers in the smallest unit.  Validation errors are
``InvalidGenesis`` whose message starts with the path of the bad field, e.g.
``genesis field validators[1].power: must be positive``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aicf.params import AicfParams
from capabilities.records import CapabilityParams
from chain.codec import encode
from chain.errors import DecodeError, InvalidGenesis
from chain.hashing import H
from chain.keys import address_of, decode_address, encode_address
from chain.params import ChainParams
from chain.types import Address, PublicKey32
from genesis.fields import dump_dataclass, fail, load_dataclass
from proofs.devnet import check_devnet_genesis

CHAIN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_SUPPLY = 2**128 - 1
_TOP_FIELDS = {"chain_id", "genesis_time", "initial_balances", "validators", "params", "aicf", "capabilities"}


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    name: str
    pubkey: PublicKey32
    power: int
    onion_tip: bytes
    """The tip of the validator's beacon onion (chain.staking), 32 bytes."""

    @property
    def address(self) -> Address:
        return address_of(self.pubkey)


@dataclass(frozen=True, slots=True)
class Genesis:
    """A validated genesis document."""

    chain_id: str
    genesis_time_ms: int
    initial_balances: tuple[tuple[Address, int], ...]
    validators: tuple[GenesisValidator, ...]
    params: ChainParams = field(default_factory=ChainParams)
    aicf: AicfParams = field(default_factory=AicfParams)
    capabilities: CapabilityParams = field(default_factory=CapabilityParams)

    def to_json(self) -> dict[str, Any]:
        prefix = self.params.address_prefix
        t = datetime.fromtimestamp(self.genesis_time_ms / 1000, tz=UTC)
        return {
            "chain_id": self.chain_id,
            "genesis_time": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.genesis_time_ms % 1000:03d}Z",
            "initial_balances": [
                {"address": encode_address(a, prefix), "amount": amt} for a, amt in self.initial_balances
            ],
            "validators": [{"name": v.name, "pubkey": bytes(v.pubkey).hex(), "power": v.power,
                            "onion_tip": v.onion_tip.hex()} for v in self.validators],
            "params": dump_dataclass(self.params),
            "aicf": dump_dataclass(self.aicf),
            "capabilities": dump_dataclass(self.capabilities),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

    def hash(self) -> bytes:
        """``H(b"cairn/genesis/v1", encode(to_json()))``: identifies the document."""
        return H(b"cairn/genesis/v1", encode(self.to_json()))


def _parse_time(value: Any) -> int:
    if not isinstance(value, str):
        raise fail("genesis_time", "expected an RFC 3339 string")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail("genesis_time", f"not an RFC 3339 time: {value!r}") from None
    if t.tzinfo is None:
        raise fail("genesis_time", "must carry a time zone (use Z)")
    delta = t - datetime(1970, 1, 1, tzinfo=UTC)
    ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if ms < 0:
        raise fail("genesis_time", "before 1970")
    return ms


def parse_genesis(doc: Any) -> Genesis:
    """Validate a parsed JSON document; ``InvalidGenesis`` names the first bad field."""
    if not isinstance(doc, dict):
        raise fail("$", "expected a JSON object")
    unknown = sorted(set(doc) - _TOP_FIELDS)
    if unknown:
        raise fail(unknown[0], "unknown field")
    for name in ("chain_id", "genesis_time", "validators"):
        if name not in doc:
            raise fail(name, "missing")
    chain_id = doc["chain_id"]
    if not isinstance(chain_id, str) or not CHAIN_ID_RE.match(chain_id):
        raise fail("chain_id", "must be 1-64 characters of a-z, 0-9 and '-'")
    params = load_dataclass(ChainParams, doc.get("params", {}), "params")
    if not re.fullmatch(r"[a-z]{1,16}", params.address_prefix):
        raise fail("params.address_prefix", "must be 1-16 lowercase letters")
    for name in ("max_block_bytes", "max_block_txs", "max_tx_bytes", "block_gas_limit", "epoch_length"):
        if getattr(params, name) <= 0:
            raise fail(f"params.{name}", "must be positive")
    try:
        aicf = load_dataclass(AicfParams, doc.get("aicf", {}), "aicf")
    except ValueError as exc:
        raise fail("aicf", str(exc)) from None
    try:
        capabilities = load_dataclass(CapabilityParams, doc.get("capabilities", {}), "capabilities")
    except ValueError as exc:
        raise fail("capabilities", str(exc)) from None
    _check_aicf(chain_id, aicf, capabilities)

    validators = []
    raw_vals = doc["validators"]
    if not isinstance(raw_vals, list) or not raw_vals:
        raise fail("validators", "must be a non-empty array")
    seen: set[bytes] = set()
    for i, v in enumerate(raw_vals):
        path = f"validators[{i}]"
        if not isinstance(v, dict) or set(v) - {"name", "pubkey", "power", "onion_tip"}:
            raise fail(path, "expected an object with name, pubkey, power, onion_tip")
        name = v.get("name", f"validator-{i}")
        if not isinstance(name, str) or len(name) > 64:
            raise fail(f"{path}.name", "expected a string of at most 64 characters")
        try:
            pubkey = PublicKey32(bytes.fromhex(v.get("pubkey", "")))
        except (ValueError, TypeError, DecodeError):
            raise fail(f"{path}.pubkey", "expected 64 hex characters (an Ed25519 public key)") from None
        power = v.get("power")
        if not isinstance(power, int) or isinstance(power, bool) or power <= 0 or power > 2**62:
            raise fail(f"{path}.power", "must be a positive integer")
        if bytes(pubkey) in seen:
            raise fail(f"{path}.pubkey", "duplicate validator")
        seen.add(bytes(pubkey))
        try:
            tip = bytes.fromhex(v.get("onion_tip", ""))
        except (ValueError, TypeError):
            tip = b""
        if len(tip) != 32:
            raise fail(f"{path}.onion_tip", "expected 64 hex characters (the tip of the beacon onion)")
        validators.append(GenesisValidator(name, pubkey, power, tip))

    balances: dict[Address, int] = {}
    raw_bal = doc.get("initial_balances", [])
    if not isinstance(raw_bal, list):
        raise fail("initial_balances", "must be an array")
    for i, b in enumerate(raw_bal):
        path = f"initial_balances[{i}]"
        if not isinstance(b, dict) or set(b) != {"address", "amount"}:
            raise fail(path, "expected an object with address and amount")
        try:
            addr = decode_address(b["address"], params.address_prefix)
        except DecodeError as exc:
            raise fail(f"{path}.address", exc.message) from None
        amount = b["amount"]
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise fail(f"{path}.amount", "must be a positive integer")
        if addr in balances:
            raise fail(f"{path}.address", "listed twice")
        balances[addr] = amount
    if sum(balances.values()) > MAX_SUPPLY:
        raise fail("initial_balances", "total supply too large")
    return Genesis(
        chain_id=chain_id,
        genesis_time_ms=_parse_time(doc["genesis_time"]),
        initial_balances=tuple(sorted(balances.items())),
        validators=tuple(validators),
        params=params,
        aicf=aicf,
        capabilities=capabilities,
    )


def _check_aicf(chain_id: str, a: AicfParams, caps: CapabilityParams) -> None:
    def bps(path: str, v: int, hi: int = 10_000) -> None:
        if v > hi:
            raise fail(path, f"must be at most {hi} basis points")

    bps("aicf.treasury.block_mint_bps", a.treasury.block_mint_bps)
    bps("aicf.treasury.fee_share_bps", a.treasury.fee_share_bps)
    s = a.split
    if s.provider_bps + s.miner_bps + s.fund_bps != 10_000:
        raise fail("aicf.split", "provider_bps + miner_bps + fund_bps must equal 10000")
    h = a.health
    if h.bandwidth_weight_bp + h.latency_weight_bp + h.compute_weight_bp + h.reputation_weight_bp != 10_000:
        raise fail("aicf.health", "the four weights must sum to 10000")
    if a.matcher.strategy not in {"weighted_health", "round_robin", "least_loaded", "latency_aware"}:
        raise fail("aicf.matcher.strategy", "must be weighted_health, round_robin, least_loaded or latency_aware")
    for name in ("missed_lease_bps", "bad_proof_bps", "qos_failure_bps", "quorum_dissent_bps"):
        bps(f"aicf.slashing.{name}", getattr(a.slashing, name))
    check_devnet_genesis(chain_id, a.attestation.devnet())
    if a.attestation.collateral_grace_s > 365 * 24 * 3600:
        raise fail("aicf.attestation.collateral_grace_s", "must be at most a year (31536000 seconds)")
    if not a.quantum.min_shots <= caps.min_shots <= caps.max_shots <= a.quantum.max_shots:
        raise fail("capabilities.max_shots", "enqueue shot bounds must lie within aicf.quantum's "
                   f"[{a.quantum.min_shots}, {a.quantum.max_shots}]")
    if a.leases.lease_blocks < 1:
        raise fail("aicf.leases.lease_blocks", "must be at least 1")
    if not 1 <= a.leases.backoff_base_blocks <= a.leases.backoff_max_blocks:
        raise fail("aicf.leases.backoff_base_blocks", "need 1 <= backoff_base_blocks <= backoff_max_blocks")
    if a.leases.retry_budget > 64:
        raise fail("aicf.leases.retry_budget", "must be at most 64")
    if a.matcher.max_concurrent_tasks_per_provider > a.providers.max_leases_cap:
        raise fail("aicf.matcher.max_concurrent_tasks_per_provider", "above aicf.providers.max_leases_cap")
    for name, size in (("sevsnp_measurements", 48), ("sgx_mrenclaves", 32), ("tdx_mrtds", 48),
                       ("devnet_measurements", 32)):
        for i, value in enumerate(getattr(a.attestation, name)):
            if not _is_hex(value, size):
                raise fail(f"aicf.attestation.{name}[{i}]", f"expected {2 * size} hex digits")
    g = a.governance
    for i, key in enumerate(g.keys):
        if not _is_hex(key, 32):
            raise fail(f"aicf.governance.keys[{i}]", "expected 64 hex digits (an Ed25519 public key)")
    if len(set(g.keys)) != len(g.keys):
        raise fail("aicf.governance.keys", "a key is listed twice")
    if (g.keys and not 1 <= g.threshold <= len(g.keys)) or (not g.keys and g.threshold):
        raise fail("aicf.governance.threshold", "must be between 1 and the number of keys (0 without keys)")
    for i, (address, _) in enumerate(a.queue.tiers):
        try:
            if len(bytes.fromhex(address)) != 20:
                raise ValueError
        except ValueError:
            raise fail(f"aicf.queue.tiers[{i}]", "expected a 40-hex-digit address") from None


def _is_hex(value: str, size: int) -> bool:
    try:
        return len(bytes.fromhex(value)) == size
    except ValueError:
        return False


def load_genesis(text: str | bytes) -> Genesis:
    """Parse and validate genesis JSON text."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidGenesis(f"genesis is not valid JSON: {exc}", field="$") from None
    return parse_genesis(doc)
