"""The native Groth16 pairing check: a thin adapter over the optional ``groth16py`` package.

``groth16py`` (GPL-3.0, arkworks compiled to a CPython extension; see docs/DEPENDENCIES.md)
is the only module of Cairn that imports it, and only here.  It is an *accelerator* for the
last step of :mod:`proofs.groth16`, never a parser of untrusted input:

* :mod:`proofs.groth16` parses and checks every input with its own rules first (canonical
  decimals, ranges, on-curve, the G2 subgroup checks, public inputs ``< r``, counts);
* it then hands this adapter only values it produced itself: a verifying key re-serialized as
  canonical snarkjs JSON (:func:`load_verifier`) and the proof as the 256-byte Ethereum
  layout ``A.x ‖ A.y ‖ B.x.c1 ‖ B.x.c0 ‖ B.y.c1 ‖ B.y.c0 ‖ C.x ‖ C.y`` (:func:`pairing_check`);
* whenever the library refuses such a value (it raises, panics, or returns something that is
  not a ``bool``) the adapter answers ``None`` and the caller runs the py_ecc reference on the
  same values.  So a validator's verdict never depends on the library's parser or its error
  handling: the library can only be asked the pairing question on inputs that the reference
  rules already accepted.  One known case: ``groth16py`` 0.2.0 refuses an ``IC`` point at
  infinity, which our rules allow; such keys are verified by py_ecc.

Importing this module never fails: :data:`AVAILABLE` says whether the package is installed
at exactly :data:`PINNED_VERSION` (another version is treated as absent, since its verdicts
decide block validity and only the pinned one was checked against the reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

PINNED_VERSION: Final[str] = "0.2.0"
"""The one ``groth16py`` version this adapter is allowed to use (pyproject pins it too)."""

_lib: Any
try:  # an optional, compiled dependency: no I/O happens on import
    import groth16py as _lib
except ImportError:  # pragma: no cover - exercised only where the extra is not installed
    _lib = None

AVAILABLE: Final[bool] = _lib is not None and getattr(_lib, "__version__", None) == PINNED_VERSION
"""True when ``groth16py`` at :data:`PINNED_VERSION` can be used."""

_PASS_THROUGH: Final = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _refused(exc: BaseException) -> None:
    """Swallow a library failure (any ``Exception``, or a Rust panic, which pyo3 raises as a
    ``BaseException``), but never an interpreter exit or interrupt."""
    if isinstance(exc, _PASS_THROUGH):
        raise exc


def load_verifier(vk_json: str) -> Any | None:
    """A prepared ``groth16py.Verifier`` for canonical snarkjs key JSON, or None if refused."""
    if not AVAILABLE or _lib is None:
        return None
    try:
        return _lib.Verifier(_lib.VerifyingKey.from_snarkjs(vk_json))
    except BaseException as exc:
        _refused(exc)
        return None


def pairing_check(verifier: Any, proof_blob: bytes, inputs: Sequence[int]) -> bool | None:
    """The library's answer to the Groth16 pairing equation, or None when it gives none."""
    try:
        result = verifier.verify(proof_blob, list(inputs))
    except BaseException as exc:
        _refused(exc)
        return None
    return result if type(result) is bool else None
