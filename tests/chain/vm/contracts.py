"""Contracts for the VM and host-ABI tests, written in WAT, and a driver that runs them.

The workhorse is :data:`SCRIPT`: one contract whose call data is a list of commands.  A
command is one host function of ``capabilities/specs/ABI.md`` (by name, with its raw
arguments) or one wasm-level action (grow or fill memory, loop for ever, recurse without
end, trap).  Tests compose commands with :class:`Script`, send them as the ``args`` of a
real ``call`` transaction, and read back every command's return code.  The import
signatures below are typed in from ABI.md (not taken from ``capabilities.host``), so a
host that disagrees with the document refuses the module (``import_type_mismatch``).

Memory layout of a SCRIPT instance (3 pages)::

    0x00000  scratch the tests may point at (256 bytes)
    0x00100  RC: the i64 return code of command i at RC + 8 i
    0x01000  ARGS: header [n, window_ptr, window_len] (3 x i64 LE), then n commands of
             10 x i64 LE: [op, a0 .. a8]
    0x01800  BLOB: the data the commands point at
    0x12000  OUTBUF: the return data is built here
    0x1C000  SCRATCH: room for host outputs (receipts, random bytes, call returns)

The return data of a SCRIPT call is the n return codes (i64 LE) followed by the
``window_len`` bytes at ``window_ptr`` after the last command.

:class:`Node` is a :class:`tests.chain.helpers.MemChain` that signs transactions with
the devnet account keys, keeps their nonces and commits one block per batch.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from chain.apply import Application, BlockOutput, Receipt, apply_block, intrinsic_gas
from chain.block import Block
from chain.module import BlockEnv
from chain.state import StateDB
from chain.tx import SignedTx, TxBody
from chain.types import Address
from chain.vm.engine import Engine, HostContext, HostFunction, HostTrap, VmConfig
from chain.vm.runtime import ContractRuntime, contract_address, storage_key, unpack_storage_value
from genesis.devnet import devnet_genesis
from genesis.schema import Genesis
from tests.chain.helpers import MemChain, account

# --- the ABI, as the document states it ------------------------------------------------------

I32, I64 = "i32", "i64"

ABI: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "storage_get": ((I32, I32, I32, I32), (I32,)),
    "storage_set": ((I32, I32, I32, I32), (I32,)),
    "storage_delete": ((I32, I32), (I32,)),
    "emit_event": ((I32, I32, I32, I32), (I32,)),
    "caller": ((I32,), (I32,)),
    "self_address": ((I32,), (I32,)),
    "value": ((I32,), (I32,)),
    "block_height": ((), (I64,)),
    "block_time": ((), (I64,)),
    "balance": ((I32, I32), (I32,)),
    "transfer": ((I32, I32), (I32,)),
    "call": ((I32, I32, I32, I32, I32, I32, I64, I32, I32), (I32,)),
    "ai_enqueue": ((I32, I32, I32, I32, I64, I32, I32, I32, I32), (I32,)),
    "quantum_enqueue": ((I32, I32, I64, I32, I32, I32, I32), (I32,)),
    "read_result": ((I32, I32, I32), (I32,)),
    "zk_verify": ((I32, I32, I32, I32, I32, I32), (I32,)),
    "random": ((I32, I32), (I32,)),
    "abort": ((I32, I32), ()),
    "input": ((I32, I32), (I32,)),
    "output": ((I32, I32), (I32,)),
}
"""Every host function of ABI.md: name -> (params, results)."""

NOT_FOUND, NO_RESULT_YET, INSUFFICIENT_BALANCE, CALL_FAILED, CALL_DEPTH = -1, -2, -3, -4, -5
"""Return codes, as ABI.md numbers them."""

SPECIAL_OPS = ("loop", "grow", "fill", "recurse", "trap", "add", "bomb", "bomb_forever", "touch")
"""Wasm-level actions a script may take besides host calls (see :func:`_special`)."""
OPS: tuple[str, ...] = (*ABI, *SPECIAL_OPS)

RC = 0x100
ARGS = 0x1000
CMDS = ARGS + 24
CMD_BYTES = 80
BLOB = 0x1800
HEADER_BYTES = BLOB - ARGS
MAX_CMDS = (BLOB - CMDS) // CMD_BYTES
OUTBUF = 0x12000
SCRATCH = 0x1C000
PAGES = 3
MEM_BYTES = PAGES * 65536
WASM_PAGE = 65536


def wat(src: str) -> bytes:
    return bytes(wasmtime.wat2wasm(src))


def import_decl(name: str, sig: tuple[tuple[str, ...], tuple[str, ...]] | None = None) -> str:
    params, results = sig or ABI[name]
    p = f" (param {' '.join(params)})" if params else ""
    r = f" (result {' '.join(results)})" if results else ""
    return f'(import "env" "{name}" (func ${name}{p}{r}))'


def _arg(k: int, ty: str) -> str:
    load = f"(i64.load offset={8 * (k + 1)} (local.get $c))"
    return f"(i32.wrap_i64 {load})" if ty == I32 else load


def _host_expr(name: str) -> str:
    params, results = ABI[name]
    call = f"(call ${name} {' '.join(_arg(k, t) for k, t in enumerate(params))})"
    if results == (I32,):
        return f"(i64.extend_i32_s {call})"
    if results == (I64,):
        return call
    return f"{call} (i64.const 0)"


def _special(name: str) -> str:
    a = [_arg(k, I32) for k in range(3)]
    if name == "loop":  # spin until out of gas
        return "(loop $spin (br $spin)) (i64.const 0)"
    if name == "grow":  # memory.grow(a0): old size in pages, or -1
        return f"(i64.extend_i32_s (memory.grow {a[0]}))"
    if name == "fill":  # memory.fill(dst=a0, byte=a1, len=a2)
        return f"(memory.fill {a[0]} {a[1]} {a[2]}) (i64.const 0)"
    if name == "recurse":  # runaway recursion
        return "(i64.extend_i32_s (call $recurse (i32.const 0)))"
    if name == "trap":
        return "(unreachable)"
    if name == "add":  # i64 at a0 += a1 (a1 taken as i64)
        return f"(i64.store {a[0]} (i64.add (i64.load {a[0]}) {_arg(1, I64)})) (i64.const 0)"
    if name == "bomb":  # grow one page at a time until refused, fill [a0, end) with a1; pages held
        return (
            "(loop $g (br_if $g (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))"
            f"(memory.fill {a[0]} {a[1]} (i32.sub (i32.mul (memory.size) (i32.const 65536)) {a[0]}))"
            "(i64.extend_i32_u (memory.size))"
        )
    if name == "bomb_forever":  # grow until refused, touch every page from a0, again and again
        return (
            "(loop $again"
            " (loop $g (br_if $g (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))"
            f" (call $touch {a[0]} (local.get $c))"
            " (br $again)) (i64.const 0)"
        )
    if name == "touch":  # write one byte in every 4 KiB from a0 to the end of memory
        return f"(call $touch {a[0]} (local.get $c)) (i64.const 0)"
    raise AssertionError(name)


def script_source(*, init: bool = True) -> str:
    """The WAT of the script contract (``run``, and ``init`` running its init args)."""
    blocks = "".join(f"(block $op{i} " for i in reversed(range(len(OPS))))
    table = " ".join(f"$op{i}" for i in range(len(OPS)))
    arms = []
    for i, name in enumerate(OPS):
        body = _host_expr(name) if name in ABI else _special(name)
        arms.append(f") ;; -> op {i} {name}\n  (return (block (result i64) {body}))")
    dispatch = (
        "(func $dispatch (param $c i32) (result i64)\n"
        f"  (block $bad {blocks}\n"
        f"  (br_table {table} $bad (i32.wrap_i64 (i64.load (local.get $c))))\n"
        + "\n".join(arms)
        + "\n  ) (unreachable))"
    )
    init_export = '(func (export "init") (call $run))' if init else ""
    return f"""(module
  {' '.join(import_decl(n) for n in ABI)}
  (memory (export "memory") {PAGES})
  (func $recurse (param i32) (result i32) (i32.add (call $recurse (local.get 0)) (i32.const 1)))
  (func $touch (param $p i32) (param $unused i32) (local $end i32)
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (i32.store8 (local.get $p) (i32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br $l))))
  {dispatch}
  (func $run (local $i i32) (local $n i32) (local $w i32)
    (drop (call $input (i32.const {ARGS}) (i32.const {OUTBUF - ARGS})))
    (local.set $n (i32.wrap_i64 (i64.load (i32.const {ARGS}))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i64.store (i32.add (i32.const {RC}) (i32.shl (local.get $i) (i32.const 3)))
        (call $dispatch (i32.add (i32.const {CMDS}) (i32.mul (local.get $i) (i32.const {CMD_BYTES})))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.set $w (i32.wrap_i64 (i64.load (i32.const {ARGS + 16}))))
    (memory.copy (i32.add (i32.const {OUTBUF}) (i32.shl (local.get $n) (i32.const 3)))
                 (i32.wrap_i64 (i64.load (i32.const {ARGS + 8}))) (local.get $w))
    (memory.copy (i32.const {OUTBUF}) (i32.const {RC}) (i32.shl (local.get $n) (i32.const 3)))
    (drop (call $output (i32.const {OUTBUF}) (i32.add (i32.shl (local.get $n) (i32.const 3)) (local.get $w)))))
  (func (export "run") (call $run))
  {init_export}
)"""


SCRIPT = wat(script_source())
"""The script contract, with an ``init`` that runs the deploy's init args as a script."""
SCRIPT_NO_INIT = wat(script_source(init=False))


KEEP_RC = b"\xffrc"
KEEP_WIN = b"\xffwin"

SELF = object()
"""Placeholder argument of :meth:`Script.call`: this script's own encoding (for recursion)."""


def _i64(x: int) -> bytes:
    return (x & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


@dataclass
class Script:
    """A list of commands for :data:`SCRIPT`; ``encode()`` gives the call's args."""

    cmds: list[list[Any]] = field(default_factory=list)
    blob: bytearray = field(default_factory=bytearray)
    window: tuple[int, int] = (0, 0)

    def data(self, b: bytes) -> int:
        """Put ``b`` in the blob; its address in the contract's memory."""
        ptr = BLOB + len(self.blob)
        self.blob += bytes(b)
        return ptr

    def op(self, name: str, *args: Any) -> int:
        """Append a command; returns its index (its return code is at ``rc_addr(index)``)."""
        if len(args) > 9:
            raise ValueError("at most 9 arguments")
        if len(self.cmds) >= MAX_CMDS:
            raise ValueError("too many commands")
        self.cmds.append([OPS.index(name), *args])
        return len(self.cmds) - 1

    def show(self, ptr: int, n: int) -> Script:
        """Return ``n`` bytes at ``ptr`` after the commands."""
        self.window = (ptr, n)
        return self

    # conveniences for the common host calls
    def set(self, key: bytes, value: bytes) -> int:
        return self.op("storage_set", self.data(key), len(key), self.data(value), len(value))

    def get(self, key: bytes, out: int = SCRATCH, cap: int = 4096) -> int:
        return self.op("storage_get", self.data(key), len(key), out, cap)

    def emit(self, topic: bytes, data: bytes) -> int:
        return self.op("emit_event", self.data(topic), len(topic), self.data(data), len(data))

    def call(self, target: bytes, args: bytes | object = b"", *, method: str = "run", value: int = 0,
             gas: int = 2**62, out: int = SCRATCH, cap: int = 0) -> int:
        m = method.encode()
        if args is SELF:
            a_ptr, a_len = ARGS, SELF
        else:
            assert isinstance(args, bytes)
            a_ptr, a_len = self.data(args), len(args)
        return self.op("call", self.data(bytes(target)), self.data(m), len(m), a_ptr, a_len,
                       self.data(value.to_bytes(32, "big")), gas, out, cap)

    def keep(self) -> Script:
        """Append commands that store the return codes so far (and the window) in storage.

        A transaction's return data is not in its receipt; :meth:`Node.exec` reads these
        back.  (Nothing is stored for an empty window.)
        """
        n = len(self.cmds)
        self.op("storage_set", self.data(KEEP_RC), len(KEEP_RC), RC, 8 * n)
        if self.window[1]:
            self.op("storage_set", self.data(KEEP_WIN), len(KEEP_WIN), *self.window)
        return self

    def encode(self) -> bytes:
        total = HEADER_BYTES + len(self.blob)
        head = _i64(len(self.cmds)) + _i64(self.window[0]) + _i64(self.window[1])
        body = b"".join(
            b"".join(_i64(total if a is SELF else a) for a in cmd).ljust(CMD_BYTES, b"\0") for cmd in self.cmds
        )
        return (head + body).ljust(HEADER_BYTES, b"\0") + bytes(self.blob)


def rc_addr(index: int) -> int:
    """Where command ``index`` left its return code (i64 LE) in the contract's memory."""
    return RC + 8 * index


def parse(data: bytes, n: int) -> tuple[list[int], bytes]:
    """A SCRIPT return: the ``n`` return codes and the window bytes."""
    rcs = [struct.unpack_from("<q", data, 8 * i)[0] for i in range(n)]
    return rcs, data[8 * n:]


# --- pure wasm fuel: the script with every host function free ---------------------------------

_FUEL_ENGINE = Engine(VmConfig())


def wasm_fuel(code: bytes, method: str, call_data: bytes) -> int:
    """The gas ``method`` uses when every host function costs nothing and returns 0
    (``abort`` still ends the call).

    ``input`` still copies ``call_data`` in, so the script takes the same path; the
    difference between a real call's gas and this is what the host functions charged.
    """

    def stub(name: str) -> HostFunction:
        params, results = ABI[name]

        def func(ctx: HostContext, *args: int) -> int | None:
            if name == "input":
                if len(call_data) <= (args[1] & 0xFFFFFFFF):
                    ctx.write(args[0], call_data)
                return len(call_data)
            if name == "abort":
                raise HostTrap("abort")
            return 0 if results else None

        return HostFunction(params, results, func)

    res = _FUEL_ENGINE.execute(code, method, gas_limit=10**9, host={n: stub(n) for n in ABI})
    assert res.ok or res.reason == "abort", res
    return res.gas_used


# --- a float-heavy contract ---------------------------------------------------------------------

FLOATS = wat(f"""(module
  {import_decl("storage_set")}
  (memory (export "memory") 1)
  (data (i32.const 0) "f32nan" "f64nan" "f32mix" "f64mix" "f32pay" "f64pay" "minnan" "demote" "truncs")
  (func $put (param $key i32) (param $val i32) (param $len i32)
    (drop (call $storage_set (local.get $key) (i32.const 6) (local.get $val) (local.get $len))))
  (func (export "run") (local $x f64) (local $y f32) (local $i i32)
    ;; NaN from arithmetic: 0/0, sqrt(-1), inf - inf, inf * 0 (each must be the canonical NaN)
    (f32.store (i32.const 100) (f32.div (f32.const 0) (f32.const 0)))
    (f32.store (i32.const 104) (f32.sqrt (f32.const -1)))
    (f32.store (i32.const 108) (f32.sub (f32.const inf) (f32.const inf)))
    (f32.store (i32.const 112) (f32.mul (f32.const inf) (f32.const 0)))
    (call $put (i32.const 0) (i32.const 100) (i32.const 16))
    (f64.store (i32.const 200) (f64.div (f64.const 0) (f64.const 0)))
    (f64.store (i32.const 208) (f64.sqrt (f64.const -1)))
    (f64.store (i32.const 216) (f64.sub (f64.const inf) (f64.const inf)))
    (f64.store (i32.const 224) (f64.mul (f64.const -inf) (f64.const 0)))
    (call $put (i32.const 6) (i32.const 200) (i32.const 32))
    ;; NaN payloads in, arithmetic on them: the payload must not survive
    (f32.store (i32.const 300) (f32.add (f32.reinterpret_i32 (i32.const 0xffa00001)) (f32.const 1)))
    (f32.store (i32.const 304) (f32.mul (f32.reinterpret_i32 (i32.const 0x7f812345)) (f32.const 2)))
    (call $put (i32.const 24) (i32.const 300) (i32.const 8))
    (f64.store (i32.const 400) (f64.add (f64.reinterpret_i64 (i64.const 0xfff4000000000001)) (f64.const 1)))
    (f64.store (i32.const 408) (f64.div (f64.reinterpret_i64 (i64.const 0x7ff0000000abcdef)) (f64.const 3)))
    (call $put (i32.const 30) (i32.const 400) (i32.const 16))
    ;; min/max with NaN, promote/demote of NaN
    (f32.store (i32.const 500) (f32.min (f32.const nan:0x200001) (f32.const 1)))
    (f64.store (i32.const 504) (f64.max (f64.const 2) (f64.const -nan:0x8000000000001)))
    (call $put (i32.const 36) (i32.const 500) (i32.const 12))
    (f32.store (i32.const 600) (f32.demote_f64 (f64.reinterpret_i64 (i64.const 0x7ff0000000000001))))
    (f64.store (i32.const 604) (f64.promote_f32 (f32.reinterpret_i32 (i32.const 0x7f800001))))
    (call $put (i32.const 42) (i32.const 600) (i32.const 12))
    ;; saturating truncations of NaN and infinities
    (i32.store (i32.const 700) (i32.trunc_sat_f64_s (f64.div (f64.const 0) (f64.const 0))))
    (i32.store (i32.const 704) (i32.trunc_sat_f32_u (f32.const inf)))
    (i64.store (i32.const 708) (i64.trunc_sat_f64_s (f64.const -inf)))
    (call $put (i32.const 48) (i32.const 700) (i32.const 16))
    ;; ordinary arithmetic, many rounding steps
    (local.set $x (f64.const 0.1))
    (local.set $y (f32.const 0.1))
    (block $end (loop $l
      (br_if $end (i32.ge_u (local.get $i) (i32.const 1000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (local.set $x (f64.add (f64.mul (local.get $x) (f64.const 1.0000001))
                             (f64.div (f64.const 1) (f64.add (local.get $x) (f64.const 3.3)))))
      (local.set $x (f64.sqrt (f64.mul (local.get $x) (local.get $x))))
      (local.set $y (f32.add (f32.mul (local.get $y) (f32.const 1.0001))
                             (f32.div (f32.const 1) (f32.add (local.get $y) (f32.const 3.3)))))
      (br $l)))
    (f32.store (i32.const 800) (local.get $y))
    (call $put (i32.const 12) (i32.const 800) (i32.const 4))
    (f64.store (i32.const 900) (local.get $x))
    (call $put (i32.const 18) (i32.const 900) (i32.const 8))))""")
"""Stores float bit patterns (little endian) under six-byte keys; see :func:`float_expectations`."""


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def float_expectations() -> dict[bytes, bytes]:
    """What :data:`FLOATS` must store, from IEEE 754 and the wasm spec (computed in Python).

    NaNs from arithmetic are the canonical NaN (the engine's ``cranelift_nan_canonicalization``):
    f32 ``0x7fc00000``, f64 ``0x7ff8000000000000``.  f32 arithmetic is f64 arithmetic rounded
    to f32 after every step (exact for +, -, *, /, sqrt: f64 has more than 2 x 24 + 2 bits).
    """
    n32 = (0x7FC00000).to_bytes(4, "little")
    n64 = (0x7FF8000000000000).to_bytes(8, "little")
    x, y = 0.1, _f32(0.1)
    c1, c3, c0001 = _f32(1.0), _f32(3.3), _f32(1.0001)
    for _ in range(1000):
        x = x * 1.0000001 + 1 / (x + 3.3)
        x = math.sqrt(x * x)
        y = _f32(_f32(y * c0001) + _f32(c1 / _f32(y + c3)))
    return {
        b"f32nan": n32 * 4,
        b"f64nan": n64 * 4,
        b"f32pay": n32 * 2,
        b"f64pay": n64 * 2,
        b"minnan": n32 + n64,
        b"demote": n32 + n64,
        b"truncs": (0).to_bytes(4, "little") + (0xFFFFFFFF).to_bytes(4, "little")
        + (-(2**63)).to_bytes(8, "little", signed=True),
        b"f32mix": struct.pack("<f", y),
        b"f64mix": struct.pack("<d", x),
    }


# --- a node that signs, builds and commits ---------------------------------------------------------

GAS = 5_000_000


def genesis_with(**params: Any) -> Genesis:
    """The devnet genesis with some ``ChainParams`` replaced."""
    from dataclasses import replace

    g = devnet_genesis()
    return replace(g, params=replace(g.params, **params))


@dataclass(frozen=True)
class Outcome:
    """A script run in a transaction: its receipt, the transaction, return codes and window."""

    receipt: Receipt
    tx: SignedTx
    rcs: list[int]
    window: bytes

    @property
    def ok(self) -> bool:
        return self.receipt.ok

    @property
    def reason(self) -> str:
        return self.receipt.reason


class Node:
    """A one-validator devnet chain in memory; ``key`` arguments are devnet account indexes."""

    def __init__(self, genesis: Genesis | None = None, *, app: Application | None = None) -> None:
        self.chain = MemChain(genesis or devnet_genesis())
        if app is not None:
            self.chain.app = app
        self._pending: dict[bytes, int] = {}

    @property
    def genesis(self) -> Genesis:
        return self.chain.genesis

    @property
    def app(self) -> Application:
        return self.chain.app

    @property
    def runtime(self) -> ContractRuntime:
        (mod,) = [m for m in self.app.modules if m.name == "contracts"]
        runtime: ContractRuntime = mod.runtime  # type: ignore[attr-defined]
        return runtime

    @property
    def height(self) -> int:
        return self.chain.head.height

    def state(self) -> StateDB:
        return self.chain.store.head_state()

    # -- transactions --
    def tx(self, kind: str, payload: Any, *, key: int = 0, gas: int = GAS, nonce: int | None = None) -> SignedTx:
        k = account(key)
        if nonce is None:
            addr = bytes(k.address)
            if addr not in self._pending:
                self._pending[addr] = self.state().get_account(addr).nonce
            nonce = self._pending[addr]
            self._pending[addr] += 1
        return TxBody(self.genesis.chain_id, nonce, k.public_key, gas, gas, kind, payload).sign(k)

    def deploy_tx(self, code: bytes, init_args: bytes = b"", *, key: int = 0, gas: int = GAS
                  ) -> tuple[SignedTx, Address]:
        tx = self.tx("deploy", [bytes(code), bytes(init_args)], key=key, gas=gas)
        return tx, contract_address(account(key).address, tx.body.nonce)

    def call_tx(self, contract: bytes, method: str = "run", args: bytes = b"", *, value: int = 0, key: int = 0,
                gas: int = GAS) -> SignedTx:
        return self.tx("call", [bytes(contract), method, bytes(args), value], key=key, gas=gas)

    # -- blocks --
    def block(self, txs: Sequence[SignedTx] = ()) -> tuple[Block, BlockOutput]:
        """Build a block of exactly ``txs`` (all must be valid), commit it."""
        block, out = self.chain.build(list(txs))
        assert len(block.txs) == len(txs), "a transaction was left out of the block"
        self.chain.commit(block, out)
        self._pending.clear()
        return block, out

    def apply(self, block: Block) -> BlockOutput:
        """Apply and commit a block built elsewhere (``apply_block`` checks every root)."""
        out = apply_block(self.state(), self.chain.head, block, self.app)
        self.chain.commit(block, out)
        self._pending.clear()
        return out

    def run(self, *txs: SignedTx) -> list[Receipt]:
        return list(self.block(txs)[1].receipts)

    def deploy(self, code: bytes = SCRIPT, init_args: bytes = b"", *, key: int = 0, gas: int = GAS) -> Address:
        tx, addr = self.deploy_tx(code, init_args, key=key, gas=gas)
        (r,) = self.run(tx)
        assert r.ok, r.reason
        return addr

    def call(self, contract: bytes, method: str = "run", args: bytes = b"", *, value: int = 0, key: int = 0,
             gas: int = GAS) -> Receipt:
        (r,) = self.run(self.call_tx(contract, method, args, value=value, key=key, gas=gas))
        return r

    def script(self, contract: bytes, script: Script, *, value: int = 0, key: int = 0, gas: int = GAS
               ) -> tuple[Receipt, SignedTx]:
        tx = self.call_tx(contract, "run", script.encode(), value=value, key=key, gas=gas)
        (r,) = self.run(tx)
        return r, tx

    def exec(self, contract: bytes, script: Script, *, value: int = 0, key: int = 0, gas: int = GAS
             ) -> Outcome:
        """Run ``script`` in a transaction with :meth:`Script.keep` appended; read the results back."""
        n = len(script.cmds)
        r, tx = self.script(contract, script.keep(), value=value, key=key, gas=gas)
        if not r.ok:
            return Outcome(r, tx, [], b"")
        raw = self.storage(contract, KEEP_RC) or b""
        rcs = [struct.unpack_from("<q", raw, 8 * i)[0] for i in range(n)]
        return Outcome(r, tx, rcs, self.storage(contract, KEEP_WIN) or b"" if script.window[1] else b"")

    def call_gas(self, receipt: Receipt, tx: SignedTx) -> int:
        """What the call's code used: the receipt's gas minus the intrinsic gas and the fixed
        ``contract_call_gas`` of a transaction's own call."""
        params = self.app.params
        return receipt.gas_used - intrinsic_gas(tx, params) - params.contract_call_gas

    # -- reads --
    def storage(self, contract: bytes, key: bytes) -> bytes | None:
        """A contract's storage value as ``storage_get`` would return it (``None``: no value)."""
        raw = self.state().get(storage_key(contract, key))
        return None if raw is None else unpack_storage_value(raw)

    def balance(self, address: bytes) -> int:
        return self.state().get_account(address).balance

    def env(self) -> BlockEnv:
        h = self.chain.head
        return BlockEnv(h.chain_id, h.height + 1, h.time_ms + 1000, h.proposer, bytes(h.beacon))

    def query(self, contract: bytes, script: Script | bytes, *, method: str = "run", key: int = 0,
              gas: int = GAS, state: StateDB | None = None) -> Any:
        args = script.encode() if isinstance(script, Script) else script
        return self.runtime.query(state if state is not None else self.state(), self.env(), Address(contract),
                                  method, args, caller=account(key).address, gas_limit=gas)


def logs(receipt: Receipt) -> list[tuple[bytes, bytes, bytes]]:
    """The ``(contract, topic, data)`` of a receipt's contract log events."""
    out = []
    for e in receipt.events:
        if (e.module, e.name) == ("contract", "log"):
            a = dict(e.attrs)
            out.append((a["contract"], a["topic"], a["data"]))
    return out


def events(receipt: Receipt, module: str, name: str) -> list[dict[str, Any]]:
    return [dict(e.attrs) for e in receipt.events if (e.module, e.name) == (module, name)]
