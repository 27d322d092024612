"""The deterministic WebAssembly engine: one call of one export, metered in gas.

What this module decides
------------------------
Given contract code (or an already compiled module), an export name, arguments, a gas
limit, a memory cap and the host functions the caller links in (module ``env``),
:meth:`Engine.execute` returns an :class:`ExecutionResult`: a status, the gas used, the
return values and a stable reason string.  Every outcome of running untrusted code is a
*result*; nothing the contract does can raise out of ``execute``.  The same inputs give
the same result, bit for bit, on every run and every node running the same wasmtime
build.

The deterministic configuration (:func:`deterministic_config`)
----------------------------------------------------------------
=====================================  =====  ==================================================
flag                                    value  why
=====================================  =====  ==================================================
``consume_fuel``                        on     fuel *is* gas: 1 gas = 1 unit of wasmtime fuel.
                                               Fuel is counted on wasm operators before any
                                               optimisation, so it does not depend on the CPU,
                                               the optimiser or the wall clock.
``cranelift_nan_canonicalization``      on     every float operation that can produce a NaN
                                               produces the one canonical NaN, so NaN payloads
                                               (which differ between x86 and ARM) never reach
                                               memory or state.
``wasm_threads`` / ``shared_memory``    off    threads mean scheduling-dependent results.
``wasm_simd``                           off    keeps the float surface small and auditable
                                               (ARCHITECTURE §6); SIMD gives no ABI need we have.
``wasm_relaxed_simd``                   off    relaxed SIMD is *allowed* to differ by platform.
``wasm_relaxed_simd_deterministic``     on     belt and braces should relaxed SIMD be enabled.
``wasm_multi_memory``                   off    one linear memory per contract: the memory cap
                                               is then the contract's whole footprint, and the
                                               host ABI has one address space to check.
``wasm_memory64``                       off    32-bit pointers only; the ABI is pointer/length
                                               in i32.
``wasm_bulk_memory``                    on     ``memory.copy``/``memory.fill`` are
                                               deterministic and metered; clang emits them by
                                               default.
``wasm_reference_types``                on     only for ``funcref`` tables and the multi-table
                                               ``call_indirect`` encoding that modern clang emits;
                                               ``externref`` cannot cross the host ABI (host
                                               functions take numbers only).
``wasm_multi_value``                    on     deterministic; lets a host call return two values.
``wasm_gc``, ``wasm_function_references``,
``wasm_exceptions``, ``wasm_tail_call``,
``wasm_component_model``, ``gc_support`` off   not needed; each adds surface (a collector, a new
                                               control flow) a consensus engine must not carry
                                               without a reason.
``max_wasm_stack``                      256Ki  runaway recursion ends in a ``stack_overflow``
                                               trap long before the OS stack is at risk.
=====================================  =====  ==================================================

No WASI: the engine links *only* the host functions given to ``execute``, under module
``env``; any other import (another module, a memory, a table, a global, an unknown or
mistyped function) refuses the module with status ``invalid_module``.

Per call, a fresh ``wasmtime.Store`` gets ``gas_limit`` fuel and a store limiter
(``Store.set_limits``): linear memory at most ``memory_limit`` bytes (never more than the
genesis ``max_memory_bytes``), one instance, one memory, one table, at most
``max_table_elements`` table entries.  At the cap ``memory.grow`` returns -1 (the spec's
behaviour for a failed growth) and nothing is allocated; a module whose *initial* memory
is over the cap ends with status ``memory_limit`` before it is instantiated.

Gas
---
``gas_used`` is the fuel consumed by wasm, plus what host functions charged (the fixed
cost from the caller's gas table on every host call, plus whatever the host function
charges through :meth:`HostContext.charge`).  Host gas is taken from the same fuel
counter, so running out in a host call and running out in wasm are the same event.

Wasmtime keeps the fuel count in a register and writes it back (and checks it) only at
function entries, loop headers, calls and returns.  Two consequences, both turned into
rules that do not depend on where those sync points fall:

* A call that ends with *zero* gas left is ``out_of_gas``: the engine cannot tell "used
  exactly the limit" from "overshot it in straight-line code after the last check", so a
  call must end with at least one unit of gas to spare.
* A wasm trap happens between sync points, so the fuel counted at that moment depends on
  code layout.  Every wasm trap therefore charges the whole ``gas_limit`` (as the EVM
  does for its exceptional halts).  This also covers ``stack_overflow``, whose depth
  depends on Cranelift's frame sizes.  A :class:`HostTrap` happens *at* a host call,
  which is a sync point, so it charges exactly the gas used up to and including that
  host call's charges.

Outcomes and their gas:

=====================================  =========================================
status (reason)                         gas_used
=====================================  =========================================
``ok``                                  exact fuel consumed + host charges + memory
                                        pages (``page_gas``, see ``execute``) (< limit)
``trap`` (a host trap's reason)         exact gas used up to the host call, + memory
``trap`` (a wasm trap)                  ``gas_limit``
``out_of_gas``                          ``gas_limit``
``invalid_module``, ``invalid_call``,   0 (the transaction layer charges intrinsic
``memory_limit``, ``resource_limit``    gas for the bytes it carried)
=====================================  =========================================
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, cast

import wasmtime

from chain.errors import ChainError, ErrorCode
from chain.hashing import H

WASM_PAGE = 65536
"""Bytes in one WebAssembly page."""

CODE_HASH_TAG = b"cairn/code/v1"
"""Domain tag of a contract's code hash (the module-cache key)."""

