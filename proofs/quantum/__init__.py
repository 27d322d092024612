"""QUANTUM_V1: verified results of off-chain quantum jobs (ARCHITECTURE §7).

A job is an OpenQASM 2.0 circuit (``qasm``) plus trap circuits derived from the beacon that
assigned it (``traps``): random Clifford circuits whose outcome distribution is known
exactly (``stabilizer``).  The provider runs every slot, commits to a Merkle root of all
outcome histograms (``commitment``), and only then does a later beacon pick which trap
slots to open.  The verifier checks the opened traps with an exact statistical test
(``stats``) and the provider's signed certificate (``verify``).  ``stream`` is the SHA3
counter-mode randomness every derivation draws from.  This package is the verifier only:
the provider's side (simulating, committing, opening) is ``node.provider.quantum``.

Everything here is pure: no I/O, no clock, no OS randomness; everything that decides
validity is integer or exact-rational arithmetic.
"""

from proofs.quantum.commitment import (
    Histogram,
    leaf_hash,
    merkle_proof,
    merkle_root,
    output_digest,
    verify_inclusion,
)
from proofs.quantum.qasm import Circuit, Gate, circuit_to_qasm, parse_qasm
from proofs.quantum.stabilizer import AffineSupport, clifford_support
from proofs.quantum.stats import TrapStats, check_trap
from proofs.quantum.traps import JobPlan, Trap, generate_trap, plan_job, revealed_slots
from proofs.quantum.verify import (
    QuantumContext,
    QuantumParams,
    QuantumResultBody,
    RevealedTrap,
    VerifiedQuantumResult,
    make_plan,
    plan_for,
    verify_quantum_result,
)

__all__ = [
    "AffineSupport",
    "Circuit",
    "Gate",
    "Histogram",
    "JobPlan",
    "QuantumContext",
    "QuantumParams",
    "QuantumResultBody",
    "RevealedTrap",
    "Trap",
    "TrapStats",
    "VerifiedQuantumResult",
    "check_trap",
    "circuit_to_qasm",
    "clifford_support",
    "generate_trap",
    "leaf_hash",
    "make_plan",
    "merkle_proof",
    "merkle_root",
    "output_digest",
    "parse_qasm",
    "plan_for",
    "plan_job",
    "revealed_slots",
    "verify_inclusion",
    "verify_quantum_result",
]
