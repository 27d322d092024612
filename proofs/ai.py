"""AI_V1: the body of an AI inference proof, its verifier, and redundancy quorum verdicts.

Body
----
The ``body`` of a ``ProofEnvelope`` of type ``AI_V1`` is a canonical CBOR array::

    AiBody      = [version=1, model, model_digest, input_digest, output_digest,
                   runtime_ms, qos, attestation, output / null]
    qos         = [p95_latency_ms, availability_ppm]
    attestation = ["sev-snp", report, vcek, chain_pem]
                / ["sgx", quote, collateral / null]
                / ["tdx", quote, collateral / null]
                / ["devnet", devnet_report]

==============  =====================================================================
version         ``1`` (``AI_BODY_VERSION``); another integer: ``ai_body_version``
model           text, 1..64 printable ASCII characters without spaces (``0x21..0x7e``):
                the name genesis prices (``pricing.ai.model_weights``)
model_digest    32 bytes: digest of the model weights the provider ran
input_digest    32 bytes: digest of the job's input
output_digest   32 bytes: digest of the result (what the job's result record and a
                redundancy quorum compare)
runtime_ms      integer in ``[0, policy.MAX_RUNTIME_MS]``
p95_latency_ms  integer in ``[0, policy.MAX_LATENCY_MS]``
availability    integer in ``[0, 1_000_000]`` parts per million
attestation     a class name and its evidence, as bytes the class's verifier reads:
                ``sev-snp``: the 1184-byte report, the VCEK (or VLEK) certificate in DER,
                and the ASK-then-ARK (or ASVK-then-ARK) chain in PEM (``proofs.tee.sevsnp``);
                ``sgx``: a DCAP v3 quote and the optional collateral JSON, ``null`` when
                absent (``proofs.tee.sgx``);
                ``tdx``: an Intel TDX DCAP v4 quote and the optional collateral JSON (a TDX
                TCB info and the TD_QE identity), ``null`` when absent (``proofs.tee.tdx``);
                ``devnet``: an encoded ``DevnetReport`` (``proofs.devnet``)
output          the output bytes inline (at most ``MAX_INLINE_OUTPUT`` = 64 KiB), so the
                job's result record can hold them, or ``null`` when they live off chain;
                inline, ``output_digest`` must be ``ai_output_digest(output) =
                H("cairn/task-output/v1", output)`` (``ai_output_digest_mismatch``)
==============  =====================================================================

Decoding is strict (``chain.codec``: canonical bytes, no trailing bytes, at most
``envelope.MAX_BODY_BYTES``) and every failure is ``InvalidProof`` with reason
``ai_body_<kind>`` (``oversize``, ``trailing_bytes``, ``non_canonical``, ``version``,
``bad_length``, ``malformed``), or ``ai_attestation_class_unknown`` for a class name that is
none of the four.

Binding
-------
Every attestation class carries 64 bytes of ``report_data`` chosen by the code inside the
TEE.  An AI_V1 result is bound to its task by (ARCHITECTURE §7)::

    report_data[0:32] == H("cairn/ai-report-data/v1",
                           encode([task_id, model_digest, input_digest, output_digest]))

with ``task_id`` taken from the envelope (:func:`binding_digest`, which is the first half of
``proofs.devnet.report_data_for``).  Only the first 32 bytes are bound for SEV-SNP, SGX and
TDX (the TD report's ``report_data``), so the enclave or TD may use the other 32 as it
likes; a devnet report must carry exactly ``report_data_for(...)`` (the hash and 32 zero
bytes), as ``proofs.devnet`` defines it.
Failure: ``ai_report_data_mismatch``.

Verification
------------
``verify_ai_body(envelope, ctx)`` runs after ``verify_envelope``'s shared checks, cheap checks
first:

1. decode the body (``ai_body_*``, ``ai_attestation_class_unknown``);
2. when genesis lists model digests (``AiVerifyConfig.model_digests``), ``(model,
   model_digest)`` is one of them (``ai_model_digest_not_allowed``), so the name that prices
   the job names the weights the attestation covers; then price it:
   ``policy.meter_ai(model, runtime_ms, p95_latency_ms, availability_ppm, ctx.policy.ai)``
   (``unknown_model``, ``policy_input_out_of_range``);
3. verify the attestation with its class's verifier, configured by
   ``ctx.type_config[ProofType.AI_V1]`` (an :class:`AiVerifyConfig`; absent means the
   defaults, which trust no vendor root) at block time ``ctx.now``:

   * ``sev-snp``: ``verify_sevsnp`` against ``config.amd_arks`` and ``config.sevsnp_policy``
     (its ``sevsnp_*`` reasons pass through);
   * ``sgx``: ``verify_sgx_quote`` against ``config.intel_sgx_root`` and
     ``config.sgx_policy`` (``sgx_*`` reasons; collateral is required by default);
   * ``tdx``: ``verify_tdx_quote`` against ``config.intel_sgx_root`` (Intel's SGX Root CA
     anchors TDX PCK chains too) and ``config.tdx_policy`` (``tdx_*`` reasons; collateral is
     required by default);
   * ``devnet``: ``verify_devnet_attestation`` under ``ctx.devnet``, genesis's devnet section,
     and its chain-id guard (``devnet_*`` reasons);

   a TEE class whose vendor root genesis does not configure is refused with
   ``ai_attestation_class_not_configured``.  When ``config.stored_collateral`` is set
   (inside blocks: the collateral store of ``aicf.collateral``), SGX and TDX quotes are
   checked against the collateral it returns for the quote's TEE, FMSPC and PCK CA, never
   the attestation's own, and SEV-SNP chains against the revocations it holds for their ARK
   (when it holds any), with every ``nextUpdate`` extended by ``config.collateral_grace_s``;
4. the binding above (``ai_report_data_mismatch``);
5. an inline output hashes to ``output_digest`` (``ai_output_digest_mismatch``).

The result: ``output_digest`` from the body, ``units`` and ``qos_bp`` from step 2.

What this verifier does not decide.  ``model``, ``runtime_ms`` and the QoS report are
*self-reported*: the provider signs them (the envelope signature covers the body) but no
TEE vouches for them, since the binding covers only the task and the three digests.  Whether
``model_digest`` and ``input_digest`` are the ones the job asked for, and a bound on the
runtime a job may bill (its lease), are facts of state that the AICF module checks against
the job record, as it checks the assigned provider and the deadline.

Redundancy quorum
-----------------
A job may ask for ``replicas = r`` (ARCHITECTURE §7): r providers run it and each submits its own
envelope (the nullifier is per provider, so each provider counts once).
:func:`quorum_verdict` decides, from the verified ``(provider, output_digest)`` pairs and a
threshold ``k`` (``majority(r) = r // 2 + 1`` or any k-of-r the job chose), by this rule:

    a digest is agreed iff at least ``k`` providers reported it **and** strictly more
    providers reported it than any other digest.

Then its reporters agree and every other reporter dissents (and is slashed by the AICF
module).  Otherwise — too few results, or a tie for the most votes — nothing is agreed and
nobody is blamed: with no quorum the chain cannot tell the honest side.  With ``k > r / 2``
the rule is plain majority and a tie cannot reach ``k``.  Providers are listed in ascending
byte order, so every node derives the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from chain.codec import decode, encode, expect_array, expect_bytes, expect_int, expect_str, expect_versioned
from chain.errors import DecodeError, ErrorCode, InvalidProof
from chain.hashing import H
from chain.types import Address, Hash32
from proofs.devnet import DevnetAttestationConfig, report_data_for, verify_devnet_attestation
from proofs.envelope import MAX_BODY_BYTES, ProofEnvelope, ProofType, decode_reason
from proofs.policy import MAX_LATENCY_MS, MAX_RUNTIME_MS, PPM, meter_ai
from proofs.registry import BodyResult, VerifyContext
from proofs.tee.sevsnp import AmdRevocation, SevSnpPolicy, load_chain, verify_sevsnp
from proofs.tee.sgx import SgxPolicy, parse_quote, pck_platform, verify_sgx_quote
from proofs.tee.tdx import TdxPolicy, parse_tdx_quote, verify_tdx_quote
from proofs.tee.verdicts import TeeVerdictCache
from proofs.tee.x509util import common_name

AI_BODY_VERSION: Final[int] = 1
MAX_INLINE_OUTPUT: Final[int] = 64 * 1024
"""Largest output an AI_V1 body carries inline."""
OUTPUT_TAG: Final[bytes] = b"cairn/task-output/v1"
TEE_CACHE_TAG: Final[bytes] = b"cairn/tee-verdict-key/v1"
"""Domain of the verdict memo's evidence digest (a node-local key, never stored)."""
MAX_MODEL_NAME: Final[int] = 64
BINDING_BYTES: Final[int] = 32
"""How many leading bytes of ``report_data`` the binding fixes."""
MAX_CLASS_NAME: Final[int] = 16

