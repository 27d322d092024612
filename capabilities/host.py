"""The host functions contracts import from ``env`` — the capability ABI, version 1.

``capabilities/specs/ABI.md`` is the contract author's reference: every function's
signature, gas, return codes and traps.  This module is its implementation, as
:class:`chain.vm.runtime.HostSpec` values that the kernel's contract runtime binds to a
running call frame.  :func:`host_functions` returns the full table.

Rules every function here follows (ABI.md, *Conventions*):

* lengths are checked against their caps *before* anything is read or charged
  (``length_over_cap``, or the cap's own ``InvalidRequest`` reason for enqueues);
* gas is ``capabilities.costs.cost(name, nbytes)``: the input part is charged before the
  inputs are read; an output whose size is only known after a lookup has its per-byte
  part charged before it is written, whether or not it fits the buffer;
* a variable-length output goes to ``(out_ptr, out_cap)``: the full length is returned,
  the bytes are written only if they fit;
* writes (storage, transfers, enqueues, calls with value) trap ``read_only`` in a
  read-only query;
* a negative return is a condition the contract handles (``NOT_FOUND`` … ``CALL_DEPTH``);
  misuse traps, and a trap undoes the whole call.

Everything is deterministic: state comes from the frame, the block's facts from its
``BlockEnv``, and ``zk_verify`` verdicts from a pure function (the cache only saves work).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from capabilities.costs import HOST_COSTS, cost
from capabilities.records import (
    KIND_AI,
    KIND_QUANTUM,
    MAX_MODEL_BYTES,
    AiRequest,
    CapabilityError,
    CapabilityParams,
    JobReceipt,
    QuantumRequest,
    Request,
    enqueue_job,
    load_job,
    price_ceiling,
    read_result,
    sla_deadline,
)
from capabilities.task import request_digest, task_id
from chain.codec import decode, encode
from chain.errors import DecodeError
from chain.hashing import H
from chain.keys import module_address
from chain.module import Event
from chain.types import Address
from chain.vm.engine import HostContext, HostTrap
from chain.vm.runtime import (
    BEACON_KEY,
    MAX_ARGS_BYTES,
    MAX_RETURN_BYTES,
    Frame,
    HostImpl,
    HostSpec,
    pack_storage_value,
    storage_key,
    unpack_storage_value,
)
from proofs.groth16 import Groth16Cache, groth16_verdict
from proofs.policy import PolicyParams

ESCROW_ADDRESS = module_address("capabilities/escrow")
"""Holds the fees escrowed by enqueues until AICF settles or refunds them."""
RANDOM_TAG = b"cairn/contract-random/v1"

NOT_FOUND = -1
NO_RESULT_YET = -2
INSUFFICIENT_BALANCE = -3
CALL_FAILED = -4
CALL_DEPTH = -5

MAX_KEY_BYTES = 64
MAX_VALUE_BYTES = 65536
MAX_TOPIC_BYTES = 64
MAX_EVENT_DATA_BYTES = 4096
MAX_ZK_INPUT_BYTES = 65536
MAX_RANDOM_BYTES = 1024
MAX_ABORT_BYTES = 256
MIN_RECEIPT_BUFFER = 256
"""An encoded ``JobReceipt`` is at most this long (a test keeps it so)."""

I32, I64 = "i32", "i64"


# --- shared steps --------------------------------------------------------------------------


def _u32(x: int) -> int:
    return x & 0xFFFFFFFF


def _within(length: int, cap: int, reason: str = "length_over_cap") -> int:
    n = _u32(length)
    if n > cap:
        raise HostTrap(reason)
    return n


def _charge_out(mem: HostContext, name: str, n: int) -> None:
    mem.charge(HOST_COSTS[name].per_byte * n)


def _write_var(mem: HostContext, name: str, out_ptr: int, out_cap: int, data: bytes) -> int:
    """Charge for ``data``, write it if it fits ``out_cap``, return its length."""
    _charge_out(mem, name, len(data))
    if len(data) <= _u32(out_cap):
        mem.write(out_ptr, data)
    return len(data)


def _writable(frame: Frame) -> None:
    if frame.scope.read_only:
        raise HostTrap("read_only")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HostTrap("bad_text") from None


def _opts(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = decode(raw)
    except DecodeError:
        raise HostTrap("bad_opts") from None
    if not isinstance(value, dict):
        raise HostTrap("bad_opts")
    return value


def _u256(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


# --- storage, events, environment ------------------------------------------------------------


def storage_get(frame: Frame, mem: HostContext, key_ptr: int, key_len: int, out_ptr: int, out_cap: int) -> int:
    n = _within(key_len, MAX_KEY_BYTES)
    mem.charge(cost("storage_get", n))
    raw = frame.state.get(storage_key(frame.contract, mem.read(key_ptr, n)))
    if raw is None:
        return NOT_FOUND
    return _write_var(mem, "storage_get", out_ptr, out_cap, unpack_storage_value(raw))


def storage_set(frame: Frame, mem: HostContext, key_ptr: int, key_len: int, val_ptr: int, val_len: int) -> int:
    _writable(frame)
    k, v = _within(key_len, MAX_KEY_BYTES), _within(val_len, MAX_VALUE_BYTES)
    mem.charge(cost("storage_set", k + v))
    frame.state.set(storage_key(frame.contract, mem.read(key_ptr, k)), pack_storage_value(mem.read(val_ptr, v)))
    return 0


def storage_delete(frame: Frame, mem: HostContext, key_ptr: int, key_len: int) -> int:
    _writable(frame)
    n = _within(key_len, MAX_KEY_BYTES)
    mem.charge(cost("storage_delete", n))
    key = storage_key(frame.contract, mem.read(key_ptr, n))
    if frame.state.get(key) is None:
        return NOT_FOUND
    frame.state.delete(key)
    return 0


def emit_event(frame: Frame, mem: HostContext, topic_ptr: int, topic_len: int, data_ptr: int, data_len: int) -> int:
    t, d = _within(topic_len, MAX_TOPIC_BYTES), _within(data_len, MAX_EVENT_DATA_BYTES)
    mem.charge(cost("emit_event", t + d))
    topic, data = mem.read(topic_ptr, t), mem.read(data_ptr, d)
    frame.scope.events.append(
        Event("contract", "log", (("contract", bytes(frame.contract)), ("topic", topic), ("data", data)))
    )
    return 0


def caller(frame: Frame, mem: HostContext, out_ptr: int) -> int:
    mem.charge(cost("caller", 0))
    mem.write(out_ptr, bytes(frame.caller))
    return 0


def self_address(frame: Frame, mem: HostContext, out_ptr: int) -> int:
    mem.charge(cost("self_address", 0))
    mem.write(out_ptr, bytes(frame.contract))
    return 0


def value(frame: Frame, mem: HostContext, out_ptr: int) -> int:
    mem.charge(cost("value", 0))
    mem.write(out_ptr, frame.value.to_bytes(32, "big"))
    return 0


def block_height(frame: Frame, mem: HostContext) -> int:
    mem.charge(cost("block_height", 0))
    return frame.env.height


def block_time(frame: Frame, mem: HostContext) -> int:
    """The header's time in whole unix seconds (``time_ms // 1000``)."""
    mem.charge(cost("block_time", 0))
    return frame.env.time_ms // 1000


