"""Groth16 over BN254 (alt_bn128), reading snarkjs's JSON formats.

This is the verifier behind the ``ZK_GROTH16_BN254`` proof type and the ``zk_verify``
capability.  It is a pure function of its three inputs; the only state is an optional,
caller-owned :class:`Groth16Cache` that memoizes that function.

Inputs
------
* ``verification_key.json``: ``{"protocol": "groth16", "curve": "bn128", "nPublic": n,
  "vk_alpha_1": G1, "vk_beta_2": G2, "vk_gamma_2": G2, "vk_delta_2": G2, "IC": [G1 × (n+1)]}``.
  ``vk_alphabeta_12`` and any other key are ignored: ``e(alpha, beta)`` is always recomputed
  from ``alpha`` and ``beta``, never trusted from the file.
* ``proof.json``: ``{"pi_a": G1, "pi_b": G2, "pi_c": G1, "protocol": ..., "curve": ...}``;
  ``protocol`` and ``curve`` may be absent, and are checked when present.
* ``public.json``: a JSON array of ``n`` decimal strings.

Each may be given as JSON bytes (UTF-8), a ``str``, or the already-parsed JSON value.

Points are in snarkjs's projective form, always normalized: G1 ``[x, y, "1"]``, G2
``[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]`` (``x = c0 + c1·u``, ``u² = -1``), and the
point at infinity ``["0", "1", "0"]`` / ``[["0", "0"], ["1", "0"], ["0", "0"]]``.

Rules (each broken rule raises ``InvalidProof`` with the ``reason`` in brackets)
-------------------------------------------------------------------------------
* JSON text must be valid UTF-8 JSON of at most ``MAX_JSON_BYTES`` bytes and
  ``MAX_JSON_DEPTH`` levels of nesting, without duplicate object keys or NaN/Infinity
  literals [``json_malformed``]; values must have the shapes above
  [``bad_shape``]; ``protocol`` must be ``"groth16"`` [``wrong_protocol``] and ``curve``
  ``"bn128"`` or its other name ``"bn254"`` [``wrong_curve``].
* Every number is a canonical decimal string: ``"0"`` or ASCII ``[1-9][0-9]*``; no sign, no
  leading zero, no whitespace, no ``_``, no JSON number [``non_canonical_integer``].
* Coordinates are ``< p`` (the base field modulus) [``coordinate_out_of_range``]; the third
  coordinate is exactly ``1`` (or the canonical infinity) [``non_affine_point``].
* Every point is on its curve, ``y² = x³ + 3`` over Fp or ``y² = x³ + 3/(9+u)`` over Fp²
  [``point_not_on_curve``].  G1 has cofactor 1, so on-curve G1 points are in the group; every
  G2 point (``beta``, ``gamma``, ``delta``, ``B``) must satisfy ``r·P = O``
  [``point_not_in_subgroup``].
* ``alpha``, ``beta``, ``gamma``, ``delta``, ``A``, ``B``, ``C`` are not the point at infinity
  [``point_at_infinity``] (a vk with ``gamma = O`` or ``delta = O`` would accept forgeries;
  an honest proof has such a point with negligible probability).  ``IC`` points may be.
* ``nPublic`` equals ``len(IC) - 1`` [``npublic_mismatch``], at most ``MAX_PUBLIC_INPUTS``
  [``too_many_public_inputs``]; ``public.json`` holds exactly ``nPublic`` values
  [``public_input_count``], each ``< r`` [``public_input_out_of_range``]: an input ``≥ r``
  is rejected, never reduced, so one statement has one encoding.

Verdict convention
------------------
``verify_groth16`` **raises** ``InvalidProof`` when an input is malformed (any rule above) and
**returns** ``True``/``False`` for a well-formed proof according to the pairing check

    e(-A, B) · e(alpha, beta) · e(vk_x, gamma) · e(C, delta) == 1,
    vk_x = IC[0] + Σ public[i] · IC[i+1],

computed as four Miller loops multiplied together and one final exponentiation.  A caller
that wants a single verdict (the CLI, ``zk_verify``) uses :func:`groth16_verdict`, which
folds both into ``Groth16Verdict(valid, reason)``; the reason of a well-formed proof that
fails the check is ``pairing_check_failed``.

Names
-----
A key's digest, ``vk_digest = H("cairn/groth16-vk/v1", encode([1, alpha, beta, gamma, delta,
[IC...]]))`` with every coordinate as 32 bytes big-endian (G1 ``x‖y``, G2 ``x.c0‖x.c1‖y.c0‖y.c1``,
infinity as empty bytes), names it on chain independently of its JSON spelling.

Caching
-------
Syntax checks (JSON, shapes, decimal strings, ranges, counts, on-curve) always run; they are
cheap.  The expensive part (G2 subgroup checks and the pairings) is memoized in a
:class:`Groth16Cache` under ``statement_key = H("cairn/groth16-cache/v1", canonical vk,
proof and inputs)``: two inputs get one key exactly when they denote the same
(vk, proof, inputs) values, whatever their JSON spelling.  The cache also keeps, per
verification key, the checked key and its ``e(alpha, beta)`` Miller loop, so later proofs
for the same key skip that work.  A cache never changes a verdict, only how fast it comes.

Backends
--------
Only the last step, the pairing equation, has two implementations (:data:`BACKENDS`):

* ``"py_ecc"``: the reference and the default (:data:`DEFAULT_BACKEND`), pure Python,
  about 0.7 s a proof;
* ``"native"``: arkworks through the optional ``groth16py`` package (the ``native`` extra,
  GPL-3.0, pinned to one version; docs/DEPENDENCIES.md), a few milliseconds, adapted in
  :mod:`proofs.groth16_native`.

Every syntactic rule above (parsing, ranges, on-curve, counts) runs the same way for both,
before the backend is asked anything, and the native backend only ever sees values
re-encoded by this module.  The G2 subgroup checks are where the backends differ in *how*,
not in *what*: with py_ecc they are ``r·P = O`` in pure Python (~22 ms a point, more than
the rest of a native verification); with ``native`` the library does them itself
(``groth16py`` refuses a key or a ``B`` outside G2 with an ``EncodingError``, arkworks'
endomorphism test) and this module skips its own.  Whenever the library refuses anything,
the reference path runs on the same values from the start: its subgroup checks give the
reason, or, if they pass, its pairing gives the verdict.  So the library only decides a
verdict when it accepted every point, and the two backends give the same verdict and the
same reason for every input; validators may run either one.  tests/proofs/test_groth16_native.py
checks this on every vector and on generated keys and proofs with points outside G2.

A caller chooses with ``backend=`` on :func:`verify_groth16`, :func:`verify_parsed` and
:func:`groth16_verdict`, or once for everything that shares a cache with
``Groth16Cache(backend=...)`` (the cache handed to ``capabilities.host_functions`` sets it
for ``zk_verify``; the node still builds its cache with the default); an explicit argument
wins over the cache's choice, and with neither the default is used.  ``"auto"`` means
``"native"`` when ``groth16py`` is installed and ``"py_ecc"`` otherwise; naming
``"native"`` where it is not installed is a ``ValueError`` (:func:`resolve_backend`).  The
memo is shared by both backends: their outcomes are the same by construction.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from py_ecc import optimized_bn128 as bn

from chain.codec import encode
from chain.errors import InvalidProof
from chain.hashing import H
from proofs import groth16_native

# --- constants ---------------------------------------------------------------------

FIELD_MODULUS: Final[int] = 21888242871839275222246405745257275088696311157297823662689037894645226208583
"""p, the order of the base field Fp of BN254."""

CURVE_ORDER: Final[int] = 21888242871839275222246405745257275088548364400416034343698204186575808495617
"""r, the order of G1 and G2 and of the scalar field."""

if FIELD_MODULUS != bn.field_modulus or CURVE_ORDER != bn.curve_order:  # pragma: no cover
    raise ImportError("py_ecc's BN254 constants differ from ours")

MAX_JSON_BYTES: Final[int] = 1 << 20
"""Largest JSON document accepted (bytes)."""

MAX_JSON_DEPTH: Final[int] = 32
"""Deepest JSON nesting accepted (snarkjs documents nest at most 5 deep)."""

MAX_PUBLIC_INPUTS: Final[int] = 1024
"""Largest ``nPublic`` accepted; each input costs one G1 scalar multiplication."""

_MAX_DIGITS: Final[int] = len(str(FIELD_MODULUS))  # 77: a longer canonical decimal is ≥ p
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP: Final[dict[str, int]] = {"[": 1, "{": 1, "]": -1, "}": -1}
_CURVE_NAMES: Final[frozenset[str]] = frozenset({"bn128", "bn254"})

TAG_CACHE_KEY: Final[bytes] = b"cairn/groth16-cache/v1"
TAG_VK: Final[bytes] = b"cairn/groth16-vk/v1"

JsonInput: TypeAlias = bytes | bytearray | str | dict[str, Any] | list[Any]
"""JSON text (bytes or str) or an already-parsed JSON value."""

G1Point: TypeAlias = tuple[int, int] | None
"""An affine G1 point ``(x, y)``, or ``None`` for the point at infinity."""

G2Point: TypeAlias = tuple[tuple[int, int], tuple[int, int]] | None
"""An affine G2 point ``((x.c0, x.c1), (y.c0, y.c1))``, or ``None`` for infinity."""

_B1 = bn.FQ(3)
_B2 = bn.b2

BACKENDS: Final[tuple[str, ...]] = ("py_ecc", "native")
"""The pairing-check backends, reference first."""

DEFAULT_BACKEND: Final[str] = "py_ecc"
"""The backend used when a caller names none."""


def native_available() -> bool:
    """Whether the ``native`` backend can run here (``groth16py`` at its pinned version)."""
    return groth16_native.AVAILABLE


def resolve_backend(name: str | None) -> str:
    """A backend name from :data:`BACKENDS` for ``name`` (``None``: the default; ``"auto"``:
    native when installed, else py_ecc); ``ValueError`` for an unknown or unavailable one."""
    if name is None:
        return DEFAULT_BACKEND
    if name == "auto":
        return "native" if native_available() else "py_ecc"
    if name not in BACKENDS:
        raise ValueError(f"unknown Groth16 backend {name!r}; expected one of {BACKENDS} or 'auto'")
    if name == "native" and not native_available():
        raise ValueError(
            f"Groth16 backend 'native' needs groth16py=={groth16_native.PINNED_VERSION} "
            "(pip install 'cairn[native]')"
        )
    return name


# --- parsed values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """A syntactically valid Groth16 verifying key (points on their curves)."""

    alpha: G1Point
    """``vk_alpha_1``."""
    beta: G2Point
    """``vk_beta_2``."""
    gamma: G2Point
    """``vk_gamma_2``."""
    delta: G2Point
    """``vk_delta_2``."""
    ic: tuple[G1Point, ...]
    """``IC``: ``nPublic + 1`` points."""

    @property
    def n_public(self) -> int:
        """Number of public inputs this key expects."""
        return len(self.ic) - 1

    def canonical(self) -> list[Any]:
        """A canonical CBOR-ready form: coordinates as 32-byte big-endian strings."""
        return [
            1,
            _g1_bytes(self.alpha),
            _g2_bytes(self.beta),
            _g2_bytes(self.gamma),
            _g2_bytes(self.delta),
            [_g1_bytes(p) for p in self.ic],
        ]

    def digest(self) -> bytes:
        """``H("cairn/groth16-vk/v1", encode(canonical))``: names this key on chain."""
        return H(TAG_VK, encode(self.canonical()))


@dataclass(frozen=True, slots=True)
class Proof:
    """A syntactically valid Groth16 proof (points on their curves)."""

    a: G1Point
    """``pi_a``."""
    b: G2Point
    """``pi_b``."""
    c: G1Point
    """``pi_c``."""

    def canonical(self) -> list[Any]:
        """A canonical CBOR-ready form: coordinates as 32-byte big-endian strings."""
        return [_g1_bytes(self.a), _g2_bytes(self.b), _g1_bytes(self.c)]


@dataclass(frozen=True, slots=True)
class Groth16Verdict:
    """A single verdict for callers that print or store one (CLI, ``zk_verify``)."""

    valid: bool
    """True exactly when the inputs are well formed and the pairing check holds."""
    reason: str
    """``"ok"``, ``"pairing_check_failed"``, or the ``InvalidProof`` reason."""
    public_inputs: tuple[int, ...] = ()
    """The parsed public inputs (empty when they could not be parsed)."""
    vk_digest: bytes | None = None
    """The verifying key's digest (None when the key could not be parsed)."""


