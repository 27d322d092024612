"""The trap circuits of a QUANTUM_V1 job, the slot layout, and which slots a later beacon opens.

Protocol (ARCHITECTURE §7)
--------------------
1. *Assignment.*  When a job is leased, the beacon ``B_a`` of the assigning block fixes the
   job's plan (:func:`plan_job`): ``S = num_traps + 1`` slots, one holding the user circuit
   and the others trap circuits ``0 .. num_traps-1``, every slot run for the job's ``shots``.
2. *Commit.*  The provider runs every slot and commits on chain to the Merkle root of all
   ``S`` histograms (``commitment``), before the reveal beacon exists.
3. *Reveal.*  The beacon ``B_r`` of a block after the commitment (the caller picks it; see
   ``verify``) selects ``num_revealed`` of the trap slots (:func:`revealed_slots`).  The
   provider opens those and the user slot with Merkle proofs; the verifier checks each
   opened trap against its exact distribution (``stats``).

What the provider cannot know when it commits is *which* trap slots will be checked: a
provider that fakes ``f`` of the ``C = num_traps`` trap slots escapes only if none of them
is opened, with probability ``C(C-f, T) / C(C, T)`` for ``T = num_revealed`` (0.5 for
``f = 1`` with ``C = 16, T = 8``; ``1/12870`` for ``f = 8``).  Faking every trap is always
caught.

Threat model, stated plainly: the user circuit is public and recognizable, and trap
circuits are Clifford circuits that a classical computer can simulate.  Traps therefore
certify the *quality of the provider's answers on circuits like the user's* (a broken,
noisy, lazy or random-output device fails them); they cannot prove that the user circuit
itself ran on quantum hardware against a provider that simulates Cliffords classically and
fabricates only the user histogram.  That residual risk is priced by stake and slashing,
and the signed certificate makes any fabricated histogram attributable.

Slot layout
-----------
``user_slot = randbelow(S)`` from ``BeaconStream("cairn/quantum/layout/v1", B_a, task_id,
S)``; trap ``i`` sits in slot ``i`` if ``i < user_slot`` else ``i + 1``.

Reveal
------
``revealed_slots`` = the first ``T`` of a Fisher–Yates shuffle of the trap slot list
(ascending), drawn from ``BeaconStream("cairn/quantum/reveal/v1", B_r, task_id)``, then
sorted ascending.

Trap circuit ``i``
------------------
Drawn from ``BeaconStream("cairn/quantum/trap/v1", B_a, task_id, i, n, layers, k_max)``, on
the user circuit's ``n`` qubits, with gates from ``{h, s, sdg, x, y, z, cx, cz}`` only:

1. ``k = randbelow(k_max + 1)`` and a set ``A`` of ``k`` qubits (``subset(n, k)``); ``h`` on
   each qubit of ``A``.  The state is uniform over the ``2^k`` strings supported on ``A``.
2. ``W``: ``layers`` random layers; a layer is one gate drawn from ``(h, s, sdg, x, y, z)``
   on each qubit ``0..n-1`` in order, then the qubits shuffled and paired off
   ``(p_0, p_1), (p_2, p_3), ...``, each pair getting ``cx`` or ``cz`` (drawn in that order).
3. ``Q``: on each qubit in order, one of (nothing, ``x``, ``y``, ``z``).
4. ``W^-1``: the gates of ``W`` in reverse order, with ``s`` and ``sdg`` exchanged.
5. ``L``: two layers of a random affine scramble: qubits shuffled and paired with ``cx``
   (control first), then ``x`` on each qubit with probability 1/2 (in qubit order).
6. ``measure q[j] -> c[j]`` for every qubit.

The middle ``W · Q · W^-1`` is a Pauli (so the device must run ``2 · layers`` entangling
layers faithfully — a mirror circuit), and ``L`` is an invertible affine map, so the
outcome is uniform over an affine subspace of dimension exactly ``k``.  The verifier does
not rely on this construction: it computes each trap's support exactly with the stabilizer
tableau (``stabilizer.clifford_support``), and tests cross-check both.

``layers = clamp(ceil(depth(user) / 4), 1, max_trap_layers)``: each layer of ``W`` is two
gate layers deep and it runs twice, so a trap is about as deep as the user circuit.  ``k_max = min(floor(n / 2), floor(log2(shots / 16)))`` (0 when
``shots < 32``): at most half the qubits, so a provider answering uniformly at random puts
at least ``1 - 2^(k-n) >= 1/2`` of its shots outside the support; and at most ``shots/16``
support points, so the uniformity test has power (``stats``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from proofs.quantum.qasm import Circuit, Gate
from proofs.quantum.stream import BeaconStream

TRAP_TAG: Final[bytes] = b"cairn/quantum/trap/v1"
LAYOUT_TAG: Final[bytes] = b"cairn/quantum/layout/v1"
REVEAL_TAG: Final[bytes] = b"cairn/quantum/reveal/v1"

MAX_TRAPS: Final[int] = 255
MAX_REVEALED: Final[int] = 64
"""The false-reject bound in ``stats`` is stated for at most this many checked traps."""

_ONE_QUBIT: Final[tuple[str, ...]] = ("h", "s", "sdg", "x", "y", "z")
_PAULI: Final[tuple[str | None, ...]] = (None, "x", "y", "z")
_INVERSE: Final[dict[str, str]] = {"s": "sdg", "sdg": "s"}


@dataclass(frozen=True, slots=True)
class Trap:
    """A generated trap circuit and the dimension its construction aims at."""

    index: int
    circuit: Circuit
    hidden_dim: int
    """``k`` of step 1; the exact support (computed independently) has this dimension."""


def trap_layers(user_depth: int, max_trap_layers: int) -> int:
    """``clamp(ceil(user_depth / 4), 1, max_trap_layers)``."""
    return max(1, min(max_trap_layers, (user_depth + 3) // 4))


def max_support_dim(n_qubits: int, shots: int) -> int:
    """``k_max = min(n // 2, floor(log2(shots // 16)))``, and 0 if ``shots < 32``."""
    ratio = shots // 16
    return 0 if ratio < 2 else min(n_qubits // 2, ratio.bit_length() - 1)


def generate_trap(
    assign_beacon: bytes, task_id: bytes, index: int, n_qubits: int, layers: int, k_max: int
) -> Trap:
    """Trap circuit ``index`` of a job (module docstring, "Trap circuit i")."""
    rng = BeaconStream(TRAP_TAG, assign_beacon, task_id, index, n_qubits, layers, k_max)
    n = n_qubits
    gates: list[Gate] = []
    k = rng.randbelow(k_max + 1)
    for q in rng.subset(n, k):
        gates.append(Gate("h", (q,)))
    mirror: list[Gate] = []
    for _ in range(layers):
        for q in range(n):
            mirror.append(Gate(_ONE_QUBIT[rng.randbelow(len(_ONE_QUBIT))], (q,)))
        order = rng.shuffled(range(n))
        for j in range(0, n - 1, 2):
            mirror.append(Gate("cx" if rng.randbelow(2) == 0 else "cz", (order[j], order[j + 1])))
    gates.extend(mirror)
    for q in range(n):
        pauli = _PAULI[rng.randbelow(len(_PAULI))]
        if pauli is not None:
            gates.append(Gate(pauli, (q,)))
    for gate in reversed(mirror):
        gates.append(Gate(_INVERSE.get(gate.name, gate.name), gate.qubits))
    for _ in range(2):
        order = rng.shuffled(range(n))
        for j in range(0, n - 1, 2):
            gates.append(Gate("cx", (order[j], order[j + 1])))
        for q in range(n):
            if rng.randbelow(2):
                gates.append(Gate("x", (q,)))
    circuit = Circuit(
        n_qubits=n,
        n_clbits=n,
        gates=tuple(gates),
        measurements=tuple((q, q) for q in range(n)),
    )
    return Trap(index, circuit, k)


@dataclass(frozen=True, slots=True)
class JobPlan:
    """Everything the assignment beacon fixes about a job: slots, traps' shape, shots."""

    task_id: bytes
    assign_beacon: bytes
    user_circuit: Circuit
    shots: int
    num_traps: int
    num_revealed: int
    user_slot: int
    layers: int
    k_max: int

    @property
    def num_slots(self) -> int:
        """``S = num_traps + 1``."""
        return self.num_traps + 1

    @property
    def trap_slots(self) -> tuple[int, ...]:
        """Slots holding traps, ascending."""
        return tuple(s for s in range(self.num_slots) if s != self.user_slot)

    def trap_index(self, slot: int) -> int:
        """The trap index held in ``slot`` (not the user slot)."""
        if slot == self.user_slot or not 0 <= slot < self.num_slots:
            raise ValueError(f"slot {slot} holds no trap")
        return slot if slot < self.user_slot else slot - 1

    def trap_at(self, slot: int) -> Trap:
        """The trap circuit in ``slot``."""
        return generate_trap(
            self.assign_beacon,
            self.task_id,
            self.trap_index(slot),
            self.user_circuit.n_qubits,
            self.layers,
            self.k_max,
        )

    def circuit_at(self, slot: int) -> Circuit:
        """The circuit a provider runs in ``slot``."""
        return self.user_circuit if slot == self.user_slot else self.trap_at(slot).circuit


def plan_job(
    task_id: bytes,
    assign_beacon: bytes,
    user_circuit: Circuit,
    shots: int,
    *,
    num_traps: int,
    num_revealed: int,
    max_trap_layers: int,
) -> JobPlan:
    """The job's plan from the assignment beacon (module docstring, "Slot layout")."""
    if not 1 <= num_revealed <= min(num_traps, MAX_REVEALED) or num_traps > MAX_TRAPS:
        raise ValueError("need 1 <= num_revealed <= min(num_traps, 64) and num_traps <= 255")
    num_slots = num_traps + 1
    user_slot = BeaconStream(LAYOUT_TAG, assign_beacon, task_id, num_slots).randbelow(num_slots)
    return JobPlan(
        task_id=task_id,
        assign_beacon=assign_beacon,
        user_circuit=user_circuit,
        shots=shots,
        num_traps=num_traps,
        num_revealed=num_revealed,
        user_slot=user_slot,
        layers=trap_layers(user_circuit.depth, max_trap_layers),
        k_max=max_support_dim(user_circuit.n_qubits, shots),
    )


def revealed_slots(plan: JobPlan, reveal_beacon: bytes) -> tuple[int, ...]:
    """The trap slots the reveal beacon opens, ascending (module docstring, "Reveal")."""
    rng = BeaconStream(REVEAL_TAG, reveal_beacon, plan.task_id)
    return tuple(sorted(rng.shuffled(plan.trap_slots)[: plan.num_revealed]))
