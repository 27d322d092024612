"""The devnet attestation class: a software signer standing in for a TEE.

On a laptop there is no SEV-SNP or SGX, yet providers must still attest their AI results.
A devnet report has the shape of a hardware report reduced to what the chain checks::

    DevnetReport = [version=1, signer, measurement, report_data, signature]

    signer       Ed25519 public key (32 bytes), listed in genesis
    measurement  Hash32: digest of the provider software (the "launch measurement")
    report_data  64 bytes, as SEV-SNP's: H(binding) ‖ 32 zero bytes (see report_data_for)
    signature    Ed25519 over H("cairn/devnet-attest/v1",
                                encode([chain_id, version, signer, measurement, report_data]))

The binding is the one every AI_V1 attestation class uses (ARCHITECTURE §7)::

    report_data = H("cairn/ai-report-data/v1", encode([task_id, model_digest,
                                                     input_digest, output_digest])) ‖ 0³²

The guard.  Anyone can run the software signer, so a devnet report proves nothing about the
hardware; it must never count on a real network.  It is accepted only when **all** hold:

1. the chain id is a devnet chain id: ``cairn-devnet`` or ``cairn-devnet-<label>``
   (``<label>``: ``-``-separated runs of lowercase ASCII letters and digits) — see :func:`is_devnet_chain_id`;
2. genesis enables the class (``DevnetAttestationConfig.enabled``) and lists the signer;
3. the measurement is on genesis's allowlist, when genesis gives one.

Rule 1 is checked at verification time, whatever genesis says, so a genesis for
``cairn-mainnet`` (or ``cairn-testnet``, or ``devnet-cairn``) that enables the class by mistake
still accepts no devnet report; :func:`check_devnet_genesis` lets genesis validation refuse
such a file up front.  Because the chain id is inside the signed digest, a devnet report made
for one devnet is useless on another chain.

Reasons: ``devnet_attestation_forbidden_chain``, ``devnet_attestation_disabled``,
``devnet_report_*`` (decoding), ``devnet_unknown_signer``,
``devnet_measurement_not_allowed``, ``devnet_bad_signature``, ``report_data_mismatch``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chain.codec import decode, encode
from chain.errors import DecodeError, ErrorCode, InvalidGenesis, InvalidProof
from chain.hashing import hash_items
from chain.types import Hash32, PublicKey32, Signature64
from proofs.envelope import decode_reason

DEVNET_REPORT_VERSION: Final[int] = 1
REPORT_DATA_BYTES: Final[int] = 64
DEVNET_CHAIN_ID_PREFIX: Final[str] = "cairn-devnet"
MAX_DEVNET_REPORT_BYTES: Final[int] = 512

TAG_DEVNET_ATTEST: Final[bytes] = b"cairn/devnet-attest/v1"
TAG_AI_REPORT_DATA: Final[bytes] = b"cairn/ai-report-data/v1"

_DEVNET_CHAIN_ID = re.compile(r"cairn-devnet(-[a-z0-9]+)*")


def is_devnet_chain_id(chain_id: str) -> bool:
    """True for ``cairn-devnet`` and ``cairn-devnet-<label>`` (lowercase ASCII label)."""
    return (
        isinstance(chain_id, str) and len(chain_id) <= 64 and _DEVNET_CHAIN_ID.fullmatch(chain_id) is not None
    )


def report_data_for(task_id: bytes, model_digest: bytes, input_digest: bytes, output_digest: bytes) -> bytes:
    """The 64 report-data bytes binding an AI result: ``H(binding) ‖ 32 zero bytes``."""
    digests = (task_id, model_digest, input_digest, output_digest)
    if any(len(d) != 32 for d in digests):
        raise InvalidProof("bad_digest_length", "task id and digests must be 32 bytes each")
    return hash_items(TAG_AI_REPORT_DATA, *(bytes(d) for d in digests)) + bytes(32)


@dataclass(frozen=True, slots=True)
class DevnetAttestationConfig:
    """The ``attestation.devnet`` section of genesis."""

    enabled: bool = False
    """The class is refused unless this is true (and the chain id is a devnet's)."""
    signers: tuple[PublicKey32, ...] = ()
    """Ed25519 keys whose reports are accepted."""
    measurements: tuple[Hash32, ...] = ()
    """Allowed measurements; empty means any."""


def check_devnet_genesis(chain_id: str, config: DevnetAttestationConfig) -> None:
    """Genesis validation: refuse a config enabling devnet attestation off a devnet chain id."""
    if not config.enabled:
        return
    if not is_devnet_chain_id(chain_id):
        raise InvalidGenesis(
            f"devnet attestation cannot be enabled on chain {chain_id!r}: "
            f"only on {DEVNET_CHAIN_ID_PREFIX!r} or {DEVNET_CHAIN_ID_PREFIX + '-<label>'!r}",
            field="attestation.devnet.enabled",
        )
    if not config.signers:
        raise InvalidGenesis("devnet attestation enabled without signers", field="attestation.devnet.signers")


def devnet_signing_digest(
    chain_id: str, version: int, signer: bytes, measurement: bytes, report_data: bytes
) -> bytes:
    """``H("cairn/devnet-attest/v1", encode([chain_id, version, signer, measurement, report_data]))``."""
    return hash_items(
        TAG_DEVNET_ATTEST, chain_id, version, bytes(signer), bytes(measurement), bytes(report_data)
    )


@dataclass(frozen=True, slots=True)
class DevnetReport:
    """A devnet attestation report (see the module docstring)."""

    signer: PublicKey32
    """The software signer's public key."""
    measurement: Hash32
    """Digest of the provider software."""
    report_data: bytes
    """64 bytes chosen by the provider: the AI result binding."""
    signature: Signature64
    """Ed25519 over :meth:`signing_digest`."""
    version: int = DEVNET_REPORT_VERSION
    """Wire version."""

    def __post_init__(self) -> None:
        if self.version != DEVNET_REPORT_VERSION:
            raise InvalidProof("devnet_report_version", f"unknown devnet report version {self.version!r}")
        if not isinstance(self.report_data, bytes) or len(self.report_data) != REPORT_DATA_BYTES:
            raise InvalidProof("devnet_report_bad_length", "report_data must be 64 bytes")
        for name, value, cls in (
            ("signer", self.signer, PublicKey32),
            ("measurement", self.measurement, Hash32),
            ("signature", self.signature, Signature64),
        ):
            if not isinstance(value, cls):
                raise InvalidProof("devnet_report_malformed", f"{name} must be a {cls.__name__}")

    def fields(self) -> list[Any]:
        """``[version, signer, measurement, report_data, signature]``."""
        return [
            self.version,
            bytes(self.signer),
            bytes(self.measurement),
            bytes(self.report_data),
            bytes(self.signature),
        ]

    def encode(self) -> bytes:
        """Canonical CBOR bytes."""
        return encode(self.fields())

    @classmethod
    def decode(cls, data: bytes) -> DevnetReport:
        """Strict decode; failures are ``InvalidProof`` with a ``devnet_report_*`` reason."""
        try:
            items = decode(data, max_size=MAX_DEVNET_REPORT_BYTES)
            if not isinstance(items, list) or not items:
                raise DecodeError("devnet report: expected an array", code=ErrorCode.DECODE_SHAPE)
            if not isinstance(items[0], int) or isinstance(items[0], bool):
                raise DecodeError("devnet report: missing version", code=ErrorCode.DECODE_SHAPE)
            if items[0] != DEVNET_REPORT_VERSION:
                raise DecodeError(f"devnet report: unknown version {items[0]}", code=ErrorCode.DECODE_VERSION)
            if len(items) != 5:
                raise DecodeError("devnet report: expected 5 items", code=ErrorCode.DECODE_SHAPE)
            _, signer, measurement, report_data, signature = items
            if not isinstance(report_data, bytes):
                raise DecodeError("devnet report: report_data must be bytes", code=ErrorCode.DECODE_SHAPE)
            if len(report_data) != REPORT_DATA_BYTES:
                raise DecodeError("devnet report: report_data must be 64 bytes", code=ErrorCode.BAD_LENGTH)
            typed = (PublicKey32(signer), Hash32(measurement), Signature64(signature))
        except DecodeError as exc:
            raise InvalidProof(
                decode_reason(exc, "devnet_report"), str(exc), decode_code=exc.code.name
            ) from exc
        return cls(signer=typed[0], measurement=typed[1], report_data=report_data, signature=typed[2])

    def signing_digest(self, chain_id: str) -> bytes:
        """What the signer signs for ``chain_id``."""
        return devnet_signing_digest(chain_id, self.version, self.signer, self.measurement, self.report_data)


class DevnetSigner:
    """The software "TEE" a devnet provider runs.  Deterministic: Ed25519 needs no randomness."""

    __slots__ = ("_key", "public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = PublicKey32(key.public_key().public_bytes_raw())
        """The key genesis must list in ``attestation.devnet.signers``."""

    @classmethod
    def from_seed(cls, seed: bytes) -> DevnetSigner:
        """A signer from a 32-byte Ed25519 seed (the devnet keys are fixed in its genesis)."""
        return cls(Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    def attest(self, chain_id: str, report_data: bytes, measurement: bytes) -> DevnetReport:
        """Sign a report; refuses (``devnet_attestation_forbidden_chain``) off a devnet chain id."""
        if not is_devnet_chain_id(chain_id):
            raise InvalidProof("devnet_attestation_forbidden_chain", f"{chain_id!r} is not a devnet chain id")
        unsigned = DevnetReport(
            signer=self.public_key,
            measurement=Hash32(measurement),
            report_data=bytes(report_data),
            signature=Signature64(bytes(64)),
        )
        signature = Signature64(self._key.sign(unsigned.signing_digest(chain_id)))
        return DevnetReport(
            signer=unsigned.signer,
            measurement=unsigned.measurement,
            report_data=unsigned.report_data,
            signature=signature,
        )


def check_devnet_allowed(chain_id: str, config: DevnetAttestationConfig | None) -> DevnetAttestationConfig:
    """The guard (rules 1 and 2 of the module docstring); returns the enabled config."""
    if not is_devnet_chain_id(chain_id):
        raise InvalidProof(
            "devnet_attestation_forbidden_chain",
            f"devnet attestation is never accepted on chain {chain_id!r}",
            chain_id=chain_id,
        )
    if config is None or not config.enabled:
        raise InvalidProof("devnet_attestation_disabled", "genesis does not enable devnet attestation")
    return config


def verify_devnet_attestation(
    report: bytes | DevnetReport,
    *,
    chain_id: str,
    config: DevnetAttestationConfig | None,
    expected_report_data: bytes,
) -> DevnetReport:
    """Check a devnet report for ``chain_id`` and return it; ``InvalidProof(reason)`` otherwise.

    Order: the guard (chain id, then genesis), decoding, the signer and measurement
    allowlists, the signature, and last the binding ``report_data == expected_report_data``.
    """
    allowed = check_devnet_allowed(chain_id, config)
    parsed = report if isinstance(report, DevnetReport) else DevnetReport.decode(report)
    if parsed.signer not in allowed.signers:
        raise InvalidProof(
            "devnet_unknown_signer",
            "the report's signer is not listed in genesis",
            signer=parsed.signer.hex(),
        )
    if allowed.measurements and parsed.measurement not in allowed.measurements:
        raise InvalidProof(
            "devnet_measurement_not_allowed",
            "measurement not on the allowlist",
            measurement=parsed.measurement.hex(),
        )
    try:
        Ed25519PublicKey.from_public_bytes(bytes(parsed.signer)).verify(
            bytes(parsed.signature), parsed.signing_digest(chain_id)
        )
    except (InvalidSignature, ValueError) as exc:
        raise InvalidProof("devnet_bad_signature", "the devnet report signature does not verify") from exc
    if parsed.report_data != bytes(expected_report_data):
        raise InvalidProof(
            "report_data_mismatch",
            "report_data does not bind this task and its digests",
            expected=bytes(expected_report_data).hex(),
            got=parsed.report_data.hex(),
        )
    return parsed
