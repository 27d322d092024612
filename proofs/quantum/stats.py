"""The statistical test an opened trap histogram must pass — exact rational arithmetic only.

A trap's outcome distribution is exactly uniform over an affine support ``S`` of
``N = 2^k`` points of ``F_2^n`` (``stabilizer``).  Given the trap's histogram of ``m``
shots, let ``out`` be the number of shots outside ``S``, ``m_in = m - out``, ``O_s`` the
count of each support point ``s`` (0 if absent), and ``ε = noise_bp / 10000`` the hardware
noise allowance (a genesis parameter, default 5%, at most 25%).

Test (a) — support.   ``out · 10000 <= noise_bp · m``  (reason ``quantum_trap_support``).

Test (b) — uniformity within the support (reason ``quantum_trap_uniformity``).  The
empirical total-variation distance of the in-support shots from uniform,

    TV = 1/2 · Σ_{s in S} |O_s / m_in - 1/N|  =  Σ_s |N·O_s - m_in| / (2·N·m_in),

must satisfy

    TV <= ε + sqrt((N - 1) / (4·m_in)) + sqrt(L / (2·m_in)),      L = 18.

Both sides are compared exactly: with ``B = TV - ε`` (a rational), ``r1 = (N-1)/(4 m_in)`` and
``r2 = L/(2 m_in)``, the bound holds iff ``B <= 0``, or ``B² - r1 - r2 <= 0``, or
``(B² - r1 - r2)² <= 4·r1·r2`` (squaring both non-negative sides twice).  No floating point.

False-reject rate (honest, noiseless provider)
----------------------------------------------
* (a) never fails: every shot lies in ``S``.
* (b): the ``m_in = m`` shots are i.i.d. uniform on ``S``.  ``TV`` is a function of them
  that changes by at most ``1/m`` when one shot changes (one count moves down and one up, each
  term by ``1/m``, halved), so McDiarmid's inequality gives
  ``P(TV >= E[TV] + t) <= exp(-2 m t²)``, and ``t = sqrt(L / (2m))`` makes this ``e^-L``.
  By Cauchy–Schwarz, ``E|O_s/m - 1/N| <= sqrt(Var(O_s/m)) = sqrt((1/N)(1 - 1/N)/m)``, so
  ``E[TV] <= 1/2 · N · sqrt((N-1)/N²/m) = sqrt((N-1)/(4m))``.  Hence one trap is falsely
  rejected with probability ``<= e^-18 ≈ 1.52e-8`` (the ``ε`` term only adds slack), and a
  job checks at most ``MAX_REVEALED = 64`` traps, so by the union bound
  **a job of an honest noiseless provider is rejected with probability at most
  64 · e^-18 ≈ 9.8e-7 < 1e-6.**  (The simulated honest provider in the tests is measured
  at 0 rejections.)  A noisy honest device whose error puts a fraction ``p`` of shots on
  arbitrary outcomes passes when ``p·(1 - 2^(k-n))`` stays below ``ε`` by a few standard
  deviations ``sqrt(ε/m)``; its in-support TV grows by at most ``p``, covered by the ``ε`` term.

False-accept rate (cheating provider)
-------------------------------------
* Uniform or i.i.d.-random answers over all ``2^n`` outcomes: each shot misses ``S`` with
  probability ``μ = 1 - 2^(k-n) >= 1/2`` (``k <= n/2`` by construction, ``traps``).  By
  Hoeffding, one trap passes (a) with probability ``<= exp(-2 m (μ - ε)²)``, and the ``T``
  opened traps are independent, so a job is accepted with probability
  ``<= exp(-2 m T (μ - ε)²)``.  Worst case in range (``n = 1``, ``ε = 5%``, ``m = 100``,
  ``T = 8``): ``exp(-324)``; for a 12-qubit job (``μ >= 1 - 2^-7``) with ``m = 1000``:
  ``exp(-1775)`` per trap.
* Any answer chosen without looking at the trap (fixed or random histograms, a guess of one
  outcome, ...): the trap's last layer applies ``x`` to each qubit with probability 1/2
  independently, so the support's offset is uniform over ``F_2^n`` and any fixed outcome lies
  in ``S`` with probability exactly ``2^(k-n) <= 1/2``.  So the expected in-support mass is
  ``<= 1/2``, and by Markov a trap passes (a) with probability ``<= 2^(k-n) / (1 - ε)``
  (``<= 0.53``; ``<= 2^-7/0.95`` for 12 qubits and ``m = 1000``, where ``k <= 5``),
  independently per trap: ``<= 0.53^T`` per job in the worst case and ``<= 3e-17`` for a
  12-qubit, 1000-shot job with ``T = 8``.  Test (b) in addition
  rejects concentrated answers (a point mass on ``S`` has ``TV = 1 - 1/N``).
* A provider that *does* simulate the Clifford trap classically passes; see the threat model
  in ``traps``.

Power of (b): ``N <= m/16`` by construction, so the threshold is at most
``ε + 1/8 + 3/sqrt(m)``; e.g. ``≈ 0.27`` at ``m = 1000``, ``ε = 5%``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from chain.errors import InvalidProof
from proofs.quantum.commitment import Histogram
from proofs.quantum.stabilizer import AffineSupport

CONFIDENCE_NATS: Final[int] = 18
"""``L``: each trap's uniformity test falsely rejects with probability at most ``e^-L``."""
MAX_NOISE_BP: Final[int] = 2500
BP: Final[int] = 10_000