ValueType = str
"""One of ``"i32"``, ``"i64"``, ``"f32"``, ``"f64"``."""

_VALTYPES: dict[str, Callable[[], wasmtime.ValType]] = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


class Status(enum.Enum):
    """How a call ended.  The values are stable: they go into receipts."""

    OK = "ok"
    TRAP = "trap"
    """A wasm trap or a :class:`HostTrap`; ``reason`` says which."""
    OUT_OF_GAS = "out_of_gas"
    MEMORY_LIMIT = "memory_limit"
    """The module's initial memory is larger than the call's memory cap."""
    RESOURCE_LIMIT = "resource_limit"
    """Instantiation hit another store limit (table size, instance count)."""
    INVALID_MODULE = "invalid_module"
    """Malformed or invalid wasm, or an import the host does not provide."""
    INVALID_CALL = "invalid_call"
    """No such exported function, or arguments that do not fit its signature."""


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """The outcome of one :meth:`Engine.execute`."""

    status: Status
    gas_used: int
    """Gas charged for the call, exactly; never above the gas limit."""
    values: tuple[int | float, ...] = ()
    """Return values (only when ``status`` is ``ok``)."""
    reason: str = ""
    """Stable, consensus-safe reason (``""`` for ``ok``), e.g. ``"unreachable"``,
    ``"memory_out_of_bounds"``, ``"unknown_import:env.foo"``, or a host trap's reason."""
    detail: str = field(default="", compare=False)
    """Engine message for logs.  Depends on the wasmtime version: never put it in state."""

    @property
    def ok(self) -> bool:
        """Whether the call returned normally."""
        return self.status is Status.OK


