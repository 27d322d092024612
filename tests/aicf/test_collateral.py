"""Intel collateral kept by consensus (``aicf.collateral``): updates verified under the root
in state and never rolled back, and attestations judged against the stored collateral at the
block's time, with the genesis grace window.

The update rules run on Intel's own signed collateral (three real versions for the TDX
vector's FMSPC, tests/vectors/README.md).  The running-chain test needs a quote that binds
a provider on this chain, so it uses the vector re-signed under a test root
(tests/proofs/synthetic_intel.py), installed by governance like any root change.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from aicf.attestation import load_policy
from aicf.collateral import (
    CollateralPart,
    CollateralUpdate,
    apply_update,
    assemble,
    collateral_lookup,
    load_part,
    overdue,
    part_key,
    stored_names,
    verify_update,
)
from aicf.records import encode_record
from aicf.txs import registration_report_data
from chain.apply import BlockOutput
from chain.errors import InvalidProof
from chain.kv import MemoryKV
from chain.module import TxFailed
from chain.smt import EMPTY_ROOT
from chain.state import StateDB
from chain.tx import SignedTx
from genesis.trust import amd_arks, intel_sgx_root
from proofs.ai import AiVerifyConfig, SevSnpEvidence, verify_attestation
from proofs.tee.sevsnp import AmdRevocation, SevSnpPolicy
from tests.aicf.helpers import STAKE, JobsChain, account, fast_genesis, provider_key
from tests.aicf.test_attestation_policy import GOVERNORS, _update
from tests.proofs.synthetic_intel import VECTOR, TestIntel

TDX_FMSPC = bytes.fromhex("b0c06f000000")
SGX_FMSPC = bytes.fromhex("00a067110000")
MARCH, JUNE = VECTOR / "tdx_quote_collateral_2025-03.json", VECTOR / "tdx_quote_collateral.json"
SEPTEMBER = VECTOR / "tdx_quote_collateral_2024-09.json"  # Intel-signed, but SGX TCB info and QE identity
SGX_JUNE = VECTOR.parent / "sgx-v3_dcap-qvl" / "sgx_quote_collateral.json"


def at(when: str) -> int:
    return int(datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp())


def _state() -> StateDB:
    return StateDB(MemoryKV(), EMPTY_ROOT)


def _refusal(update: CollateralUpdate, when: str, state: StateDB | None = None, root: bytes | None = None) -> str:
    with pytest.raises(TxFailed) as info:
        parts = verify_update(update, intel_root=root or intel_sgx_root(), now_s=at(when))
        apply_update(state or _state(), parts)
    return str(info.value.details["reason"])


# --- the update rules, on Intel's signed collateral ---------------------------------------


def test_intel_collateral_is_stored_part_by_part_and_assembles_into_a_document() -> None:
    state = _state()
    march = verify_update(CollateralUpdate("TDX", TDX_FMSPC, MARCH.read_bytes()), intel_root=intel_sgx_root(),
                          now_s=at("2025-03-20T00:00:00"))
    assert [p.name for p in march] == ["qe_identity/TDX", "tcb_info/TDX/b0c06f000000"]  # this one ships no CRLs
    assert apply_update(state, march) == ("qe_identity/TDX", "tcb_info/TDX/b0c06f000000")
    assert assemble(state, "TDX", TDX_FMSPC, "platform") is None  # no CRLs yet
    june = verify_update(CollateralUpdate("TDX", TDX_FMSPC, JUNE.read_bytes()), intel_root=intel_sgx_root(),
                         now_s=at("2025-06-20T00:00:00"))
    assert apply_update(state, june) == ("crl/pck_platform", "crl/root_ca", "qe_identity/TDX",
                                         "tcb_info/TDX/b0c06f000000")
    tcb = load_part(state, "tcb_info/TDX/b0c06f000000")
    assert tcb is not None and (tcb.issue_date, tcb.next_update, tcb.number) == (
        at("2025-06-19T10:16:03"), at("2025-07-19T10:16:03"), 17)
    doc = assemble(state, "TDX", TDX_FMSPC, "platform")
    assert doc is not None and json.loads(doc) == {k: v for k, v in json.loads(JUNE.read_bytes()).items()}
    assert stored_names(state) == ("crl/pck_platform", "crl/root_ca", "qe_identity/TDX", "tcb_info/TDX/b0c06f000000")
    sgx = verify_update(CollateralUpdate("SGX", SGX_FMSPC, SGX_JUNE.read_bytes()), intel_root=intel_sgx_root(),
                        now_s=at("2025-06-20T00:00:00"))
    assert "tcb_info/SGX/00a067110000" in apply_update(state, sgx)


def test_the_same_collateral_twice_is_not_newer() -> None:
    state = _state()
    update = CollateralUpdate("TDX", TDX_FMSPC, JUNE.read_bytes())
    apply_update(state, verify_update(update, intel_root=intel_sgx_root(), now_s=at("2025-06-20T00:00:00")))
    assert _refusal(update, "2025-06-21T00:00:00", state) == "collateral_not_newer"


@pytest.mark.parametrize(("update", "when", "reason"), [
    (CollateralUpdate("TDX", bytes.fromhex("00a067110000"), JUNE.read_bytes()), "2025-06-20T00:00:00",
     "collateral_fmspc_mismatch"),
    (CollateralUpdate("SGX", TDX_FMSPC, JUNE.read_bytes()), "2025-06-20T00:00:00", "collateral_malformed"),
    (CollateralUpdate("TDX", TDX_FMSPC, b"{not json"), "2025-06-20T00:00:00", "collateral_malformed"),
    (CollateralUpdate("TDX", TDX_FMSPC, SEPTEMBER.read_bytes()), "2024-09-10T00:00:00", "collateral_malformed"),
    (CollateralUpdate("TDX", TDX_FMSPC, b"{}"), "2025-06-20T00:00:00", "collateral_malformed"),
    (CollateralUpdate("TDX", TDX_FMSPC, JUNE.read_bytes()), "2025-06-19T00:00:00", "collateral_not_yet_valid"),
    # Intel's TCB signing certificate of the March collateral expired on 2025-05-21
    (CollateralUpdate("TDX", TDX_FMSPC, MARCH.read_bytes()), "2025-06-20T00:00:00", "collateral_signature"),
])
def test_refused_updates(update: CollateralUpdate, when: str, reason: str) -> None:
    assert _refusal(update, when) == reason


def test_a_tampered_body_or_another_root_fails_the_signature() -> None:
    doc = json.loads(JUNE.read_bytes())
    doc["tcb_info"] = doc["tcb_info"].replace('"UpToDate"', '"OutOfDate"', 1)
    tampered = CollateralUpdate("TDX", TDX_FMSPC, json.dumps(doc).encode())
    assert _refusal(tampered, "2025-06-20T00:00:00") == "collateral_signature"
    genuine = CollateralUpdate("TDX", TDX_FMSPC, JUNE.read_bytes())
    assert _refusal(genuine, "2025-06-20T00:00:00", root=TestIntel().root_der) == "collateral_signature"


def test_a_rollback_is_refused_and_changes_nothing() -> None:
    intel = TestIntel()
    state = _state()
    june = CollateralUpdate("TDX", TDX_FMSPC, intel.collateral(JUNE))
    apply_update(state, verify_update(june, intel_root=intel.root_der, now_s=at("2025-06-20T00:00:00")))
    before = assemble(state, "TDX", TDX_FMSPC, "platform")
    march = CollateralUpdate("TDX", TDX_FMSPC, intel.collateral(MARCH, parts=("tcb_info",)))
    assert _refusal(march, "2025-06-21T00:00:00", state, root=intel.root_der) == "collateral_rollback"
    assert assemble(state, "TDX", TDX_FMSPC, "platform") == before


# --- on a running chain --------------------------------------------------------------


class CollateralChain(JobsChain):
    """A governed devnet chain starting on 2025-03-20 whose blocks are stamped at given times."""

    def __init__(self, intel: TestIntel) -> None:
        genesis = fast_genesis(governance={"keys": tuple(bytes(k.public_key).hex() for k in GOVERNORS),
                                           "threshold": 2})
        super().__init__(replace(genesis, genesis_time_ms=at("2025-03-20T00:00:00") * 1000))
        self.intel = intel
        policy = load_policy(self.state())
        assert policy is not None
        assert _update(self, replace(policy, version=1, intel_root=intel.root_der), GOVERNORS[:2]).ok

    def at(self, when: str, *txs: SignedTx) -> BlockOutput:
        """Commit an empty block whose commit is stamped ``when``, then a block of ``txs``,
        which takes that BFT time."""
        assert at(when) * 1000 > self.mem.head.time_ms + 1
        block, out = self.mem.build([])
        self.mem.commit(block, out, next_time_ms=at(when) * 1000)
        block, out = self.mem.build(list(txs))
        assert len(block.txs) == len(txs) and block.header.time_ms == at(when) * 1000
        self.mem.commit(block, out)
        return out

    def collateral_tx(self, real: Any, **kwargs: Any) -> SignedTx:
        return self.tx(account(5), "collateral_update", ["TDX", TDX_FMSPC, self.intel.collateral(real, **kwargs)])

    def register_tdx(self, index: int) -> SignedTx:
        key = provider_key(index)
        quote = self.intel.quote(registration_report_data(self.chain_id, key.address))
        return self.tx(key, "provider_register", [["ai"], ["llama3-8b"], [], "local", ["tdx", quote, None], STAKE, 0])


def test_attestations_follow_the_stored_collateral_and_the_block_time() -> None:
    chain = CollateralChain(TestIntel())
    grace = chain.params.attestation.collateral_grace_s
    assert grace == 7 * 24 * 3600
    # no collateral stored yet: the quote cannot be judged
    (r,) = chain.at("2025-03-21T00:00:00", chain.register_tdx(0)).receipts
    assert r.reason == "attestation_invalid: tdx_collateral_required"
    # March collateral (TCB info due 2025-04-12T07:30:24Z) lands; the attestation is accepted at T
    (r,) = chain.at("2025-03-22T00:00:00", chain.collateral_tx(MARCH)).receipts
    assert r.ok, r.reason
    (r,) = chain.at("2025-04-01T00:00:00", chain.register_tdx(0)).receipts
    assert r.ok, r.reason
    assert chain.record(0).attestation_class == "tdx"
    # after nextUpdate, inside the grace window: still accepted, and the part is reported as due
    (r,) = chain.at("2025-04-15T00:00:00", chain.register_tdx(1)).receipts
    assert r.ok, r.reason
    due = {part.name: closes for part, closes in overdue(chain.state(), at("2025-04-15T00:00:00"), grace)}
    assert due == {"tcb_info/TDX/b0c06f000000": at("2025-04-12T07:30:24") + grace,
                   "qe_identity/TDX": at("2025-04-12T07:08:21") + grace}
    # after the grace window: refused
    (r,) = chain.at("2025-06-20T00:00:00", chain.register_tdx(2)).receipts
    assert r.reason == "attestation_invalid: tdx_tcb_info_expired"
    assert chain.provider(2) is None
    # a collateral update lands, and the same attestation is accepted again
    (r,) = chain.at("2025-06-20T00:01:00", chain.collateral_tx(JUNE)).receipts
    assert r.ok, r.reason
    (r,) = chain.at("2025-06-20T00:02:00", chain.register_tdx(2)).receipts
    assert r.ok, r.reason
    assert overdue(chain.state(), at("2025-06-20T00:02:00"), grace) == []
    # a rollback to March is refused with its reason, and the June collateral stays
    (r,) = chain.at("2025-06-20T00:03:00", chain.collateral_tx(MARCH, parts=("tcb_info", "qe_identity"))).receipts
    assert r.reason.startswith("collateral_rollback")
    tcb = load_part(chain.state(), "tcb_info/TDX/b0c06f000000")
    assert tcb is not None and tcb.issue_date == at("2025-06-19T10:16:03")


def test_an_envelopes_own_collateral_is_ignored_inside_blocks() -> None:
    """A registration carrying (valid) collateral of its own is still judged by the store."""
    chain = CollateralChain(TestIntel())
    key = provider_key(0)
    quote = chain.intel.quote(registration_report_data(chain.chain_id, key.address))
    own = chain.intel.collateral(MARCH)
    tx = chain.tx(key, "provider_register", [["ai"], ["llama3-8b"], [], "local", ["tdx", quote, own], STAKE, 0])
    (r,) = chain.at("2025-04-01T00:00:00", tx).receipts
    assert r.reason == "attestation_invalid: tdx_collateral_required"


# --- AMD CRLs ----------------------------------------------------------------------------

AMD_CRLS = VECTOR.parents[1] / "sev-snp" / "amd-crls"
GENESIS_CERTS = VECTOR.parents[4] / "genesis" / "certs"


def _amd(document: bytes) -> CollateralUpdate:
    return CollateralUpdate("SEV-SNP", b"", document)


def _amd_refusal(document: bytes, when: str, state: StateDB | None = None,
                 arks: tuple[bytes, ...] | None = None) -> str:
    with pytest.raises(TxFailed) as info:
        apply_update(state or _state(), verify_update(_amd(document), intel_root=b"", now_s=at(when),
                                                      amd_arks=tuple(amd_arks().values()) if arks is None else arks))
    return str(info.value.details["reason"])


def test_amds_crls_are_stored_with_what_they_revoke() -> None:
    state = _state()
    for name in ("genoa", "milan"):
        parts = verify_update(_amd((AMD_CRLS / f"{name}_crl.pem").read_bytes()), intel_root=b"",
                              amd_arks=tuple(amd_arks().values()), now_s=at("2025-07-01T00:00:00"))
        apply_update(state, parts)
    genoa = load_part(state, "amd_crl/ARK-Genoa")
    milan = load_part(state, "amd_crl/ARK-Milan")
    assert genoa is not None and milan is not None
    assert AmdRevocation.from_document(genoa.document).revoked == {0x20001}
    assert AmdRevocation.from_document(milan.document).revoked == frozenset()
    assert (genoa.issue_date, genoa.next_update) == (at("2024-10-23T04:36:24"), at("2025-11-03T01:00:00"))
    assert json.loads(genoa.document)["crl_number"] == 4
    assert collateral_lookup(state)("SEV-SNP", b"", "ARK-Genoa") == genoa.document
    assert _amd_refusal((AMD_CRLS / "genoa_crl.pem").read_bytes(), "2025-07-02T00:00:00", state) == \
        "collateral_not_newer"


@pytest.mark.parametrize(("document", "when", "arks", "reason"), [
    ((AMD_CRLS / "milan_crl.pem").read_bytes(), "2025-05-01T00:00:00", None, "collateral_not_yet_valid"),
    ((AMD_CRLS / "milan_crl.pem").read_bytes(), "2025-07-01T00:00:00", "genoa only", "collateral_signature"),
    (b"not a crl", "2025-07-01T00:00:00", None, "collateral_malformed"),
    ((AMD_CRLS / "genoa_crl.pem").read_bytes(), "2025-11-04T00:00:00", None, "collateral_expired"),
])
def test_refused_amd_crls(document: bytes, when: str, arks: str | None, reason: str) -> None:
    only = (amd_arks()["Genoa"],) if arks else None
    assert _amd_refusal(document, when, arks=only) == reason


def test_a_tampered_amd_crl_fails_its_signature() -> None:
    der = bytearray(x509.load_pem_x509_crl((AMD_CRLS / "milan_crl.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER))
    der[-5] ^= 1
    assert _amd_refusal(bytes(der), "2025-07-01T00:00:00") == "collateral_signature"


class TestArk:
    """An RSA ARK of our own (AMD's name, a test key) that signs CRLs the way AMD does."""

    __test__ = False
    NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ARK-Milan"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cairn test, not AMD")])
    PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cert = (x509.CertificateBuilder().subject_name(self.NAME).issuer_name(self.NAME)
                     .public_key(self.key.public_key()).serial_number(1)
                     .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC)).not_valid_after(datetime(2045, 1, 1, tzinfo=UTC))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA384(), rsa_padding=self.PSS))

    def crl(self, issued: str, serials: tuple[int, ...]) -> bytes:
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.NAME)
                   .last_update(datetime.fromisoformat(issued).replace(tzinfo=UTC))
                   .next_update(datetime.fromisoformat(issued).replace(tzinfo=UTC) + timedelta(days=30)))
        for serial in serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(datetime(2025, 1, 1, tzinfo=UTC)).build())
        return builder.sign(self.key, hashes.SHA384(), rsa_padding=self.PSS).public_bytes(serialization.Encoding.DER)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def test_a_newer_crl_keeps_earlier_revocations_and_an_older_one_is_a_rollback() -> None:
    ark = TestArk()
    state = _state()
    for issued, serials, when in (("2025-03-01T00:00:00", (5,), "2025-03-02T00:00:00"),
                                  ("2025-04-01T00:00:00", (7,), "2025-04-02T00:00:00")):
        apply_update(state, verify_update(_amd(ark.crl(issued, serials)), intel_root=b"", amd_arks=(ark.der,),
                                          now_s=at(when)))
    part = load_part(state, "amd_crl/ARK-Milan")
    assert part is not None and AmdRevocation.from_document(part.document).revoked == {5, 7}
    assert part.next_update == at("2025-05-01T00:00:00")
    assert _amd_refusal(ark.crl("2025-03-15T00:00:00", ()), "2025-04-03T00:00:00", state,
                        arks=(ark.der,)) == "collateral_rollback"