def _int32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _g1_bytes(point: G1Point) -> bytes:
    if point is None:
        return b""
    return _int32(point[0]) + _int32(point[1])


def _g2_bytes(point: G2Point) -> bytes:
    if point is None:
        return b""
    (x0, x1), (y0, y1) = point
    return _int32(x0) + _int32(x1) + _int32(y0) + _int32(y1)


# --- JSON and field parsing --------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _json_depth(text: str) -> int:
    """The deepest bracket nesting of JSON text (string contents skipped), in C-speed steps.

    ``json.loads`` recurses once per level; bounding the depth first means a hostile
    document cannot exhaust the stack, whatever the interpreter's recursion limit is.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)))


def load_json(data: JsonInput, what: str) -> Any:
    """Parse JSON text strictly, or pass an already-parsed value through."""
    if isinstance(data, (dict, list)):
        return data
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MAX_JSON_BYTES:
            raise InvalidProof("json_malformed", f"{what}: larger than {MAX_JSON_BYTES} bytes")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidProof("json_malformed", f"{what}: not UTF-8") from exc
    elif isinstance(data, str):
        text = data
        if len(text) > MAX_JSON_BYTES:
            raise InvalidProof("json_malformed", f"{what}: larger than {MAX_JSON_BYTES} characters")
    else:
        raise InvalidProof("json_malformed", f"{what}: expected JSON text or a parsed JSON value")
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise InvalidProof("json_malformed", f"{what}: nested deeper than {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidProof("json_malformed", f"{what}: not valid JSON: {exc}") from exc


def parse_decimal(value: Any, what: str, bound: int, *, reason: str = "coordinate_out_of_range") -> int:
    """A canonical decimal string (``0`` or ``[1-9][0-9]*``) whose value is ``< bound``."""
    if not isinstance(value, str) or _DECIMAL.fullmatch(value) is None:
        raise InvalidProof("non_canonical_integer", f"{what}: not a canonical decimal string")
    if len(value) > _MAX_DIGITS:
        raise InvalidProof(reason, f"{what}: value out of range")
    number = int(value)
    if number >= bound:
        raise InvalidProof(reason, f"{what}: value {number} is not below {bound}")
    return number


def _expect_list(value: Any, what: str, length: int) -> list[Any]:
    if not isinstance(value, list) or len(value) != length:
        raise InvalidProof("bad_shape", f"{what}: expected an array of {length} items")
    return value


def _expect_field(obj: dict[str, Any], key: str, what: str) -> Any:
    if key not in obj:
        raise InvalidProof("bad_shape", f"{what}: missing {key!r}")
    return obj[key]


def parse_g1(value: Any, what: str) -> G1Point:
    """A G1 point ``[x, y, "1"]`` (or ``["0", "1", "0"]``), checked to be on the curve."""
    items = _expect_list(value, what, 3)
    x = parse_decimal(items[0], f"{what}.x", FIELD_MODULUS)
    y = parse_decimal(items[1], f"{what}.y", FIELD_MODULUS)
    z = parse_decimal(items[2], f"{what}.z", FIELD_MODULUS)
    if z == 0:
        if (x, y) != (0, 1):
            raise InvalidProof("non_affine_point", f"{what}: non-canonical point at infinity")
        return None
    if z != 1:
        raise InvalidProof("non_affine_point", f"{what}: z must be 1")
    fx, fy = bn.FQ(x), bn.FQ(y)
    if fy * fy != fx * fx * fx + _B1:
        raise InvalidProof("point_not_on_curve", f"{what}: not on the BN254 G1 curve")
    return (x, y)


def _parse_fq2(value: Any, what: str) -> tuple[int, int]:
    items = _expect_list(value, what, 2)
    return (
        parse_decimal(items[0], f"{what}.c0", FIELD_MODULUS),
        parse_decimal(items[1], f"{what}.c1", FIELD_MODULUS),
    )


def parse_g2(value: Any, what: str) -> G2Point:
    """A G2 point ``[[x0, x1], [y0, y1], ["1", "0"]]`` checked to be on the twist curve.

    Subgroup membership is not checked here (it costs a scalar multiplication); see
    :func:`check_g2_subgroup`.
    """
    items = _expect_list(value, what, 3)
    x = _parse_fq2(items[0], f"{what}.x")
    y = _parse_fq2(items[1], f"{what}.y")
    z = _parse_fq2(items[2], f"{what}.z")
    if z == (0, 0):
        if (x, y) != ((0, 0), (1, 0)):
            raise InvalidProof("non_affine_point", f"{what}: non-canonical point at infinity")
        return None
    if z != (1, 0):
        raise InvalidProof("non_affine_point", f"{what}: z must be 1")
    fx, fy = bn.FQ2(list(x)), bn.FQ2(list(y))
    if fy * fy != fx * fx * fx + _B2:
        raise InvalidProof("point_not_on_curve", f"{what}: not on the BN254 G2 twist curve")
    return (x, y)


def _check_header(obj: dict[str, Any], what: str, *, required: bool) -> None:
    for key, allowed, reason in (
        ("protocol", frozenset({"groth16"}), "wrong_protocol"),
        ("curve", _CURVE_NAMES, "wrong_curve"),
    ):
        if key not in obj:
            if required:
                raise InvalidProof("bad_shape", f"{what}: missing {key!r}")
            continue
        if not isinstance(obj[key], str) or obj[key] not in allowed:
            raise InvalidProof(reason, f"{what}: {key} {obj[key]!r} is not supported")


def _not_infinity(point: Any, what: str) -> None:
    if point is None:
        raise InvalidProof("point_at_infinity", f"{what}: must not be the point at infinity")


def parse_verifying_key(data: JsonInput) -> VerifyingKey:
    """Parse and check a snarkjs ``verification_key.json`` (all rules but G2 subgroups)."""
    obj = load_json(data, "verification_key")
    if not isinstance(obj, dict):
        raise InvalidProof("bad_shape", "verification_key: expected a JSON object")
    _check_header(obj, "verification_key", required=True)
    n_public = _expect_field(obj, "nPublic", "verification_key")
    if not isinstance(n_public, int) or isinstance(n_public, bool) or n_public < 0:
        raise InvalidProof("bad_shape", "verification_key: nPublic must be a non-negative integer")
    if n_public > MAX_PUBLIC_INPUTS:
        raise InvalidProof(
            "too_many_public_inputs", f"verification_key: nPublic {n_public} > {MAX_PUBLIC_INPUTS}"
        )
    ic_raw = _expect_field(obj, "IC", "verification_key")
    if not isinstance(ic_raw, list) or not ic_raw:
        raise InvalidProof("bad_shape", "verification_key: IC must be a non-empty array")
    if len(ic_raw) != n_public + 1:
        raise InvalidProof(
            "npublic_mismatch",
            f"verification_key: nPublic {n_public} but {len(ic_raw)} IC points",
            n_public=n_public,
            ic_len=len(ic_raw),
        )
    alpha = parse_g1(_expect_field(obj, "vk_alpha_1", "verification_key"), "vk_alpha_1")
    beta = parse_g2(_expect_field(obj, "vk_beta_2", "verification_key"), "vk_beta_2")
    gamma = parse_g2(_expect_field(obj, "vk_gamma_2", "verification_key"), "vk_gamma_2")
    delta = parse_g2(_expect_field(obj, "vk_delta_2", "verification_key"), "vk_delta_2")
    for point, name in (
        (alpha, "vk_alpha_1"),
        (beta, "vk_beta_2"),
        (gamma, "vk_gamma_2"),
        (delta, "vk_delta_2"),
    ):
        _not_infinity(point, name)
    ic = tuple(parse_g1(p, f"IC[{i}]") for i, p in enumerate(ic_raw))
    return VerifyingKey(alpha=alpha, beta=beta, gamma=gamma, delta=delta, ic=ic)


def parse_proof(data: JsonInput) -> Proof:
    """Parse and check a snarkjs ``proof.json`` (all rules but the G2 subgroup of ``B``)."""
    obj = load_json(data, "proof")
    if not isinstance(obj, dict):
        raise InvalidProof("bad_shape", "proof: expected a JSON object")
    _check_header(obj, "proof", required=False)
    a = parse_g1(_expect_field(obj, "pi_a", "proof"), "pi_a")
    b = parse_g2(_expect_field(obj, "pi_b", "proof"), "pi_b")
    c = parse_g1(_expect_field(obj, "pi_c", "proof"), "pi_c")
    for point, name in ((a, "pi_a"), (b, "pi_b"), (c, "pi_c")):
        _not_infinity(point, name)
    return Proof(a=a, b=b, c=c)


def parse_public_inputs(data: JsonInput) -> tuple[int, ...]:
    """Parse a snarkjs ``public.json``: canonical decimal strings, each ``< r``."""
    obj = load_json(data, "public")
    if not isinstance(obj, list):
        raise InvalidProof("bad_shape", "public: expected a JSON array")
    if len(obj) > MAX_PUBLIC_INPUTS:
        raise InvalidProof("too_many_public_inputs", f"public: more than {MAX_PUBLIC_INPUTS} inputs")
    return tuple(
        parse_decimal(v, f"public[{i}]", CURVE_ORDER, reason="public_input_out_of_range")
        for i, v in enumerate(obj)
    )


def check_input_count(vk: VerifyingKey, inputs: Sequence[int]) -> None:
    """``len(inputs)`` must equal the key's ``nPublic``."""
    if len(inputs) != vk.n_public:
        raise InvalidProof(
            "public_input_count",
            f"the key expects {vk.n_public} public inputs, got {len(inputs)}",
            expected=vk.n_public,
            got=len(inputs),
        )