@dataclass(frozen=True, slots=True)
class TrapStats:
    """What the test measured on one trap histogram (all integers)."""

    shots: int
    """``m``."""
    outside: int
    """Shots outside the exact support."""
    support_dim: int
    """``k``."""
    tv_numerator: int
    """``Σ_s |N·O_s - m_in|`` over all ``N`` support points; ``TV = tv_numerator / (2 N m_in)``."""

    @property
    def inside(self) -> int:
        """``m_in``."""
        return self.shots - self.outside

    @property
    def tv(self) -> Fraction:
        """The empirical total-variation distance from uniform on the support (0 if ``m_in = 0``)."""
        if self.inside == 0:
            return Fraction(0)
        return Fraction(self.tv_numerator, 2 * (1 << self.support_dim) * self.inside)

    @property
    def inside_bp(self) -> int:
        """``floor(10000 · m_in / m)``: the fraction of shots in the support, in basis points."""
        return self.inside * BP // self.shots


def trap_statistics(support: AffineSupport, histogram: Histogram) -> TrapStats:
    """Count the shots outside ``support`` and the TV numerator of those inside."""
    n_points = support.size
    outside = 0
    inside = 0
    hit: list[int] = []
    for outcome, count in histogram.counts:
        if support.contains(outcome):
            inside += count
            hit.append(count)
        else:
            outside += count
    tv_num = sum(abs(n_points * c - inside) for c in hit) + (n_points - len(hit)) * inside
    return TrapStats(histogram.shots, outside, support.dim, tv_num)


def uniformity_bound_holds(tv: Fraction, n_points: int, inside: int, noise_bp: int) -> bool:
    """``tv <= ε + sqrt((N-1)/(4 m_in)) + sqrt(L/(2 m_in))``, decided exactly (module docstring)."""
    if inside == 0:
        return True
    slack = tv - Fraction(noise_bp, BP)
    if slack <= 0:
        return True
    r1 = Fraction(n_points - 1, 4 * inside)
    r2 = Fraction(CONFIDENCE_NATS, 2 * inside)
    lhs = slack * slack - r1 - r2
    return lhs <= 0 or lhs * lhs <= 4 * r1 * r2


def check_trap(support: AffineSupport, histogram: Histogram, noise_bp: int, *, slot: int = -1) -> TrapStats:
    """Run tests (a) and (b) on one opened trap; raise ``InvalidProof`` naming the failed test."""
    if not 0 <= noise_bp <= MAX_NOISE_BP:
        raise ValueError(f"noise_bp must be in [0, {MAX_NOISE_BP}]")
    stats = trap_statistics(support, histogram)
    if stats.shots == 0:
        raise InvalidProof("quantum_bad_histogram", "empty trap histogram", slot=slot)
    if stats.outside * BP > noise_bp * stats.shots:
        raise InvalidProof(
            "quantum_trap_support",
            f"trap in slot {slot}: {stats.outside} of {stats.shots} shots fall outside the exact support "
            f"(allowance {noise_bp} bp)",
            slot=slot,
            outside=stats.outside,
            shots=stats.shots,
            noise_bp=noise_bp,
        )
    if not uniformity_bound_holds(stats.tv, support.size, stats.inside, noise_bp):
        raise InvalidProof(
            "quantum_trap_uniformity",
            f"trap in slot {slot}: in-support shots are {float(stats.tv):.3f} from uniform in total variation",
            slot=slot,
            tv_numerator=stats.tv_numerator,
            support_dim=stats.support_dim,
            inside=stats.inside,
        )
    return stats
