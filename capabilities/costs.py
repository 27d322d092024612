"""The one gas table for host calls (DESIGN §6).

Rule: a host call ``name`` that moves ``nbytes`` bytes across the boundary costs::

    cost(name, nbytes) = HOST_COSTS[name].base + HOST_COSTS[name].per_byte × nbytes

charged *before* the call does its work (so a call that runs out of gas has no effect).
``nbytes`` is the sum of the lengths of every input the host reads from linear memory
and every output it writes back (``capabilities/specs/ABI.md`` says which, per call).

How the numbers were chosen
---------------------------
The unit is the engine's: 1 gas = 1 unit of wasmtime fuel ≈ one wasm operator
(``chain.vm.engine``).  A host call costs at least what the wasm code it replaces
would, and its base covers the fixed Python cost of crossing into the host (a few
microseconds ≈ a few hundred wasm operators):

* trivial getters (``caller``, ``self_address``, ``value``, ``block_height``,
  ``block_time``): 100 — one crossing, no state access;
* state reads (``storage_get``, ``balance``, ``read_result``): 2 000 — one flat-index
  lookup plus decode; + 3/byte for the copy;
* state writes (``storage_set``): 20 000 + 30/byte — every written byte lives in the
  state tree forever on every node; ``storage_delete`` 5 000 (shrinks state);
* ``emit_event``: 1 000 + 8/byte — receipts are kept, not in the tree;
* ``transfer``: 9 000 — two account reads and writes;
* ``call``: 10 000 + 3/byte — a new instance; the callee's own execution is metered
  from the gas passed on;
* ``ai_enqueue`` / ``quantum_enqueue``: 50 000 + 10/byte — a task id hash, an escrow,
  a job written to state and later matching work at block end;
* ``zk_verify``: 5 000 000 + 100/byte — a Groth16 check is several pairings, by far the
  most expensive thing a contract can ask for; the base is priced at the uncached
  cost (cached verdicts are charged the same, so gas does not depend on a node's cache);
* ``random``: 500 + 10/byte — hashing the beacon;
* ``abort``: 100 + 1/byte — reading the message.
* ``input`` / ``output``: 100 + 3/byte — copying call data in and return data out.

These are first numbers; ``make bench`` measures host-call cost and gas/s, and the
table is re-fit from those measurements.  Changing it changes consensus.
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
        "emit_event": HostCost(1_000, 8),
        "caller": HostCost(100, 0),
        "self_address": HostCost(100, 0),
        "value": HostCost(100, 0),
        "block_height": HostCost(100, 0),
        "block_time": HostCost(100, 0),
        "balance": HostCost(2_000, 0),
        "transfer": HostCost(9_000, 0),
        "call": HostCost(10_000, 3),
        "ai_enqueue": HostCost(50_000, 10),
        "quantum_enqueue": HostCost(50_000, 10),
        "read_result": HostCost(2_000, 3),
        "zk_verify": HostCost(5_000_000, 100),
        "random": HostCost(500, 10),
        "abort": HostCost(100, 1),
        "input": HostCost(100, 3),
        "output": HostCost(100, 3),
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