# --- curve arithmetic --------------------------------------------------------------

_P1: TypeAlias = Any  # py_ecc optimized G1 point (FQ, FQ, FQ)
_P2: TypeAlias = Any  # py_ecc optimized G2 point (FQ2, FQ2, FQ2)


def _to_p1(point: G1Point) -> _P1:
    if point is None:
        return bn.Z1
    return (bn.FQ(point[0]), bn.FQ(point[1]), bn.FQ.one())


def _to_p2(point: G2Point) -> _P2:
    if point is None:
        return bn.Z2
    (x0, x1), (y0, y1) = point
    return (bn.FQ2([x0, x1]), bn.FQ2([y0, y1]), bn.FQ2.one())


def check_g2_subgroup(point: G2Point, what: str) -> None:
    """Raise ``point_not_in_subgroup`` unless ``r·P = O`` (P already on the curve)."""
    if point is None:
        return
    if not bn.is_inf(bn.multiply(_to_p2(point), CURVE_ORDER)):
        raise InvalidProof("point_not_in_subgroup", f"{what}: not in the order-r subgroup of G2")


def _miller(q: _P2, p: _P1) -> Any:
    """The Miller loop of e(p, q) without the final exponentiation (1 for infinity)."""
    return bn.pairing(q, p, final_exponentiate=False)


