"""Capability requests, job receipts and result records: their bytes, caps and state.

What this module decides
------------------------
* The wire form of the two enqueue requests.  The ``payload`` hashed into a task id
  (``capabilities.task``) is exactly ``request.encode()``::

      AiRequest       = [1, "ai", model: text, prompt: text, max_tokens: uint, opts: map]
      QuantumRequest  = [1, "quantum", circuit: text, shots: uint, opts: map]

  ``opts`` maps text keys (1..32 ASCII characters) to ``int``, ``text`` (≤ 256
  characters), ``bytes`` (≤ 256) or ``bool``; no floats, no nesting.
* The caps an enqueue must meet (:meth:`AiRequest.check`, :meth:`QuantumRequest.check`):
  ``model`` 1..64 bytes of printable ASCII without spaces; ``prompt`` at most
  ``params.max_prompt_bytes`` UTF-8 bytes; ``1 <= max_tokens <= params.max_tokens``;
  ``circuit`` ASCII OpenQASM 2.0 text (first statement ``OPENQASM 2.0;``) of at most
  ``params.max_circuit_bytes``; ``params.min_shots <= shots <= params.max_shots``; encoded
  ``opts`` at most ``params.max_opts_bytes``; ``opts["replicas"]``, when given, an integer in
  ``[1, params.max_replicas]`` (``replicas_out_of_range``).  A failed cap raises :class:`InvalidRequest` with a
  stable ``reason``.
* The price ceiling and SLA deadline fixed at enqueue time (:func:`price_ceiling`,
  :func:`sla_deadline`).  The ceiling is the most the job can cost under the one pricing
  schedule, the ``aicf.pricing`` section of genesis (``proofs.policy``: ``ai_ceiling``,
  ``quantum_ceiling``; ``docs/ECONOMICS.md``), times the job's ``replicas``::

      ai:       ceiling = replicas × ai_ceiling(model, max_tokens)
      quantum:  ceiling = replicas × quantum_ceiling(shots)
      deadline = enqueue_height + sla_blocks_ai | sla_blocks_quantum

  ``replicas`` is the ``opts`` key of that name (default 1, at most ``params.max_replicas``):
  that many distinct providers run the job and a majority of their output digests decides
  it.  A model the schedule does not price is refused (``unknown_model``).
* The records, each a versioned canonical CBOR array (CDDL in ``capabilities/specs/``)::

      JobReceipt   = [1, task_id, kind, requester, fee_escrowed, price_ceiling,
                      sla_deadline, enqueue_height, request_digest]
      ResultRecord = [1, task_id, provider, output_digest, output / null,
                      committed_height, proof_hash]

  ``output`` is the output bytes when held inline (at most ``MAX_INLINE_OUTPUT``), or
  ``null`` when they are held off chain, in which case ``output_digest`` is the pointer
  (content address) to them.  Inline, ``output_digest == output_digest_of(output)``
  where ``output_digest_of(b) = H(b"cairn/task-output/v1", b)``.
* The state layout (ARCHITECTURE §4): a receipt at ``job_key(task_id) = state_key("job",
  task_id)``, the request's bytes at ``request_key(task_id) = state_key("request",
  task_id)`` (what a provider runs), a result at ``result_key(task_id) = state_key("result",
  task_id)``, and the block's new jobs as ``[task_id, origin]`` pairs (``origin``: the
  account that signed the enqueuing transaction), in enqueue order, at ``INBOX_KEY =
  state_key("job-inbox")``: the AICF module takes them into its queue at the end of the
  block (``capabilities`` sits below ``aicf`` and cannot call it).
* The one entry point for results, :func:`record_result`, and the visibility rule of
  :func:`read_result`: a result committed at height ``c`` is visible to a block at
  height ``h`` only when ``c < h`` ("enqueue in block H, read in a later block").

Decoders are strict (``chain.codec``): trailing bytes, unknown versions, wrong lengths,
wrong types and oversize inputs raise ``DecodeError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from chain.codec import decode, encode, expect_array, expect_bytes, expect_int, expect_versioned
from chain.errors import ChainError, DecodeError, ErrorCode, InvalidProof
from chain.smt import state_key
from chain.types import Address, Hash32
from proofs.ai import MAX_INLINE_OUTPUT as AI_MAX_INLINE_OUTPUT
from proofs.ai import ai_output_digest
from proofs.policy import PolicyParams, ai_ceiling, quantum_ceiling

VERSION = 1
KIND_AI = "ai"
KIND_QUANTUM = "quantum"
KINDS = (KIND_AI, KIND_QUANTUM)

MAX_MODEL_BYTES = 64
"""Fixed by ARCHITECTURE §6 / issue 4; not a genesis parameter."""
MAX_OPT_KEY_LEN = 32
MAX_OPT_VALUE_LEN = 256
MAX_INLINE_OUTPUT = AI_MAX_INLINE_OUTPUT
"""Largest output held inline in a ``ResultRecord``; larger outputs live off chain."""
MAX_REQUEST_BYTES = 1024 * 1024
"""Wire bound on an encoded request; ``CapabilityParams`` caps must fit below it."""
MAX_AMOUNT = 2**256 - 1
MAX_U64 = 2**64 - 1
BP = 10_000

_RECEIPT_MAX_BYTES = 512
_RESULT_MAX_BYTES = MAX_INLINE_OUTPUT + 512


# --- errors -----------------------------------------------------------------------------


class CapabilityError(ChainError):
    """A capability rule broken; ``reason`` is a short stable string naming the rule."""

    default_code = ErrorCode.TX_BAD_PAYLOAD

    def __init__(self, reason: str, message: str | None = None, **details: Any) -> None:
        super().__init__(message or reason, code=self.default_code, reason=reason, **details)
        self.reason = reason


class InvalidRequest(CapabilityError):
    """An enqueue request over a cap or malformed (reasons in the module docstring)."""


class UnknownJob(CapabilityError):
    """No job is recorded under the task id (reason ``"unknown_job"``)."""

    default_code = ErrorCode.NOT_FOUND


class JobRejected(CapabilityError):
    """``write_job`` refused a receipt (reason ``"job_exists"``)."""


class ResultRejected(CapabilityError):
    """``record_result`` refused a result.

    Reasons: ``"task_id_mismatch"``, ``"result_exists"``, ``"result_before_enqueue"``,
    ``"result_after_deadline"``, ``"output_digest_mismatch"``.
    """


# --- parameters -------------------------------------------------------------------------


def _shape(message: str) -> DecodeError:
    return DecodeError(message, code=ErrorCode.DECODE_SHAPE)


@dataclass(frozen=True, slots=True)
class CapabilityParams:
    """Caps and SLAs of enqueues (genesis supplies them; integers only).

    Prices are not here: the one schedule is ``aicf.pricing`` (``proofs.policy.PolicyParams``).
    """

    max_prompt_bytes: int = 32 * 1024
    max_circuit_bytes: int = 64 * 1024
    max_tokens: int = 8192
    min_shots: int = 100
    max_shots: int = 20_000
    max_opts_bytes: int = 1024
    max_replicas: int = 5
    sla_blocks_ai: int = 300
    sla_blocks_quantum: int = 600

    def __post_init__(self) -> None:
        for name in (
            "max_prompt_bytes",
            "max_circuit_bytes",
            "max_tokens",
            "min_shots",
            "max_shots",
            "max_opts_bytes",
            "max_replicas",
            "sla_blocks_ai",
            "sla_blocks_quantum",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"CapabilityParams.{name} must be a non-negative integer")
        for name in ("max_prompt_bytes", "max_circuit_bytes", "max_opts_bytes"):
            if getattr(self, name) > MAX_REQUEST_BYTES // 2:
                raise ValueError(f"CapabilityParams.{name} exceeds the wire bound")
        if self.sla_blocks_ai < 1 or self.sla_blocks_quantum < 1:
            raise ValueError("CapabilityParams: SLA blocks must be at least 1")
        if self.max_tokens > MAX_U64 or self.max_shots > MAX_U64:
            raise ValueError("CapabilityParams: max_tokens/max_shots above 2**64-1")
        if not 1 <= self.min_shots <= self.max_shots:
            raise ValueError("CapabilityParams: need 1 <= min_shots <= max_shots")
        if not 1 <= self.max_replicas <= 16:
            raise ValueError("CapabilityParams: max_replicas must be in [1, 16]")


DEFAULT_PARAMS = CapabilityParams()


# --- requests ---------------------------------------------------------------------------

OptValue = int | str | bytes | bool


def _check_opts_shape(opts: Any) -> Mapping[str, OptValue]:
    if not isinstance(opts, Mapping):
        raise _shape("opts: expected a map")
    for key, value in opts.items():
        if not isinstance(key, str):
            raise _shape("opts: keys must be text")
        if not isinstance(value, (int, str, bytes)):  # bool is an int
            raise _shape(f"opts[{key!r}]: value of a forbidden type {type(value).__name__}")
    return MappingProxyType(dict(opts))


def _check_opts_caps(opts: Mapping[str, OptValue], params: CapabilityParams) -> None:
    for key, value in opts.items():
        if not 0 < len(key) <= MAX_OPT_KEY_LEN or not key.isascii() or not key.isprintable():
            raise InvalidRequest("opt_key_invalid", f"opts key {key!r} is not 1..32 printable ASCII")
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value <= MAX_U64:
            raise InvalidRequest("opt_value_invalid", f"opts[{key!r}] out of range")
        if isinstance(value, (str, bytes)) and len(value) > MAX_OPT_VALUE_LEN:
            raise InvalidRequest("opt_value_invalid", f"opts[{key!r}] longer than {MAX_OPT_VALUE_LEN}")
    size = len(encode(dict(opts)))
    if size > params.max_opts_bytes:
        raise InvalidRequest("opts_too_large", f"opts of {size} bytes exceed {params.max_opts_bytes}")
    replicas = opts.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= params.max_replicas:
        raise InvalidRequest("replicas_out_of_range", f"opts replicas must be an integer in [1, {params.max_replicas}]")


def replicas_of(request: Request) -> int:
    """``opts["replicas"]`` (default 1): how many distinct providers run the job."""
    value = request.opts.get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _check_count(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _shape(f"{what}: expected an integer")
    return value


@dataclass(frozen=True, slots=True)
class AiRequest:
    """``ai_enqueue(model, prompt, max_tokens, opts)`` as a value.

    The constructor checks types only (``DecodeError``); :meth:`check` applies the caps.
    """

    model: str
    prompt: str
    max_tokens: int
    opts: Mapping[str, OptValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not isinstance(self.prompt, str):
            raise _shape("ai request: model and prompt must be text")
        _check_count(self.max_tokens, "ai request.max_tokens")
        object.__setattr__(self, "opts", _check_opts_shape(self.opts))

    def check(self, params: CapabilityParams) -> None:
        """Raise ``InvalidRequest`` unless the request meets every cap of ``params``."""
        model = self.model.encode()
        if not model:
            raise InvalidRequest("model_empty")
        if len(model) > MAX_MODEL_BYTES:
            raise InvalidRequest("model_too_long", size=len(model), limit=MAX_MODEL_BYTES)
        if not all(0x21 <= b <= 0x7E for b in model):
            raise InvalidRequest("model_invalid", "model must be printable ASCII without spaces")
        size = len(self.prompt.encode())
        if size > params.max_prompt_bytes:
            raise InvalidRequest("prompt_too_long", size=size, limit=params.max_prompt_bytes)
        if not 1 <= self.max_tokens <= params.max_tokens:
            raise InvalidRequest("max_tokens_out_of_range", value=self.max_tokens, limit=params.max_tokens)
        _check_opts_caps(self.opts, params)

    def encode(self) -> bytes:
        """``[1, "ai", model, prompt, max_tokens, opts]``: the task-id payload."""
        return encode([VERSION, KIND_AI, self.model, self.prompt, self.max_tokens, dict(self.opts)])


@dataclass(frozen=True, slots=True)
class QuantumRequest:
    """``quantum_enqueue(circuit, shots, opts)`` as a value (OpenQASM 2.0 text)."""

    circuit: str
    shots: int
    opts: Mapping[str, OptValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.circuit, str):
            raise _shape("quantum request: circuit must be text")
        _check_count(self.shots, "quantum request.shots")
        object.__setattr__(self, "opts", _check_opts_shape(self.opts))

    def check(self, params: CapabilityParams) -> None:
        """Raise ``InvalidRequest`` unless the request meets every cap of ``params``."""
        if not self.circuit.isascii():
            raise InvalidRequest("circuit_not_ascii")
        size = len(self.circuit)
        if size > params.max_circuit_bytes:
            raise InvalidRequest("circuit_too_long", size=size, limit=params.max_circuit_bytes)
        if not self.circuit.lstrip().startswith("OPENQASM 2.0;"):
            raise InvalidRequest("circuit_not_openqasm2", "circuit must start with 'OPENQASM 2.0;'")
        if not params.min_shots <= self.shots <= params.max_shots:
            raise InvalidRequest("shots_out_of_range", value=self.shots, limit=params.max_shots)
        _check_opts_caps(self.opts, params)

    def encode(self) -> bytes:
        """``[1, "quantum", circuit, shots, opts]``: the task-id payload."""
        return encode([VERSION, KIND_QUANTUM, self.circuit, self.shots, dict(self.opts)])


Request = AiRequest | QuantumRequest


def decode_request(data: bytes, params: CapabilityParams) -> Request:
    """Decode a request strictly and apply the caps of ``params``.

    ``DecodeError`` for bytes that are not a well-formed request; ``InvalidRequest``
    for a well-formed request over a cap.
    """
    items = expect_array(decode(data, max_size=MAX_REQUEST_BYTES), "request")
    kind = items[1] if len(items) > 1 else None
    request: Request
    if kind == KIND_AI:
        i = expect_versioned(items, "ai request", VERSION, 6)
        request = AiRequest(i[2], i[3], i[4], i[5])
    elif kind == KIND_QUANTUM:
        i = expect_versioned(items, "quantum request", VERSION, 5)
        request = QuantumRequest(i[2], i[3], i[4])
    else:
        expect_versioned(items, "request", VERSION, len(items))
        raise _shape(f"request: unknown kind {kind!r}")
    request.check(params)
    return request


def price_ceiling(request: Request, pricing: PolicyParams) -> int:
    """The most the job may cost, fixed at enqueue (formula in the module docstring).

    ``InvalidRequest("unknown_model")`` for a model the schedule does not price.
    """
    if isinstance(request, AiRequest):
        try:
            one = ai_ceiling(request.model, request.max_tokens, pricing.ai)
        except InvalidProof:
            raise InvalidRequest("unknown_model", f"model {request.model!r} has no price in genesis") from None
    else:
        one = quantum_ceiling(request.shots, pricing.quantum)
    return replicas_of(request) * one


def sla_deadline(enqueue_height: int, kind: str, params: CapabilityParams) -> int:
    """The last height at which a result may be recorded, fixed at enqueue."""
    if kind == KIND_AI:
        return enqueue_height + params.sla_blocks_ai
    if kind == KIND_QUANTUM:
        return enqueue_height + params.sla_blocks_quantum
    raise ValueError(f"unknown capability kind {kind!r}")


# --- records ----------------------------------------------------------------------------


def _amount(value: Any, what: str) -> int:
    return expect_int(value, what, hi=MAX_AMOUNT)


def _height(value: Any, what: str) -> int:
    return expect_int(value, what, hi=MAX_U64)


@dataclass(frozen=True, slots=True)
class JobReceipt:
    """What ``*_enqueue`` returns and writes to state; every field fixed at enqueue."""

    task_id: Hash32
    kind: str
    """``"ai"`` or ``"quantum"``."""
    requester: Address
    """The contract that enqueued (and paid)."""
    fee_escrowed: int
    """Taken from the requester at enqueue; returned if the job expires or is revoked."""
    price_ceiling: int
    """The most settlement may charge for the job."""
    sla_deadline: int
    """Last height at which a result may be recorded; after it the job expires."""
    enqueue_height: int
    request_digest: Hash32
    """``request_digest(payload)`` (``capabilities.task``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_id", Hash32(self.task_id))
        object.__setattr__(self, "requester", Address(self.requester))
        object.__setattr__(self, "request_digest", Hash32(self.request_digest))
        if self.kind not in KINDS:
            raise _shape(f"job receipt: unknown kind {self.kind!r}")
        _amount(self.fee_escrowed, "job receipt.fee_escrowed")
        _amount(self.price_ceiling, "job receipt.price_ceiling")
        _height(self.sla_deadline, "job receipt.sla_deadline")
        _height(self.enqueue_height, "job receipt.enqueue_height")
        if self.sla_deadline <= self.enqueue_height:
            raise _shape("job receipt: sla_deadline must be after enqueue_height")

    def encode(self) -> bytes:
        """``[1, task_id, kind, requester, fee_escrowed, price_ceiling, sla_deadline,
        enqueue_height, request_digest]``."""
        return encode(
            [
                VERSION,
                bytes(self.task_id),
                self.kind,
                bytes(self.requester),
                self.fee_escrowed,
                self.price_ceiling,
                self.sla_deadline,
                self.enqueue_height,
                bytes(self.request_digest),
            ]
        )

    @classmethod
    def decode(cls, data: bytes) -> JobReceipt:
        """Strict inverse of :meth:`encode`."""
        i = expect_versioned(decode(data, max_size=_RECEIPT_MAX_BYTES), "job receipt", VERSION, 9)
        if not isinstance(i[2], str):
            raise _shape("job receipt.kind: expected text")
        return cls(
            Hash32(expect_bytes(i[1], "job receipt.task_id", length=32)),
            i[2],
            Address(expect_bytes(i[3], "job receipt.requester", length=20)),
            _amount(i[4], "job receipt.fee_escrowed"),
            _amount(i[5], "job receipt.price_ceiling"),
            _height(i[6], "job receipt.sla_deadline"),
            _height(i[7], "job receipt.enqueue_height"),
            Hash32(expect_bytes(i[8], "job receipt.request_digest", length=32)),
        )


def output_digest_of(output: bytes) -> Hash32:
    """``H(b"cairn/task-output/v1", output)`` (``proofs.ai.ai_output_digest``: one definition)."""
    return ai_output_digest(output)


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """A verified result of a job, as written to state by :func:`record_result`."""

    task_id: Hash32
    provider: Address
    output_digest: Hash32
    """``output_digest_of(output)``; when ``output`` is ``None`` the pointer to the off-chain bytes."""
    output: bytes | None
    """The output inline (at most ``MAX_INLINE_OUTPUT`` bytes), or ``None`` if held off chain."""
    committed_height: int
    """Height of the block whose execution recorded this result."""
    proof_hash: Hash32
    """Hash of the proof envelope that was verified for this result."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_id", Hash32(self.task_id))
        object.__setattr__(self, "provider", Address(self.provider))
        object.__setattr__(self, "output_digest", Hash32(self.output_digest))
        object.__setattr__(self, "proof_hash", Hash32(self.proof_hash))
        if self.output is not None:
            expect_bytes(self.output, "result.output", max_len=MAX_INLINE_OUTPUT)
        _height(self.committed_height, "result.committed_height")

    def encode(self) -> bytes:
        """``[1, task_id, provider, output_digest, output / null, committed_height, proof_hash]``."""
        return encode(
            [
                VERSION,
                bytes(self.task_id),
                bytes(self.provider),
                bytes(self.output_digest),
                self.output,
                self.committed_height,
                bytes(self.proof_hash),
            ]
        )

    @classmethod
    def decode(cls, data: bytes) -> ResultRecord:
        """Strict inverse of :meth:`encode`."""
        i = expect_versioned(decode(data, max_size=_RESULT_MAX_BYTES), "result", VERSION, 7)
        output = i[4] if i[4] is None else expect_bytes(i[4], "result.output", max_len=MAX_INLINE_OUTPUT)
        return cls(
            Hash32(expect_bytes(i[1], "result.task_id", length=32)),
            Address(expect_bytes(i[2], "result.provider", length=20)),
            Hash32(expect_bytes(i[3], "result.output_digest", length=32)),
            output,
            _height(i[5], "result.committed_height"),
            Hash32(expect_bytes(i[6], "result.proof_hash", length=32)),
        )


# --- state ------------------------------------------------------------------------------


class StateAccess(Protocol):
    """The part of ``chain.state.StateDB`` this module needs."""

    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes | None) -> None: ...


def job_key(task_id: bytes) -> bytes:
    """``state_key("job", task_id)``."""
    return state_key("job", bytes(Hash32(task_id)))


def result_key(task_id: bytes) -> bytes:
    """``state_key("result", task_id)``."""
    return state_key("result", bytes(Hash32(task_id)))


INBOX_KEY = state_key("job-inbox")
"""The task ids enqueued in the current block, in order (module docstring)."""


def request_key(task_id: bytes) -> bytes:
    """``state_key("request", task_id)``: the request bytes of a job."""
    return state_key("request", bytes(Hash32(task_id)))


def load_request(state: StateAccess, task_id: bytes, params: CapabilityParams) -> Request | None:
    """The request stored for ``task_id``, or ``None``."""
    data = state.get(request_key(task_id))
    return None if data is None else decode_request(data, params)


def take_inbox(state: StateAccess) -> list[tuple[Hash32, Address]]:
    """The ``(task_id, origin)`` pairs enqueued since the last call, in order; empties the inbox."""
    data = state.get(INBOX_KEY)
    if data is None:
        return []
    state.set(INBOX_KEY, None)
    out = []
    for entry in expect_array(decode(data), "inbox"):
        task, origin = expect_array(entry, "inbox entry", 2)
        out.append((Hash32(expect_bytes(task, "inbox task", length=32)),
                    Address(expect_bytes(origin, "inbox origin", length=20))))
    return out


def write_job(state: StateAccess, receipt: JobReceipt) -> None:
    """Store a new job; ``JobRejected("job_exists")`` if its task id is taken."""
    key = job_key(receipt.task_id)
    if state.get(key) is not None:
        raise JobRejected("job_exists", task_id=receipt.task_id.hex())
    state.set(key, receipt.encode())


def enqueue_job(state: StateAccess, receipt: JobReceipt, payload: bytes, origin: bytes) -> None:
    """Store a new job, its request bytes, and ``[task_id, origin]`` in the block's inbox."""
    write_job(state, receipt)
    state.set(request_key(receipt.task_id), payload)
    inbox = state.get(INBOX_KEY)
    entries = [] if inbox is None else list(decode(inbox))
    state.set(INBOX_KEY, encode([*entries, [bytes(receipt.task_id), bytes(Address(origin))]]))


def load_job(state: StateAccess, task_id: bytes) -> JobReceipt | None:
    """The receipt stored for ``task_id``, or ``None``."""
    data = state.get(job_key(task_id))
    return None if data is None else JobReceipt.decode(data)


def record_result(state: StateAccess, task_id: bytes, result: ResultRecord) -> None:
    """THE way a result enters state (AICF calls it once the proof has verified).

    Refuses (``UnknownJob`` / ``ResultRejected`` with a stable reason):

    * ``task_id_mismatch``: ``result.task_id != task_id``;
    * ``unknown_job``: no job under ``task_id``;
    * ``result_exists``: a result is already recorded (results are write-once);
    * ``result_before_enqueue``: ``committed_height <= job.enqueue_height`` (a job is
      assigned at the end of its enqueue block, so the earliest result is one later);
    * ``result_after_deadline``: ``committed_height > job.sla_deadline``;
    * ``output_digest_mismatch``: inline output whose digest is not ``output_digest``.
    """
    task_id = Hash32(task_id)
    if result.task_id != task_id:
        raise ResultRejected("task_id_mismatch", expected=task_id.hex(), got=result.task_id.hex())
    job = load_job(state, task_id)
    if job is None:
        raise UnknownJob("unknown_job", task_id=task_id.hex())
    key = result_key(task_id)
    if state.get(key) is not None:
        raise ResultRejected("result_exists", task_id=task_id.hex())
    if result.committed_height <= job.enqueue_height:
        raise ResultRejected(
            "result_before_enqueue", committed=result.committed_height, enqueued=job.enqueue_height
        )
    if result.committed_height > job.sla_deadline:
        raise ResultRejected(
            "result_after_deadline", committed=result.committed_height, deadline=job.sla_deadline
        )
    if result.output is not None and output_digest_of(result.output) != result.output_digest:
        raise ResultRejected("output_digest_mismatch")
    state.set(key, result.encode())


def read_result(state: StateAccess, task_id: bytes, *, current_height: int) -> ResultRecord | None:
    """The result for ``task_id`` if committed in a block before ``current_height``, else ``None``.

    A result recorded while executing block ``h`` has ``committed_height == h`` and is
    invisible to every call in block ``h``; calls in blocks ``> h`` see it.
    """
    data = state.get(result_key(task_id))
    if data is None:
        return None
    result = ResultRecord.decode(data)
    return result if result.committed_height < current_height else None