class HostTrap(Exception):
    """Raised by a host function to abort the call with ``reason`` (status ``trap``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _HostOutOfGas(Exception):
    """A host charge went past the remaining gas."""


class ModuleError(ChainError):
    """Code that is not a valid module for this engine; ``reason`` is stable."""

    default_code = ErrorCode.VM_INVALID_MODULE

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason, reason=reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class VmConfig:
    """Knobs of the deterministic engine; everything consensus depends on is here."""

    max_memory_bytes: int = 512 * 1024 * 1024
    """Genesis linear-memory cap (``ChainParams.max_memory_bytes``)."""
    max_wasm_stack: int = 256 * 1024
    """Native stack bytes wasm may use per entry before a ``stack_overflow`` trap.

    Wasmtime measures this per store entry, and every contract call is a new store, so
    one transaction can use ``(max_call_depth + 1) × max_wasm_stack`` of the native
    stack (2.25 MiB with the defaults) plus the host frames in between: well inside the
    8 MiB stack of a Linux main thread.  Measured: 28 nested entries at the limit still
    fit; larger values must be re-measured against the depth limit."""
    max_table_elements: int = 65536
    """Cap on funcref table entries per call; also a deploy rule (``table_over_cap``), since
    a module whose initial table is larger could never be instantiated."""
    module_cache_size: int = 128
    """Compiled modules kept in memory (LRU, keyed by code hash)."""
    max_function_locals: int = 1024
    """Deploy rule: locals one function may declare (clang's functions use a few dozen).
    Compile time grows with declared locals, not with code size or gas (a 32 KB module of
    4 000 functions × 50 000 locals compiled for seconds)."""
    max_total_locals: int = 65536
    """Deploy rule: locals all functions together may declare."""
    max_control_depth: int = 1024
    """Deploy rule: how deeply one function may nest ``block``/``loop``/``if`` (a C ``switch``
    of n cases nests about n blocks; see :mod:`chain.vm.deploy_rules`)."""


def deterministic_config(cfg: VmConfig) -> wasmtime.Config:
    """The wasmtime configuration described in the module docstring."""
    c = wasmtime.Config()
    c.consume_fuel = True
    c.cranelift_nan_canonicalization = True
    c.wasm_threads = False
    c.shared_memory = False
    c.wasm_simd = False
    c.wasm_relaxed_simd = False
    c.wasm_relaxed_simd_deterministic = True
    c.wasm_multi_memory = False
    c.wasm_memory64 = False
    c.wasm_bulk_memory = True
    c.wasm_reference_types = True
    c.wasm_multi_value = True
    c.wasm_gc = False
    c.wasm_function_references = False
    c.wasm_exceptions = False
    c.wasm_tail_call = False
    c.wasm_component_model = False
    c.gc_support = False
    c.max_wasm_stack = cfg.max_wasm_stack
    return c


Signature = tuple[tuple[ValueType, ...], tuple[ValueType, ...]]
"""A function type: ``(params, results)``."""


@dataclass(frozen=True, slots=True)
class CompiledModule:
    """A validated, compiled module and the facts about it ``execute`` needs.

    The import and export facts are read from wasmtime once, when the module is compiled
    or loaded; wasmtime-py builds fresh Python objects on every ``Module.imports`` /
    ``Module.exports`` access, which made up a large part of a call's fixed cost.
    """

    code_hash: bytes
    module: wasmtime.Module = field(repr=False, compare=False)
    min_memory_bytes: int
    """Initial size of the module's own memory (0 when it has none)."""
    imports: tuple[tuple[str, str, Signature | None], ...] = field(repr=False, compare=False)
    """``(module, name, signature)`` per import in order; ``None`` for a non-function import."""
    exports: Mapping[str, Signature | None] = field(repr=False, compare=False)
    """Export name → function signature, or ``None`` for a memory, table or global."""
    exports_memory: bool = field(repr=False, compare=False)
    """Whether the module exports a linear memory named ``memory``."""

    @classmethod
    def of(cls, key: bytes, module: wasmtime.Module, min_memory_bytes: int) -> CompiledModule:
        """Read the facts of a freshly compiled or loaded ``module``."""

        def sig(ty: Any) -> Signature | None:
            if not isinstance(ty, wasmtime.FuncType):
                return None
            return tuple(str(t) for t in ty.params), tuple(str(t) for t in ty.results)

        imports = tuple((imp.module, imp.name or "", sig(imp.type)) for imp in module.imports)
        exports = {x.name: sig(x.type) for x in module.exports}
        memory = any(x.name == "memory" and isinstance(x.type, wasmtime.MemoryType) for x in module.exports)
        return cls(key, module, min_memory_bytes, imports, MappingProxyType(exports), memory)


@dataclass(frozen=True, slots=True)
class HostFunction:
    """One function the host offers under module ``env``.

    ``func(ctx, *args)`` gets a :class:`HostContext` and the wasm arguments (ints for
    ``i32``/``i64``, signed as wasmtime gives them); it returns ``None``, one value, or a
    tuple of values matching ``results``.  It may raise :class:`HostTrap`.  Any other
    exception is a bug in the host and propagates.
    """

    params: tuple[ValueType, ...]
    results: tuple[ValueType, ...]
    func: Callable[..., Any]


HostFunctions = Mapping[str, HostFunction]
"""Name (under module ``env``) → host function."""


class CompiledStore(Protocol):
    """Where the engine keeps compiled native code between runs (``node/`` gives a disk).

    ``get`` returns what ``put`` stored under a code hash, or ``None``; an implementation
    must never raise for a missing or unreadable entry (it returns ``None`` and the
    engine recompiles).  The bytes are trusted native code: only this node writes them.
    """

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, data: bytes) -> None: ...


