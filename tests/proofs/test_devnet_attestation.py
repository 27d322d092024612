"""The devnet attestation class and its guard."""

from __future__ import annotations

import dataclasses

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from chain.codec import encode
from chain.errors import InvalidGenesis, InvalidProof
from chain.hashing import H
from chain.types import Hash32, PublicKey32, Signature64
from proofs.devnet import (
    DevnetAttestationConfig,
    DevnetReport,
    DevnetSigner,
    check_devnet_genesis,
    devnet_signing_digest,
    is_devnet_chain_id,
    report_data_for,
    verify_devnet_attestation,
)

CHAIN = "cairn-devnet-1"
SIGNER = DevnetSigner.from_seed(bytes([1]) * 32)
MEASUREMENT = Hash32(H(b"test/measurement", b"provider-build-1"))
TASK, MODEL, INPUT, OUTPUT = (H(b"test", bytes([i])) for i in range(4))
REPORT_DATA = report_data_for(TASK, MODEL, INPUT, OUTPUT)
ENABLED = DevnetAttestationConfig(enabled=True, signers=(SIGNER.public_key,))


def _verify(
    report: bytes | DevnetReport,
    *,
    chain_id: str = CHAIN,
    config: DevnetAttestationConfig | None = ENABLED,
    expected: bytes = REPORT_DATA,
) -> DevnetReport:
    return verify_devnet_attestation(report, chain_id=chain_id, config=config, expected_report_data=expected)


def _reason(**kwargs: object) -> str:
    with pytest.raises(InvalidProof) as info:
        _verify(**kwargs)  # type: ignore[arg-type]
    return info.value.reason


@pytest.mark.parametrize(
    ("chain_id", "devnet"),
    [
        ("cairn-devnet", True),
        ("cairn-devnet-1", True),
        ("cairn-devnet-alice-2", True),
        ("cairn-mainnet", False),
        ("cairn-mainnet-1", False),
        ("cairn-testnet-1", False),
        ("cairn-devnet-", False),
        ("cairn-devnet--1", False),
        ("cairn-devnetwork", False),
        ("Cairn-Devnet-1", False),
        ("cairn-devnet_1", False),
        ("cairn-devnet-1\n", False),
        (" cairn-devnet-1", False),
        ("xcairn-devnet-1", False),
        ("mainnet-cairn-devnet", False),
        ("devnet", False),
        ("cairn-devnet-" + "a" * 60, False),  # longer than 64 characters
        ("", False),
    ],
)
def test_devnet_chain_ids(chain_id: str, devnet: bool) -> None:
    assert is_devnet_chain_id(chain_id) is devnet


def test_report_data_binding() -> None:
    assert len(REPORT_DATA) == 64 and REPORT_DATA[32:] == bytes(32)
    assert REPORT_DATA[:32] == H(b"cairn/ai-report-data/v1", encode([TASK, MODEL, INPUT, OUTPUT]))
    variants = {
        report_data_for(*(OUTPUT if j == i else d for j, d in enumerate((TASK, MODEL, INPUT, OUTPUT))))
        for i in range(3)
    }
    assert REPORT_DATA not in variants and len(variants) == 3
    with pytest.raises(InvalidProof) as info:
        report_data_for(TASK[:31], MODEL, INPUT, OUTPUT)
    assert info.value.reason == "bad_digest_length"


def test_valid_report_round_trip_and_verify() -> None:
    report = SIGNER.attest(CHAIN, REPORT_DATA, MEASUREMENT)
    raw = report.encode()
    assert cbor2.loads(raw) == [
        1,
        bytes(SIGNER.public_key),
        bytes(MEASUREMENT),
        REPORT_DATA,
        bytes(report.signature),
    ]
    assert DevnetReport.decode(raw) == report
    assert _verify(raw) == report
    assert _verify(report) == report
    # with a measurement allowlist that lists it
    assert _verify(raw, config=dataclasses.replace(ENABLED, measurements=(MEASUREMENT,))) == report


def test_refused_on_a_non_devnet_chain_even_when_genesis_enables_it() -> None:
    # The signer itself refuses; sign by hand as a malicious provider would.
    with pytest.raises(InvalidProof) as info:
        SIGNER.attest("cairn-mainnet-1", REPORT_DATA, MEASUREMENT)
    assert info.value.reason == "devnet_attestation_forbidden_chain"
    key = Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)
    for chain_id in ("cairn-mainnet-1", "cairn-testnet", "devnet"):
        digest = devnet_signing_digest(chain_id, 1, SIGNER.public_key, MEASUREMENT, REPORT_DATA)
        report = DevnetReport(SIGNER.public_key, MEASUREMENT, REPORT_DATA, Signature64(key.sign(digest)))
        assert _reason(report=report.encode(), chain_id=chain_id) == "devnet_attestation_forbidden_chain"


