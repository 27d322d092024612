"""Proof verification time per kind, measured against the raw primitives of the same run.

Raw primitives, each on one core:

(p1) ECDSA P-384/SHA-384 verify (``cryptography``, generated key, 672-byte message: the
     size of an SEV-SNP report's signed region);
(p2) ECDSA P-256/SHA-256 verify (generated key, 432-byte message: an SGX quote's header
     and body);
(p3) RSA-4096 PSS/SHA-384 verify of the real AMD Milan ARK → ASK certificate signature;
(p4) Ed25519 verify of a 32-byte digest;
(p5) one BN254 pairing with ``py_ecc.optimized_bn128`` (Miller loop and final
     exponentiation), and its parts: (p5a) the Miller loop alone, (p5b) the final
     exponentiation alone, (p5c) one G2 scalar multiplication by ``r`` (a subgroup check);
(p6) the statevector simulation (``node.provider.quantum``, numpy) of the 12-qubit
     user circuit below, sampling 1000 shots: what an honest provider spends on one slot.

Verifiers, on the third-party evidence in ``tests/vectors`` at 2025-07-01T00:00:00Z,
each with the anchor its ratio is taken against:

* SEV-SNP ``verify_sevsnp`` (Milan go-sev-guest report, a debug guest so ``allow_debug``;
  the trusted ARKs from genesis): anchor p1 + 3·p3 — the report signature and the
  VCEK ← ASK ← ARK ← ARK chain;
* SGX ``verify_sgx_quote`` with the collateral JSON: anchor 15·p2 — the PCK chain (3), the
  QE report and quote signatures (2), TCB info and QE identity each with its signer chain
  (2·3), the PCK CRL issuer chain (2) and the two CRLs (2);
* TDX ``verify_tdx_quote`` (dcap-qvl's TDX v4 quote with its collateral, at a time inside
  the collateral's window): the same anchor 15·p2 — the same chain, signatures and
  collateral, with TDX's TCB info and TD QE identity; and the same quote through
  ``verify_attestation`` with a warm ``TeeVerdictCache`` (a memo hit, what a node pays for a
  quote it has already checked);
* devnet ``verify_devnet_attestation`` of an encoded report: anchor p4;
* QUANTUM_V1 ``verify_quantum_result`` of an honest job (the 12-qubit, depth-20 circuit of
  ``tests/proofs/test_quantum_verify.py``, 1000 shots, 16 trap slots, 8 opened): anchor p6;
* Groth16 ``verify_groth16`` on risc0's 1-input multiplier: cold (a new ``Groth16Cache``
  per call), key prepared (the cache already holds the verifying key's subgroup checks and
  ``ML(alpha, beta)``, not the statement), and cached (statement already verified).
  Anchor p5; the cold and key-prepared rows also give the ratio to their own curve work
  (cold: 4·p5c + 4·p5a + p5b; key prepared: p5c + 3·p5a + p5b).

Sampling.  All figures are sampled in rounds: each round takes one sample of every figure
in turn, so a change in machine load between rounds hits a verifier and its anchor alike.
A sample of a fast operation is the mean over a batch of calls lasting about
``BENCH_PROOFS_BATCH_S`` (0.1) seconds; the cold and key-prepared Groth16 samples are one
call each on a cache made, untimed, just before.  Each figure is the median of
``BENCH_PROOFS_SAMPLES`` (default 7) rounds, after one warm-up call.  The whole run takes
about 25-30 s on a 2-core VM.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from py_ecc import optimized_bn128 as bn

from chain.hashing import H
from genesis.trust import amd_arks, intel_sgx_root
from node.provider.quantum import open_result, simulate_histogram, simulate_plan
from proofs.ai import AiVerifyConfig, TdxEvidence, verify_attestation
from proofs.devnet import DevnetAttestationConfig, DevnetSigner, report_data_for, verify_devnet_attestation
from proofs.groth16 import Groth16Cache, parse_verifying_key, verify_groth16
from proofs.quantum.qasm import parse_qasm
from proofs.quantum.verify import QuantumContext, QuantumParams, make_plan, verify_quantum_result
from proofs.tee import SevSnpPolicy, SgxPolicy, verify_sevsnp, verify_sgx_quote
from proofs.tee.tdx import TdxPolicy, verify_tdx_quote
from proofs.tee.verdicts import TeeVerdictCache

TESTDATA = Path(__file__).resolve().parents[1] / "tests" / "vectors"
NOW = datetime(2025, 7, 1, tzinfo=UTC)
TDX_NOW = datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)
"""Inside the TDX vector's collateral window (tests/vectors/README.md)."""
SAMPLES = int(os.environ.get("BENCH_PROOFS_SAMPLES", "7"))
BATCH_S = float(os.environ.get("BENCH_PROOFS_BATCH_S", "0.1"))