CLASS_SEVSNP: Final[str] = "sev-snp"
CLASS_SGX: Final[str] = "sgx"
CLASS_TDX: Final[str] = "tdx"
CLASS_DEVNET: Final[str] = "devnet"

_EPOCH: Final[datetime] = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_UNIX_SECONDS: Final[int] = 253_402_300_799
"""9999-12-31T23:59:59Z, the last second ``datetime`` can hold."""


# --- the body ----------------------------------------------------------------------


def _check_model(value: Any) -> str:
    model = expect_str(value, "ai body: model", max_len=MAX_MODEL_NAME)
    if not model or not all(0x21 <= ord(ch) <= 0x7E for ch in model):
        raise DecodeError(
            "ai body: model must be 1..64 printable ASCII characters without spaces",
            code=ErrorCode.DECODE_SHAPE,
        )
    return model


def _check_metrics(runtime_ms: Any, p95_latency_ms: Any, availability_ppm: Any) -> tuple[int, int, int]:
    return (
        expect_int(runtime_ms, "ai body: runtime_ms", hi=MAX_RUNTIME_MS),
        expect_int(p95_latency_ms, "ai body: p95_latency_ms", hi=MAX_LATENCY_MS),
        expect_int(availability_ppm, "ai body: availability_ppm", hi=PPM),
    )


