"""Contracts in the kernel: ``deploy`` and ``call`` transactions and the frames calls run in.

What this module decides
------------------------
* **Where a contract lives.**  A contract is an account whose ``code_hash`` is set; its
  code is stored once, content-addressed, at ``state_key("code", code_hash)``, and its
  storage at ``state_key("stor", address, key)`` as ``0x00 || value`` (the tree keeps
  no empty leaves, and a contract may store an empty value; see
  :func:`pack_storage_value`).  Code is immutable.
* **Its address**: ``contract_address(deployer, nonce) = H("cairn/contract/v1",
  cbor([deployer, nonce]))[:20]`` with the deploying transaction's nonce, so a deployer
  knows the address before the transaction lands.
* **The rules of a call** (:meth:`ContractRuntime.invoke`), in order:

  1. the method name matches ``[A-Za-z_][A-Za-z0-9_]{0,63}`` and is not ``init``
     (the constructor runs only inside ``deploy``) → else ``no_such_method``;
  2. the target is a contract → else ``no_such_contract``;
  3. ``value`` moves from the caller to the contract → else ``insufficient_balance``
     (a read-only call may not carry value: ``read_only``);
  4. the method is an export of type ``() -> ()`` → else ``no_such_method``;
  5. the engine runs it with the gas and memory the caller gives (see
     :mod:`chain.vm.engine` for how traps and out-of-gas are charged).

  A call that fails at any step undoes everything it did (state through the
  ``StateDB`` journal, events by truncation) and reports a stable ``reason``;
  counters of the transaction (enqueue ``seq``, ``random`` index) are never rewound.
* **Nested calls** (:meth:`Frame.call`): at most ``max_call_depth`` deep (the
  transaction's own call is depth 0; one more is ``call_depth``), the callee gets at
  most 63/64 of the caller's remaining gas (the caller always keeps enough to handle
  a failure), and a memory budget of the caller's budget minus the caller's current
  memory, so one transaction never holds more than ``max_memory_bytes`` of linear
  memory at a time.
* **The rules of a deploy** (:meth:`ContractRuntime.deploy`), in order: the code is at
  most ``max_code_bytes`` (``code_too_large``) and passes the static rules of
  :mod:`chain.vm.deploy_rules` (``invalid_module: <rule>``), both before anything is
  compiled; it pays that module's compile gas (``out_of_gas`` if it cannot, and it is then
  not compiled); it validates and compiles, imports only host functions with their exact
  types, exports its memory, and an ``init`` is of type ``() -> ()`` (``invalid_module:
  <why>``); then ``init`` runs.  On top, the ``deploy`` kind charges ``contract_call_gas +
  code_byte_gas × len(code)`` first, for carrying and checking the code.
* **Read-only queries** (:meth:`ContractRuntime.query`, the ``contract.call`` RPC):
  the same call with writes trapping ``read_only``, on a state the caller throws away.
* **The previous block's beacon** for ``random``: ``end_block`` stores each block's
  beacon at ``BEACON_KEY``; a transaction in block ``h`` reads block ``h - 1``'s
  (genesis stores block 0's).

What it does not decide: the host functions.  The capability ABI
(``capabilities.host``) supplies them as :class:`HostSpec` values; this module binds
each to the running :class:`Frame`.  Nothing here touches a clock, randomness or I/O:
state comes in as a ``StateDB``, and the engine's optional compiled-code store is the
node's to give.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from chain.codec import encode, expect_bytes, expect_int, expect_str
from chain.errors import DecodeError, ErrorCode
from chain.hashing import H
from chain.module import BlockEnv, BlockPot, Event, OutOfGas, TxContext, TxFailed, TxKind
from chain.params import ChainParams
from chain.smt import state_key
from chain.state import Account, StateDB
from chain.types import Address
from chain.vm.deploy_rules import CodeShape, compile_gas, scan
from chain.vm.engine import (
    CompiledModule,
    CompiledStore,
    Engine,
    HostContext,
    HostFunction,
    ModuleError,
    VmConfig,
    code_hash,
)

CONTRACT_TAG = b"cairn/contract/v1"
"""Domain tag of contract addresses."""
BEACON_KEY = state_key("vm", b"beacon")
"""The beacon of the last executed block, for ``random`` in the next one."""
MAX_METHOD_BYTES = 64
MAX_ARGS_BYTES = 65536
MAX_RETURN_BYTES = 65536
MAX_VALUE = 2**128 - 1
"""Largest value a ``call`` transaction may carry (as ``transfer`` amounts)."""
INIT = "init"
"""The constructor's export name."""