@dataclass(frozen=True, slots=True)
class PreparedVerifyingKey:
    """A verifying key whose G2 points passed the subgroup check, ready for one backend."""

    vk: VerifyingKey
    """The key."""
    digest: bytes
    """``vk.digest()``."""
    alpha_beta: Any
    """The Miller loop of ``e(alpha, beta)`` (an Fp¹² element, not yet exponentiated); None
    when the native verifier below is used instead."""
    native: Any = None
    """A ``groth16py.Verifier`` for this key (backend ``"native"``), or None: py_ecc."""

    @property
    def backend(self) -> str:
        """The backend whose pairing check this prepared key runs."""
        return "py_ecc" if self.native is None else "native"


def snarkjs_vk_json(vk: VerifyingKey) -> str:
    """``vk`` re-encoded as canonical snarkjs ``verification_key.json`` text (no
    ``vk_alphabeta_12``): what the native backend is given instead of the caller's JSON."""

    def g1(point: G1Point) -> list[str]:
        return ["0", "1", "0"] if point is None else [str(point[0]), str(point[1]), "1"]

    def g2(point: G2Point) -> list[list[str]]:
        if point is None:
            return [["0", "0"], ["1", "0"], ["0", "0"]]
        (x0, x1), (y0, y1) = point
        return [[str(x0), str(x1)], [str(y0), str(y1)], ["1", "0"]]

    doc = {
        "protocol": "groth16",
        "curve": "bn128",
        "nPublic": vk.n_public,
        "vk_alpha_1": g1(vk.alpha),
        "vk_beta_2": g2(vk.beta),
        "vk_gamma_2": g2(vk.gamma),
        "vk_delta_2": g2(vk.delta),
        "IC": [g1(p) for p in vk.ic],
    }
    return json.dumps(doc, separators=(",", ":"))