def _require_bytes(obj: object, *names: str, optional: tuple[str, ...] = ()) -> None:
    for name in (*names, *optional):
        value = getattr(obj, name)
        if not isinstance(value, bytes) and not (name in optional and value is None):
            raise InvalidProof("ai_body_malformed", f"attestation {name} must be bytes")


def _as_invalid(exc: DecodeError) -> InvalidProof:
    return InvalidProof(
        decode_reason(exc, "ai_body"), f"AI_V1 body: {exc.message}", decode_code=exc.code.name
    )


@dataclass(frozen=True, slots=True)
class QosReport:
    """The provider's service metrics for the pricing multipliers (ARCHITECTURE §8)."""

    p95_latency_ms: int
    """95th-percentile latency over the reporting window, milliseconds."""
    availability_ppm: int
    """Availability over the reporting window, parts per million (0.999 is 999_000)."""


@dataclass(frozen=True, slots=True)
class SevSnpEvidence:
    """An AMD SEV-SNP attestation: report, key certificate, chain to an ARK."""

    CLASS: ClassVar[str] = CLASS_SEVSNP

    report: bytes
    """The 1184-byte ATTESTATION_REPORT."""
    vcek: bytes
    """The VCEK (or VLEK) certificate, DER."""
    chain_pem: bytes
    """ASK then ARK (ASVK then ARK for a VLEK), PEM, as AMD's KDS serves it."""

    def __post_init__(self) -> None:
        _require_bytes(self, "report", "vcek", "chain_pem")

    def to_value(self) -> list[Any]:
        """``["sev-snp", report, vcek, chain_pem]``."""
        return [self.CLASS, self.report, self.vcek, self.chain_pem]


@dataclass(frozen=True, slots=True)
class SgxEvidence:
    """An Intel SGX DCAP v3 quote and, optionally, its collateral."""

    CLASS: ClassVar[str] = CLASS_SGX

    quote: bytes
    """The quote, with its PCK chain in the certification data."""
    collateral: bytes | None = None
    """TCB info, QE identity and CRLs as the JSON document ``proofs.tee.sgx`` reads."""

    def __post_init__(self) -> None:
        _require_bytes(self, "quote", optional=("collateral",))

    def to_value(self) -> list[Any]:
        """``["sgx", quote, collateral / null]``."""
        return [self.CLASS, self.quote, self.collateral]