def balance(frame: Frame, mem: HostContext, addr_ptr: int, out_ptr: int) -> int:
    mem.charge(cost("balance", 0))
    amount = frame.state.get_account(mem.read(addr_ptr, 20)).balance
    mem.write(out_ptr, amount.to_bytes(32, "big"))
    return 0


# --- value and calls ---------------------------------------------------------------------------


def transfer(frame: Frame, mem: HostContext, to_ptr: int, amount_ptr: int) -> int:
    _writable(frame)
    mem.charge(cost("transfer", 0))
    to, amount = Address(mem.read(to_ptr, 20)), _u256(mem.read(amount_ptr, 32))
    if not frame.state.debit(frame.contract, amount):
        return INSUFFICIENT_BALANCE
    frame.state.credit(to, amount)
    frame.scope.events.append(Event("bank", "transfer", (("from", bytes(frame.contract)), ("to", bytes(to)),
                                                         ("amount", amount))))
    return 0


def call(frame: Frame, mem: HostContext, addr_ptr: int, method_ptr: int, method_len: int, args_ptr: int,
         args_len: int, value_ptr: int, gas: int, out_ptr: int, out_cap: int) -> int:
    m, a = _within(method_len, 64), _within(args_len, MAX_ARGS_BYTES)
    mem.charge(cost("call", m + a))
    target = Address(mem.read(addr_ptr, 20))
    method = mem.read(method_ptr, m).decode("ascii", errors="replace")
    args = mem.read(args_ptr, a)
    amount = _u256(mem.read(value_ptr, 32))
    if gas < 0:
        raise HostTrap("negative_gas")
    if amount:
        _writable(frame)
    out = frame.call(mem, target, method, args, amount, gas)
    if out.status == "call_depth":
        return CALL_DEPTH
    mem.charge(out.gas_used)
    if out.status == "insufficient_balance":
        return INSUFFICIENT_BALANCE
    if not out.ok:
        return CALL_FAILED
    return _write_var(mem, "call", out_ptr, out_cap, out.return_data)