_METHOD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def contract_address(deployer: bytes, nonce: int) -> Address:
    """``H("cairn/contract/v1", cbor([deployer, nonce]))[:20]``."""
    return Address(H(CONTRACT_TAG, encode([bytes(Address(deployer)), nonce]))[:20])


def code_key(hash_: bytes) -> bytes:
    """``state_key("code", code_hash)``."""
    return state_key("code", bytes(hash_))


def storage_key(contract: bytes, key: bytes) -> bytes:
    """``state_key("stor", contract, key)``."""
    return state_key("stor", bytes(contract), bytes(key))


def pack_storage_value(value: bytes) -> bytes:
    """The state-tree bytes of a contract storage value: ``0x00 || value``."""
    return b"\x00" + bytes(value)


def unpack_storage_value(raw: bytes) -> bytes:
    """Inverse of :func:`pack_storage_value` (for light clients reading a storage proof)."""
    if raw[:1] != b"\x00":
        raise DecodeError("contract storage value: missing the 0x00 prefix", code=ErrorCode.DECODE_SHAPE)
    return raw[1:]


def store_beacon(state: StateDB, beacon: bytes) -> None:
    """Record ``beacon`` as the one ``random`` derives from in the next block."""
    state.set(BEACON_KEY, bytes(beacon))


def is_method_name(name: str) -> bool:
    """Whether ``name`` may name a method (``[A-Za-z_][A-Za-z0-9_]{0,63}``)."""
    return _METHOD_RE.fullmatch(name) is not None


def code_of(state: StateDB, address: bytes) -> bytes | None:
    """The code of the contract at ``address``, or ``None`` if it is not a contract."""
    account = state.get_account(address)
    if not account.code_hash:
        return None
    return state.get(code_key(account.code_hash))


