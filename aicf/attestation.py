"""The attestation policy in state: vendor roots and measurement allowlists, and governance.

What decides whether a provider's attestation counts is chain state, so every validator
gives the same verdict and the rules change without a restart (ARCHITECTURE §7):

    POLICY_KEY = state_key("aicf", b"attestation-policy")   AttestationPolicy

    AttestationPolicy = [1, version, amd_arks, intel_root, sevsnp_measurements,
                         sgx_mrenclaves, tdx_mrtds, devnet_measurements]

``amd_arks`` are the trusted AMD root certificates (DER) and ``intel_root`` Intel's SGX root
(DER, empty: none), which anchors SGX and TDX quotes.  Each allowlist is a list of
measurements (48-byte SEV-SNP launch measurements, 32-byte MRENCLAVEs, 48-byte MRTDs, 32-byte
devnet measurements); an empty list accepts any.  Genesis writes version 0: the roots shipped in
``genesis/certs`` and the allowlists of the ``aicf.attestation`` section.

**Changing it.**  Genesis names a governance key set (``aicf.governance``: Ed25519 keys and a
threshold).  An ``attestation_policy`` transaction, which any account may send, carries a
whole new policy with ``version = current + 1`` and signatures by at least ``threshold``
distinct governance keys over

    H("cairn/attestation-policy/v1", encode([chain_id, encode(policy record)]))

(``chain.keys.signing_digest``: a governance key signs with ``PrivateKey.sign(POLICY_TAG,
chain_id, record bytes)``, the kernel's one signing rule).

Refusals: ``no_governance`` (genesis names no keys), ``stale_version`` (not current + 1: a
replay or a skipped version), ``not_enough_signatures`` (fewer valid signatures by distinct
governance keys than the threshold), ``bad_policy`` (a value of the wrong length or a root
that is not a certificate).  The new policy applies from the next transaction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from aicf.collateral import collateral_lookup
from aicf.params import AicfParams
from aicf.records import decode_record, encode_record
from chain.codec import expect_array, expect_bytes, expect_int
from chain.errors import DecodeError, ErrorCode
from chain.keys import signing_digest, verify_signature
from chain.smt import state_key
from chain.state import StateDB
from chain.types import Hash32
from proofs.ai import AiVerifyConfig
from proofs.devnet import DevnetAttestationConfig
from proofs.tee.sevsnp import SevSnpPolicy
from proofs.tee.sgx import SgxPolicy
from proofs.tee.tdx import TdxPolicy

POLICY_KEY = state_key("aicf", b"attestation-policy")
POLICY_TAG = b"cairn/attestation-policy/v1"
MAX_ENTRIES = 256
"""Most roots, or measurements of one kind, a policy lists."""


@dataclass(frozen=True, slots=True)
class AttestationPolicy:
    """The record at ``POLICY_KEY`` (module docstring)."""

    version: int
    amd_arks: tuple[bytes, ...]
    intel_root: bytes
    sevsnp_measurements: tuple[bytes, ...] = ()
    sgx_mrenclaves: tuple[bytes, ...] = ()
    tdx_mrtds: tuple[bytes, ...] = ()
    devnet_measurements: tuple[bytes, ...] = ()

    def check(self) -> None:
        """``DecodeError`` unless every value has its length and every list its bound."""
        lengths = (("sevsnp_measurements", 48), ("sgx_mrenclaves", 32), ("tdx_mrtds", 48),
                   ("devnet_measurements", 32))
        for name, size in lengths:
            values = getattr(self, name)
            if len(values) > MAX_ENTRIES or any(len(v) != size for v in values):
                raise DecodeError(f"{name}: at most {MAX_ENTRIES} values of {size} bytes", code=ErrorCode.BAD_LENGTH)
        if len(self.amd_arks) > MAX_ENTRIES:
            raise DecodeError("amd_arks: too many roots", code=ErrorCode.BAD_LENGTH)

    def roots_are_certificates(self) -> bool:
        """Every root parses as an X.509 certificate (DER)."""
        try:
            for der in (*self.amd_arks, *((self.intel_root,) if self.intel_root else ())):
                x509.load_der_x509_certificate(der)
        except ValueError:
            return False
        return True

    def ai_config(self, base: AiVerifyConfig) -> AiVerifyConfig:
        """``base`` (the genesis composition's other settings) with these roots and allowlists."""
        def allow(values: tuple[bytes, ...]) -> frozenset[bytes] | None:
            return frozenset(values) or None

        return AiVerifyConfig(
            amd_arks=self.amd_arks,
            intel_sgx_root=self.intel_root or None,
            sevsnp_policy=_replace(base.sevsnp_policy, measurements=allow(self.sevsnp_measurements)),
            sgx_policy=_replace(base.sgx_policy, mrenclaves=allow(self.sgx_mrenclaves)),
            tdx_policy=_replace(base.tdx_policy, mrtds=allow(self.tdx_mrtds)),
            model_digests=base.model_digests,
        )

    def devnet(self, base: DevnetAttestationConfig) -> DevnetAttestationConfig:
        """Genesis's devnet switch and signers, with this policy's measurements."""
        return DevnetAttestationConfig(base.enabled, base.signers, tuple(Hash32(m) for m in self.devnet_measurements))


def _replace(policy: SevSnpPolicy | SgxPolicy | TdxPolicy, **changes: Any) -> Any:
    return dataclasses.replace(policy, **changes)


def load_policy(state: StateDB) -> AttestationPolicy | None:
    data = state.get(POLICY_KEY)
    return None if data is None else decode_record(AttestationPolicy, data)


def save_policy(state: StateDB, policy: AttestationPolicy) -> None:
    state.set(POLICY_KEY, encode_record(policy))


def policy_digest(chain_id: str, policy: AttestationPolicy) -> bytes:
    """What the governance keys sign (module docstring; ``chain.keys.signing_digest``)."""
    return signing_digest(POLICY_TAG, chain_id, encode_record(policy))


def decode_policy_payload(value: Any) -> tuple[AttestationPolicy, tuple[tuple[bytes, bytes], ...]]:
    """``[policy, [[pubkey, signature], ...]]`` (``DecodeError`` if malformed)."""
    policy_value, signatures = expect_array(value, "attestation_policy payload", 2)
    items = expect_array(policy_value, "attestation_policy.policy", 7)

    def blobs(v: Any, what: str) -> tuple[bytes, ...]:
        entries = expect_array(v, what)
        if len(entries) > MAX_ENTRIES:
            raise DecodeError(f"{what}: more than {MAX_ENTRIES}", code=ErrorCode.DECODE_SHAPE)
        return tuple(expect_bytes(e, what, max_len=16_384) for e in entries)

    policy = AttestationPolicy(
        version=expect_int(items[0], "attestation_policy.version"),
        amd_arks=blobs(items[1], "attestation_policy.amd_arks"),
        intel_root=expect_bytes(items[2], "attestation_policy.intel_root", max_len=16_384),
        sevsnp_measurements=blobs(items[3], "attestation_policy.sevsnp_measurements"),
        sgx_mrenclaves=blobs(items[4], "attestation_policy.sgx_mrenclaves"),
        tdx_mrtds=blobs(items[5], "attestation_policy.tdx_mrtds"),
        devnet_measurements=blobs(items[6], "attestation_policy.devnet_measurements"),
    )
    policy.check()
    sigs = expect_array(signatures, "attestation_policy.signatures")
    if len(sigs) > 64:
        raise DecodeError("attestation_policy.signatures: more than 64", code=ErrorCode.DECODE_SHAPE)
    pairs = []
    for pair in sigs:
        pubkey, signature = expect_array(pair, "attestation_policy.signature", 2)
        pairs.append((expect_bytes(pubkey, "signer", length=32), expect_bytes(signature, "signature", length=64)))
    return policy, tuple(pairs)


def count_signers(chain_id: str, policy: AttestationPolicy, signatures: tuple[tuple[bytes, bytes], ...],
                  governance: frozenset[bytes]) -> int:
    """How many distinct governance keys signed ``policy`` validly."""
    digest = policy_digest(chain_id, policy)
    good = {pk for pk, sig in signatures if pk in governance and verify_signature(pk, sig, digest)}
    return len(good)


def attestation_rules(state: StateDB, base: AiVerifyConfig,
                      params: AicfParams) -> tuple[AiVerifyConfig, DevnetAttestationConfig]:
    """The AI_V1 configuration and devnet rules in force: the policy in state over genesis's
    base, with SGX/TDX collateral from the store in state (``aicf.collateral``) and genesis's
    grace window."""
    devnet = params.attestation.devnet()
    policy = load_policy(state)
    if policy is None:  # a state written before the policy existed (tests that build state by hand)
        return base, devnet
    config = dataclasses.replace(policy.ai_config(base), stored_collateral=collateral_lookup(state),
                                 collateral_grace_s=params.attestation.collateral_grace_s)
    return config, policy.devnet(devnet)