SGX_P256_VERIFIES = 15
"""ECDSA P-256 verifications in one ``verify_sgx_quote`` with collateral (module docstring)."""
SEVSNP_RSA_VERIFIES = 3
"""RSA-PSS verifications in one ``verify_sevsnp``: VCEK ← ASK, ASK ← ARK, ARK ← ARK."""
QUANTUM_SHOTS = 1000
DEVNET_CHAIN = "cairn-devnet"

Call = Callable[[], object]


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True, slots=True)
class Case:
    """One figure: ``prepare()`` (untimed) returns the call to time.

    With ``fresh`` every sample is a single call on a newly prepared call (for a cold
    cache); otherwise the call is prepared once and timed in batches.
    """

    prepare: Callable[[], Call]
    fresh: bool = False


def repeat(call: Call) -> Case:
    """A case timing ``call`` in batches."""
    return Case(lambda: call)


def interleaved(cases: dict[str, Case]) -> dict[str, float]:
    """Median seconds per call of every case, sampled in rounds (module docstring)."""
    calls: dict[str, Call] = {}
    batch: dict[str, int] = {}
    for name, case in cases.items():
        call = case.prepare()
        start = time.perf_counter()
        call()  # warm-up; also sizes the batch
        first = time.perf_counter() - start
        calls[name] = call
        batch[name] = 1 if case.fresh else max(1, math.ceil(BATCH_S / max(first, 1e-7)))
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(SAMPLES):
        for name, case in cases.items():
            call = case.prepare() if case.fresh else calls[name]
            n = batch[name]
            start = time.perf_counter()
            for _ in range(n):
                call()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(values) for name, values in samples.items()}


def _read(*parts: str) -> bytes:
    return TESTDATA.joinpath(*parts).read_bytes()


# --------------------------------------------------------------------------- raw primitives


def raw_cases() -> dict[str, Case]:
    p384 = ec.generate_private_key(ec.SECP384R1())
    p384_pub, p384_msg = p384.public_key(), b"\x5a" * 0x2A0
    p384_sig = p384.sign(p384_msg, ec.ECDSA(hashes.SHA384()))

    p256 = ec.generate_private_key(ec.SECP256R1())
    p256_pub, p256_msg = p256.public_key(), b"\x5a" * 432
    p256_sig = p256.sign(p256_msg, ec.ECDSA(hashes.SHA256()))

    # The ARK's RSA-PSS/SHA-384 signature on the ASK, as verify_sevsnp checks it.
    ask, ark = x509.load_pem_x509_certificates(_read("tee", "sev-snp", "amd-certs", "ask_ark_milan.pem"))
    ark_key = ark.public_key()
    if not isinstance(ark_key, rsa.RSAPublicKey) or ark_key.key_size != 4096:
        raise SystemExit("bench proofs: the Milan ARK is expected to hold an RSA-4096 key")
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    ask_sig, ask_tbs = ask.signature, ask.tbs_certificate_bytes

    ed = Ed25519PrivateKey.generate()
    ed_pub, ed_msg = ed.public_key().public_bytes_raw(), b"\x42" * 32
    ed_sig = ed.sign(ed_msg)

    q, p = bn.multiply(bn.G2, 5), bn.multiply(bn.G1, 7)
    miller_out = bn.pairing(q, p, final_exponentiate=False)

    return {
        "p384": repeat(lambda: p384_pub.verify(p384_sig, p384_msg, ec.ECDSA(hashes.SHA384()))),
        "p256": repeat(lambda: p256_pub.verify(p256_sig, p256_msg, ec.ECDSA(hashes.SHA256()))),
        "rsa_pss": repeat(lambda: ark_key.verify(ask_sig, ask_tbs, pss, hashes.SHA384())),
        "ed25519": repeat(lambda: Ed25519PublicKey.from_public_bytes(ed_pub).verify(ed_sig, ed_msg)),
        "pairing": repeat(lambda: bn.pairing(q, p)),
        "miller": repeat(lambda: bn.pairing(q, p, final_exponentiate=False)),
        "final_exp": repeat(lambda: bn.final_exponentiate(miller_out)),
        "g2_mul_r": repeat(lambda: bn.multiply(q, bn.curve_order)),
    }