# --- what a call produces ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How one contract call ended."""

    status: str
    """``ok`` or the failure: ``trap``, ``out_of_gas``, ``abort``, ``invalid_module``,
    ``memory_limit``, ``resource_limit``, ``no_such_contract``, ``no_such_method``,
    ``insufficient_balance``, ``read_only``, ``code_too_large``, ``address_taken``."""
    gas_used: int
    return_data: bytes = b""
    reason: str = ""
    """Stable text for receipts, e.g. ``"trap: unreachable"``, ``"abort: insufficient"``."""
    detail: str = field(default="", compare=False)
    """Engine message for logs; never in state."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(eq=False, slots=True)
class TxScope:
    """What every frame of one transaction (or one query) shares."""

    env: BlockEnv
    tx_hash: bytes
    origin: Address
    """The transaction's signer (the query's caller)."""
    read_only: bool
    events: list[Event]
    counters: dict[str, int] = field(default_factory=dict)

    def next_index(self, name: str) -> int:
        """The next value of counter ``name`` (0, 1, ...); never rewound by a failed call."""
        n = self.counters.get(name, 0)
        self.counters[name] = n + 1
        return n


HostImpl = Callable[..., Any]
"""``func(frame, mem, *wasm_args)``: a host function with its frame still to bind."""


@dataclass(frozen=True, slots=True)
class HostSpec:
    """A host function as the capability ABI defines it, before it is bound to a frame."""

    params: tuple[str, ...]
    results: tuple[str, ...]
    func: HostImpl


@dataclass(eq=False, slots=True)
class Frame:
    """One running contract call: what host functions may see and change."""

    runtime: ContractRuntime
    scope: TxScope
    state: StateDB
    contract: Address
    caller: Address
    value: int
    input: bytes
    depth: int
    memory_limit: int
    return_data: bytes = b""
    abort_message: str | None = None

    @property
    def env(self) -> BlockEnv:
        return self.scope.env

    @property
    def params(self) -> ChainParams:
        return self.runtime.params

    def call(self, mem: HostContext, target: Address, method: str, args: bytes, value: int,
             gas: int) -> CallOutcome:
        """Run a nested call (the rules of the module docstring); never raises for the callee."""
        if self.depth + 1 > self.params.max_call_depth:
            return CallOutcome("call_depth", 0, reason="call_depth")
        budget = max(0, self.memory_limit - mem.memory_size)
        give = min(gas, mem.gas_left * 63 // 64)
        return self.runtime.invoke(self.scope, self.state, target, caller=self.contract, method=method,
                                   args=args, value=value, gas_limit=give, depth=self.depth + 1,
                                   memory_limit=budget)


# --- the runtime -----------------------------------------------------------------------------


def _unbound(*_: Any) -> Any:  # pragma: no cover - only its type is used
    raise AssertionError("unbound host function called")


class ContractRuntime:
    """Deploys and runs contracts against a ``StateDB`` with the given host functions."""

    def __init__(self, params: ChainParams, host: Mapping[str, HostSpec], *,
                 compiled_store: CompiledStore | None = None) -> None:
        self.params = params
        self.host = dict(host)
        self.engine = Engine(VmConfig(max_memory_bytes=params.max_memory_bytes), compiled_store=compiled_store)
        self._host_types = {n: HostFunction(s.params, s.results, _unbound) for n, s in self.host.items()}

    # -- deploy ------------------------------------------------------------------------

    def inspect_code(self, code: bytes) -> CodeShape:
        """The static deploy rules (``code_too_large``, then :func:`chain.vm.deploy_rules.scan`):
        the code's shape, or ``ModuleError``.  Nothing is compiled."""
        if len(code) > self.params.max_code_bytes:
            raise ModuleError("code_too_large", f"{len(code)} > {self.params.max_code_bytes}")
        return scan(code, self.engine.config)

    def compile_gas(self, shape: CodeShape) -> int:
        """The gas a deploy of code of this shape pays for compiling it (cached or not)."""
        return compile_gas(shape, self.params.compile_gas_per_ms)

    def validate_code(self, code: bytes) -> CompiledModule:
        """Validate and compile code that passed :meth:`inspect_code`, then the rules on the
        compiled module (imports, memory export, ``init``'s type); ``ModuleError`` says which failed."""
        self.engine.precheck(code)
        compiled = self.engine.compile(code)
        self.engine.check_contract(compiled, self._host_types)
        if INIT in compiled.exports and not self.engine.has_method(compiled, INIT):
            raise ModuleError("bad_init_type")
        return compiled

    def deploy(self, scope: TxScope, state: StateDB, deployer: Address, nonce: int, code: bytes,
               init_args: bytes, *, gas_limit: int) -> tuple[Address, CallOutcome]:
        """Create the contract and run its ``init`` (if exported) with ``init_args``.

        In order: the static rules (:meth:`inspect_code`; a refusal costs no gas here);
        the compile gas (:meth:`compile_gas`) out of ``gas_limit`` (``out_of_gas``, charging
        all of ``gas_limit``, when it cannot be paid: the code is then never compiled);
        validation, compiling and the compiled-module rules (:meth:`validate_code`); the
        address; ``init`` with what is left.  The outcome's ``gas_used`` includes the compile
        gas.  On failure nothing remains (no code, no account change, no events).
        """
        address = contract_address(deployer, nonce)
        mark, ev = state.snapshot(), len(scope.events)

        def refused(e: ModuleError, gas: int) -> tuple[Address, CallOutcome]:
            status = "code_too_large" if e.reason == "code_too_large" else "invalid_module"
            return address, CallOutcome(status, gas, reason=f"{status}: {e.reason}", detail=e.detail)

        try:
            shape = self.inspect_code(code)
        except ModuleError as e:
            return refused(e, 0)
        gas = self.compile_gas(shape)
        if gas > gas_limit:
            return address, CallOutcome("out_of_gas", gas_limit, reason="out_of_gas")
        try:
            compiled = self.validate_code(code)
        except ModuleError as e:
            return refused(e, gas)
        existing = state.get_account(address)
        if existing.code_hash:
            return address, CallOutcome("address_taken", gas, reason="address_taken")
        key = code_key(compiled.code_hash)
        if state.get(key) is None:
            state.set(key, bytes(code))
        state.put_account(address, Account(existing.balance, existing.nonce, compiled.code_hash))
        if not self.engine.has_method(compiled, INIT):
            return address, CallOutcome("ok", gas)
        out = self.invoke(scope, state, address, caller=deployer, method=INIT, args=init_args, value=0,
                          gas_limit=gas_limit - gas, depth=0, allow_init=True)
        if not out.ok:
            state.revert(mark)
            del scope.events[ev:]
        return address, replace(out, gas_used=out.gas_used + gas)

    # -- calls -------------------------------------------------------------------------

    def invoke(self, scope: TxScope, state: StateDB, contract: Address, *, caller: Address, method: str,
               args: bytes, value: int, gas_limit: int, depth: int, memory_limit: int | None = None,
               allow_init: bool = False) -> CallOutcome:
        """One call under the rules of the module docstring."""
        mark, ev = state.snapshot(), len(scope.events)

        def fail(status: str, gas: int, reason: str, detail: str = "") -> CallOutcome:
            state.revert(mark)
            del scope.events[ev:]
            return CallOutcome(status, gas, reason=reason, detail=detail)

        if not is_method_name(method) or (method == INIT and not allow_init):
            return fail("no_such_method", 0, "no_such_method")
        code = code_of(state, contract)
        if code is None:
            return fail("no_such_contract", 0, "no_such_contract")
        if value:
            if scope.read_only:
                return fail("read_only", 0, "read_only")
            if not state.debit(caller, value):
                return fail("insufficient_balance", 0, "insufficient_balance")
            state.credit(contract, value)
        try:
            compiled = self.engine.compile(code)
        except ModuleError as e:  # pragma: no cover - code in state passed validate_code
            return fail("invalid_module", 0, f"invalid_module: {e.reason}", e.detail)
        if not self.engine.has_method(compiled, method):
            return fail("no_such_method", 0, "no_such_method")
        cap = self.engine.memory_cap(memory_limit)
        frame = Frame(self, scope, state, Address(contract), Address(caller), value, bytes(args), depth, cap)
        specs = {name: self.host[name] for _, name, _ in compiled.imports}  # checked at deploy
        host = {name: HostFunction(s.params, s.results, partial(s.func, frame)) for name, s in specs.items()}
        res = self.engine.execute(compiled, method, (), gas_limit=gas_limit, memory_limit=cap, host=host,
                                  page_gas=self.params.memory_page_gas, free_pages=self.params.free_memory_pages)
        if res.ok:
            return CallOutcome("ok", res.gas_used, frame.return_data)
        status = res.status.value
        if res.reason == "abort" and frame.abort_message is not None:
            return fail("abort", res.gas_used, f"abort: {frame.abort_message}")
        if res.reason == "read_only":
            return fail("read_only", res.gas_used, "read_only")
        reason = status if res.reason in ("", status) else f"{status}: {res.reason}"
        return fail(status, res.gas_used, reason, res.detail)

    def query(self, state: StateDB, env: BlockEnv, contract: Address, method: str, args: bytes, *,
              caller: Address, gas_limit: int) -> tuple[CallOutcome, list[Event]]:
        """A read-only call (writes trap ``read_only``); ``state`` is left for the caller to drop."""
        scope = TxScope(env, bytes(32), Address(caller), read_only=True, events=[])
        gas = min(gas_limit, self.params.max_query_gas)
        out = self.invoke(scope, state, contract, caller=Address(caller), method=method, args=args, value=0,
                          gas_limit=gas, depth=0)
        return out, scope.events