@dataclass(frozen=True, slots=True)
class TdxEvidence:
    """An Intel TDX DCAP v4 quote and, optionally, its collateral."""

    CLASS: ClassVar[str] = CLASS_TDX

    quote: bytes
    """The quote, with the QE report and PCK chain in the certification data."""
    collateral: bytes | None = None
    """TDX TCB info, TD_QE identity and CRLs as the JSON document ``proofs.tee.sgx`` reads."""

    def __post_init__(self) -> None:
        _require_bytes(self, "quote", optional=("collateral",))

    def to_value(self) -> list[Any]:
        """``["tdx", quote, collateral / null]``."""
        return [self.CLASS, self.quote, self.collateral]


@dataclass(frozen=True, slots=True)
class DevnetEvidence:
    """A devnet software attestation (``proofs.devnet``)."""

    CLASS: ClassVar[str] = CLASS_DEVNET

    report: bytes
    """An encoded ``DevnetReport``."""

    def __post_init__(self) -> None:
        _require_bytes(self, "report")

    def to_value(self) -> list[Any]:
        """``["devnet", report]``."""
        return [self.CLASS, self.report]


Attestation = SevSnpEvidence | SgxEvidence | TdxEvidence | DevnetEvidence
"""One attestation of any class."""


def decode_attestation(value: Any) -> Attestation:
    """An attestation value (``DecodeError``; ``InvalidProof`` for an unknown class)."""
    items = expect_array(value, "ai body: attestation")
    if not items:
        raise DecodeError("ai body: empty attestation", code=ErrorCode.DECODE_SHAPE)
    cls = expect_str(items[0], "ai body: attestation class", max_len=MAX_CLASS_NAME)
    if cls == CLASS_SEVSNP:
        _, report, vcek, chain = expect_array(items, "ai body: sev-snp attestation", 4)
        return SevSnpEvidence(
            report=expect_bytes(report, "ai body: sev-snp report"),
            vcek=expect_bytes(vcek, "ai body: sev-snp vcek"),
            chain_pem=expect_bytes(chain, "ai body: sev-snp chain"),
        )
    if cls == CLASS_SGX:
        _, quote, collateral = expect_array(items, "ai body: sgx attestation", 3)
        return SgxEvidence(
            quote=expect_bytes(quote, "ai body: sgx quote"),
            collateral=None if collateral is None else expect_bytes(collateral, "ai body: sgx collateral"),
        )
    if cls == CLASS_TDX:
        _, quote, collateral = expect_array(items, "ai body: tdx attestation", 3)
        return TdxEvidence(
            quote=expect_bytes(quote, "ai body: tdx quote"),
            collateral=None if collateral is None else expect_bytes(collateral, "ai body: tdx collateral"),
        )
    if cls == CLASS_DEVNET:
        _, report = expect_array(items, "ai body: devnet attestation", 2)
        return DevnetEvidence(report=expect_bytes(report, "ai body: devnet report"))
    raise InvalidProof(
        "ai_attestation_class_unknown",
        f"attestation class {cls!r} is not one of sev-snp, sgx, tdx, devnet",
        attestation_class=cls,
    )