def test_refused_when_genesis_does_not_enable_it() -> None:
    raw = SIGNER.attest(CHAIN, REPORT_DATA, MEASUREMENT).encode()
    assert _reason(report=raw, config=None) == "devnet_attestation_disabled"
    assert _reason(report=raw, config=DevnetAttestationConfig()) == "devnet_attestation_disabled"
    disabled = DevnetAttestationConfig(enabled=False, signers=(SIGNER.public_key,))
    assert _reason(report=raw, config=disabled) == "devnet_attestation_disabled"


def test_genesis_validation() -> None:
    check_devnet_genesis(CHAIN, ENABLED)
    check_devnet_genesis("cairn-mainnet", DevnetAttestationConfig())  # disabled: fine anywhere
    with pytest.raises(InvalidGenesis) as info:
        check_devnet_genesis("cairn-mainnet", ENABLED)
    assert info.value.details["field"] == "attestation.devnet.enabled"
    with pytest.raises(InvalidGenesis):
        check_devnet_genesis(CHAIN, DevnetAttestationConfig(enabled=True))


def test_rejections() -> None:
    report = SIGNER.attest(CHAIN, REPORT_DATA, MEASUREMENT)
    stranger = DevnetSigner.from_seed(bytes([2]) * 32)
    flipped = bytearray(report.signature)
    flipped[0] ^= 1
    assert _reason(report=stranger.attest(CHAIN, REPORT_DATA, MEASUREMENT)) == "devnet_unknown_signer"
    assert (
        _reason(report=report, config=dataclasses.replace(ENABLED, measurements=(Hash32(bytes(32)),)))
        == "devnet_measurement_not_allowed"
    )
    assert (
        _reason(report=dataclasses.replace(report, signature=Signature64(bytes(flipped))))
        == "devnet_bad_signature"
    )
    assert (
        _reason(report=dataclasses.replace(report, measurement=Hash32(bytes(32)))) == "devnet_bad_signature"
    )
    # made for another devnet: the chain id is inside the signed digest
    assert _reason(report=report, chain_id="cairn-devnet-2") == "devnet_bad_signature"
    # a valid report for another result
    other = report_data_for(TASK, MODEL, INPUT, H(b"test", b"other output"))
    assert _reason(report=SIGNER.attest(CHAIN, other, MEASUREMENT)) == "report_data_mismatch"
    # a signer key that is not a valid curve point
    bogus = PublicKey32(bytes([0xFF]) * 32)
    bad_key = dataclasses.replace(report, signer=bogus)
    assert _reason(report=bad_key, config=DevnetAttestationConfig(True, (bogus,))) == "devnet_bad_signature"


def _fields(**changes: object) -> list[object]:
    report = SIGNER.attest(CHAIN, REPORT_DATA, MEASUREMENT)
    fields = dict(
        zip(("version", "signer", "measurement", "report_data", "signature"), report.fields(), strict=True)
    )
    fields.update(changes)
    return list(fields.values())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (encode(_fields()) + b"\x00", "devnet_report_trailing_bytes"),
        (encode(_fields(version=2)), "devnet_report_version"),
        (encode(_fields()[:4]), "devnet_report_malformed"),
        (encode(_fields(report_data=bytes(63))), "devnet_report_bad_length"),
        (encode(_fields(report_data=bytes(65))), "devnet_report_bad_length"),
        (encode(_fields(signer=bytes(31))), "devnet_report_bad_length"),
        (encode(_fields(measurement=bytes(48))), "devnet_report_bad_length"),
        (encode(_fields(signature=bytes(65))), "devnet_report_bad_length"),
        (encode(_fields(report_data="x")), "devnet_report_malformed"),
        (encode(_fields(version=False)), "devnet_report_malformed"),
        (bytes(600), "devnet_report_oversize"),
        (b"", "devnet_report_malformed"),
    ],
)
def test_strict_report_decoding(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidProof) as info:
        DevnetReport.decode(raw)
    assert info.value.reason == reason
    # decoding happens after the guard, and fails the same way in verification
    assert _reason(report=raw) == reason


@given(data=st.data())
def test_fuzz_report_bytes(data: st.DataObject) -> None:
    raw = bytearray(SIGNER.attest(CHAIN, REPORT_DATA, MEASUREMENT).encode())
    if data.draw(st.booleans()):
        raw = bytearray(data.draw(st.binary(max_size=300)))
    elif raw:
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    try:
        _verify(bytes(raw))
    except InvalidProof:
        pass
