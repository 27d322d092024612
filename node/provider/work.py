"""What a provider signs and sends: registration payloads, AI and quantum proof envelopes.

Pure functions (no I/O): the reference provider (``node.provider.runner``) and the tests
build their transactions and envelopes here, and the chain checks them with ``aicf`` and
``proofs`` — so a test that passes has driven the same bytes the provider sends.

* :func:`registration` — the ``provider_register`` payload, with a devnet attestation whose
  report data binds the provider's address on this chain (``aicf.txs``).
* :func:`ai_envelope` — an ``AI_V1`` envelope for a job: model and weights digest from the
  backend, ``input_digest`` = the job's request digest, the output inline when it fits, the
  devnet report binding task, model, input and output (``proofs.ai``).
* :func:`quantum_plan`, :func:`quantum_run`, :func:`quantum_envelope` — the QUANTUM_V1
  commit-then-reveal: derive the plan from the assignment beacon, run every slot on the
  simulator and commit to the root (``quantum_commit`` transaction), then, once the chain has
  recorded the beacon after the commitment, open the revealed slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aicf.txs import registration_report_data
from capabilities.records import JobReceipt, QuantumRequest
from chain.keys import PrivateKey
from chain.types import Hash32
from genesis.devnet import DEVNET_MEASUREMENT
from node.provider.backends import AiOutput
from node.provider.quantum import commit, open_result, simulate_plan
from proofs.ai import MAX_INLINE_OUTPUT, AiBody, DevnetEvidence, QosReport, ai_output_digest
from proofs.devnet import DevnetSigner, report_data_for
from proofs.envelope import ProofEnvelope, ProofType, seal_envelope
from proofs.quantum.commitment import Histogram
from proofs.quantum.qasm import parse_qasm
from proofs.quantum.traps import JobPlan
from proofs.quantum.verify import QuantumParams, make_plan


def ed25519(key: PrivateKey) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(key.seed)


def registration(chain_id: str, key: PrivateKey, signer: DevnetSigner, *, kinds: Sequence[str],
                 models: Sequence[str] = (), devices: Sequence[str] = (), region: str = "local",
                 stake: int, max_leases: int = 0, measurement: bytes = DEVNET_MEASUREMENT) -> list[Any]:
    """The ``provider_register`` payload (``aicf.txs``) with a devnet attestation."""
    report = signer.attest(chain_id, registration_report_data(chain_id, key.address), measurement)
    return [sorted(kinds), sorted(models), sorted(devices), region, ["devnet", report.encode()], stake, max_leases]


def ai_envelope(chain_id: str, key: PrivateKey, signer: DevnetSigner, receipt: JobReceipt, model: str,
                result: AiOutput, *, p95_latency_ms: int | None = None, availability_ppm: int = 1_000_000,
                measurement: bytes = DEVNET_MEASUREMENT) -> ProofEnvelope:
    """An ``AI_V1`` envelope for the job ``receipt`` names (module docstring)."""
    output_digest = ai_output_digest(result.text)
    model_digest, input_digest = Hash32(result.model_digest), receipt.request_digest
    report = signer.attest(chain_id, report_data_for(receipt.task_id, model_digest, input_digest, output_digest),
                           measurement)
    body = AiBody(
        model=model, model_digest=model_digest, input_digest=input_digest, output_digest=output_digest,
        runtime_ms=result.runtime_ms,
        qos=QosReport(result.runtime_ms if p95_latency_ms is None else p95_latency_ms, availability_ppm),
        attestation=DevnetEvidence(report.encode()),
        output=result.text if len(result.text) <= MAX_INLINE_OUTPUT else None,
    )
    return seal_envelope(ProofType.AI_V1, receipt.task_id, body.encode(), chain_id=chain_id,
                         provider_key=ed25519(key))


def quantum_plan(task_id: bytes, assign_beacon: bytes, request: QuantumRequest, params: QuantumParams) -> JobPlan:
    """The job's slots and traps, fixed by the assigning block's beacon."""
    return make_plan(task_id, assign_beacon, parse_qasm(request.circuit), request.shots, params)


def quantum_run(plan: JobPlan, seed: bytes) -> tuple[tuple[Histogram, ...], bytes]:
    """Every slot's histogram on the simulator and the root to commit (``quantum_commit``)."""
    histograms = simulate_plan(plan, seed)
    return histograms, commit(histograms)


def quantum_envelope(chain_id: str, key: PrivateKey, plan: JobPlan, histograms: Sequence[Histogram],
                     reveal_beacon: bytes) -> ProofEnvelope:
    """A ``QUANTUM_V1`` envelope opening the slots ``reveal_beacon`` selects."""
    body = open_result(plan, histograms, reveal_beacon, chain_id=chain_id, key=ed25519(key))
    return seal_envelope(ProofType.QUANTUM_V1, plan.task_id, body.encode(), chain_id=chain_id,
                         provider_key=ed25519(key))