class HostContext:
    """What a host function sees of the calling contract: its memory and the gas meter."""

    def __init__(self, caller: wasmtime.Caller) -> None:
        self._caller = caller

    def charge(self, gas: int) -> None:
        """Take ``gas`` from the call's remaining gas; out of gas ends the call."""
        if gas < 0:
            raise ValueError("negative gas charge")
        _charge(self._caller, gas)

    @property
    def gas_left(self) -> int:
        """Gas the call still has."""
        return wasmtime.Store.get_fuel(cast(Any, self._caller))

    @property
    def memory_size(self) -> int:
        """Bytes of the contract's linear memory now (0 if it exports none)."""
        mem = self._caller.get("memory")
        return mem.data_len(self._caller) if isinstance(mem, wasmtime.Memory) else 0

    def _memory(self) -> wasmtime.Memory:
        mem = self._caller.get("memory")
        if not isinstance(mem, wasmtime.Memory):
            raise HostTrap("no_memory_export")
        return mem

    def _span(self, ptr: int, length: int) -> tuple[wasmtime.Memory, int, int]:
        # Pointers and lengths arrive as (signed) i32s; the ABI reads them as u32.
        start, n = ptr & 0xFFFFFFFF, length & 0xFFFFFFFF
        mem = self._memory()
        if start + n > mem.data_len(self._caller):
            raise HostTrap("memory_out_of_bounds")
        return mem, start, n

    def read(self, ptr: int, length: int) -> bytes:
        """``length`` bytes of the contract's memory at ``ptr``, bounds-checked."""
        mem, start, n = self._span(ptr, length)
        return bytes(mem.read(self._caller, start, start + n))

    def write(self, ptr: int, data: bytes) -> None:
        """Write ``data`` at ``ptr``, bounds-checked (nothing is written when out of bounds)."""
        mem, start, _ = self._span(ptr, len(data))
        if data:
            mem.write(self._caller, data, start)


def _charge(caller: wasmtime.Caller, gas: int) -> None:
    store = cast(Any, caller)
    left = wasmtime.Store.get_fuel(store)
    if gas > left:
        wasmtime.Store.set_fuel(store, 0)
        raise _HostOutOfGas()
    wasmtime.Store.set_fuel(store, left - gas)


_TRAP_REASONS: dict[wasmtime.TrapCode, str] = {
    wasmtime.TrapCode.STACK_OVERFLOW: "stack_overflow",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "memory_out_of_bounds",
    wasmtime.TrapCode.HEAP_MISALIGNED: "heap_misaligned",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "table_out_of_bounds",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "indirect_call_to_null",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect_call_type_mismatch",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer_overflow",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer_divide_by_zero",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid_conversion_to_integer",
    wasmtime.TrapCode.UNREACHABLE: "unreachable",
    wasmtime.TrapCode.OUT_OF_FUEL: "out_of_gas",
}


def classify_trap(trap: wasmtime.Trap) -> tuple[Status, str]:
    """Status and stable reason of a wasm trap."""
    code = trap.trap_code
    reason = _TRAP_REASONS.get(code, "trap") if code is not None else "trap"
    if reason == "out_of_gas":
        return Status.OUT_OF_GAS, reason
    return Status.TRAP, reason


def code_hash(code: bytes) -> bytes:
    """The module-cache key (and the contract's code hash)."""
    return H(CODE_HASH_TAG, code)


