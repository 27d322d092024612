"""Requests, job receipts, result records: round trips, strict decoding, caps, state rules, gas."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from capabilities.costs import HOST_COSTS, cost
from capabilities.host import host_functions
from capabilities.records import (
    MAX_INLINE_OUTPUT,
    AiRequest,
    CapabilityParams,
    InvalidRequest,
    JobReceipt,
    JobRejected,
    QuantumRequest,
    ResultRecord,
    ResultRejected,
    UnknownJob,
    decode_request,
    job_key,
    load_job,
    output_digest_of,
    price_ceiling,
    read_result,
    record_result,
    result_key,
    sla_deadline,
    write_job,
)
from capabilities.task import request_digest, task_id
from chain.errors import DecodeError, ErrorCode
from chain.kv import MemoryKV
from chain.smt import EMPTY_ROOT, state_key
from chain.state import StateDB
from chain.types import Address, Hash32
from proofs.policy import PolicyParams

SPECS = Path(__file__).resolve().parents[2] / "capabilities" / "specs"
PARAMS = CapabilityParams()
PRICING = PolicyParams()
QASM = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nh q[0];\nmeasure q[0] -> c[0];\n'

hash32 = st.binary(min_size=32, max_size=32)
address = st.binary(min_size=20, max_size=20)
opt_values = (
    st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.booleans()
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
opts = st.dictionaries(st.text(alphabet="abcdefghij_", min_size=1, max_size=8), opt_values, max_size=4)
models = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)

ai_requests = st.builds(
    AiRequest, models, st.text(max_size=200), st.integers(min_value=1, max_value=PARAMS.max_tokens), opts
)
quantum_requests = st.builds(
    QuantumRequest, st.just(QASM), st.integers(min_value=PARAMS.min_shots, max_value=PARAMS.max_shots), opts
)
receipts = st.builds(
    JobReceipt,
    hash32,
    st.sampled_from(["ai", "quantum"]),
    address,
    st.integers(min_value=0, max_value=2**256 - 1),
    st.integers(min_value=0, max_value=2**256 - 1),
    st.integers(min_value=2**32, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=2**32 - 1),
    hash32,
)
results = st.builds(
    ResultRecord,
    hash32,
    address,
    hash32,
    st.none() | st.binary(max_size=100),
    st.integers(min_value=0, max_value=2**64 - 1),
    hash32,
)


def _code(exc: pytest.ExceptionInfo[DecodeError]) -> ErrorCode:
    return exc.value.code


# --- requests ---------------------------------------------------------------------------


@given(ai_requests | quantum_requests)
def test_request_round_trip(request: AiRequest | QuantumRequest) -> None:
    data = request.encode()
    again = decode_request(data, PARAMS)
    assert again == request
    assert again.encode() == data


@given(ai_requests | quantum_requests, st.binary(min_size=1, max_size=4))
def test_request_trailing_bytes_rejected(request: AiRequest | QuantumRequest, extra: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_request(request.encode() + extra, PARAMS)


def test_request_wrong_version_kind_length() -> None:
    with pytest.raises(DecodeError) as e:
        decode_request(cbor2.dumps([2, "ai", "m", "p", 1, {}], canonical=True), PARAMS)
    assert _code(e) == ErrorCode.DECODE_VERSION
    with pytest.raises(DecodeError) as e:
        decode_request(cbor2.dumps([1, "ai", "m", "p", 1], canonical=True), PARAMS)
    assert _code(e) == ErrorCode.DECODE_SHAPE
    with pytest.raises(DecodeError):
        decode_request(cbor2.dumps([1, "quantum", QASM, 1, {}, 0], canonical=True), PARAMS)
    with pytest.raises(DecodeError):
        decode_request(cbor2.dumps([1, "classical", "x", 1, {}], canonical=True), PARAMS)
    with pytest.raises(DecodeError):
        decode_request(cbor2.dumps([1, "ai", b"m", "p", 1, {}], canonical=True), PARAMS)
    with pytest.raises(DecodeError):
        decode_request(cbor2.dumps([], canonical=True), PARAMS)


def test_request_floats_refused() -> None:
    with pytest.raises(DecodeError):
        decode_request(cbor2.dumps([1, "ai", "m", "p", 1, {"t": 0.5}], canonical=True), PARAMS)
    with pytest.raises(DecodeError):
        AiRequest("m", "p", 1, {"t": 0.5})  # type: ignore[dict-item]
    with pytest.raises(DecodeError):
        QuantumRequest(QASM, 1.0)  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        AiRequest("m", "p", 1, {1: 2})  # type: ignore[dict-item]


def test_request_oversize_refused() -> None:
    data = AiRequest("m", "x" * (1024 * 1024), 1).encode()
    with pytest.raises(DecodeError) as e:
        decode_request(data, PARAMS)
    assert _code(e) == ErrorCode.DECODE_OVERSIZE


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (AiRequest("", "p", 1), "model_empty"),
        (AiRequest("m" * 65, "p", 1), "model_too_long"),
        (AiRequest("llama 3", "p", 1), "model_invalid"),
        (AiRequest("m", "p" * (PARAMS.max_prompt_bytes + 1), 1), "prompt_too_long"),
        (AiRequest("m", "é" * (PARAMS.max_prompt_bytes // 2 + 1), 1), "prompt_too_long"),
        (AiRequest("m", "p", 0), "max_tokens_out_of_range"),
        (AiRequest("m", "p", PARAMS.max_tokens + 1), "max_tokens_out_of_range"),
        (AiRequest("m", "p", 1, {"": 1}), "opt_key_invalid"),
        (AiRequest("m", "p", 1, {"k" * 33: 1}), "opt_key_invalid"),
        (AiRequest("m", "p", 1, {"k": 2**64}), "opt_value_invalid"),
        (AiRequest("m", "p", 1, {"k": b"x" * 257}), "opt_value_invalid"),
        (AiRequest("m", "p", 1, {f"k{i}": b"x" * 200 for i in range(6)}), "opts_too_large"),
        (QuantumRequest("OPENQASM 3.0;", 1), "circuit_not_openqasm2"),
        (QuantumRequest("qreg q[1];", 1), "circuit_not_openqasm2"),
        (QuantumRequest(QASM + "// é", 1), "circuit_not_ascii"),
        (QuantumRequest(QASM + " " * PARAMS.max_circuit_bytes, 1), "circuit_too_long"),
        (QuantumRequest(QASM, 0), "shots_out_of_range"),
        (QuantumRequest(QASM, PARAMS.min_shots - 1), "shots_out_of_range"),
        (AiRequest("m", "p", 1, {"replicas": 0}), "replicas_out_of_range"),
        (AiRequest("m", "p", 1, {"replicas": PARAMS.max_replicas + 1}), "replicas_out_of_range"),
        (AiRequest("m", "p", 1, {"replicas": "2"}), "replicas_out_of_range"),
        (QuantumRequest(QASM, PARAMS.max_shots + 1), "shots_out_of_range"),
    ],
)
def test_caps_enforced(request_: AiRequest | QuantumRequest, reason: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        request_.check(PARAMS)
    assert e.value.reason == reason
    assert e.value.code == ErrorCode.TX_BAD_PAYLOAD
    with pytest.raises(InvalidRequest):
        decode_request(request_.encode(), PARAMS)


def test_caps_at_the_limit_pass() -> None:
    AiRequest("m" * 64, "p" * PARAMS.max_prompt_bytes, PARAMS.max_tokens).check(PARAMS)
    QuantumRequest("  \n" + QASM, PARAMS.max_shots).check(PARAMS)
    tight = dataclasses.replace(PARAMS, max_prompt_bytes=4)
    with pytest.raises(InvalidRequest):
        AiRequest("m", "12345", 1).check(tight)


def test_params_validated() -> None:
    with pytest.raises(ValueError):
        CapabilityParams(max_shots=-1)
    with pytest.raises(ValueError):
        CapabilityParams(sla_blocks_ai=0)
    with pytest.raises(ValueError):
        CapabilityParams(max_prompt_bytes=10**9)


def test_price_ceiling_and_deadline() -> None:
    # llama3-70b, 100 tokens: runtime cap 2,000 + 100 x 50 x 6.5 = 34,500 ms; x 6.5 x 1.265 = 283,676 milli-units
    assert price_ceiling(AiRequest("llama3-70b", "p", 100), PRICING) == 283_676 * 15_000 // 1_000
    # clip-vit-b, 1 token: 2,000 + 15 = 2,015 ms; x 0.3 x 1.265 = 764 milli-units
    assert price_ceiling(AiRequest("clip-vit-b", "p", 1), PRICING) == 764 * 15
    assert price_ceiling(AiRequest("clip-vit-b", "p", 1, {"replicas": 3}), PRICING) == 3 * 764 * 15
    # 1,000 shots at the deepest weight 2.0: 2,000 units at 50,000
    assert price_ceiling(QuantumRequest(QASM, 1000), PRICING) == 100_000_000
    with pytest.raises(InvalidRequest) as e:
        price_ceiling(AiRequest("unlisted", "p", 3), PRICING)
    assert e.value.reason == "unknown_model"
    assert sla_deadline(10, "ai", PARAMS) == 310
    assert sla_deadline(10, "quantum", PARAMS) == 610
    with pytest.raises(ValueError):
        sla_deadline(10, "classical", PARAMS)


# --- records ----------------------------------------------------------------------------


@given(receipts)
def test_receipt_round_trip(receipt: JobReceipt) -> None:
    data = receipt.encode()
    assert JobReceipt.decode(data) == receipt
    assert JobReceipt.decode(data).encode() == data


@given(results)
def test_result_round_trip(result: ResultRecord) -> None:
    data = result.encode()
    assert ResultRecord.decode(data) == result
    assert ResultRecord.decode(data).encode() == data


@given(receipts | results, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_rejected(record: JobReceipt | ResultRecord, extra: bytes) -> None:
    with pytest.raises(DecodeError) as e:
        type(record).decode(record.encode() + extra)
    assert _code(e) == ErrorCode.DECODE_TRAILING


@given(receipts | results, st.integers(min_value=0, max_value=2**16).filter(lambda v: v != 1))
def test_wrong_version_rejected(record: JobReceipt | ResultRecord, version: int) -> None:
    items = cbor2.loads(record.encode())
    items[0] = version
    with pytest.raises(DecodeError) as e:
        type(record).decode(cbor2.dumps(items, canonical=True))
    assert _code(e) == ErrorCode.DECODE_VERSION


@given(receipts | results, st.data())
def test_wrong_item_count_rejected(record: JobReceipt | ResultRecord, data: st.DataObject) -> None:
    items = cbor2.loads(record.encode())
    if data.draw(st.booleans()):
        items.append(0)
    else:
        del items[data.draw(st.integers(min_value=1, max_value=len(items) - 1))]
    with pytest.raises(DecodeError) as e:
        type(record).decode(cbor2.dumps(items, canonical=True))
    assert _code(e) == ErrorCode.DECODE_SHAPE


@given(receipts | results, st.data())
def test_wrong_field_length_rejected(record: JobReceipt | ResultRecord, data: st.DataObject) -> None:
    items = cbor2.loads(record.encode())
    fixed = [i for i, v in enumerate(items) if isinstance(v, bytes) and len(v) in (20, 32) and i != 4]
    i = data.draw(st.sampled_from(fixed))
    items[i] = items[i] + b"\x00" if data.draw(st.booleans()) else items[i][:-1]
    with pytest.raises(DecodeError) as e:
        type(record).decode(cbor2.dumps(items, canonical=True))
    assert _code(e) == ErrorCode.BAD_LENGTH


def test_receipt_field_rules() -> None:
    good = JobReceipt(Hash32(bytes(32)), "ai", Address(bytes(20)), 5, 10, 11, 10, Hash32(bytes(32)))
    items = cbor2.loads(good.encode())
    for index, bad in [(2, "classical"), (2, b"ai"), (4, -1), (5, 2**256), (6, 10), (7, True), (1, "x" * 32)]:
        mutated = list(items)
        mutated[index] = bad
        with pytest.raises(DecodeError):
            JobReceipt.decode(cbor2.dumps(mutated, canonical=True))
    with pytest.raises(DecodeError):
        dataclasses.replace(good, sla_deadline=10)


def test_result_output_cap() -> None:
    ok = ResultRecord(
        Hash32(bytes(32)),
        Address(bytes(20)),
        Hash32(bytes(32)),
        b"x" * MAX_INLINE_OUTPUT,
        1,
        Hash32(bytes(32)),
    )
    assert ResultRecord.decode(ok.encode()) == ok
    with pytest.raises(DecodeError):
        dataclasses.replace(ok, output=b"x" * (MAX_INLINE_OUTPUT + 1))
    items = cbor2.loads(ok.encode())
    items[4] = b"x" * (MAX_INLINE_OUTPUT + 1)
    with pytest.raises(DecodeError):
        ResultRecord.decode(cbor2.dumps(items, canonical=True))
    items[4] = "text"
    with pytest.raises(DecodeError):
        ResultRecord.decode(cbor2.dumps(items, canonical=True))


@pytest.mark.parametrize(
    ("cls", "spec"), [(JobReceipt, "job_receipt.cddl"), (ResultRecord, "result_record.cddl")]
)
def test_cddl_names_every_field_in_order(cls: type, spec: str) -> None:
    text = (SPECS / spec).read_text(encoding="utf-8")
    names = [f.name for f in dataclasses.fields(cls)]
    in_cddl = re.findall(r"^\s+(\w+):", text, flags=re.MULTILINE)
    assert in_cddl == ["version", *names]


# --- state ------------------------------------------------------------------------------

CHAIN = "cairn-test"
REQUESTER = Address(bytes([7]) * 20)
PROVIDER = Address(bytes([9]) * 20)


def _state() -> StateDB:
    return StateDB(MemoryKV(), EMPTY_ROOT)


def _job(height: int = 10, seq: int = 0) -> JobReceipt:
    request = AiRequest("llama3-8b", "hello", 16)
    payload = request.encode()
    tid = task_id(CHAIN, height, bytes([1]) * 32, REQUESTER, payload, seq)
    ceiling = price_ceiling(request, PRICING)
    return JobReceipt(
        tid,
        "ai",
        REQUESTER,
        ceiling,
        ceiling,
        sla_deadline(height, "ai", PARAMS),
        height,
        request_digest(payload),
    )


def _result(job: JobReceipt, committed: int, output: bytes | None = b"answer") -> ResultRecord:
    digest = output_digest_of(output if output is not None else b"off chain")
    return ResultRecord(job.task_id, PROVIDER, digest, output, committed, Hash32(bytes([3]) * 32))


def test_keys_follow_design_layout() -> None:
    tid = bytes([5]) * 32
    assert job_key(tid) == state_key("job", tid)
    assert result_key(tid) == state_key("result", tid)
    assert job_key(tid) != result_key(tid)


def test_write_and_load_job() -> None:
    state = _state()
    job = _job()
    assert load_job(state, job.task_id) is None
    write_job(state, job)
    assert load_job(state, job.task_id) == job
    with pytest.raises(JobRejected) as e:
        write_job(state, job)
    assert e.value.reason == "job_exists"


def test_result_visible_only_in_later_blocks() -> None:
    state = _state()
    job = _job(height=10)
    write_job(state, job)
    assert read_result(state, job.task_id, current_height=11) is None
    result = _result(job, committed=11)
    record_result(state, job.task_id, result)
    # the block that recorded it does not see it
    assert read_result(state, job.task_id, current_height=11) is None
    # folded into the tree, read from a fresh StateDB at the new root: later blocks see it
    commit = state.commit()
    later = StateDB(MemoryKV(commit.node_writes), commit.root)
    assert read_result(later, job.task_id, current_height=11) is None
    assert read_result(later, job.task_id, current_height=12) == result
    assert read_result(later, job.task_id, current_height=10**6) == result
    assert load_job(later, job.task_id) == job


def test_off_chain_output_pointer() -> None:
    state = _state()
    job = _job()
    write_job(state, job)
    result = _result(job, committed=12, output=None)
    record_result(state, job.task_id, result)
    assert read_result(state, job.task_id, current_height=13) == result


def test_record_result_refusals() -> None:
    state = _state()
    job = _job(height=10)
    other = _job(height=10, seq=1)
    with pytest.raises(UnknownJob) as unknown:
        record_result(state, job.task_id, _result(job, 11))
    assert unknown.value.reason == "unknown_job"
    assert unknown.value.code == ErrorCode.NOT_FOUND
    write_job(state, job)
    cases = [
        (other.task_id, _result(job, 11), "task_id_mismatch"),
        (job.task_id, _result(job, 10), "result_before_enqueue"),
        (job.task_id, _result(job, job.sla_deadline + 1), "result_after_deadline"),
        (job.task_id, dataclasses.replace(_result(job, 11), output=b"other"), "output_digest_mismatch"),
    ]
    for tid, result, reason in cases:
        with pytest.raises(ResultRejected) as e:
            record_result(state, tid, result)
        assert e.value.reason == reason
    assert state.get(result_key(job.task_id)) is None
    first = _result(job, job.sla_deadline)
    record_result(state, job.task_id, first)
    with pytest.raises(ResultRejected) as again:
        record_result(state, job.task_id, _result(job, job.sla_deadline, output=b"second"))
    assert again.value.reason == "result_exists"
    assert read_result(state, job.task_id, current_height=job.sla_deadline + 1) == first


def test_rejected_result_leaves_state_root_unchanged() -> None:
    state = _state()
    write_job(state, _job())
    root = state.commit().root
    with pytest.raises(ResultRejected):
        record_result(state, _job().task_id, _result(_job(), 5))
    assert state.commit().root == root


# --- gas --------------------------------------------------------------------------------

ABI_NAMES = {
    "storage_get",
    "storage_set",
    "storage_delete",
    "emit_event",
    "caller",
    "self_address",
    "value",
    "block_height",
    "block_time",
    "balance",
    "transfer",
    "call",
    "input",
    "output",
    "ai_enqueue",
    "quantum_enqueue",
    "read_result",
    "zk_verify",
    "random",
    "abort",
}


def test_cost_table_covers_the_abi() -> None:
    # One entry per host function a contract can import, and nothing else.
    assert set(HOST_COSTS) == set(host_functions(CapabilityParams(), PolicyParams())) == ABI_NAMES
    for entry in HOST_COSTS.values():
        assert isinstance(entry.base, int) and entry.base > 0
        assert isinstance(entry.per_byte, int) and entry.per_byte >= 0


def test_abi_doc_lists_every_cost() -> None:
    text = (SPECS / "ABI.md").read_text(encoding="utf-8")
    for name, entry in HOST_COSTS.items():
        row = re.search(rf"^\| `{name}` \| ([\d_ ]+) \| ([\d_ ]+) \|", text, flags=re.MULTILINE)
        assert row is not None, name
        assert int(row.group(1).replace("_", "").replace(" ", "")) == entry.base, name
        assert int(row.group(2).replace("_", "").replace(" ", "")) == entry.per_byte, name


@given(st.sampled_from(sorted(ABI_NAMES)), st.integers(min_value=0, max_value=2**32))
def test_cost_formula(name: str, nbytes: int) -> None:
    assert cost(name, nbytes) == HOST_COSTS[name].base + HOST_COSTS[name].per_byte * nbytes
    assert cost(name, nbytes + 1) >= cost(name, nbytes)


def test_cost_refuses_misuse() -> None:
    with pytest.raises(KeyError):
        cost("sleep", 0)
    with pytest.raises(ValueError):
        cost("caller", -1)