@dataclass(frozen=True, slots=True)
class AiBody:
    """The body of an ``AI_V1`` envelope (module docstring)."""

    model: str
    """The model's name, as genesis prices it."""
    model_digest: Hash32
    """Digest of the model weights."""
    input_digest: Hash32
    """Digest of the input."""
    output_digest: Hash32
    """Digest of the output."""
    runtime_ms: int
    """Wall-clock run time of the job, milliseconds."""
    qos: QosReport
    """Service metrics."""
    attestation: Attestation
    """The TEE's (or devnet signer's) statement binding this result."""
    output: bytes | None = None
    """The output bytes inline, or None when they are held off chain."""
    version: int = AI_BODY_VERSION
    """Wire version."""

    def __post_init__(self) -> None:
        try:
            if self.version != AI_BODY_VERSION:
                raise DecodeError(f"ai body: unknown version {self.version!r}", code=ErrorCode.DECODE_VERSION)
            _check_model(self.model)
            for name in ("model_digest", "input_digest", "output_digest"):
                if not isinstance(getattr(self, name), Hash32):
                    raise DecodeError(f"ai body: {name} must be a Hash32", code=ErrorCode.DECODE_SHAPE)
            if not isinstance(self.qos, QosReport):
                raise DecodeError("ai body: qos must be a QosReport", code=ErrorCode.DECODE_SHAPE)
            _check_metrics(self.runtime_ms, self.qos.p95_latency_ms, self.qos.availability_ppm)
            if not isinstance(self.attestation, SevSnpEvidence | SgxEvidence | TdxEvidence | DevnetEvidence):
                raise DecodeError("ai body: unknown attestation type", code=ErrorCode.DECODE_SHAPE)
            if self.output is not None:
                expect_bytes(self.output, "ai body: output", max_len=MAX_INLINE_OUTPUT)
        except DecodeError as exc:
            raise _as_invalid(exc) from exc

    def to_value(self) -> list[Any]:
        """The CBOR array (module docstring)."""
        return [
            self.version,
            self.model,
            bytes(self.model_digest),
            bytes(self.input_digest),
            bytes(self.output_digest),
            self.runtime_ms,
            [self.qos.p95_latency_ms, self.qos.availability_ppm],
            self.attestation.to_value(),
            self.output,
        ]

    def encode(self) -> bytes:
        """Canonical CBOR bytes."""
        return encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> AiBody:
        """Strict decode; failures are ``InvalidProof`` (``ai_body_*``, ``ai_attestation_class_unknown``)."""
        try:
            value = decode(data, max_size=MAX_BODY_BYTES)
            items = expect_versioned(value, "ai body", AI_BODY_VERSION, 9)
            _, model, model_digest, input_digest, output_digest, runtime_ms, qos, attestation, output = items
            if output is not None:
                expect_bytes(output, "ai body: output", max_len=MAX_INLINE_OUTPUT)
            p95, availability = expect_array(qos, "ai body: qos", 2)
            runtime, p95_ms, availability_ppm = _check_metrics(runtime_ms, p95, availability)
            fields = (
                _check_model(model),
                Hash32(expect_bytes(model_digest, "ai body: model_digest", length=32)),
                Hash32(expect_bytes(input_digest, "ai body: input_digest", length=32)),
                Hash32(expect_bytes(output_digest, "ai body: output_digest", length=32)),
            )
            evidence = decode_attestation(attestation)
        except DecodeError as exc:
            raise _as_invalid(exc) from exc
        return cls(
            model=fields[0],
            model_digest=fields[1],
            input_digest=fields[2],
            output_digest=fields[3],
            runtime_ms=runtime,
            qos=QosReport(p95_latency_ms=p95_ms, availability_ppm=availability_ppm),
            attestation=evidence,
            output=output,
        )


def ai_output_digest(output: bytes) -> Hash32:
    """``H("cairn/task-output/v1", output)``: the digest a result record keeps for its output."""
    return Hash32(H(OUTPUT_TAG, bytes(output)))