def test_blocks_refuse_a_sev_snp_chain_whose_ask_the_store_revokes() -> None:
    """The lookup inside blocks hands the ARK's stored revocations to the SEV-SNP verifier."""
    snp = VECTOR.parents[1] / "sev-snp" / "milan_go-sev-guest"
    chain = (GENESIS_CERTS / "ask_ark_milan.pem").read_bytes()
    evidence = SevSnpEvidence((snp / "attestation.bin").read_bytes(), (snp / "vcek.der").read_bytes(), chain)
    ask = x509.load_pem_x509_certificates(chain)[0]
    state = _state()
    base = AiVerifyConfig(amd_arks=tuple(amd_arks().values()),
                          sevsnp_policy=SevSnpPolicy(allow_debug=True), stored_collateral=collateral_lookup(state))
    now = at("2025-07-01T00:00:00")
    verify_attestation(evidence, chain_id="cairn-devnet", now=now, config=base, devnet=None,
                       expected_report_data=bytes(64))  # nothing stored: roots only
    revoked = AmdRevocation(frozenset({ask.serial_number}), datetime(2025, 8, 1, tzinfo=UTC))
    state.set(part_key("amd_crl/ARK-Milan"), encode_record(CollateralPart(
        "amd_crl/ARK-Milan", now - 86_400, at("2025-08-01T00:00:00"), 0, revoked.document(b"\x30\x00", 1))))
    with pytest.raises(InvalidProof) as exc:
        verify_attestation(evidence, chain_id="cairn-devnet", now=now, config=base, devnet=None,
                           expected_report_data=bytes(64))
    assert exc.value.reason == "sevsnp_cert_revoked"


