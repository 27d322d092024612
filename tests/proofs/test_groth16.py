"""Groth16/BN254 over snarkjs JSON: every verdict of tests/vectors/README.md, the
malformed-input rules, the cache, and a fuzz of the parsers.

Real pairing checks are slow in pure Python, so this module runs exactly seven of them
(five verdicts and two in the cache test); everything else stops before the pairing or
stubs it out.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from py_ecc import optimized_bn128 as bn

from chain.errors import InvalidProof
from proofs import groth16
from proofs.groth16 import (
    CURVE_ORDER,
    FIELD_MODULUS,
    Groth16Cache,
    groth16_verdict,
    parse_proof,
    parse_public_inputs,
    parse_verifying_key,
    statement_key,
    verify_groth16,
)

RISC0 = "groth16/risc0_multiplier_1pub"
CIRCOM = "groth16/circomcompat_multiplier_1pub"


def _read(root: Path, case: str, name: str) -> bytes:
    return (root / case / name).read_bytes()


@pytest.fixture(scope="module")
def risc0(vectors: Path) -> dict[str, Any]:
    """The risc0 vectors as parsed JSON (mutated by the negative tests)."""
    return {
        "vk": json.loads(_read(vectors, RISC0, "verification_key.json")),
        "proof": json.loads(_read(vectors, RISC0, "proof.json")),
        "public": json.loads(_read(vectors, RISC0, "public.json")),
    }


# --- the README's verdicts ---------------------------------------------------------

VERDICTS = [
    # (vk dir, proof dir, proof file, public dir, public file, valid, reason)
    (RISC0, RISC0, "proof.json", RISC0, "public.json", True, "ok"),
    (RISC0, RISC0, "proof.json", RISC0, "public_bad.json", False, "pairing_check_failed"),
    (RISC0, RISC0, "proof.json", RISC0, "public_noncanonical.json", False, "public_input_out_of_range"),
    (RISC0, RISC0, "proof_bad_not_on_curve.json", RISC0, "public.json", False, "point_not_on_curve"),
    (CIRCOM, CIRCOM, "proof.json", CIRCOM, "public.json", True, "ok"),
    (CIRCOM, CIRCOM, "proof.json", CIRCOM, "public_bad.json", False, "pairing_check_failed"),
    # circom-compat proof under risc0's key: same circuit, other trusted setup
    (RISC0, CIRCOM, "proof.json", CIRCOM, "public.json", False, "pairing_check_failed"),
]


@pytest.mark.parametrize(
    ("vk_dir", "proof_dir", "proof_file", "public_dir", "public_file", "valid", "reason"),
    VERDICTS,
    ids=["risc0", "risc0-bad", "risc0-noncanonical", "risc0-not-on-curve", "circom", "circom-bad", "cross"],
)
def test_readme_verdicts(
    vectors: Path,
    vk_dir: str,
    proof_dir: str,
    proof_file: str,
    public_dir: str,
    public_file: str,
    valid: bool,
    reason: str,
) -> None:
    vk = _read(vectors, vk_dir, "verification_key.json")
    proof = _read(vectors, proof_dir, proof_file)
    public = _read(vectors, public_dir, public_file)
    cache = Groth16Cache()
    verdict = groth16_verdict(vk, proof, public, cache=cache)
    assert (verdict.valid, verdict.reason) == (valid, reason)
    # The exception convention: malformed raises, a well-formed failing proof returns False.
    if reason in ("ok", "pairing_check_failed"):
        assert verify_groth16(vk, proof, public, cache=cache) is valid  # answered by the cache
        assert cache.hits == 1
    else:
        with pytest.raises(InvalidProof) as info:
            verify_groth16(vk, proof, public, cache=cache)
        assert info.value.reason == reason


def test_verdict_reports_parsed_fields(vectors: Path) -> None:
    verdict = groth16_verdict(
        _read(vectors, RISC0, "verification_key.json"),
        _read(vectors, RISC0, "proof_bad_not_on_curve.json"),
        _read(vectors, RISC0, "public.json"),
    )
    assert (
        verdict.vk_digest
        == parse_verifying_key(_read(vectors, RISC0, "verification_key.json")).digest()
    )
    assert verdict.public_inputs == ()  # the proof failed before the inputs were read


# --- the cache ---------------------------------------------------------------------


def test_cache_hits_and_distinguishes_inputs(vectors: Path) -> None:
    vk = _read(vectors, RISC0, "verification_key.json")
    proof = _read(vectors, RISC0, "proof.json")
    good = _read(vectors, RISC0, "public.json")
    bad = _read(vectors, RISC0, "public_bad.json")
    cache = Groth16Cache(max_entries=8)

    assert verify_groth16(vk, proof, good, cache=cache) is True  # pairing 1
    assert (cache.hits, cache.misses, len(cache)) == (0, 1, 1)
    assert verify_groth16(vk, proof, bad, cache=cache) is False  # pairing 2: another key
    assert (cache.hits, cache.misses, len(cache)) == (0, 2, 2)

    # From now on no curve arithmetic may run: every answer comes from the memo.
    with mock.patch.object(groth16, "_pairing_check", side_effect=AssertionError("cache missed")):
        assert verify_groth16(vk, proof, good, cache=cache) is True
        assert verify_groth16(vk, proof, bad, cache=cache) is False
        # Another JSON spelling of the same values (key order, whitespace) is the same statement.
        respelled = json.dumps(json.loads(proof), indent=None, sort_keys=True).encode()
        assert verify_groth16(vk, respelled, good, cache=cache) is True
        assert verify_groth16(json.loads(vk), json.loads(proof), ["33"], cache=cache) is True
    assert (cache.hits, cache.misses, len(cache)) == (4, 2, 2)


def test_statement_key_distinguishes_every_part(risc0: dict[str, Any], vectors: Path) -> None:
    vk = parse_verifying_key(risc0["vk"])
    proof = parse_proof(risc0["proof"])
    other_vk = parse_verifying_key(_read(vectors, CIRCOM, "verification_key.json"))
    other_proof = parse_proof(_read(vectors, CIRCOM, "proof.json"))
    keys = {
        statement_key(vk, proof, (33,)),
        statement_key(vk, proof, (34,)),
        statement_key(other_vk, proof, (33,)),
        statement_key(vk, other_proof, (33,)),
    }
    assert len(keys) == 4


def test_cache_is_bounded_lru() -> None:
    cache = Groth16Cache(max_entries=2)
    cache.put(b"a", (True, "ok"))
    cache.put(b"b", (False, "pairing_check_failed"))
    assert cache.get(b"a") == (True, "ok")  # refresh a: b is now least recent
    cache.put(b"c", (True, "ok"))
    assert len(cache) == 2 and b"b" not in cache and b"a" in cache and b"c" in cache
    with pytest.raises(ValueError):
        Groth16Cache(max_entries=0)


def test_cached_malformed_outcome_raises_again(risc0: dict[str, Any]) -> None:
    proof = copy.deepcopy(risc0["proof"])
    proof["pi_b"] = _g2_json(_g2_outside_subgroup())
    cache = Groth16Cache()
    for _ in range(2):
        with pytest.raises(InvalidProof) as info:
            verify_groth16(risc0["vk"], proof, risc0["public"], cache=cache)
        assert info.value.reason == "point_not_in_subgroup"
    assert (cache.hits, cache.misses) == (1, 1)


# --- G2 subgroup -------------------------------------------------------------------


def _sqrt_fp(a: int) -> int | None:
    root = pow(a, (FIELD_MODULUS + 1) // 4, FIELD_MODULUS)  # p ≡ 3 (mod 4)
    return root if root * root % FIELD_MODULUS == a % FIELD_MODULUS else None


def _sqrt_fp2(a: Any) -> Any | None:
    """A square root in Fp² = Fp[u]/(u² + 1), or None."""
    a0, a1 = (int(c) for c in a.coeffs)
    norm = _sqrt_fp((a0 * a0 + a1 * a1) % FIELD_MODULUS)
    if norm is None:
        return None
    half = pow(2, -1, FIELD_MODULUS)
    for candidate in ((a0 + norm) * half, (a0 - norm) * half):
        x0 = _sqrt_fp(candidate % FIELD_MODULUS)
        if x0:
            x1 = a1 * pow(2 * x0, -1, FIELD_MODULUS) % FIELD_MODULUS
            root = bn.FQ2([x0, x1])
            if root * root == a:
                return root
    return None


def _g2_outside_subgroup() -> tuple[Any, Any]:
    """A point on the G2 twist curve whose order is not r (the twist has cofactor 2p - r)."""
    for k in range(1, 100):
        x = bn.FQ2([k, 1])
        y = _sqrt_fp2(x * x * x + bn.b2)
        if y is None:
            continue
        point = (x, y, bn.FQ2.one())
        assert bn.is_on_curve(point, bn.b2)
        if not bn.is_inf(bn.multiply(point, CURVE_ORDER)):
            return x, y
    raise AssertionError("no point found")


def _g2_json(point: tuple[Any, Any]) -> list[list[str]]:
    x, y = point
    return [[str(int(c)) for c in x.coeffs], [str(int(c)) for c in y.coeffs], ["1", "0"]]


@pytest.mark.parametrize("where", ["proof.pi_b", "vk.vk_delta_2", "vk.vk_beta_2"])
def test_g2_point_outside_subgroup_is_rejected(risc0: dict[str, Any], where: str) -> None:
    doc, key = where.split(".")
    inputs = copy.deepcopy(risc0)
    inputs[doc][key] = _g2_json(_g2_outside_subgroup())
    parse_proof(inputs["proof"])  # on the curve: parsing accepts it ...
    parse_verifying_key(inputs["vk"])
    with pytest.raises(InvalidProof) as info:  # ... the subgroup check does not
        verify_groth16(inputs["vk"], inputs["proof"], inputs["public"])
    assert info.value.reason == "point_not_in_subgroup"


# --- malformed inputs --------------------------------------------------------------

P = str(FIELD_MODULUS)
R = str(CURVE_ORDER)


def _set(doc: dict[str, Any] | list[Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()

MALFORMED = [
    # (document, path, new value, reason)
    ("proof", ("protocol",), "plonk", "wrong_protocol"),
    ("proof", ("curve",), "bls12381", "wrong_curve"),
    ("vk", ("protocol",), "fflonk", "wrong_protocol"),
    ("vk", ("curve",), "bn254x", "wrong_curve"),
    ("vk", ("curve",), 128, "wrong_curve"),
    ("vk", ("protocol",), _DELETE, "bad_shape"),
    ("vk", ("nPublic",), "1", "bad_shape"),
    ("vk", ("nPublic",), True, "bad_shape"),
    ("vk", ("nPublic",), 2, "npublic_mismatch"),
    ("vk", ("nPublic",), 5000, "too_many_public_inputs"),
    ("vk", ("IC",), [], "bad_shape"),
    ("vk", ("vk_gamma_2",), _DELETE, "bad_shape"),
    ("vk", ("vk_delta_2",), [["0", "0"], ["1", "0"], ["0", "0"]], "point_at_infinity"),
    ("vk", ("vk_alpha_1",), ["0", "1", "0"], "point_at_infinity"),
    ("vk", ("IC", 1, 1), "1", "point_not_on_curve"),
    ("vk", ("vk_beta_2", 1, 0), "1", "point_not_on_curve"),
    ("proof", ("pi_a",), ["0", "1", "0"], "point_at_infinity"),
    ("proof", ("pi_a",), ["5", "1", "0"], "non_affine_point"),
    ("proof", ("pi_a", 2), "2", "non_affine_point"),
    ("proof", ("pi_b", 2), ["1", "1"], "non_affine_point"),
    ("proof", ("pi_a", 0), P, "coordinate_out_of_range"),
    ("proof", ("pi_b", 0, 1), P, "coordinate_out_of_range"),
    ("proof", ("pi_c", 1), "9" * 100, "coordinate_out_of_range"),
    (
        "proof",
        ("pi_a", 0),
        "019752044163435112998099796779947263139365269296294968520404327719124263547111",
        "non_canonical_integer",
    ),
    (
        "proof",
        ("pi_a", 0),
        19752044163435112998099796779947263139365269296294968520404327719124263547111,
        "non_canonical_integer",
    ),
    ("proof", ("pi_a",), ["1", "2"], "bad_shape"),
    ("proof", ("pi_b",), [["1", "2"], ["1"], ["1", "0"]], "bad_shape"),
    ("proof", ("pi_b", 1, 1), "1", "point_not_on_curve"),
    ("proof", ("pi_c",), _DELETE, "bad_shape"),
    ("public", (0,), "033", "non_canonical_integer"),
    ("public", (0,), "+33", "non_canonical_integer"),
    ("public", (0,), "-33", "non_canonical_integer"),
    ("public", (0,), " 33", "non_canonical_integer"),
    ("public", (0,), "33 ", "non_canonical_integer"),
    ("public", (0,), "33\n", "non_canonical_integer"),
    ("public", (0,), "3_3", "non_canonical_integer"),
    ("public", (0,), "0x21", "non_canonical_integer"),
    ("public", (0,), "\u0663\u0663", "non_canonical_integer"),  # Arabic-Indic "33"
    ("public", (0,), "", "non_canonical_integer"),
    ("public", (0,), 33, "non_canonical_integer"),
    ("public", (0,), None, "non_canonical_integer"),
    ("public", (0,), R, "public_input_out_of_range"),
    ("public", (0,), str(CURVE_ORDER + 33), "public_input_out_of_range"),
    ("public", (0,), P, "public_input_out_of_range"),
]


@pytest.mark.parametrize(("doc", "path", "value", "reason"), MALFORMED)
def test_malformed_inputs_raise_with_reason(
    risc0: dict[str, Any], doc: str, path: tuple[Any, ...], value: Any, reason: str
) -> None:
    inputs = copy.deepcopy(risc0)
    _set(inputs[doc], path, value)
    with mock.patch.object(groth16, "_pairing_check", side_effect=AssertionError("must fail before pairing")):
        with pytest.raises(InvalidProof) as info:
            verify_groth16(inputs["vk"], inputs["proof"], inputs["public"])
        assert info.value.reason == reason
        verdict = groth16_verdict(inputs["vk"], inputs["proof"], inputs["public"])
    assert (verdict.valid, verdict.reason) == (False, reason)


def test_coordinates_are_never_reduced(risc0: dict[str, Any]) -> None:
    """x + p names the same field element as x; it is still rejected."""
    proof = copy.deepcopy(risc0["proof"])
    proof["pi_a"][0] = str(int(proof["pi_a"][0]) + FIELD_MODULUS)
    with pytest.raises(InvalidProof) as info:
        parse_proof(proof)
    assert info.value.reason == "coordinate_out_of_range"


@pytest.mark.parametrize("public", [[], ["33", "1"]])
def test_wrong_number_of_public_inputs(risc0: dict[str, Any], public: list[str]) -> None:
    with pytest.raises(InvalidProof) as info:
        verify_groth16(risc0["vk"], risc0["proof"], public)
    assert info.value.reason == "public_input_count"


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"{",
        b"\xff\xfe",
        b'{"a": 1, "a": 2}',
        b"[NaN]",
        b"[Infinity]",
        b"[" * 100_000 + b"]" * 100_000,
        b"[" + b"1" * 5000 + b"]",
        b" " * (groth16.MAX_JSON_BYTES + 1),
    ],
)
def test_bad_json_text(text: bytes) -> None:
    for parse in (parse_verifying_key, parse_proof, parse_public_inputs):
        with pytest.raises(InvalidProof) as info:
            parse(text)
        assert info.value.reason == "json_malformed"


@pytest.mark.parametrize("value", [None, 3, "{}", {"not": "a list"}])
def test_public_json_must_be_an_array(value: Any) -> None:
    with pytest.raises(InvalidProof) as info:
        parse_public_inputs(value)
    assert info.value.reason in {"bad_shape", "json_malformed"}


def test_lenient_where_snarkjs_tools_differ(risc0: dict[str, Any]) -> None:
    """Unknown keys are ignored (vk_alphabeta_12 is never trusted); proof headers are optional;
    IC points may be the point at infinity; "bn254" is another name of the curve."""
    vk = copy.deepcopy(risc0["vk"])
    vk["vk_alphabeta_12"] = "garbage"
    vk["curve"] = "bn254"
    vk["IC"][1] = ["0", "1", "0"]
    parsed = parse_verifying_key(vk)
    assert parsed.ic[1] is None and parsed.n_public == 1
    proof = {k: v for k, v in risc0["proof"].items() if k in ("pi_a", "pi_b", "pi_c")}
    assert parse_proof(proof) == parse_proof(risc0["proof"])
    assert parse_public_inputs(["0", str(CURVE_ORDER - 1)]) == (0, CURVE_ORDER - 1)


def test_verify_parsed_rechecks_input_range(risc0: dict[str, Any]) -> None:
    vk, proof = parse_verifying_key(risc0["vk"]), parse_proof(risc0["proof"])
    for inputs in ((CURVE_ORDER + 33,), (-1,), (True,)):
        with pytest.raises(InvalidProof) as info:
            groth16.verify_parsed(vk, proof, inputs)
        assert info.value.reason == "public_input_out_of_range"


# --- fuzz --------------------------------------------------------------------------

_numbers = st.sampled_from(
    ["0", "1", "33", P, R, str(FIELD_MODULUS - 1), str(CURVE_ORDER - 1), "01", "1" * 80]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | _numbers
)
_json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


_FUZZ_CACHE = Groth16Cache()


@given(data=st.data())
def test_fuzz_mutated_documents_give_only_invalid_proof_or_false(
    risc0: dict[str, Any], data: st.DataObject
) -> None:
    inputs = copy.deepcopy(risc0)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        doc = data.draw(st.sampled_from(["vk", "proof", "public"]), label="doc")
        paths = _paths(inputs[doc])
        if not paths:
            inputs[doc] = data.draw(_json_values, label="whole")
            continue
        path = data.draw(st.sampled_from(paths), label="path")
        action = data.draw(st.sampled_from(["replace", "delete", "number"]), label="action")
        if action == "replace":
            _set(inputs[doc], path, data.draw(_json_values, label="value"))
        elif action == "number":
            _set(inputs[doc], path, data.draw(_numbers, label="number"))
        else:
            _set(inputs[doc], path, _DELETE)
    # Stub the pairing (it is slow); everything else runs for real, subgroup checks included.
    with mock.patch.object(groth16, "_pairing_check", return_value=False):
        try:
            result = verify_groth16(inputs["vk"], inputs["proof"], inputs["public"], cache=_FUZZ_CACHE)
        except InvalidProof as exc:
            assert exc.reason and exc.reason.islower()
            event(exc.reason)
        else:
            assert result is False
            event("pairing_check_failed")
        verdict = groth16_verdict(inputs["vk"], inputs["proof"], inputs["public"], cache=_FUZZ_CACHE)
    assert verdict.valid is False


@given(data=st.data())
def test_fuzz_json_text_parsers(vectors: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["verification_key.json", "proof.json", "public.json"]))
    raw = bytearray(_read(vectors, RISC0, name))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[index] = data.draw(st.integers(min_value=0, max_value=255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(min_value=0, max_value=len(raw)))]
    for parse in (parse_verifying_key, parse_proof, parse_public_inputs):
        try:
            parse(bytes(raw))
        except InvalidProof:
            pass


@given(st.binary(max_size=64) | st.text(max_size=64))
def test_fuzz_arbitrary_text(raw: bytes | str) -> None:
    for parse in (parse_verifying_key, parse_proof, parse_public_inputs):
        try:
            parse(raw)
        except InvalidProof:
            pass
