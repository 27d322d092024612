"""The native Groth16 backend (groth16py/arkworks) against the py_ecc reference.

Validators may run either backend, so any input on which they disagree is a fork.  This
module checks, on real proofs, that both give exactly the same verdict *and* reason:
every case of tests/vectors/README.md's groth16 table, then Hypothesis-made variants of the
vectors' valid proofs (tampered or re-randomized points, tampered public inputs, inputs
≥ r, off-curve and off-subgroup points, non-canonical encodings, swapped points).

groth16py is in the ``dev`` extra, so it is required here, never skipped.  py_ecc costs
about 0.7 s a proof, so the property test runs a bounded number of examples.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from py_ecc import optimized_bn128 as bn

from proofs import groth16, groth16_native
from proofs.groth16 import (
    BACKENDS,
    CURVE_ORDER,
    FIELD_MODULUS,
    Groth16Cache,
    Groth16Verdict,
    groth16_verdict,
    parse_proof,
    parse_verifying_key,
    proof_blob,
    resolve_backend,
    snarkjs_vk_json,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "groth16"
RISC0, CIRCOM = "risc0_multiplier_1pub", "circomcompat_multiplier_1pub"

# (vk dir, proof dir/file, public dir/file, valid, reason): tests/vectors/README.md, groth16 table
VERDICTS = [
    (RISC0, f"{RISC0}/proof.json", f"{RISC0}/public.json", True, "ok"),
    (RISC0, f"{RISC0}/proof.json", f"{RISC0}/public_bad.json", False, "pairing_check_failed"),
    (RISC0, f"{RISC0}/proof.json", f"{RISC0}/public_noncanonical.json", False, "public_input_out_of_range"),
    (RISC0, f"{RISC0}/proof_bad_not_on_curve.json", f"{RISC0}/public.json", False, "point_not_on_curve"),
    (CIRCOM, f"{CIRCOM}/proof.json", f"{CIRCOM}/public.json", True, "ok"),
    (CIRCOM, f"{CIRCOM}/proof.json", f"{CIRCOM}/public_bad.json", False, "pairing_check_failed"),
    (RISC0, f"{CIRCOM}/proof.json", f"{CIRCOM}/public.json", False, "pairing_check_failed"),
]

# One cache per backend: each memoizes only its own backend's outcomes.
CACHES = {name: Groth16Cache(backend=name) for name in BACKENDS}


def _load(rel: str) -> Any:
    return json.loads((VECTORS / rel).read_text())


BASES = {
    name: {
        "vk": _load(f"{name}/verification_key.json"),
        "proof": _load(f"{name}/proof.json"),
        "public": _load(f"{name}/public.json"),
    }
    for name in (RISC0, CIRCOM)
}


def verdicts(vk: Any, proof: Any, public: Any) -> dict[str, Groth16Verdict]:
    """Every backend's verdict, cached and not (native only: py_ecc uncached is too slow)."""
    out = {name: groth16_verdict(vk, proof, public, cache=CACHES[name]) for name in BACKENDS}
    out["native-uncached"] = groth16_verdict(vk, proof, public, backend="native")
    return out


def assert_agree(vk: Any, proof: Any, public: Any) -> Groth16Verdict:
    got = verdicts(vk, proof, public)
    reference = got["py_ecc"]
    for name, verdict in got.items():
        assert (verdict.valid, verdict.reason, verdict.public_inputs, verdict.vk_digest) == (
            reference.valid, reference.reason, reference.public_inputs, reference.vk_digest,
        ), name
    return reference


# --- availability and selection ---------------------------------------------------------------


def test_native_backend_is_installed_at_its_pinned_version() -> None:
    import groth16py

    assert groth16py.__version__ == groth16_native.PINNED_VERSION
    assert groth16.native_available()


def test_pyproject_pins_the_adapters_version() -> None:
    """The ``native`` extra and the ``dev`` extra pin exactly the version the adapter accepts."""
    import tomllib

    extras = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]
    pin = f"groth16py=={groth16_native.PINNED_VERSION}"
    assert extras["native"] == [pin]
    assert pin in extras["dev"]


def test_backend_selection() -> None:
    assert resolve_backend(None) == groth16.DEFAULT_BACKEND == "py_ecc"
    assert resolve_backend("auto") == "native"
    assert Groth16Cache().backend == "py_ecc"
    assert Groth16Cache(backend="auto").backend == "native"
    with pytest.raises(ValueError, match="unknown"):
        resolve_backend("gnark")
    with mock.patch.object(groth16_native, "AVAILABLE", False):
        assert resolve_backend("auto") == "py_ecc"
        with pytest.raises(ValueError, match="groth16py"):
            resolve_backend("native")
        with pytest.raises(ValueError, match="groth16py"):
            Groth16Cache(backend="native")