# --- AI and quantum jobs -------------------------------------------------------------------------


def _enqueue(frame: Frame, mem: HostContext, name: str, kind: str, request: Request, params: CapabilityParams,
             pricing: PolicyParams, out_ptr: int) -> int:
    """Steps 2-5 of ABI.md once the request is built (step 1 and reading are the caller's)."""
    try:
        request.check(params)
        fee = price_ceiling(request, pricing)
    except CapabilityError as e:
        raise HostTrap(e.reason) from None
    payload = request.encode()
    state, env = frame.state, frame.env
    if state.get_account(frame.contract).balance < fee:
        return INSUFFICIENT_BALANCE
    seq = frame.scope.next_index("enqueue")
    tid = task_id(env.chain_id, env.height, frame.scope.tx_hash, frame.contract, payload, seq)
    receipt = JobReceipt(tid, kind, frame.contract, fee, fee, sla_deadline(env.height, kind, params), env.height,
                         request_digest(payload))
    data = receipt.encode()
    _charge_out(mem, name, len(data))
    state.debit(frame.contract, fee)
    state.credit(ESCROW_ADDRESS, fee)
    try:
        enqueue_job(state, receipt, payload, frame.scope.origin)
    except CapabilityError as e:  # a task-id collision: unreachable unless SHA3 breaks
        raise HostTrap(e.reason) from None
    frame.scope.events.append(Event("capabilities", "enqueued", (
        ("task_id", bytes(tid)), ("kind", kind), ("requester", bytes(frame.contract)), ("fee", fee))))
    mem.write(out_ptr, data)
    return len(data)


def _ai_enqueue(params: CapabilityParams, pricing: PolicyParams) -> HostImpl:
    def ai_enqueue(frame: Frame, mem: HostContext, model_ptr: int, model_len: int, prompt_ptr: int,
                   prompt_len: int, max_tokens: int, opts_ptr: int, opts_len: int, out_ptr: int,
                   out_cap: int) -> int:
        _writable(frame)
        if _u32(out_cap) < MIN_RECEIPT_BUFFER:
            raise HostTrap("receipt_buffer_too_small")
        m = _within(model_len, MAX_MODEL_BYTES, "model_too_long")
        p = _within(prompt_len, params.max_prompt_bytes, "prompt_too_long")
        o = _within(opts_len, params.max_opts_bytes, "opts_too_large")
        mem.charge(cost("ai_enqueue", m + p + o))
        model, prompt = _text(mem.read(model_ptr, m)), _text(mem.read(prompt_ptr, p))
        opts = _opts(mem.read(opts_ptr, o))
        try:
            request = AiRequest(model, prompt, max_tokens, opts)
        except DecodeError:
            raise HostTrap("bad_opts") from None
        return _enqueue(frame, mem, "ai_enqueue", KIND_AI, request, params, pricing, out_ptr)

    return ai_enqueue


def _quantum_enqueue(params: CapabilityParams, pricing: PolicyParams) -> HostImpl:
    def quantum_enqueue(frame: Frame, mem: HostContext, circuit_ptr: int, circuit_len: int, shots: int,
                        opts_ptr: int, opts_len: int, out_ptr: int, out_cap: int) -> int:
        _writable(frame)
        if _u32(out_cap) < MIN_RECEIPT_BUFFER:
            raise HostTrap("receipt_buffer_too_small")
        c = _within(circuit_len, params.max_circuit_bytes, "circuit_too_long")
        o = _within(opts_len, params.max_opts_bytes, "opts_too_large")
        mem.charge(cost("quantum_enqueue", c + o))
        circuit = _text(mem.read(circuit_ptr, c))
        opts = _opts(mem.read(opts_ptr, o))
        try:
            request = QuantumRequest(circuit, shots, opts)
        except DecodeError:
            raise HostTrap("bad_opts") from None
        return _enqueue(frame, mem, "quantum_enqueue", KIND_QUANTUM, request, params, pricing, out_ptr)

    return quantum_enqueue


def read_result_host(frame: Frame, mem: HostContext, task_id_ptr: int, out_ptr: int, out_cap: int) -> int:
    mem.charge(cost("read_result", 32))
    tid = mem.read(task_id_ptr, 32)
    if load_job(frame.state, tid) is None:
        return NOT_FOUND
    result = read_result(frame.state, tid, current_height=frame.env.height)
    if result is None:
        return NO_RESULT_YET
    return _write_var(mem, "read_result", out_ptr, out_cap, result.encode())


# --- zero knowledge, randomness, call data, abort ----------------------------------------------------


