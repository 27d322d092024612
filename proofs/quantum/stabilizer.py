"""Exact outcome distributions of Clifford circuits (a stabilizer tableau, integers only).

The trap check decides validity, so the distribution it tests against is computed exactly,
with integer bit operations only — no floating point anywhere.

Fact used.  A Clifford circuit maps ``|0^n>`` to a stabilizer state; measuring every qubit
in the computational basis gives an outcome that is *uniform over an affine subspace* of
``F_2^n`` of size ``2^k``.  Concretely: among the state's stabilizer group, the elements made
of ``Z`` and ``I`` only, ``(-1)^r Z^{m}`` (``Z`` on the qubits of bitmask ``m``), form a
subgroup with ``n - k`` independent generators, and the support is

    { x in F_2^n : parity(m_j & x) = r_j  for every generator j },

each point having probability exactly ``2^-k``.  (A ``Z``-type stabilizer fixes the parity
``m·x``; any stabilizer with an ``X`` part flips some bits, so it pairs up basis states of
equal weight, which makes the distribution uniform on the solution set.)

Tableau.  We track the ``n`` stabilizer generators of the state (the Aaronson–Gottesman
representation, Phys. Rev. A 70, 052328 (2004), without the destabilizer half, which is
needed only for one-qubit-at-a-time measurement).  Generator ``i`` is ``(-1)^{r_i}
P(x_i1, z_i1) ⊗ ... ⊗ P(x_in, z_in)`` with ``P(0,0)=I, P(1,0)=X, P(1,1)=Y, P(0,1)=Z``.  The
state is stored by columns: for each qubit ``a`` two ``n``-bit integers ``X[a]``, ``Z[a]``
(bit ``i`` = generator ``i``) and one integer ``R`` of signs, so each gate is a few
big-integer operations (``&``, ``^``) that update all generators at once:

    h a:      R ^= X[a] & Z[a];            swap X[a], Z[a]
    s a:      R ^= X[a] & Z[a];            Z[a] ^= X[a]
    sdg a:    R ^= X[a] & ~Z[a];           Z[a] ^= X[a]
    x a:      R ^= Z[a]          z a:  R ^= X[a]          y a:  R ^= X[a] ^ Z[a]
    cx a,b:   R ^= X[a] & Z[b] & ~(X[b] ^ Z[a]);  X[b] ^= X[a];  Z[a] ^= Z[b]
    cz a,b:   R ^= X[a] & X[b] & (Z[a] ^ Z[b]);   Z[a] ^= X[b];  Z[b] ^= X[a]

Support.  The generators are brought to row-echelon form on their ``X`` parts by Gaussian
elimination over ``F_2``, multiplying Pauli rows with the exact phase rule of
Aaronson–Gottesman (``i^g`` per qubit, ``g`` in ``{-1, 0, 1}``; a product of commuting
Hermitian Paulis has phase ``±1``, checked).  The rows whose ``X`` part becomes zero are the
``Z``-type generators; they are reduced once more (plain ``F_2`` elimination, signs add
mod 2) to a canonical reduced row-echelon form, and ``k = n - (their number)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from proofs.quantum.qasm import Circuit

CLIFFORD_GATES: Final[frozenset[str]] = frozenset({"id", "h", "s", "sdg", "x", "y", "z", "cx", "cz", "swap"})


@dataclass(frozen=True, slots=True)
class AffineSupport:
    """``{x in [0, 2^n) : parity(mask & x) == parity_bit for every (mask, parity_bit)}``.

    ``constraints`` is in reduced row-echelon form: each mask's lowest set bit (its pivot) is
    set in no other mask, and constraints are sorted by pivot — so two equal supports have
    equal ``constraints``.  Every point has probability exactly ``2^-dim``.
    """

    n: int
    constraints: tuple[tuple[int, int], ...]

    @property
    def dim(self) -> int:
        """``k``: the support has ``2^k`` points."""
        return self.n - len(self.constraints)

    @property
    def size(self) -> int:
        """Number of points, ``2^dim``."""
        return 1 << self.dim

    def contains(self, x: int) -> bool:
        """Whether outcome ``x`` has nonzero probability."""
        if not 0 <= x < (1 << self.n):
            return False
        return all((mask & x).bit_count() & 1 == bit for mask, bit in self.constraints)

    def points(self) -> Iterator[int]:
        """Every point, ascending by the free bits (use for small ``dim`` only)."""
        pivots = [mask & -mask for mask, _ in self.constraints]
        pivot_all = sum(pivots)
        free = [1 << b for b in range(self.n) if not (pivot_all >> b) & 1]
        for assignment in range(1 << len(free)):
            x = sum(bit for j, bit in enumerate(free) if (assignment >> j) & 1)
            for (mask, parity), pivot in zip(self.constraints, pivots, strict=True):
                if ((mask & x).bit_count() & 1) != parity:
                    x |= pivot
            yield x


def _rref(rows: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Reduced row-echelon form over F_2 of ``(mask, parity)`` rows (no zero rows kept)."""
    basis: list[tuple[int, int]] = []
    for mask, bit in rows:
        for b_mask, b_bit in basis:
            pivot = b_mask & -b_mask
            if mask & pivot:
                mask, bit = mask ^ b_mask, bit ^ b_bit
        if mask == 0:
            if bit:
                raise AssertionError("inconsistent Z-type stabilizers (-I in the group)")
            continue
        pivot = mask & -mask
        basis = [((m ^ mask, p ^ bit) if m & pivot else (m, p)) for m, p in basis]
        basis.append((mask, bit))
    return tuple(sorted(basis, key=lambda row: row[0] & -row[0]))


