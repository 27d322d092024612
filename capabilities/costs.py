"""The one gas table for host calls (ARCHITECTURE §6).

Rule: a host call ``name`` that moves ``nbytes`` bytes across the boundary costs::

    cost(name, nbytes) = HOST_COSTS[name].base + HOST_COSTS[name].per_byte × nbytes

charged *before* the call does its work (so a call that runs out of gas has no effect).
``nbytes`` is the sum of the lengths of every input the host reads from linear memory
and every output it writes back (``capabilities/specs/ABI.md`` says which, per call).

How the numbers were chosen
---------------------------
The unit is the engine's: 1 gas = 1 unit of wasmtime fuel ≈ one wasm operator
(``chain.vm.engine``).  Wasm itself runs at ~13 Ggas/s on the reference machine, but
everything that crosses into the host is Python: ``make bench`` (``bench/vm.py``,
docs/BENCHMARKS.md) measured ~13.5 µs for the cheapest host call and ~320 µs of fixed
cost per contract invocation, against ~60 Mgas/s for plain ``transfer`` transactions.
Host work is therefore priced at the transfer rate, **~60 gas per µs**, so that a block
full of host calls takes about as long as a block full of transfers:

* trivial getters (``caller``, ``self_address``, ``value``, ``block_height``,
  ``block_time``) and the call-data copies (``input``, ``output``), ``abort``: 1 000 —
  one crossing (13–20 µs measured); + 3/byte for copies;
* state reads (``storage_get``, ``balance``, ``read_result``): 2 000 — a crossing plus
  a flat-index lookup and decode; + 3/byte;
* state writes (``storage_set``): 20 000 + 30/byte — every written byte lives in the
  state tree forever on every node; ``storage_delete`` 5 000 (shrinks state);
* ``emit_event``: 2 000 + 8/byte — receipts are kept, not in the tree;
* ``transfer``: 9 000 — two account reads and writes;
* ``call``: 25 000 + 3/byte — a nested invocation (~320 µs of instantiation and
  linking); the callee's own execution is metered from the gas passed on.  The same
  fixed cost is ``ChainParams.contract_call_gas`` for a transaction's own call;
* ``ai_enqueue`` / ``quantum_enqueue``: 50 000 + 10/byte — a task id hash, an escrow,
  a job written to state and later matching work at block end;
* ``zk_verify``: 40 000 000 + 100/byte — a cold Groth16 check is ~0.7 s of py_ecc
  pairings; gas may not depend on a node's cache, so every call is priced cold;
* ``random``: 2 000 + 10/byte — a crossing and a hash per 32 bytes.

Changing the table changes consensus; re-fit it from ``make bench`` when the host path
gets faster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class HostCost:
    """Gas of one host call: a fixed ``base`` plus ``per_byte`` for each byte moved."""

    base: int
    per_byte: int


HOST_COSTS: Mapping[str, HostCost] = MappingProxyType(
    {
        "storage_get": HostCost(2_000, 3),
        "storage_set": HostCost(20_000, 30),
        "storage_delete": HostCost(5_000, 3),
        "emit_event": HostCost(2_000, 8),
        "caller": HostCost(1_000, 0),
        "self_address": HostCost(1_000, 0),
        "value": HostCost(1_000, 0),
        "block_height": HostCost(1_000, 0),
        "block_time": HostCost(1_000, 0),
        "balance": HostCost(2_000, 0),
        "transfer": HostCost(9_000, 0),
        "call": HostCost(25_000, 3),
        "ai_enqueue": HostCost(50_000, 10),
        "quantum_enqueue": HostCost(50_000, 10),
        "read_result": HostCost(2_000, 3),
        "zk_verify": HostCost(40_000_000, 100),
        "random": HostCost(2_000, 10),
        "abort": HostCost(1_000, 1),
        "input": HostCost(1_000, 3),
        "output": HostCost(1_000, 3),
    }
)
"""Host function name (module ``env``) → its cost."""


def cost(name: str, nbytes: int) -> int:
    """``base + per_byte × nbytes`` for host call ``name``.

    ``KeyError`` for a name not in the table and ``ValueError`` for a negative
    ``nbytes``: both are programming errors in the host, not contract errors.
    """
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes < 0:
        raise ValueError("cost: nbytes must be a non-negative integer")
    entry = HOST_COSTS[name]
    return entry.base + entry.per_byte * nbytes