def _leb_u(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ModuleError("malformed_wasm", "truncated LEB128")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _section(code: bytes, section_id: int) -> int | None:
    """Where the payload of section ``section_id`` starts, or ``None`` if there is none.

    Only called on code wasmtime has already validated, so the section layout is sound.
    """
    pos = 8
    while pos < len(code):
        section, pos = code[pos], pos + 1
        size, pos = _leb_u(code, pos)
        if section == section_id:
            return pos
        pos += size
    return None


def _initial_memory_pages(code: bytes) -> int:
    """Initial pages of the module's own memory, read from its memory section (id 5)."""
    pos = _section(code, 5)
    if pos is None:
        return 0
    count, pos = _leb_u(code, pos)
    if count == 0:
        return 0
    _flags, pos = _leb_u(code, pos)
    pages, _ = _leb_u(code, pos)
    return pages


def _check_imports(compiled: CompiledModule, host: HostFunctions) -> None:
    for module, name, sig in compiled.imports:
        full = f"{module}.{name}"
        if module != "env":
            raise ModuleError(f"unknown_import:{full}")
        if sig is None:
            raise ModuleError(f"unsupported_import:{full}")
        hf = host.get(name)
        if hf is None:
            raise ModuleError(f"unknown_import:{full}")
        if sig != (hf.params, hf.results):
            raise ModuleError(f"import_type_mismatch:{full}")


def _host_import(store: wasmtime.Store, name: str, hf: HostFunction, gas: int) -> wasmtime.Func:
    fty = wasmtime.FuncType([_VALTYPES[t]() for t in hf.params], [_VALTYPES[t]() for t in hf.results])

    def call(caller: wasmtime.Caller, *args: Any) -> Any:
        _charge(caller, gas)
        return hf.func(HostContext(caller), *args)

    return wasmtime.Func(store, fty, call, access_caller=True)


def _args_fit(args: Sequence[int | float], params: Sequence[str]) -> bool:
    if len(args) != len(params):
        return False
    for a, t in zip(args, params, strict=True):
        if t in ("i32", "i64"):
            bits = 32 if t == "i32" else 64
            if not isinstance(a, int) or isinstance(a, bool) or not -(1 << (bits - 1)) <= a < (1 << bits):
                return False
        elif t in ("f32", "f64"):
            if not isinstance(a, float | int) or isinstance(a, bool):
                return False
        else:
            return False
    return True


def _out_of_gas(gas_limit: int) -> ExecutionResult:
    return ExecutionResult(Status.OUT_OF_GAS, gas_limit, reason="out_of_gas")


class Engine:
    """A deterministic wasmtime engine with a compiled-module cache keyed by code hash."""

    def __init__(self, config: VmConfig | None = None, *, compiled_store: CompiledStore | None = None) -> None:
        self.config = config or VmConfig()
        self.compiled_store = compiled_store
        self.wasm_engine = wasmtime.Engine(deterministic_config(self.config))
        self._cache: OrderedDict[bytes, CompiledModule] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    # -- modules -------------------------------------------------------------------

    def compile(self, code: bytes) -> CompiledModule:
        """Validate and compile ``code``, or return it from the cache.

        Raises :class:`ModuleError` (reason ``malformed_wasm``) when the bytes are not a
        module this engine accepts (bad encoding, failed validation, a disabled feature).
        """
        code = bytes(code)
        key = code_hash(code)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return hit
        self.cache_misses += 1
        if self.compiled_store is not None:
            stored = self.compiled_store.get(key)
            if stored is not None and stored[:32] == key:
                try:
                    return self.deserialize(stored)
                except ModuleError:
                    pass  # another wasmtime build wrote it: recompile and overwrite
        try:
            module = wasmtime.Module(self.wasm_engine, code)
        except wasmtime.WasmtimeError as e:
            raise ModuleError("malformed_wasm", str(e).split("\n")[0]) from None
        compiled = CompiledModule.of(key, module, _initial_memory_pages(code) * WASM_PAGE)
        self._remember(compiled)
        if self.compiled_store is not None:
            self.compiled_store.put(key, self.serialize(compiled))
        return compiled

    def precheck(self, code: bytes) -> None:
        """Wasmtime's validation of ``code`` without compiling it (``ModuleError``
        ``malformed_wasm``).  The static deploy rules, which must hold before compiling
        untrusted code, are :mod:`chain.vm.deploy_rules`."""
        try:
            wasmtime.Module.validate(self.wasm_engine, code)
        except wasmtime.WasmtimeError as e:
            raise ModuleError("malformed_wasm", str(e).split("\n")[0]) from None

    def check_contract(self, compiled: CompiledModule, host: HostFunctions, memory_limit: int | None = None) -> None:
        """The deploy-time rules on top of :meth:`compile` (``ModuleError`` on the first broken one).

        Every import is a host function of ``host`` with its exact type
        (``unknown_import:…``, ``unsupported_import:…``, ``import_type_mismatch:…``); the
        module exports its linear memory as ``memory`` (``no_memory_export``); its initial
        memory fits the cap (``initial_memory_over_cap``).
        """
        _check_imports(compiled, host)
        if not compiled.exports_memory:
            raise ModuleError("no_memory_export")
        if compiled.min_memory_bytes > self.memory_cap(memory_limit):
            raise ModuleError("initial_memory_over_cap")

    @staticmethod
    def has_method(compiled: CompiledModule, name: str) -> bool:
        """Whether ``name`` is an exported function of type ``() -> ()`` (a contract method)."""
        return compiled.exports.get(name) == ((), ())

    def _remember(self, compiled: CompiledModule) -> None:
        self._cache[compiled.code_hash] = compiled
        self._cache.move_to_end(compiled.code_hash)
        while len(self._cache) > self.config.module_cache_size:
            self._cache.popitem(last=False)

    def cached(self, key: bytes) -> CompiledModule | None:
        """The cached module for code hash ``key``, if any (does not count as a hit)."""
        return self._cache.get(key)

    def serialize(self, compiled: CompiledModule) -> bytes:
        """Native code of ``compiled`` plus its facts, for ``node/`` to keep on disk.

        Layout: ``code_hash (32) || min_memory_bytes (8, big endian) || wasmtime bytes``.
        """
        return compiled.code_hash + compiled.min_memory_bytes.to_bytes(8, "big") + compiled.module.serialize()

    def deserialize(self, data: bytes) -> CompiledModule:
        """Load a module written by :meth:`serialize` and put it in the cache.

        Wasmtime trusts these bytes (they are native code): load only what this node's own
        :meth:`serialize` wrote, never bytes from the network.  Wasmtime refuses bytes
        from another wasmtime version or configuration (``ModuleError`` then, and the
        caller recompiles from the code).
        """
        key, mem, blob = data[:32], int.from_bytes(data[32:40], "big"), data[40:]
        try:
            module = wasmtime.Module.deserialize(self.wasm_engine, blob)
        except wasmtime.WasmtimeError as e:
            raise ModuleError("stale_compiled_module", str(e).split("\n")[0]) from None
        compiled = CompiledModule.of(key, module, mem)
        self._remember(compiled)
        return compiled

    # -- stores ------------------------------------------------------------------

    def new_store(
        self, *, gas_limit: int, memory_limit: int | None = None, instances: int = 1
    ) -> wasmtime.Store:
        """A store with ``gas_limit`` fuel and the limiter of the module docstring.

        ``memory_limit`` is clamped to the genesis cap.  ``instances`` > 1 is for test
        harnesses that link several modules (the spec-test runner); calls use 1.
        """
        store = wasmtime.Store(self.wasm_engine)
        store.set_fuel(gas_limit)
        store.set_limits(
            memory_size=self.memory_cap(memory_limit),
            table_elements=self.config.max_table_elements,
            instances=instances,
            tables=instances,
            memories=instances,
        )
        return store

    def memory_cap(self, memory_limit: int | None) -> int:
        """The effective per-call memory cap in bytes."""
        cap = self.config.max_memory_bytes
        return cap if memory_limit is None else max(0, min(cap, memory_limit))

    # -- calls -------------------------------------------------------------------

    def execute(
        self,
        code_or_module: bytes | CompiledModule,
        export_name: str,
        args: Sequence[int | float] = (),
        *,
        gas_limit: int,
        memory_limit: int | None = None,
        host: HostFunctions | None = None,
        host_gas: Mapping[str, int] | None = None,
        page_gas: int = 0,
        free_pages: int = 0,
    ) -> ExecutionResult:
        """Instantiate the module in a fresh store and call ``export_name(*args)``.

        ``host_gas[name]`` (default 0) is charged on every call of host function ``name``
        before it runs.  Never raises for anything the code does; a host function's own
        bug (an exception other than :class:`HostTrap`) propagates.

        Memory is paid for when ``page_gas`` is set: a call that ends (normally or by a
        host trap) with ``pages`` pages of linear memory is charged ``page_gas ×
        max(0, pages − free_pages)`` on top (memory never shrinks, so that is its peak),
        and it may never grow past what its whole gas limit could pay for: the memory cap
        of the call is at most ``(free_pages + gas_limit // page_gas)`` pages.  Growing
        and touching memory is otherwise nearly free in fuel, so without this a small
        gas limit could buy seconds of page faults.
        """
        if gas_limit < 0:
            raise ValueError("negative gas limit")
        host = host or {}
        gas_table = host_gas or {}
        if page_gas:
            affordable = (free_pages + gas_limit // page_gas) * WASM_PAGE
            memory_limit = affordable if memory_limit is None else min(memory_limit, affordable)
        try:
            compiled = (
                code_or_module if isinstance(code_or_module, CompiledModule) else self.compile(code_or_module)
            )
            _check_imports(compiled, host)
        except ModuleError as e:
            return ExecutionResult(Status.INVALID_MODULE, 0, reason=e.reason, detail=e.detail)
        export = compiled.exports.get(export_name)
        if export is None:
            return ExecutionResult(Status.INVALID_CALL, 0, reason="no_such_export")
        if not _args_fit(args, export[0]):
            return ExecutionResult(Status.INVALID_CALL, 0, reason="bad_arguments")
        if compiled.min_memory_bytes > self.memory_cap(memory_limit):
            return ExecutionResult(Status.MEMORY_LIMIT, 0, reason="initial_memory_over_cap")

        store = self.new_store(gas_limit=gas_limit, memory_limit=memory_limit)
        imports = [_host_import(store, name, host[name], gas_table.get(name, 0)) for _, name, _ in compiled.imports]

        instance: wasmtime.Instance | None = None

        def used() -> int:
            """Fuel burnt plus the memory charge (``gas_limit`` or more means out of gas)."""
            charged = gas_limit - store.get_fuel()
            if page_gas and instance is not None:
                mem = instance.exports(store).get("memory")
                pages = mem.size(store) if isinstance(mem, wasmtime.Memory) else 0
                charged += page_gas * max(0, pages - free_pages)
            return charged

        try:
            instance = wasmtime.Instance(store, compiled.module, imports)
            func = instance.exports(store)[export_name]
            assert isinstance(func, wasmtime.Func)
            out = func(store, *args)
        except HostTrap as e:
            gas = used()
            if store.get_fuel() == 0 or gas >= gas_limit:
                return _out_of_gas(gas_limit)
            return ExecutionResult(Status.TRAP, gas, reason=e.reason)
        except _HostOutOfGas:
            return _out_of_gas(gas_limit)
        except wasmtime.Trap as e:
            status, reason = classify_trap(e)
            return ExecutionResult(status, gas_limit, reason=reason, detail=e.message)
        except wasmtime.WasmtimeError as e:
            # Instantiation refused by the store limiter (table elements, instances).
            return ExecutionResult(Status.RESOURCE_LIMIT, min(used(), gas_limit), reason="resource_limit",
                                   detail=str(e))
        gas = used()
        if store.get_fuel() == 0 or gas >= gas_limit:
            return _out_of_gas(gas_limit)
        values: tuple[int | float, ...]
        if out is None:
            values = ()
        elif isinstance(out, list | tuple):
            values = tuple(out)
        else:
            values = (out,)
        return ExecutionResult(Status.OK, gas, values)
