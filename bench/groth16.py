"""``python -m bench groth16``: Groth16 verification with each backend of ``proofs.groth16``.

Times risc0's multiplier proof (tests/vectors/groth16) with the ``py_ecc`` reference and the
``native`` backend (groth16py), cold (a new cache: key checks, subgroup checks, pairing) and
key-prepared (the key cached, a new statement: ``pi_b``'s subgroup check and the pairing),
plus the bare native library call, against one py_ecc BN254 pairing measured in the same run
(interleaved rounds, medians; bench/proofs.py's timing).  Prints each figure's ratio to the
pairing and the native speed-ups.  ``BENCH_PROOFS_SAMPLES`` rounds (default 7).
"""

from __future__ import annotations

import json
import time

from py_ecc import optimized_bn128 as bn

from bench.proofs import TESTDATA, Case, interleaved, repeat
from proofs import groth16_native
from proofs.groth16 import (
    BACKENDS,
    Groth16Cache,
    native_available,
    parse_proof,
    parse_verifying_key,
    proof_blob,
    snarkjs_vk_json,
    verify_groth16,
)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:10.3f} ms"


def main() -> None:
    started = time.perf_counter()
    if not native_available():
        raise SystemExit("bench groth16: groth16py is not installed (pip install -e '.[native]')")
    d = TESTDATA / "groth16" / "risc0_multiplier_1pub"
    vk, proof, public = (d.joinpath(n).read_bytes() for n in ("verification_key.json", "proof.json",
                                                              "public.json"))
    for name in BACKENDS:
        if verify_groth16(vk, proof, public, backend=name) is not True:
            raise SystemExit(f"bench groth16: the test vector does not verify with {name}")

    def cold(backend: str) -> Case:
        return Case(lambda: lambda: verify_groth16(vk, proof, public, cache=Groth16Cache(backend=backend)),
                    fresh=True)

    def key_prepared(backend: str) -> Case:
        def prepare() -> object:
            cache = Groth16Cache(backend=backend)
            cache.prepared(parse_verifying_key(vk))
            return lambda: verify_groth16(vk, proof, public, cache=cache)
        return Case(prepare, fresh=True)

    verifier = groth16_native.load_verifier(snarkjs_vk_json(parse_verifying_key(vk)))
    blob, inputs = proof_blob(parse_proof(proof)), [int(v) for v in json.loads(public)]
    p, q = bn.G1, bn.G2
    cases = {
        "pairing": repeat(lambda: bn.pairing(q, p)),
        "g2_mul_r": repeat(lambda: bn.multiply(q, bn.curve_order)),
        "native_call": repeat(lambda: groth16_native.pairing_check(verifier, blob, inputs)),
        **{f"cold_{b}": cold(b) for b in BACKENDS},
        **{f"key_{b}": key_prepared(b) for b in BACKENDS},
    }
    t = interleaved(cases)
    pairing = t["pairing"]

    def line(label: str, key: str) -> str:
        return f"{label:<54}{_ms(t[key])}   ratio to p5 {t[key] / pairing:8.4f}"

    print("## groth16: verify risc0_multiplier_1pub per backend (median of interleaved rounds)")
    print(line("(p5)  BN254 pairing, py_ecc", "pairing"))
    print(line("(p5c) G2 multiplication by r, py_ecc (subgroup check)", "g2_mul_r"))
    print(line("Groth16 cold, py_ecc (new cache)", "cold_py_ecc"))
    print(line("Groth16 cold, native (new cache)", "cold_native"))
    print(line("Groth16 key prepared, py_ecc (new statement)", "key_py_ecc"))
    print(line("Groth16 key prepared, native (new statement)", "key_native"))
    print(line("native library call alone (pairing equation)", "native_call"))
    print(f"speed-up native vs py_ecc: cold {t['cold_py_ecc'] / t['cold_native']:.1f}x, "
          f"key prepared {t['key_py_ecc'] / t['key_native']:.1f}x, "
          f"pairing step {(t['key_py_ecc'] - t['g2_mul_r']) / t['native_call']:.0f}x")
    print(f"(groth16 bench took {time.perf_counter() - started:.1f} s)")