# --- configuration -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AiVerifyConfig:
    """``ctx.type_config[ProofType.AI_V1]``: the trust anchors and policies from genesis.

    The devnet class is configured by ``VerifyContext.devnet`` (genesis's
    ``attestation.devnet`` section), not here, so one switch governs it.
    """

    amd_arks: tuple[bytes, ...] = ()
    """AMD root keys (ARK certificates, DER) trusted for SEV-SNP; empty refuses the class."""
    intel_sgx_root: bytes | None = None
    """The Intel SGX Root CA (DER), which anchors SGX and TDX quotes; None refuses both classes."""
    sevsnp_policy: SevSnpPolicy = SevSnpPolicy()
    """Measurement allowlist, VMPL, debug, VLEK and minimum-TCB rules for SEV-SNP."""
    sgx_policy: SgxPolicy = SgxPolicy(require_collateral=True)
    """MRENCLAVE/MRSIGNER allowlists, debug and TCB-status rules for SGX.  Its
    ``require_collateral`` is the collateral requirement, on by default: without TCB info a
    quote from a platform whose TCB Intel has revoked would still verify."""
    tdx_policy: TdxPolicy = TdxPolicy(require_collateral=True)
    """MRTD/RTMR allowlists, debug and TCB-status rules for TDX; collateral is required by
    default, as for SGX."""
    model_digests: tuple[tuple[str, bytes], ...] = ()
    """``(model name, weights digest)`` pairs genesis recognizes.  When non-empty, a body's
    ``(model, model_digest)`` must be one of them; empty leaves the pair unchecked."""
    stored_collateral: Callable[[str, bytes, str], bytes | None] | None = None
    """``(tee, fmspc, pck_ca_kind) -> collateral document or None``: where SGX and TDX
    collateral comes from inside blocks (``aicf.collateral.collateral_lookup``); for
    ``("SEV-SNP", b"", ARK common name)`` the ARK's revocation document
    (``sevsnp.AmdRevocation``).  None (offline verification): the attestation's own
    collateral and no revocation check."""
    collateral_grace_s: int = 0
    """Seconds every collateral ``nextUpdate`` is extended by (genesis's grace window)."""
    verdict_cache: TeeVerdictCache | None = None
    """The node's memo of TEE verdicts (``proofs.tee.verdicts``), keyed by the evidence, the
    collateral it was judged with and the trust inputs, valid over the times the verdict holds
    at; None verifies every time.  It never changes a verdict."""

    def __post_init__(self) -> None:
        if not isinstance(self.amd_arks, tuple) or not all(isinstance(a, bytes) for a in self.amd_arks):
            raise TypeError("amd_arks must be a tuple of DER certificates")
        if not isinstance(self.model_digests, tuple) or not all(
            isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], bytes)
            for e in self.model_digests
        ):
            raise TypeError("model_digests must be a tuple of (name, digest) pairs")
        if self.intel_sgx_root is not None and not isinstance(self.intel_sgx_root, bytes):
            raise TypeError("intel_sgx_root must be DER bytes or None")


def ai_config(ctx: VerifyContext) -> AiVerifyConfig:
    """The AI_V1 configuration in ``ctx`` (defaults when absent; ``TypeError`` if of another type)."""
    config = ctx.type_config.get(ProofType.AI_V1)
    if config is None:
        return AiVerifyConfig()
    if not isinstance(config, AiVerifyConfig):
        raise TypeError(f"type_config[AI_V1] must be an AiVerifyConfig, got {type(config).__name__}")
    return config


def block_datetime(now: int) -> datetime:
    """``VerifyContext.now`` (unix seconds) as an aware UTC datetime, by integer arithmetic only."""
    if not isinstance(now, int) or isinstance(now, bool) or not 0 <= now <= _MAX_UNIX_SECONDS:
        raise ValueError(f"block time {now!r} is not unix seconds in [0, {_MAX_UNIX_SECONDS}]")
    return _EPOCH + timedelta(seconds=now)


# --- the binding -------------------------------------------------------------------


def binding_digest(task_id: bytes, model_digest: bytes, input_digest: bytes, output_digest: bytes) -> bytes:
    """``H("cairn/ai-report-data/v1", encode([task_id, model_digest, input_digest, output_digest]))``."""
    return report_data_for(task_id, model_digest, input_digest, output_digest)[:BINDING_BYTES]


def check_binding(report_data: bytes, task_id: bytes, body: AiBody) -> None:
    """Raise ``ai_report_data_mismatch`` unless ``report_data`` starts with the binding digest."""
    expected = binding_digest(task_id, body.model_digest, body.input_digest, body.output_digest)
    if len(report_data) < BINDING_BYTES or bytes(report_data[:BINDING_BYTES]) != expected:
        raise InvalidProof(
            "ai_report_data_mismatch",
            "the attestation's report_data does not bind this task, model, input and output",
            expected=expected.hex(),
            got=bytes(report_data[:BINDING_BYTES]).hex(),
        )


# --- the verifier ------------------------------------------------------------------


def _collateral(config: AiVerifyConfig, tee: str, own: bytes | None, parse: Callable[[], Any]) -> bytes | None:
    """The collateral a quote is checked against: the store's when configured, else its own.
    A quote that does not parse raises here with the verifier's own first reason."""
    if config.stored_collateral is None:
        return own
    platform = pck_platform(parse().cert_data)
    return None if platform is None else config.stored_collateral(tee, *platform)