# --------------------------------------------------------------------------- verifiers


def sevsnp_case() -> Case:
    d = ("tee", "sev-snp")
    report = _read(*d, "milan_go-sev-guest", "attestation.bin")
    vcek = _read(*d, "milan_go-sev-guest", "vcek.der")
    chain = _read(*d, "amd-certs", "ask_ark_milan.pem")
    arks = list(amd_arks().values())
    policy = SevSnpPolicy(allow_debug=True)
    return repeat(lambda: verify_sevsnp(report, vcek, chain, trusted_arks=arks, now=NOW, policy=policy))


def sgx_case() -> tuple[Case, str | None]:
    d = ("tee", "sgx-dcap", "sgx-v3_dcap-qvl")
    quote = _read(*d, "sgx_quote.bin")
    collateral = _read(*d, "sgx_quote_collateral.json")
    root = intel_sgx_root()
    policy = SgxPolicy()

    def run() -> object:
        return verify_sgx_quote(quote, trusted_root=root, now=NOW, policy=policy, collateral=collateral)

    status = verify_sgx_quote(quote, trusted_root=root, now=NOW, policy=policy, collateral=collateral).tcb_status
    return repeat(run), status


def tdx_case() -> tuple[Case, str | None]:
    d = ("tee", "sgx-dcap", "tdx-v4_dcap-qvl")
    quote = _read(*d, "tdx_quote.bin")
    collateral = _read(*d, "tdx_quote_collateral.json")
    root = intel_sgx_root()
    policy = TdxPolicy()

    def run() -> object:
        return verify_tdx_quote(quote, trusted_root=root, now=TDX_NOW, policy=policy, collateral=collateral)

    status = verify_tdx_quote(quote, trusted_root=root, now=TDX_NOW, policy=policy, collateral=collateral).tcb_status
    return repeat(run), status


def tdx_memo_case() -> Case:
    """The same quote through ``verify_attestation`` with a warm verdict memo (a memo hit)."""
    d = ("tee", "sgx-dcap", "tdx-v4_dcap-qvl")
    evidence = TdxEvidence(_read(*d, "tdx_quote.bin"), _read(*d, "tdx_quote_collateral.json"))
    config = AiVerifyConfig(intel_sgx_root=intel_sgx_root(), verdict_cache=TeeVerdictCache())
    now = (TDX_NOW - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)

    def run() -> object:
        return verify_attestation(evidence, chain_id="bench", now=now, config=config, devnet=None,
                                  expected_report_data=bytes(64))

    run()
    return repeat(run)


def devnet_case() -> Case:
    signer = DevnetSigner.from_seed(H(b"bench/devnet-signer", b""))
    config = DevnetAttestationConfig(enabled=True, signers=(signer.public_key,))
    expected = report_data_for(*(H(b"bench/devnet", bytes([i])) for i in range(4)))
    report = signer.attest(DEVNET_CHAIN, expected, H(b"bench/measurement", b"")).encode()
    return repeat(
        lambda: verify_devnet_attestation(report, chain_id=DEVNET_CHAIN, config=config, expected_report_data=expected)
    )