def proof_blob(proof: Proof) -> bytes:
    """The 256-byte Ethereum layout ``A.x‖A.y‖B.x.c1‖B.x.c0‖B.y.c1‖B.y.c0‖C.x‖C.y`` of a
    parsed proof whose points are not at infinity (the parser guarantees it)."""
    if proof.a is None or proof.b is None or proof.c is None:
        raise ValueError("proof_blob: a proof point is at infinity")
    (x0, x1), (y0, y1) = proof.b
    words = (proof.a[0], proof.a[1], x1, x0, y1, y0, proof.c[0], proof.c[1])
    return b"".join(_int32(w) for w in words)


def prepare_verifying_key(vk: VerifyingKey, backend: str | None = None) -> PreparedVerifyingKey:
    """``vk`` ready for ``backend``.  For ``"native"``: a library verifier, which the library
    builds only if ``beta``, ``gamma``, ``delta`` are in G2.  For py_ecc, or when the library
    refuses the key: the subgroup checks with py_ecc (raising ``point_not_in_subgroup``),
    then ``ML(alpha, beta)``."""
    name = resolve_backend(backend)
    digest = vk.digest()
    if name == "native":
        verifier = groth16_native.load_verifier(snarkjs_vk_json(vk))
        if verifier is not None:
            return PreparedVerifyingKey(vk=vk, digest=digest, alpha_beta=None, native=verifier)
    check_g2_subgroup(vk.beta, "vk_beta_2")
    check_g2_subgroup(vk.gamma, "vk_gamma_2")
    check_g2_subgroup(vk.delta, "vk_delta_2")
    return PreparedVerifyingKey(vk=vk, digest=digest, alpha_beta=_miller(_to_p2(vk.beta), _to_p1(vk.alpha)))