def _amd_revocation(config: AiVerifyConfig, attestation: SevSnpEvidence) -> AmdRevocation | None:
    """Inside blocks, the stored revocations of the chain's ARK (None: none stored, or offline)."""
    if config.stored_collateral is None:
        return None
    _, _, ark = load_chain(attestation.vcek, attestation.chain_pem)
    document = config.stored_collateral("SEV-SNP", b"", common_name(ark.subject) or "")
    return None if document is None else AmdRevocation.from_document(document)


def _memoized(config: AiVerifyConfig, key: Hashable, at: datetime, run: Callable[[], bytes]) -> bytes:
    """``run()`` through the node's verdict memo when it has one (``proofs.tee.verdicts``)."""
    return run() if config.verdict_cache is None else config.verdict_cache.verify(key, at, run)


def verify_attestation(
    attestation: Attestation,
    *,
    chain_id: str,
    now: int,
    config: AiVerifyConfig,
    devnet: DevnetAttestationConfig | None,
    expected_report_data: bytes,
) -> bytes:
    """Verify ``attestation`` with its class's verifier; return its 64 ``report_data`` bytes.

    ``expected_report_data`` is ``report_data_for(...)``: the devnet verifier checks it
    whole (its mismatch becomes ``ai_report_data_mismatch``); the TEE classes leave the
    binding to :func:`check_binding`.
    """
    at = block_datetime(now)
    grace = timedelta(seconds=config.collateral_grace_s)
    if isinstance(attestation, SevSnpEvidence):
        if not config.amd_arks:
            raise InvalidProof("ai_attestation_class_not_configured", "genesis lists no AMD root key")
        revocation = _amd_revocation(config, attestation)
        sev = attestation

        def run_sevsnp() -> bytes:
            return verify_sevsnp(sev.report, sev.vcek, sev.chain_pem, trusted_arks=config.amd_arks, now=at,
                                 policy=config.sevsnp_policy, revocation=revocation, grace=grace).report_data

        key = (H(TEE_CACHE_TAG, encode([sev.to_value()])), config.amd_arks, config.sevsnp_policy, revocation, grace)
        return _memoized(config, key, at, run_sevsnp)
    if isinstance(attestation, SgxEvidence | TdxEvidence):
        root = config.intel_sgx_root
        if root is None:
            raise InvalidProof("ai_attestation_class_not_configured", "genesis lists no Intel SGX root")
        quote = attestation.quote
        if isinstance(attestation, SgxEvidence):
            collateral = _collateral(config, "SGX", attestation.collateral, lambda: parse_quote(quote))
            policy: SgxPolicy | TdxPolicy = config.sgx_policy

            def run_dcap() -> bytes:
                return verify_sgx_quote(quote, trusted_root=root, now=at, policy=config.sgx_policy,
                                        collateral=collateral, grace=grace).report_data
        else:
            collateral = _collateral(config, "TDX", attestation.collateral, lambda: parse_tdx_quote(quote))
            policy = config.tdx_policy

            def run_dcap() -> bytes:
                return verify_tdx_quote(quote, trusted_root=root, now=at, policy=config.tdx_policy,
                                        collateral=collateral, grace=grace).report_data

        dcap_key = (H(TEE_CACHE_TAG, encode([attestation.CLASS, quote, collateral])), root, policy, grace)
        return _memoized(config, dcap_key, at, run_dcap)
    try:
        report = verify_devnet_attestation(
            attestation.report, chain_id=chain_id, config=devnet, expected_report_data=expected_report_data
        )
    except InvalidProof as exc:
        if exc.reason == "report_data_mismatch":
            details = {k: v for k, v in exc.details.items() if k != "reason"}
            raise InvalidProof("ai_report_data_mismatch", exc.message, **details) from exc
        raise
    return report.report_data


