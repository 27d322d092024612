"""The module ``capabilities`` exports: contracts with the capability ABI linked in.

``contracts_module(chain_params, capability_params, pricing)`` is the kernel's contract runtime
(``chain.vm.runtime``: the ``deploy`` and ``call`` kinds, call frames, rollback) with the
host functions of ``capabilities.host`` as the only imports a contract may use.  The
genesis composition calls it; the node passes a ``compiled_store`` so compiled code
survives restarts.
"""

from __future__ import annotations

from capabilities.host import host_functions
from capabilities.records import CapabilityParams
from chain.params import ChainParams
from chain.vm.engine import CompiledStore
from chain.vm.runtime import ContractRuntime, ContractsModule
from proofs.groth16 import Groth16Cache
from proofs.policy import PolicyParams


def contracts_module(chain_params: ChainParams, params: CapabilityParams, pricing: PolicyParams, *,
                     compiled_store: CompiledStore | None = None,
                     groth16_cache: Groth16Cache | None = None) -> ContractsModule:
    """The contracts module of a chain with these parameters."""
    host = host_functions(params, pricing, groth16_cache=groth16_cache)
    return ContractsModule(ContractRuntime(chain_params, host, compiled_store=compiled_store))