def _pairing_check(pvk: PreparedVerifyingKey, proof: Proof, inputs: Sequence[int]) -> bool:
    """The verdict on a well-formed proof: the library's when ``pvk`` is native and it
    answers (it has then checked ``B`` is in G2), else ``B``'s subgroup check with py_ecc
    (raising ``point_not_in_subgroup``) and the py_ecc pairing equation."""
    if pvk.native is not None:
        answer = groth16_native.pairing_check(pvk.native, proof_blob(proof), inputs)
        if answer is not None:
            return answer
    check_g2_subgroup(proof.b, "pi_b")
    if pvk.alpha_beta is None:  # the library refused the proof: check the key the reference way too
        check_g2_subgroup(pvk.vk.beta, "vk_beta_2")
        check_g2_subgroup(pvk.vk.gamma, "vk_gamma_2")
        check_g2_subgroup(pvk.vk.delta, "vk_delta_2")
    return _reference_pairing_check(pvk, proof, inputs)


def _reference_pairing_check(pvk: PreparedVerifyingKey, proof: Proof, inputs: Sequence[int]) -> bool:
    """The py_ecc reference: four Miller loops and one final exponentiation."""
    vk = pvk.vk
    alpha_beta = pvk.alpha_beta
    if alpha_beta is None:
        alpha_beta = _miller(_to_p2(vk.beta), _to_p1(vk.alpha))
    vk_x = _to_p1(vk.ic[0])
    for value, point in zip(inputs, vk.ic[1:], strict=True):
        if value and point is not None:
            vk_x = bn.add(vk_x, bn.multiply(_to_p1(point), value))
    product = (
        _miller(_to_p2(proof.b), bn.neg(_to_p1(proof.a)))
        * alpha_beta
        * _miller(_to_p2(vk.gamma), vk_x)
        * _miller(_to_p2(vk.delta), _to_p1(proof.c))
    )
    return bool(bn.final_exponentiate(product) == bn.FQ12.one())