def verify_ai_body(envelope: ProofEnvelope, ctx: VerifyContext) -> BodyResult:
    """The ``AI_V1`` body verifier (module docstring, steps 1-4)."""
    body = AiBody.decode(envelope.body)
    config = ai_config(ctx)
    if config.model_digests and (body.model, bytes(body.model_digest)) not in config.model_digests:
        raise InvalidProof(
            "ai_model_digest_not_allowed",
            f"genesis does not list these weights for model {body.model!r}",
            model=body.model,
            model_digest=body.model_digest.hex(),
        )
    metering = meter_ai(
        body.model, body.runtime_ms, body.qos.p95_latency_ms, body.qos.availability_ppm, ctx.policy.ai
    )
    expected = report_data_for(envelope.task_id, body.model_digest, body.input_digest, body.output_digest)
    report_data = verify_attestation(
        body.attestation,
        chain_id=ctx.chain_id,
        now=ctx.now,
        config=config,
        devnet=ctx.devnet,
        expected_report_data=expected,
    )
    check_binding(report_data, envelope.task_id, body)
    if body.output is not None and ai_output_digest(body.output) != body.output_digest:
        raise InvalidProof("ai_output_digest_mismatch", "the inline output does not hash to output_digest")
    return BodyResult(output_digest=body.output_digest, units=metering.units, qos_bp=metering.qos_bp,
                      weight_bp=metering.weight_bp)


# --- redundancy quorum -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuorumVerdict:
    """The outcome of a redundancy quorum (module docstring for the rule)."""

    agreed_digest: Hash32 | None
    """The output digest the quorum agreed on, or None."""
    agreeing: tuple[Address, ...]
    """Providers that reported the agreed digest, ascending; empty without agreement."""
    dissenters: tuple[Address, ...]
    """Providers that reported another digest, ascending; empty without agreement."""
    unresolved: tuple[Address, ...] = ()
    """Without agreement: every provider that reported, ascending; empty otherwise."""


def majority(replicas: int) -> int:
    """The smallest strict majority of ``replicas``: ``replicas // 2 + 1``."""
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
        raise ValueError("replicas must be a positive integer")
    return replicas // 2 + 1


def quorum_verdict(results: Iterable[tuple[bytes, bytes]], threshold: int) -> QuorumVerdict:
    """Decide a redundancy quorum over ``(provider, output_digest)`` pairs.

    A digest is agreed iff at least ``threshold`` providers reported it and strictly more
    providers reported it than any other digest.  ``ValueError`` for a threshold below 1,
    a malformed address or digest, or a provider listed twice (each provider has one
    nullifier per task, so the caller can never legitimately pass one twice).
    """
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise ValueError("threshold must be a positive integer")
    by_provider: dict[bytes, bytes] = {}
    for provider, digest in results:
        if len(provider) != Address.LENGTH or len(digest) != Hash32.LENGTH:
            raise ValueError("expected (20-byte provider, 32-byte digest) pairs")
        if bytes(provider) in by_provider:
            raise ValueError(f"provider {bytes(provider).hex()} reported twice")
        by_provider[bytes(provider)] = bytes(digest)
    providers = sorted(by_provider)
    votes: dict[bytes, int] = {}
    for provider in providers:
        votes[by_provider[provider]] = votes.get(by_provider[provider], 0) + 1
    ranked = sorted(votes.items(), key=lambda item: (-item[1], item[0]))
    if not ranked or ranked[0][1] < threshold or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return QuorumVerdict(
            agreed_digest=None,
            agreeing=(),
            dissenters=(),
            unresolved=tuple(Address(p) for p in providers),
        )
    agreed = ranked[0][0]
    return QuorumVerdict(
        agreed_digest=Hash32(agreed),
        agreeing=tuple(Address(p) for p in providers if by_provider[p] == agreed),
        dissenters=tuple(Address(p) for p in providers if by_provider[p] != agreed),
    )


__all__ = [
    "AI_BODY_VERSION",
    "AiBody",
    "AiVerifyConfig",
    "Attestation",
    "DevnetEvidence",
    "QosReport",
    "QuorumVerdict",
    "SevSnpEvidence",
    "SgxEvidence",
    "TdxEvidence",
    "ai_config",
    "binding_digest",
    "block_datetime",
    "check_binding",
    "majority",
    "quorum_verdict",
    "verify_ai_body",
    "verify_attestation",
]