def _zk_verify(cache: Groth16Cache) -> HostImpl:
    def zk_verify(frame: Frame, mem: HostContext, vk_ptr: int, vk_len: int, proof_ptr: int, proof_len: int,
                  inputs_ptr: int, inputs_len: int) -> int:
        v, p, i = (_within(n, MAX_ZK_INPUT_BYTES) for n in (vk_len, proof_len, inputs_len))
        mem.charge(cost("zk_verify", v + p + i))
        verdict = groth16_verdict(mem.read(vk_ptr, v), mem.read(proof_ptr, p), mem.read(inputs_ptr, i),
                                  cache=cache)
        return 1 if verdict.valid else 0

    return zk_verify


def random(frame: Frame, mem: HostContext, out_ptr: int, n: int) -> int:
    """Block ``i`` is ``H(RANDOM_TAG, cbor([beacon, tx_hash, self, call_index, i]))``, cut to ``n``."""
    count = _within(n, MAX_RANDOM_BYTES)
    mem.charge(cost("random", count))
    beacon = frame.state.get(BEACON_KEY) or b""
    index = frame.scope.next_index("random")
    blocks = (H(RANDOM_TAG, encode([beacon, frame.scope.tx_hash, bytes(frame.contract), index, i]))
              for i in range((count + 31) // 32))
    mem.write(out_ptr, b"".join(blocks)[:count])
    return 0


def input_(frame: Frame, mem: HostContext, out_ptr: int, out_cap: int) -> int:
    """The call's argument bytes; charged per byte only for what is written."""
    mem.charge(cost("input", 0))
    n = len(frame.input)
    if n <= _u32(out_cap):
        _charge_out(mem, "input", n)
        mem.write(out_ptr, frame.input)
    return n


def output(frame: Frame, mem: HostContext, ptr: int, length: int) -> int:
    n = _within(length, MAX_RETURN_BYTES)
    mem.charge(cost("output", n))
    frame.return_data = mem.read(ptr, n)
    return 0


def abort(frame: Frame, mem: HostContext, msg_ptr: int, msg_len: int) -> None:
    """End the call: status ``abort``, the message (cut to 256 bytes) in the receipt."""
    n = min(_u32(msg_len), MAX_ABORT_BYTES)
    mem.charge(cost("abort", n))
    text = mem.read(msg_ptr, n).decode("utf-8", errors="replace")
    frame.abort_message = "".join(ch if ch.isprintable() else "?" for ch in text)
    raise HostTrap("abort")


# --- the table ------------------------------------------------------------------------------------


def host_functions(params: CapabilityParams, pricing: PolicyParams, *,
                   groth16_cache: Groth16Cache | None = None) -> Mapping[str, HostSpec]:
    """Every host function of ABI.md, by import name (module ``env``).

    ``pricing`` is the chain's one schedule (genesis ``aicf.pricing``): it fixes the ceiling
    an enqueue escrows.
    """
    cache = groth16_cache if groth16_cache is not None else Groth16Cache()
    table: dict[str, HostSpec] = {
        "storage_get": HostSpec((I32, I32, I32, I32), (I32,), storage_get),
        "storage_set": HostSpec((I32, I32, I32, I32), (I32,), storage_set),
        "storage_delete": HostSpec((I32, I32), (I32,), storage_delete),
        "emit_event": HostSpec((I32, I32, I32, I32), (I32,), emit_event),
        "caller": HostSpec((I32,), (I32,), caller),
        "self_address": HostSpec((I32,), (I32,), self_address),
        "value": HostSpec((I32,), (I32,), value),
        "block_height": HostSpec((), (I64,), block_height),
        "block_time": HostSpec((), (I64,), block_time),
        "balance": HostSpec((I32, I32), (I32,), balance),
        "transfer": HostSpec((I32, I32), (I32,), transfer),
        "call": HostSpec((I32, I32, I32, I32, I32, I32, I64, I32, I32), (I32,), call),
        "ai_enqueue": HostSpec((I32, I32, I32, I32, I64, I32, I32, I32, I32), (I32,), _ai_enqueue(params, pricing)),
        "quantum_enqueue": HostSpec((I32, I32, I64, I32, I32, I32, I32), (I32,), _quantum_enqueue(params, pricing)),
        "read_result": HostSpec((I32, I32, I32), (I32,), read_result_host),
        "zk_verify": HostSpec((I32, I32, I32, I32, I32, I32), (I32,), _zk_verify(cache)),
        "random": HostSpec((I32, I32), (I32,), random),
        "abort": HostSpec((I32, I32), (), abort),
        "input": HostSpec((I32, I32), (I32,), input_),
        "output": HostSpec((I32, I32), (I32,), output),
    }
    return table