def test_an_explicit_backend_wins_over_the_caches() -> None:
    b = BASES[RISC0]
    cache = Groth16Cache(backend="py_ecc")
    verdict = groth16_verdict(b["vk"], b["proof"], b["public"], cache=cache, backend="native")
    assert verdict.valid
    assert [slot[0] for slot in cache._keys] == ["native"]


# --- the documented verdicts ------------------------------------------------------------------


@pytest.mark.parametrize(("vk_dir", "proof_file", "public_file", "valid", "reason"), VERDICTS,
                         ids=["risc0", "risc0-bad", "risc0-noncanonical", "risc0-not-on-curve", "circom",
                              "circom-bad", "cross"])
def test_both_backends_give_the_documented_verdicts(
    vk_dir: str, proof_file: str, public_file: str, valid: bool, reason: str
) -> None:
    vk = (VECTORS / vk_dir / "verification_key.json").read_bytes()
    verdict = assert_agree(vk, (VECTORS / proof_file).read_bytes(), (VECTORS / public_file).read_bytes())
    assert (verdict.valid, verdict.reason) == (valid, reason)


def test_the_native_path_really_runs_the_library() -> None:
    """With the reference stubbed out, the native backend still verifies: it is not a no-op."""
    b = BASES[CIRCOM]
    with mock.patch.object(groth16, "_reference_pairing_check", side_effect=AssertionError("py_ecc ran")):
        assert groth16_verdict(b["vk"], b["proof"], b["public"], backend="native").valid
        assert groth16_verdict(b["vk"], b["proof"], ["34"], backend="native").reason == "pairing_check_failed"


def test_library_refusals_fall_back_to_the_reference() -> None:
    """An ``IC`` point at infinity is legal for us, refused by groth16py 0.2.0: py_ecc decides."""
    b = BASES[RISC0]
    vk = copy.deepcopy(b["vk"])
    vk["IC"][0] = ["0", "1", "0"]
    assert groth16_native.load_verifier(snarkjs_vk_json(parse_verifying_key(vk))) is None
    verdict = assert_agree(vk, b["proof"], b["public"])
    assert verdict.reason == "pairing_check_failed"
    # a verifier that raises, panics (BaseException) or answers a non-bool: the reference answers
    pvk = groth16.prepare_verifying_key(parse_verifying_key(b["vk"]), "native")
    proof = parse_proof(b["proof"])

    class Panic(BaseException):
        pass

    for behaviour in (RuntimeError("boom"), Panic("rust panic"), 1):
        fake = mock.Mock()
        if isinstance(behaviour, BaseException):
            fake.verify.side_effect = behaviour
        else:
            fake.verify.return_value = behaviour
        assert groth16_native.pairing_check(fake, proof_blob(proof), [33]) is None
        with mock.patch.object(groth16, "_reference_pairing_check", return_value=True) as ref:
            assert groth16._pairing_check(groth16.PreparedVerifyingKey(pvk.vk, pvk.digest, None, fake), proof, [33])
            assert ref.called
    fake = mock.Mock()
    fake.verify.side_effect = KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        groth16_native.pairing_check(fake, proof_blob(proof), [33])


# --- generated variants -----------------------------------------------------------------------

P = FIELD_MODULUS


def _g1(point: Any) -> list[str]:
    x, y = bn.normalize(point)
    return [str(int(x)), str(int(y)), "1"]


def _g2(point: Any) -> list[list[str]]:
    x, y = bn.normalize(point)
    return [[str(int(c)) for c in x.coeffs], [str(int(c)) for c in y.coeffs], ["1", "0"]]


