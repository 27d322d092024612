"""The attestation policy in state (``aicf.attestation``): written at genesis, read by
registration and by every proof, and changed only by the governance keys genesis names."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aicf.attestation import AttestationPolicy, load_policy, policy_digest
from aicf.records import to_value
from chain.hashing import H
from chain.keys import PrivateKey
from genesis.devnet import DEVNET_MEASUREMENT
from genesis.trust import amd_arks, intel_sgx_root
from tests.aicf.helpers import JobsChain, account, aicf_events, provider_key, tuned_genesis

GOVERNORS = [PrivateKey.derive(f"test/governor/{i}") for i in range(3)]
OTHER_MEASUREMENT = H(b"cairn/devnet-measurement/v1", b"some other software")


def _governed() -> JobsChain:
    return JobsChain(tuned_genesis(governance={"keys": tuple(bytes(k.public_key).hex() for k in GOVERNORS),
                                               "threshold": 2}))


def _payload(chain: JobsChain, policy: AttestationPolicy, signers: list[PrivateKey]) -> list[Any]:
    digest = policy_digest(chain.chain_id, policy)
    return [to_value(policy), [[bytes(k.public_key), k.sign_digest(digest)] for k in signers]]


def _update(chain: JobsChain, policy: AttestationPolicy, signers: list[PrivateKey]) -> Any:
    (receipt,) = chain.run(chain.tx(account(5), "attestation_policy", _payload(chain, policy, signers)))
    return receipt


def _current(chain: JobsChain) -> AttestationPolicy:
    policy = load_policy(chain.state())
    assert policy is not None
    return policy


def test_genesis_writes_version_0_with_the_shipped_roots_and_the_devnet_measurement() -> None:
    policy = _current(JobsChain())
    assert policy.version == 0
    assert policy.amd_arks == tuple(amd_arks().values()) and policy.intel_root == intel_sgx_root()
    assert policy.devnet_measurements == (DEVNET_MEASUREMENT,)
    assert policy.sevsnp_measurements == policy.sgx_mrenclaves == policy.tdx_mrtds == ()


def test_without_governance_the_policy_is_final() -> None:
    chain = JobsChain()
    policy = replace(_current(chain), version=1)
    receipt = _update(chain, policy, GOVERNORS[:2])
    assert not receipt.ok and receipt.reason.startswith("no_governance")
    assert _current(chain).version == 0


def test_governance_changes_what_registration_accepts() -> None:
    chain = _governed()
    only_other = replace(_current(chain), version=1, devnet_measurements=(OTHER_MEASUREMENT,))
    receipt = _update(chain, only_other, GOVERNORS[:2])
    assert receipt.ok, receipt.reason
    assert aicf_events_of(receipt) == [{"version": 1, "signers": 2}]
    (refused,) = chain.run(chain.register_tx(0))
    assert refused.reason == "attestation_invalid: devnet_measurement_not_allowed"
    both = replace(only_other, version=2, devnet_measurements=(OTHER_MEASUREMENT, DEVNET_MEASUREMENT))
    assert _update(chain, both, [GOVERNORS[2], GOVERNORS[0]]).ok
    assert chain.register(0).ok and chain.record(0).stake > 0


def aicf_events_of(receipt: Any) -> list[dict[str, Any]]:
    return [dict(e.attrs) for e in receipt.events if (e.module, e.name) == ("aicf", "attestation_policy")]


def test_refusals_keep_the_policy() -> None:
    chain = _governed()
    v1 = replace(_current(chain), version=1, devnet_measurements=(OTHER_MEASUREMENT,))
    outsider = PrivateKey.derive("test/not-a-governor")
    for signers, reason in (
        ([GOVERNORS[0]], "not_enough_signatures"),
        ([GOVERNORS[0], GOVERNORS[0]], "not_enough_signatures"),  # one key signing twice counts once
        ([GOVERNORS[0], outsider], "not_enough_signatures"),
    ):
        receipt = _update(chain, v1, signers)
        assert not receipt.ok and receipt.reason.startswith(reason), receipt.reason
    forged = _payload(chain, v1, GOVERNORS[:2])
    forged[1][1][1] = bytes(64)  # the second signature no longer verifies
    (receipt,) = chain.run(chain.tx(account(5), "attestation_policy", forged))
    assert receipt.reason.startswith("not_enough_signatures")
    skipped = replace(v1, version=2)
    assert _update(chain, skipped, GOVERNORS[:2]).reason.startswith("stale_version")
    broken = replace(v1, amd_arks=(b"not a certificate",))
    assert _update(chain, broken, GOVERNORS[:2]).reason.startswith("bad_policy")
    assert _current(chain).version == 0
    assert _update(chain, v1, GOVERNORS[:2]).ok
    assert _update(chain, v1, GOVERNORS[:2]).reason.startswith("stale_version")  # a replay
    assert _current(chain) == v1


def test_proofs_are_judged_by_the_policy_in_state(samples: dict[str, bytes]) -> None:
    chain = _governed()
    chain.providers(0)
    agent = chain.deploy(samples["ai_agent"])
    task = chain.ask(agent)
    assert chain.job(task).lease_of(provider_key(0).address) is not None
    revoked = replace(_current(chain), version=1, devnet_measurements=(OTHER_MEASUREMENT,))
    assert _update(chain, revoked, GOVERNORS[1:]).ok
    out = chain.block(proofs=[chain.envelope(task, 0)])  # still attributable: a failed proof
    assert aicf_events(out, "proof_failed") == [{"task_id": bytes(task), "provider": bytes(provider_key(0).address),
                                                 "reason": "devnet_measurement_not_allowed"}]
