"""The WebAssembly VM: a deterministic wasmtime engine metered in gas (ARCHITECTURE §6).

See :mod:`chain.vm.engine` for the configuration and the rules of a call.
"""

from chain.vm.engine import (
    CompiledModule,
    Engine,
    ExecutionResult,
    HostContext,
    HostFunction,
    HostFunctions,
    HostTrap,
    ModuleError,
    Status,
    VmConfig,
    classify_trap,
    code_hash,
    deterministic_config,
)

__all__ = [
    "CompiledModule",
    "Engine",
    "ExecutionResult",
    "HostContext",
    "HostFunction",
    "HostFunctions",
    "HostTrap",
    "ModuleError",
    "Status",
    "VmConfig",
    "classify_trap",
    "code_hash",
    "deterministic_config",
]