# --- transaction kinds and the module ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deploy:
    """``deploy`` payload: ``[code, init_args]``."""

    code: bytes
    init_args: bytes


@dataclass(frozen=True, slots=True)
class Call:
    """``call`` payload: ``[contract, method, args, value]``."""

    contract: Address
    method: str
    args: bytes
    value: int


def _shape(message: str) -> DecodeError:
    return DecodeError(message, code=ErrorCode.DECODE_SHAPE)


def _charge_fixed(ctx: TxContext, gas: int) -> None:
    """Charge a kind's fixed gas; running out here reads ``out_of_gas`` like running out in wasm."""
    try:
        ctx.gas.charge(gas)
    except OutOfGas:
        raise TxFailed("out_of_gas", code=ErrorCode.TX_GAS_LIMIT) from None


def _scope(ctx: TxContext) -> TxScope:
    return TxScope(ctx.env, bytes(ctx.tx.hash), ctx.sender, read_only=False, events=ctx.events)


class DeployKind:
    """Create a contract: gas = ``contract_call_gas + code_byte_gas × len(code)``, then the
    compile gas of :mod:`chain.vm.deploy_rules` once the code passes the static rules, then
    what ``init`` uses (see :meth:`ContractRuntime.deploy`)."""

    name = "deploy"

    def __init__(self, runtime: ContractRuntime) -> None:
        self.runtime = runtime

    def decode_payload(self, value: Any) -> Deploy:
        if not isinstance(value, list) or len(value) != 2:
            raise _shape("deploy payload: expected [code, init_args]")
        return Deploy(expect_bytes(value[0], "deploy.code", max_len=self.runtime.params.max_tx_bytes),
                      expect_bytes(value[1], "deploy.init_args", max_len=MAX_ARGS_BYTES))

    def execute(self, state: StateDB, ctx: TxContext, payload: Deploy) -> None:
        params = self.runtime.params
        _charge_fixed(ctx, params.contract_call_gas + params.code_byte_gas * len(payload.code))
        address, out = self.runtime.deploy(_scope(ctx), state, ctx.sender, ctx.tx.body.nonce, payload.code,
                                           payload.init_args, gas_limit=ctx.gas.limit - ctx.gas.used)
        ctx.gas.charge(out.gas_used)
        if not out.ok:
            raise TxFailed(out.reason, code=ErrorCode.VM_CALL_FAILED)
        ctx.events.append(Event("contract", "deployed", (("address", bytes(address)),
                                                          ("code_hash", code_hash(payload.code)))))