def test_the_node_warns_once_when_collateral_enters_its_grace_window_and_once_when_it_closes() -> None:
    from structlog.testing import capture_logs

    from node.chain_service import ChainService

    chain = CollateralChain(TestIntel())
    chain.at("2025-03-22T00:00:00", chain.collateral_tx(MARCH, parts=("tcb_info",)))
    service = ChainService(chain.mem.store, chain.genesis)  # the node's view of the same store

    def warnings_at(when: str) -> list[dict[str, Any]]:
        chain.at(when)
        service.head = chain.mem.head
        with capture_logs() as logs:
            service._warn_collateral()
        return [e for e in logs if e["log_level"] == "warning"]

    assert warnings_at("2025-04-01T00:00:00") == []
    (entered,) = warnings_at("2025-04-13T00:00:00")
    assert entered["part"] == "tcb_info/TDX/b0c06f000000" and "before the grace window closes" in entered["event"]
    assert entered["grace_closes"] == "2025-04-19T07:30:24.000Z"
    assert warnings_at("2025-04-14T00:00:00") == []  # once
    (closed,) = warnings_at("2025-04-20T00:00:00")
    assert "refused" in closed["event"] and closed["part"] == entered["part"]
    assert warnings_at("2025-04-21T00:00:00") == []


@settings(max_examples=60, deadline=None)
@given(tee=st.sampled_from(["SGX", "TDX", "SEV-SNP"]), flips=st.lists(st.integers(0, 16_000), max_size=4),
       cut=st.integers(0, 17_000), base=st.sampled_from([JUNE, MARCH, AMD_CRLS / "genoa_crl.pem"]))
def test_a_damaged_update_gets_a_reason_never_an_exception(tee: str, flips: list[int], cut: int, base: Any) -> None:
    data = bytearray(base.read_bytes()[:cut])
    for i in flips:
        if i < len(data):
            data[i] ^= 0x20
    update = CollateralUpdate(tee, b"" if tee == "SEV-SNP" else TDX_FMSPC, bytes(data))
    try:
        parts = verify_update(update, intel_root=intel_sgx_root(), amd_arks=tuple(amd_arks().values()),
                              now_s=at("2025-06-20T00:00:00"))
    except TxFailed as exc:
        assert exc.details["reason"].startswith("collateral_")
    else:
        assert parts and all(p.issue_date <= at("2025-06-20T00:00:00") for p in parts)
