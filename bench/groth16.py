"""``python -m bench groth16``: Groth16 verification with each backend of ``proofs.groth16``.

Times risc0's multiplier proof (tests/vectors/groth16) with the ``py_ecc`` reference and the
``native`` backend (groth16py), cold (a new cache: key checks, subgroup checks, pairing) and
key-prepared (the key cached, a new statement: ``pi_b``'s subgroup check and the pairing),
plus the bare native library call, against one py_ecc BN254 pairing measured in the same run
(interleaved rounds, medians; bench/proofs.py's timing).  Prints each figure's ratio to the
pairing and the native speed-ups.  ``BENCH_PROOFS_SAMPLES`` rounds (default 7).

Then the block figure: a validator applying (``apply_block``, every root checked) a block
of ten ``zk_verify`` calls on ten *distinct* valid statements under the risc0 key (the
vector re-randomized: ``A' = [t]A``, ``B' = [t⁻¹]B``, ``C`` unchanged, which keeps
``e(A, B)``), with a fresh Groth16 cache each round, so the key is prepared once and every
proof is checked in full; once with a py_ecc validator and once with a native one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

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
from tests.capabilities.test_host import deployed, zk_script
from tests.capabilities.test_zk_backends import zk_node


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
    block_figures(vk, proof, public, pairing)
    print(f"(groth16 bench took {time.perf_counter() - started:.1f} s)")


def rerandomized(proof_json: bytes, t: int) -> bytes:
    """The same statement's proof with ``A' = [t]A``, ``B' = [t⁻¹ mod r]B`` (still valid)."""
    doc = json.loads(proof_json)
    a = (bn.FQ(int(doc["pi_a"][0])), bn.FQ(int(doc["pi_a"][1])), bn.FQ.one())
    (b0, b1), (b2, b3) = ([int(c) for c in co] for co in doc["pi_b"][:2])
    b = (bn.FQ2([b0, b1]), bn.FQ2([b2, b3]), bn.FQ2.one())
    ax, ay = bn.normalize(bn.multiply(a, t))
    bx, by = bn.normalize(bn.multiply(b, pow(t, -1, bn.curve_order)))
    doc["pi_a"] = [str(int(ax)), str(int(ay)), "1"]
    doc["pi_b"] = [[str(int(c)) for c in bx.coeffs], [str(int(c)) for c in by.coeffs], ["1", "0"]]
    return json.dumps(doc).encode()


def block_figures(vk: bytes, proof: bytes, public: bytes, pairing: float) -> None:
    """Validate one block of ten zk_verify calls (ten distinct valid proofs) per backend."""
    from capabilities.costs import cost
    from chain.apply import apply_block

    proofs = [rerandomized(proof, t) for t in range(2, 12)]
    for p in proofs:
        if verify_groth16(vk, p, public, backend="py_ecc") is not True:
            raise SystemExit("bench groth16: a re-randomized proof does not verify")
    builder, _ = zk_node("native")
    (contract,) = deployed(builder, 1)
    gas = cost("zk_verify", 16_384) + 1_000_000
    block, out = builder.block([builder.call_tx(contract, "run", zk_script(vk, p, public).keep().encode(), gas=gas)
                                for p in proofs])
    if not all(r.ok for r in out.receipts):
        raise SystemExit("bench groth16: a zk_verify call in the block failed")

    def validator(backend: str) -> Case:
        def prepare() -> Callable[[], object]:
            replica, _ = zk_node(backend)  # a fresh node and cache: nothing memoized yet
            deployed(replica, 1)
            return lambda: apply_block(replica.state(), replica.chain.head, block, replica.app)
        return Case(prepare, fresh=True)

    t = interleaved({b: validator(b) for b in BACKENDS})
    print("## groth16: validate a block of ten zk_verify calls (ten distinct valid proofs, fresh caches)")
    for b in BACKENDS:
        print(f"{'block of ten, ' + b:<54}{_ms(t[b])}   ratio to p5 {t[b] / pairing:8.4f}")
    print(f"speed-up native vs py_ecc, block validation: {t['py_ecc'] / t['native']:.0f}x")