# --- the cache ---------------------------------------------------------------------

_Outcome: TypeAlias = tuple[bool, str]
"""(valid, reason): (True, "ok"), (False, "pairing_check_failed") or (False, <InvalidProof reason>)."""


class Groth16Cache:
    """A bounded LRU memo of :func:`verify_groth16`, owned by its caller.

    It maps ``statement_key(vk, proof, inputs)`` to the outcome of the expensive checks, and
    a verifying key's digest to its :class:`PreparedVerifyingKey`.  Because it memoizes a
    pure function it never changes a verdict, so one instance may be shared by every
    consumer in a process (block verification, ``zk_verify``, the mempool).  Not
    thread-safe: use it from one thread (the node's trio loop).

    ``backend`` (see the module docstring, "Backends") is the pairing backend of every
    verification that uses this cache without naming one; ``"auto"`` picks native when it is
    installed.  The outcome memo is shared by both backends, prepared keys are per backend.
    """

    __slots__ = ("_keys", "_results", "backend", "hits", "max_entries", "max_keys", "misses")

    def __init__(self, max_entries: int = 4096, max_keys: int = 64, *, backend: str | None = None) -> None:
        if max_entries < 1 or max_keys < 1:
            raise ValueError("cache sizes must be positive")
        self.backend = resolve_backend(backend)
        """The backend used by verifications that name none."""
        self.max_entries = max_entries
        self.max_keys = max_keys
        self.hits = 0
        """Lookups answered from the result memo."""
        self.misses = 0
        """Lookups that ran the checks."""
        self._results: OrderedDict[bytes, _Outcome] = OrderedDict()
        self._keys: OrderedDict[tuple[str, bytes], PreparedVerifyingKey] = OrderedDict()

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, key: object) -> bool:
        return key in self._results

    def get(self, key: bytes) -> _Outcome | None:
        """The memoized outcome for ``key`` (refreshing its recency), counting a hit or miss."""
        outcome = self._results.get(key)
        if outcome is None:
            self.misses += 1
            return None
        self.hits += 1
        self._results.move_to_end(key)
        return outcome

    def put(self, key: bytes, outcome: _Outcome) -> None:
        """Store an outcome, evicting the least recently used entry when full."""
        self._results[key] = outcome
        self._results.move_to_end(key)
        while len(self._results) > self.max_entries:
            self._results.popitem(last=False)

    def prepared(self, vk: VerifyingKey, backend: str | None = None) -> PreparedVerifyingKey:
        """The prepared form of ``vk`` for ``backend`` (default: the cache's), computed once
        per key and backend while it stays cached."""
        name = self.backend if backend is None else resolve_backend(backend)
        slot = (name, vk.digest())
        pvk = self._keys.get(slot)
        if pvk is not None and pvk.vk == vk:
            self._keys.move_to_end(slot)
            return pvk
        pvk = prepare_verifying_key(vk, name)
        self._keys[slot] = pvk
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return pvk

    def clear(self) -> None:
        """Forget everything (counters too)."""
        self._results.clear()
        self._keys.clear()
        self.hits = self.misses = 0