class CallKind:
    """Call a contract method: gas = ``contract_call_gas`` + what the method uses."""

    name = "call"

    def __init__(self, runtime: ContractRuntime) -> None:
        self.runtime = runtime

    def decode_payload(self, value: Any) -> Call:
        if not isinstance(value, list) or len(value) != 4:
            raise _shape("call payload: expected [contract, method, args, value]")
        return Call(Address(expect_bytes(value[0], "call.contract", length=20)),
                    expect_str(value[1], "call.method", max_len=MAX_METHOD_BYTES),
                    expect_bytes(value[2], "call.args", max_len=MAX_ARGS_BYTES),
                    expect_int(value[3], "call.value", hi=MAX_VALUE))

    def execute(self, state: StateDB, ctx: TxContext, payload: Call) -> None:
        _charge_fixed(ctx, self.runtime.params.contract_call_gas)
        out = self.runtime.invoke(_scope(ctx), state, payload.contract, caller=ctx.sender, method=payload.method,
                                  args=payload.args, value=payload.value, gas_limit=ctx.gas.limit - ctx.gas.used,
                                  depth=0)
        ctx.gas.charge(out.gas_used)
        if not out.ok:
            raise TxFailed(out.reason, code=ErrorCode.VM_CALL_FAILED)


class ContractsModule:
    """The ``deploy`` and ``call`` kinds, and the beacon record ``random`` needs."""

    name = "contracts"

    def __init__(self, runtime: ContractRuntime) -> None:
        self.runtime = runtime

    def tx_kinds(self) -> Mapping[str, TxKind]:
        return {"deploy": DeployKind(self.runtime), "call": CallKind(self.runtime)}

    def begin_block(self, state: StateDB, env: BlockEnv) -> list[Event]:
        return []

    def end_block(self, state: StateDB, env: BlockEnv, pot: BlockPot) -> list[Event]:
        store_beacon(state, env.beacon)
        return []