def _sqrt_fp(a: int) -> int | None:
    s = pow(a, (P + 1) // 4, P)  # p ≡ 3 (mod 4)
    return s if s * s % P == a % P else None


def _twist_point(x0: int, x1: int) -> list[list[str]] | None:
    """An affine point with x = x0 + x1·u on y² = x³ + 3/(9+u), or None (no square root)."""
    rhs = bn.FQ2([x0, x1]) ** 3 + bn.b2
    a0, a1 = (int(c) for c in rhs.coeffs)
    s = _sqrt_fp((a0 * a0 + a1 * a1) % P)
    if s is None:
        return None
    half = pow(2, P - 2, P)
    for t in ((a0 + s) * half % P, (a0 - s) * half % P):
        y0 = _sqrt_fp(t)
        if y0:
            y1 = a1 * pow(2 * y0, P - 2, P) % P
            if ((y0 * y0 - y1 * y1) % P, 2 * y0 * y1 % P) == (a0, a1):
                return [[str(x0), str(x1)], [str(y0), str(y1)], ["1", "0"]]
    return None


def test_the_library_refuses_points_outside_g2() -> None:
    """The native path skips our py_ecc subgroup checks because the pinned groth16py makes
    them itself: a key or a ``B`` outside G2 is refused (None), so the reference decides."""
    b = BASES[RISC0]
    outside = _twist_point(2, 1)
    pvk = groth16.prepare_verifying_key(parse_verifying_key(b["vk"]), "native")
    assert pvk.native is not None
    proof = copy.deepcopy(b["proof"])
    proof["pi_b"] = outside
    assert groth16_native.pairing_check(pvk.native, proof_blob(parse_proof(proof)), [33]) is None
    vk = copy.deepcopy(b["vk"])
    vk["vk_delta_2"] = outside
    assert groth16_native.load_verifier(snarkjs_vk_json(parse_verifying_key(vk))) is None
    for doc_vk, doc_proof in ((b["vk"], proof), (vk, b["proof"])):
        assert assert_agree(doc_vk, doc_proof, b["public"]).reason == "point_not_in_subgroup"


def _neg_g1(point: list[str]) -> list[str]:
    return [point[0], str((P - int(point[1])) % P), "1"]


def _neg_g2(point: list[list[str]]) -> list[list[str]]:
    return [point[0], [str((P - int(c)) % P) for c in point[1]], ["1", "0"]]


_noncanonical = st.sampled_from(["lead0", "plus", "space", "number", "hex", "plus_p", "empty", "minus"])


def _respell(value: str, how: str, bound: int) -> Any:
    n = int(value)
    return {
        "lead0": "0" + value, "plus": "+" + value, "space": value + " ", "number": n, "hex": hex(n),
        "plus_p": str(n + bound), "empty": "", "minus": "-" + value,
    }[how]


MUTATIONS = ["none", "rerandomize_a", "rerandomize_b", "rerandomize_c", "negate_a", "negate_a_and_b",
             "public", "public_ge_r", "off_curve", "off_subgroup", "noncanonical", "swap_a_c", "swap_b_coeffs",
             "swap_vk_gamma_delta", "alpha_for_a", "infinity_a"]


def _mutate(doc: dict[str, Any], data: st.DataObject) -> str:
    """Change ``doc`` (vk, proof, public) in one of the MUTATIONS ways; returns which."""
    how = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    proof, vk, public = doc["proof"], doc["vk"], doc["public"]
    scalar = st.integers(min_value=2, max_value=CURVE_ORDER - 1)
    if how == "rerandomize_a":
        proof["pi_a"] = _g1(bn.multiply(bn.G1, data.draw(scalar, label="k")))
    elif how == "rerandomize_b":
        proof["pi_b"] = _g2(bn.multiply(bn.G2, data.draw(scalar, label="k")))
    elif how == "rerandomize_c":
        proof["pi_c"] = _g1(bn.multiply(bn.G1, data.draw(scalar, label="k")))
    elif how == "negate_a":
        proof["pi_a"] = _neg_g1(proof["pi_a"])
    elif how == "negate_a_and_b":  # e(-A, -B) = e(A, B): still a valid proof
        proof["pi_a"], proof["pi_b"] = _neg_g1(proof["pi_a"]), _neg_g2(proof["pi_b"])
    elif how == "public":
        value = data.draw(st.integers(min_value=0, max_value=CURVE_ORDER - 1).filter(lambda v: v != 33))
        doc["public"] = [str(value)]
    elif how == "public_ge_r":
        doc["public"] = [str(data.draw(st.integers(min_value=CURVE_ORDER, max_value=2**256 + 33)))]
    elif how == "off_curve":
        target = data.draw(st.sampled_from(["pi_a", "pi_c", "pi_b", "vk_alpha_1", "IC"]))
        delta = data.draw(st.integers(min_value=1, max_value=P - 1))
        if target == "pi_b":
            proof["pi_b"][1][0] = str((int(proof["pi_b"][1][0]) + delta) % P)
        elif target == "IC":
            vk["IC"][1][1] = str((int(vk["IC"][1][1]) + delta) % P)
        else:
            holder = proof if target.startswith("pi") else vk
            holder[target][1] = str((int(holder[target][1]) + delta) % P)
    elif how == "off_subgroup":  # on the twist but (overwhelmingly likely) not in G2
        x0 = data.draw(st.integers(min_value=0, max_value=P - 1), label="x0")
        point = None
        while point is None:
            point = _twist_point(x0, 1)
            x0 = (x0 + 1) % P
        target = data.draw(st.sampled_from(["pi_b", "vk_delta_2", "vk_gamma_2"]))
        (proof if target == "pi_b" else vk)[target] = point
    elif how == "noncanonical":
        spelling = data.draw(_noncanonical)
        where = data.draw(st.sampled_from(["public", "pi_a", "pi_b", "IC", "z"]))
        if where == "public":
            doc["public"] = [_respell(public[0], spelling, CURVE_ORDER)]
        elif where == "pi_a":
            proof["pi_a"][0] = _respell(proof["pi_a"][0], spelling, P)
        elif where == "pi_b":
            proof["pi_b"][0][1] = _respell(proof["pi_b"][0][1], spelling, P)
        elif where == "IC":
            vk["IC"][0][0] = _respell(vk["IC"][0][0], spelling, P)
        else:
            proof["pi_c"][2] = _respell(proof["pi_c"][2], spelling, P)
    elif how == "swap_a_c":
        proof["pi_a"], proof["pi_c"] = proof["pi_c"], proof["pi_a"]
    elif how == "swap_b_coeffs":  # c0 ↔ c1, the classic Ethereum-ordering mistake
        proof["pi_b"] = [list(reversed(proof["pi_b"][0])), list(reversed(proof["pi_b"][1])), ["1", "0"]]
    elif how == "swap_vk_gamma_delta":
        vk["vk_gamma_2"], vk["vk_delta_2"] = vk["vk_delta_2"], vk["vk_gamma_2"]
    elif how == "alpha_for_a":
        proof["pi_a"] = vk["vk_alpha_1"]
    elif how == "infinity_a":
        proof["pi_a"] = ["0", "1", "0"]
    return how


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_variants_get_identical_verdicts(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([RISC0, CIRCOM]), label="vector")
    doc = copy.deepcopy(BASES[base])
    how = _mutate(doc, data)
    verdict = assert_agree(doc["vk"], doc["proof"], doc["public"])
    event(f"{how}: {verdict.reason}")
    if how in ("none", "negate_a_and_b"):
        assert verdict.valid
    elif how in ("public_ge_r",):
        assert verdict.reason == "public_input_out_of_range"
    elif how == "off_subgroup":
        assert verdict.reason == "point_not_in_subgroup"
    elif how == "infinity_a":
        assert verdict.reason == "point_at_infinity"
    elif how not in ("noncanonical", "swap_vk_gamma_delta"):  # circom-compat's key has gamma = delta
        assert not verdict.valid


def _fixed(doc: dict[str, Any], how: str) -> None:
    proof, vk = doc["proof"], doc["vk"]
    if how == "negate_a_and_b":
        proof["pi_a"], proof["pi_b"] = _neg_g1(proof["pi_a"]), _neg_g2(proof["pi_b"])
    elif how == "rerandomize_b":
        proof["pi_b"] = _g2(bn.multiply(bn.G2, 12345))
    elif how == "swap_a_c":
        proof["pi_a"], proof["pi_c"] = proof["pi_c"], proof["pi_a"]
    elif how == "off_subgroup":
        vk["vk_delta_2"] = _twist_point(2, 1)
    elif how == "ic_swapped":
        vk["IC"] = list(reversed(vk["IC"]))


@pytest.mark.parametrize("how", ["none", "negate_a_and_b", "rerandomize_b", "swap_a_c", "off_subgroup",
                                 "ic_swapped"])
def test_each_pairing_reaching_variant_once(how: str) -> None:
    """Variants whose verdict comes from the pairing or the subgroup check, run at least once
    whatever Hypothesis draws."""
    doc = copy.deepcopy(BASES[RISC0])
    _fixed(doc, how)
    verdict = assert_agree(doc["vk"], doc["proof"], doc["public"])
    assert verdict.valid is (how in ("none", "negate_a_and_b"))
    if how == "off_subgroup":
        assert verdict.reason == "point_not_in_subgroup"
