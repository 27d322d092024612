"""``cairn proofs verify``: check attestation and zk evidence files offline.

    cairn proofs verify --kind sev-snp --report FILE --vcek FILE --chain FILE [--now ISO8601]
    cairn proofs verify --kind sgx --quote FILE [--collateral FILE] [--root FILE] [--now ISO8601]
    cairn proofs verify --kind tdx --quote FILE [--collateral FILE] [--root FILE] [--now ISO8601]
    cairn proofs verify --kind groth16 --vk FILE --proof FILE --public FILE

Exit status: 0 valid, 1 invalid, 2 usage error (a missing file, a bad ``--now``,
a malformed trust anchor).  The trust anchors default to the vendor roots shipped
in ``genesis/certs`` (AMD Milan/Genoa ARKs, the Intel SGX Root CA, which also
anchors TDX quotes).  ``--now``
defaults to the current time; verification itself is pure and takes it as a
parameter.  Policy flags: ``--allow-debug`` accepts debug guests/enclaves (the
public sample evidence comes from a debug SEV-SNP guest), ``--measurement`` /
``--mrenclave`` / ``--mrtd`` restrict to an allowlist (repeatable, hex).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chain.errors import InvalidProof
from node.display import show


class UsageError(Exception):
    """Exit status 2."""


def _read(path: str | None, flag: str) -> bytes:
    if not path:
        raise UsageError(f"{flag} is required for this kind")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror}") from None


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now: not an ISO 8601 time: {text!r}") from None
    if t.tzinfo is None:
        raise UsageError("--now must carry a time zone (for example 2025-07-01T00:00:00Z)")
    return t


def _hexes(values: list[str] | None, flag: str, size: int) -> frozenset[bytes] | None:
    if not values:
        return None
    out = set()
    for v in values:
        try:
            b = bytes.fromhex(v)
        except ValueError:
            raise UsageError(f"{flag}: not hex: {v!r}") from None
        if len(b) != size:
            raise UsageError(f"{flag}: expected {size} bytes, got {len(b)}")
        out.add(b)
    return frozenset(out)


def verify_evidence(args: argparse.Namespace) -> dict[str, Any]:
    """Run the verifier for ``args.kind``; returns the verdict document (raises UsageError)."""
    kind = args.kind
    try:
        if kind == "sev-snp":
            from genesis.trust import amd_arks
            from proofs.tee import SevSnpPolicy, verify_sevsnp

            sev_policy = SevSnpPolicy(measurements=_hexes(args.measurement, "--measurement", 48),
                                      max_vmpl=args.max_vmpl, allow_debug=args.allow_debug)
            verdict = verify_sevsnp(_read(args.report, "--report"), _read(args.vcek, "--vcek"),
                                    _read(args.chain, "--chain"), trusted_arks=list(amd_arks().values()),
                                    now=_now(args.now), policy=sev_policy)
            return {"kind": kind, "valid": True, "reason": "ok", "fields": verdict.to_json()}
        if kind == "sgx":
            from genesis.trust import intel_sgx_root
            from proofs.tee import SgxPolicy, verify_sgx_quote

            root = _read(args.root, "--root") if args.root else intel_sgx_root()
            sgx_policy = SgxPolicy(mrenclaves=_hexes(args.mrenclave, "--mrenclave", 32), allow_debug=args.allow_debug)
            collateral = _read(args.collateral, "--collateral") if args.collateral else None
            sgx = verify_sgx_quote(_read(args.quote, "--quote"), trusted_root=root, now=_now(args.now),
                                   policy=sgx_policy, collateral=collateral)
            return {"kind": kind, "valid": True, "reason": "ok", "fields": sgx.to_json()}
        if kind == "tdx":
            from genesis.trust import intel_sgx_root
            from proofs.tee.tdx import TdxPolicy, verify_tdx_quote

            root = _read(args.root, "--root") if args.root else intel_sgx_root()
            tdx_policy = TdxPolicy(mrtds=_hexes(args.mrtd, "--mrtd", 48), allow_debug=args.allow_debug)
            collateral = _read(args.collateral, "--collateral") if args.collateral else None
            tdx = verify_tdx_quote(_read(args.quote, "--quote"), trusted_root=root, now=_now(args.now),
                                   policy=tdx_policy, collateral=collateral)
            return {"kind": kind, "valid": True, "reason": "ok", "fields": tdx.to_json()}
        from proofs.groth16 import groth16_verdict

        g = groth16_verdict(_read(args.vk, "--vk"), _read(args.proof, "--proof"), _read(args.public, "--public"))
        return {"kind": kind, "valid": g.valid, "reason": g.reason,
                "fields": {"public_inputs": [str(x) for x in g.public_inputs],
                           "vk_digest": g.vk_digest.hex() if g.vk_digest else None}}
    except InvalidProof as exc:
        return {"kind": kind, "valid": False, "reason": exc.reason, "message": exc.message, "fields": {}}
    except ValueError as exc:  # the verifiers' word for a bad trust anchor or a naive time
        raise UsageError(str(exc)) from None


def cmd_proofs_verify(args: argparse.Namespace) -> int:
    try:
        doc = verify_evidence(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        if doc["valid"]:
            print(f"VALID {doc['kind']}")
        else:
            print(f"INVALID {doc['kind']}: {doc['reason']}" + (f" ({doc['message']})" if doc.get("message") else ""))
        for key, value in _flatten(doc["fields"]):
            print(f"  {key}: {show(value)}")
    return 0 if doc["valid"] else 1


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k in sorted(value):
            out.extend(_flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    return [(prefix, value)]


def add_parser(sub: Any, common: Any) -> None:
    proofs = sub.add_parser("proofs", help="check proof evidence offline")
    psub = proofs.add_subparsers(dest="proofs_cmd", metavar="COMMAND")
    vp = psub.add_parser("verify", help="verify an attestation or a Groth16 proof")
    common(vp)
    vp.add_argument("--kind", required=True, choices=["sev-snp", "sgx", "tdx", "groth16"],
                    help="what the evidence is: an AMD SEV-SNP report, an Intel SGX or TDX quote, "
                         "a Groth16 proof")
    vp.add_argument("--report", help="SEV-SNP attestation report (1184 bytes)")
    vp.add_argument("--vcek", help="VCEK (or VLEK) certificate, DER or PEM")
    vp.add_argument("--chain", help="ASK-then-ARK PEM (ASVK-then-ARK for VLEK)")
    vp.add_argument("--quote", help="SGX DCAP quote v3, or TDX DCAP quote v4")
    vp.add_argument("--collateral", help="SGX/TDX collateral JSON (TCB info, QE identity, CRLs)")
    vp.add_argument("--root", help="Intel SGX Root CA (default: the one in genesis)")
    vp.add_argument("--vk", help="snarkjs verification_key.json")
    vp.add_argument("--proof", help="snarkjs proof.json")
    vp.add_argument("--public", help="snarkjs public.json")
    vp.add_argument("--now", help="verification time, ISO 8601 with zone (default: now)")
    vp.add_argument("--allow-debug", action="store_true", help="accept debug guests/enclaves")
    vp.add_argument("--max-vmpl", type=int, default=0, help="highest VMPL accepted (SEV-SNP)")
    vp.add_argument("--measurement", action="append", help="allowed SEV-SNP measurement, hex (repeatable)")
    vp.add_argument("--mrenclave", action="append", help="allowed SGX MRENCLAVE, hex (repeatable)")
    vp.add_argument("--mrtd", action="append", help="allowed TDX MRTD, hex (repeatable)")
    vp.set_defaults(func=cmd_proofs_verify)