def user_qasm(n: int = 12, layers: int = 10) -> bytes:
    """The user circuit of ``tests/proofs/test_quantum_verify.py``: 12 qubits, depth 20."""
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];", f"creg c[{n}];"]
    for layer in range(layers):
        lines += [f"ry({0.1 * (q + 1) + 0.3 * layer}) q[{q}];" for q in range(n)]
        lines += [f"cx q[{q}], q[{q + 1}];" for q in range(layer % 2, n - 1, 2)]
    lines.append("measure q -> c;")
    return "\n".join(lines).encode()


def quantum_cases() -> tuple[Case, Case, str]:
    """(verify, one user-circuit simulation, description) for an honest noiseless provider."""
    src = user_qasm()
    circuit = parse_qasm(src)
    params = QuantumParams()
    key = Ed25519PrivateKey.from_private_bytes(H(b"bench/quantum-provider", b""))
    plan = make_plan(H(b"bench/task", b""), H(b"bench/assign", b""), circuit, QUANTUM_SHOTS, params)
    histograms = simulate_plan(plan, H(b"bench/shots", b""))
    reveal = H(b"bench/reveal", b"")
    body = open_result(plan, histograms, reveal, chain_id=DEVNET_CHAIN, key=key)
    ctx = QuantumContext(
        chain_id=DEVNET_CHAIN,
        task_id=plan.task_id,
        circuit=src,
        shots=QUANTUM_SHOTS,
        assign_beacon=plan.assign_beacon,
        reveal_beacon=reveal,
        committed_root=body.root,
        provider_pubkey=key.public_key().public_bytes_raw(),
        params=params,
    )
    encoded = body.encode()
    result = verify_quantum_result(encoded, ctx)
    desc = (f"{result.n_qubits} qubits, depth {result.depth}, {QUANTUM_SHOTS} shots, "
            f"{params.num_traps} trap slots, {result.traps_checked} opened, quality {result.quality_bp} bp")
    seed = H(b"bench/sim", b"")
    return (
        repeat(lambda: verify_quantum_result(encoded, ctx)),
        repeat(lambda: simulate_histogram(circuit, QUANTUM_SHOTS, seed)),
        desc,
    )


def groth16_cases() -> dict[str, Case]:
    """Cold, key-prepared and cached verification of risc0's multiplier proof."""
    d = ("groth16", "risc0_multiplier_1pub")
    vk, proof, public = (_read(*d, name) for name in ("verification_key.json", "proof.json", "public.json"))
    if verify_groth16(vk, proof, public) is not True:
        raise SystemExit("bench proofs: the Groth16 test vector does not verify")

    def with_cache(cache: Groth16Cache) -> Call:
        return lambda: verify_groth16(vk, proof, public, cache=cache)

    def key_prepared() -> Call:
        cache = Groth16Cache()
        cache.prepared(parse_verifying_key(vk))
        return with_cache(cache)

    warm = Groth16Cache()
    verify_groth16(vk, proof, public, cache=warm)
    return {
        "g16_cold": Case(lambda: with_cache(Groth16Cache()), fresh=True),
        "g16_key": Case(key_prepared, fresh=True),
        "g16_cached": repeat(with_cache(warm)),
    }


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:10.3f} ms"