def _pauli_product(x1: int, z1: int, r1: int, x2: int, z2: int, r2: int, full: int) -> tuple[int, int, int]:
    """``P1 · P2`` of two commuting Hermitian Pauli rows, with the exact sign."""
    y1 = x1 & z1
    xo = x1 & ~z1 & full
    zo = ~x1 & z1 & full
    nx2, nz2 = ~x2 & full, ~z2 & full
    plus = (y1 & z2 & nx2) | (xo & z2 & x2) | (zo & x2 & nz2)
    minus = (y1 & x2 & nz2) | (xo & z2 & nx2) | (zo & x2 & z2)
    phase = (2 * r1 + 2 * r2 + plus.bit_count() - minus.bit_count()) % 4
    if phase & 1:
        raise AssertionError("product of anticommuting stabilizers")
    return x1 ^ x2, z1 ^ z2, phase >> 1


def clifford_support(circuit: Circuit) -> AffineSupport:
    """The exact support of ``circuit``'s outcome over its qubits (module docstring).

    The outcome is the basis state ``x`` with qubit ``q`` as bit ``q`` (all qubits measured).
    Raises ``ValueError`` if the circuit contains a non-Clifford gate.
    """
    n = circuit.n_qubits
    full = (1 << n) - 1  # one bit per generator
    xs = [0] * n
    zs = [1 << a for a in range(n)]  # |0^n>: generator a is Z_a
    r = 0
    for gate in circuit.gates:
        name = gate.name
        if name not in CLIFFORD_GATES:
            raise ValueError(f"gate {name!r} is not a Clifford gate")
        if len(gate.qubits) == 1:
            a = gate.qubits[0]
            if name == "h":
                r ^= xs[a] & zs[a]
                xs[a], zs[a] = zs[a], xs[a]
            elif name == "s":
                r ^= xs[a] & zs[a]
                zs[a] ^= xs[a]
            elif name == "sdg":
                r ^= xs[a] & ~zs[a] & full
                zs[a] ^= xs[a]
            elif name == "x":
                r ^= zs[a]
            elif name == "z":
                r ^= xs[a]
            elif name == "y":
                r ^= xs[a] ^ zs[a]
            # "id": nothing
        else:
            a, b = gate.qubits
            if name == "cx":
                r ^= xs[a] & zs[b] & ~(xs[b] ^ zs[a]) & full
                xs[b] ^= xs[a]
                zs[a] ^= zs[b]
            elif name == "cz":
                r ^= xs[a] & xs[b] & (zs[a] ^ zs[b])
                zs[a] ^= xs[b]
                zs[b] ^= xs[a]
            else:  # swap
                xs[a], xs[b] = xs[b], xs[a]
                zs[a], zs[b] = zs[b], zs[a]
    # Transpose to rows: generator i is (x_i, z_i, r_i) with qubit bitmasks.
    qubits_all = (1 << n) - 1
    rows: list[tuple[int, int, int]] = []
    for i in range(n):
        x = sum(1 << a for a in range(n) if (xs[a] >> i) & 1)
        z = sum(1 << a for a in range(n) if (zs[a] >> i) & 1)
        rows.append((x, z, (r >> i) & 1))
    # Gaussian elimination on the X parts.
    top = 0
    for a in range(n):
        bit = 1 << a
        pivot = next((i for i in range(top, n) if rows[i][0] & bit), None)
        if pivot is None:
            continue
        rows[top], rows[pivot] = rows[pivot], rows[top]
        px, pz, pr = rows[top]
        for i in range(n):
            if i != top and rows[i][0] & bit:
                rows[i] = _pauli_product(rows[i][0], rows[i][1], rows[i][2], px, pz, pr, qubits_all)
        top += 1
    z_type = [(z, sign) for x, z, sign in rows[top:]]
    if any(x for x, _, _ in rows[top:]):
        raise AssertionError("elimination left an X part")
    return AffineSupport(n, _rref(z_type))