# --- entry points ------------------------------------------------------------------


def statement_key(vk: VerifyingKey, proof: Proof, inputs: Sequence[int]) -> bytes:
    """The cache key: ``H("cairn/groth16-cache/v1", encode([vk, proof, inputs]))`` canonically."""
    return H(TAG_CACHE_KEY, encode([vk.canonical(), proof.canonical(), [_int32(v) for v in inputs]]))


def _run_checks(
    vk: VerifyingKey, proof: Proof, inputs: Sequence[int], cache: Groth16Cache | None, backend: str
) -> _Outcome:
    try:
        pvk = cache.prepared(vk, backend) if cache is not None else prepare_verifying_key(vk, backend)
        valid = _pairing_check(pvk, proof, inputs)
    except InvalidProof as exc:
        return (False, exc.reason)
    return (True, "ok") if valid else (False, "pairing_check_failed")


def verify_parsed(
    vk: VerifyingKey,
    proof: Proof,
    inputs: Sequence[int],
    *,
    cache: Groth16Cache | None = None,
    backend: str | None = None,
) -> bool:
    """:func:`verify_groth16` on already-parsed values (same rules, same convention)."""
    name = resolve_backend(backend if backend is not None else cache.backend if cache is not None else None)
    check_input_count(vk, inputs)
    for i, value in enumerate(inputs):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < CURVE_ORDER:
            raise InvalidProof("public_input_out_of_range", f"public[{i}] is not in [0, r)")
    outcome: _Outcome | None = None
    key = b""
    if cache is not None:
        key = statement_key(vk, proof, inputs)
        outcome = cache.get(key)
    if outcome is None:
        outcome = _run_checks(vk, proof, inputs, cache, name)
        if cache is not None:
            cache.put(key, outcome)
    valid, reason = outcome
    if valid or reason == "pairing_check_failed":
        return valid
    raise InvalidProof(reason, f"groth16: {reason}")


def verify_groth16(
    vk_json: JsonInput,
    proof_json: JsonInput,
    public_json: JsonInput,
    *,
    cache: Groth16Cache | None = None,
    backend: str | None = None,
) -> bool:
    """Verify a snarkjs Groth16 proof over BN254.

    Returns ``True`` when the proof verifies and ``False`` when it is well formed but the
    pairing check fails; raises ``InvalidProof(reason)`` when any input is malformed (see
    the module docstring for the rules and reasons).  With a ``cache``, a statement
    verified before is answered without any curve arithmetic.  ``backend`` picks the
    pairing implementation (module docstring, "Backends"); it never changes the verdict.
    """
    vk = parse_verifying_key(vk_json)
    proof = parse_proof(proof_json)
    inputs = parse_public_inputs(public_json)
    return verify_parsed(vk, proof, inputs, cache=cache, backend=backend)


def groth16_verdict(
    vk_json: JsonInput,
    proof_json: JsonInput,
    public_json: JsonInput,
    *,
    cache: Groth16Cache | None = None,
    backend: str | None = None,
) -> Groth16Verdict:
    """One verdict for all outcomes: never raises for bad input, returns ``valid`` and ``reason``."""
    vk_digest: bytes | None = None
    inputs: tuple[int, ...] = ()
    try:
        vk = parse_verifying_key(vk_json)
        vk_digest = vk.digest()
        proof = parse_proof(proof_json)
        inputs = parse_public_inputs(public_json)
        valid = verify_parsed(vk, proof, inputs, cache=cache, backend=backend)
    except InvalidProof as exc:
        return Groth16Verdict(valid=False, reason=exc.reason, public_inputs=inputs, vk_digest=vk_digest)
    return Groth16Verdict(
        valid=valid,
        reason="ok" if valid else "pairing_check_failed",
        public_inputs=inputs,
        vk_digest=vk_digest,
    )