def main() -> None:
    if not TESTDATA.is_dir():
        raise SystemExit(f"bench proofs: test data not found at {TESTDATA}")
    started = time.perf_counter()
    cases = raw_cases()
    q_verify, q_sim, q_desc = quantum_cases()
    sgx, sgx_status = sgx_case()
    tdx, tdx_status = tdx_case()
    cases |= {
        "tdx": tdx,
        "tdx_memo": tdx_memo_case(),
        "sim": q_sim,
        "sevsnp": sevsnp_case(),
        "sgx": sgx,
        "devnet": devnet_case(),
        "quantum": q_verify,
        **groth16_cases(),
    }
    t = interleaved(cases)

    print(f"## proofs: verification time per kind (median of {SAMPLES} interleaved rounds), "
          "ratio = verifier time / its raw-primitive anchor")
    print(f"(p1)  ECDSA P-384/SHA-384 verify                      {_ms(t['p384'])}")
    print(f"(p2)  ECDSA P-256/SHA-256 verify                      {_ms(t['p256'])}")
    print(f"(p3)  RSA-4096 PSS/SHA-384 verify (ARK -> ASK)        {_ms(t['rsa_pss'])}")
    print(f"(p4)  Ed25519 verify                                  {_ms(t['ed25519'])}")
    print(f"(p5)  BN254 pairing, py_ecc (Miller loop + final exp) {_ms(t['pairing'])}")
    print(f"(p5a)   Miller loop alone                             {_ms(t['miller'])}")
    print(f"(p5b)   final exponentiation alone                    {_ms(t['final_exp'])}")
    print(f"(p5c)   G2 multiplication by r (subgroup check)       {_ms(t['g2_mul_r'])}")
    print(f"(p6)  statevector simulation, 12-qubit user circuit   {_ms(t['sim'])}")

    snp_anchor = t["p384"] + SEVSNP_RSA_VERIFIES * t["rsa_pss"]
    print(f"SEV-SNP full verify                                   {_ms(t['sevsnp'])}   anchor p1 + 3*p3 = "
          f"{snp_anchor * 1e3:.3f} ms   ratio {t['sevsnp'] / snp_anchor:.2f}")
    sgx_anchor = SGX_P256_VERIFIES * t["p256"]
    print(f"SGX quote + collateral verify                         {_ms(t['sgx'])}   anchor {SGX_P256_VERIFIES}*p2 = "
          f"{sgx_anchor * 1e3:.3f} ms   ratio {t['sgx'] / sgx_anchor:.2f}   (TCB status {sgx_status})")
    print(f"TDX quote v4 + collateral verify                      {_ms(t['tdx'])}   anchor {SGX_P256_VERIFIES}*p2 = "
          f"{sgx_anchor * 1e3:.3f} ms   ratio {t['tdx'] / sgx_anchor:.2f}   (TCB status {tdx_status})")
    print(f"TDX quote v4, verdict memo hit (proofs.tee.verdicts)   {_ms(t['tdx_memo'])}   anchor {SGX_P256_VERIFIES}*p2 = "
          f"{sgx_anchor * 1e3:.3f} ms   ratio {t['tdx_memo'] / sgx_anchor:.4f}")
    print(f"devnet attestation verify                             {_ms(t['devnet'])}   anchor p4   ratio "
          f"{t['devnet'] / t['ed25519']:.2f}")
    print(f"quantum trap verify                                   {_ms(t['quantum'])}   anchor p6   ratio "
          f"{t['quantum'] / t['sim']:.2f}   ({q_desc})")
    pairing = t["pairing"]
    cold_work = 4 * t["g2_mul_r"] + 4 * t["miller"] + t["final_exp"]
    key_work = t["g2_mul_r"] + 3 * t["miller"] + t["final_exp"]
    print(f"Groth16 cold (new cache)                              {_ms(t['g16_cold'])}   anchor p5   ratio "
          f"{t['g16_cold'] / pairing:.2f}   (vs 4*p5c + 4*p5a + p5b = {cold_work * 1e3:.1f} ms: "
          f"{t['g16_cold'] / cold_work:.2f})")
    print(f"Groth16 key prepared (vk cached, new statement)       {_ms(t['g16_key'])}   anchor p5   ratio "
          f"{t['g16_key'] / pairing:.2f}   (vs p5c + 3*p5a + p5b = {key_work * 1e3:.1f} ms: "
          f"{t['g16_key'] / key_work:.2f})")
    print(f"Groth16 cached (statement verified before)            {_ms(t['g16_cached'])}   anchor p5   ratio "
          f"{t['g16_cached'] / pairing:.5f}")
    print(f"(proofs bench took {time.perf_counter() - started:.1f} s)")
