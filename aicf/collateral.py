"""Intel DCAP collateral and AMD CRLs kept by consensus: the store, the update
transaction's rules, and the lookup block verification uses.

Elsewhere each verifier fetches TCB info, QE identity and CRLs itself and compares them to
its own clock, so every node stops accepting attestations at the same wall-clock instant
when ``nextUpdate`` passes, and two nodes holding different collateral disagree.  Here the
collateral is chain state and the clock is the block's time, so every validator gives the
same verdict.

The store
---------
Four kinds of *part*, each under ``state_key("aicf", b"collateral/" + name)``::

    tcb_info/<SGX|TDX>/<fmspc hex>    Intel's signed TCB info for one platform model
    qe_identity/<SGX|TDX>             Intel's signed QE (SGX) or TD_QE (TDX) identity
    crl/root_ca                       the Intel SGX Root CA's CRL
    crl/pck_<processor|platform>      the CRL of that PCK CA
    amd_crl/<ARK common name>         AMD's CRL of that ARK (``ARK-Milan``, ``ARK-Genoa``)

    CollateralPart = [1, name, issue_date, next_update, number, document]

``issue_date`` and ``next_update`` are unix seconds (``issueDate``/``nextUpdate``, or the
CRL's ``thisUpdate``/``nextUpdate``); ``number`` is ``tcbEvaluationDataNumber``, or the CRL's
CRL number (0 when it has none); ``document`` is the canonical JSON object of the fields this
part contributes to a collateral document (``proofs.tee.sgx.parse_collateral``'s format),
exactly as submitted.  An AMD part's document is ``sevsnp.AmdRevocation``'s: the latest CRL,
its number and ``nextUpdate``, and every serial any accepted CRL of that ARK revoked (a newer
CRL adds to the set, never removes from it: revocation is permanent, and an ARK signs a VCEK
CRL and a VLEK CRL, so one CRL never lists everything); its ``number`` is 0, so only the
CRL's ``thisUpdate`` orders an ARK's CRLs.  ``collateral-index`` lists the stored names, sorted (at most
``MAX_PARTS``).  Genesis stores none: the first update transaction seeds the store.

The update transaction (``collateral_update``, any account, ``UPDATE_GAS``)
--------------------------------------------------------------------------
Payload ``[tee, fmspc, document]``: ``"SGX"`` or ``"TDX"``, the 6-byte FMSPC, and a
collateral document (the JSON ``cairn proofs verify --collateral`` reads) holding any of its
four parts, at least one (Intel's PCS serves them separately).  At block time
``now`` and under the Intel root of the attestation policy in state (``no_intel_root``
without one), in order:

1. the document parses (``collateral_malformed: <verifier reason>``);
2. the TCB info and the QE identity are each signed by Intel's TCB signing certificate
   chaining to the root, the root CA CRL by the root, and the PCK CRL by a PCK CA whose
   chain verifies to the root (``collateral_signature: <verifier reason>``);
3. the TCB info is for ``tee`` (id ``SGX``/``TDX``) and the QE identity is ``QE``/``TD_QE``
   (``collateral_malformed``), and the TCB info's FMSPC is ``fmspc``
   (``collateral_fmspc_mismatch``);
4. no part is issued after ``now`` (``collateral_not_yet_valid``);
5. **no rollback**: a part whose issue date or number is below the stored one refuses the
   whole transaction (``collateral_rollback``, naming the part);
6. a part with the stored issue date and number is left as it is; at least one part must be
   newer (``collateral_not_newer``), and every newer one replaces the stored one.

``["SEV-SNP", b"", crl]`` submits an AMD KDS CRL (DER or PEM; ``kdsintf.amd.com`` serves one
per product for VCEK chains and one for VLEK chains): it must be issued and signed by one of
the ARKs of the attestation policy in state with AMD's RSA-PSS parameters
(``collateral_signature``), list at most ``MAX_REVOKED`` serials, not be issued after the
block and still be current, grace included (``collateral_malformed``,
``collateral_not_yet_valid``, ``collateral_expired``: storing an ARK's first CRL makes its
chains need a current one, so a replayed old CRL must not get in); steps 5 and 6 as above.

Using it inside blocks
----------------------
:func:`collateral_lookup` gives ``proofs.ai.AiVerifyConfig.stored_collateral``: for a quote's
TEE and the FMSPC and PCK CA its PCK certificate names, the document assembled from the
four stored parts, or None if one is missing (the quote then fails with
``*_collateral_required``); for a SEV-SNP chain, its ARK's revocation document if one is
stored (the ASK or ASVK must not be revoked and the CRL must be current, ``sevsnp_cert_revoked``,
``sevsnp_crl_expired``; with none stored, SEV-SNP chains are checked against the roots only).  An envelope's or registration's own collateral is ignored
inside blocks.  Every ``nextUpdate`` is extended by the genesis grace window
``aicf.attestation.collateral_grace_s``: an attestation is accepted for that long after its
collateral is due if no newer collateral has arrived; the node warns while a part is in its
grace window and once when it closes (:func:`overdue`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from aicf.records import decode_record, encode_record
from chain.codec import decode, encode, expect_array, expect_bytes, expect_str
from chain.errors import DecodeError, ErrorCode, InvalidProof
from chain.module import TxFailed
from chain.smt import state_key
from chain.state import StateDB
from proofs.ai import block_datetime
from proofs.tee.sevsnp import MAX_REVOKED, AmdRevocation, check_amd_crl
from proofs.tee.sgx import (
    PCK_CA_CNS,
    PCK_PROCESSOR_CA_CN,
    check_crl_signature,
    parse_collateral_parts,
    parse_qe_identity,
    parse_tcb_info,
    verify_signed_body,
)
from proofs.tee.x509util import (
    PARSE_ERRORS,
    SignatureScheme,
    common_name,
    load_trust_anchor,
    strict_parsing,
    verify_chain,
)

TEES: Final = ("SGX", "TDX")
AMD: Final = "SEV-SNP"
QE_IDS: Final = {"SGX": "QE", "TDX": "TD_QE"}
INDEX_KEY: Final = state_key("aicf", b"collateral-index")
MAX_PARTS: Final = 512
"""Most parts the store holds (TCB infos of ~250 FMSPCs per TEE, plus the rest)."""
MAX_DOCUMENT_BYTES: Final = 60 * 1024
"""The largest collateral document an update carries (it travels inside one transaction)."""
UPDATE_GAS: Final = 1_000_000
"""Gas of ``collateral_update``: six ECDSA P-256 verifications, certificate and JSON parsing
(milliseconds, priced like ``provider_register``)."""


@dataclass(frozen=True, slots=True)
class CollateralPart:
    """One stored piece of collateral (module docstring)."""

    name: str
    issue_date: int
    next_update: int
    number: int
    document: bytes


@dataclass(frozen=True, slots=True)
class CollateralUpdate:
    """A decoded ``collateral_update`` payload."""

    tee: str
    fmspc: bytes
    document: bytes


def part_key(name: str) -> bytes:
    """The state key of the part called ``name``."""
    return state_key("aicf", b"collateral/" + name.encode("ascii"))


def part_names(tee: str, fmspc: bytes, ca_kind: str) -> tuple[str, str, str, str]:
    """The four parts a quote of ``tee`` on platform ``fmspc`` under PCK CA ``ca_kind`` reads."""
    return (f"tcb_info/{tee}/{fmspc.hex()}", f"qe_identity/{tee}", "crl/root_ca", f"crl/pck_{ca_kind}")


def load_part(state: StateDB, name: str) -> CollateralPart | None:
    data = state.get(part_key(name))
    return None if data is None else decode_record(CollateralPart, data)


def stored_names(state: StateDB) -> tuple[str, ...]:
    data = state.get(INDEX_KEY)
    if data is None:
        return ()
    names = decode(data)
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def _save_part(state: StateDB, part: CollateralPart) -> None:
    state.set(part_key(part.name), encode_record(part))
    names = set(stored_names(state))
    if part.name not in names:
        names.add(part.name)
        state.set(INDEX_KEY, encode(sorted(names)))


def assemble(state: StateDB, tee: str, fmspc: bytes, ca_kind: str) -> bytes | None:
    """The collateral document for one platform from the stored parts, or None if one is missing."""
    doc: dict[str, Any] = {}
    for name in part_names(tee, fmspc, ca_kind):
        part = load_part(state, name)
        if part is None:
            return None
        doc.update(json.loads(part.document))
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def collateral_lookup(state: StateDB) -> Callable[[str, bytes, str], bytes | None]:
    """``AiVerifyConfig.stored_collateral`` for verification against ``state``."""
    def lookup(tee: str, fmspc: bytes, ca_kind: str) -> bytes | None:
        if tee == AMD:  # ca_kind is the ARK's common name
            part = load_part(state, f"amd_crl/{ca_kind}")
            return None if part is None else part.document
        return assemble(state, tee, fmspc, ca_kind)

    return lookup


def overdue(state: StateDB, now_s: int, grace_s: int) -> list[tuple[CollateralPart, int]]:
    """Stored parts past their ``nextUpdate`` at ``now_s``, each with the second its grace
    window closes (at or before ``now_s``: closed, attestations that need it are refused):
    what an operator must refresh (the node logs these)."""
    due = []
    for name in stored_names(state):
        part = load_part(state, name)
        if part is not None and part.next_update < now_s:
            due.append((part, part.next_update + grace_s))
    return due


# --- the update transaction -----------------------------------------------------------


def decode_update(value: Any) -> CollateralUpdate:
    """``[tee, fmspc, document]`` (``DecodeError`` if malformed)."""
    tee, fmspc, document = expect_array(value, "collateral_update payload", 3)
    tee = expect_str(tee, "collateral_update.tee", max_len=8)
    if tee not in (*TEES, AMD):
        raise DecodeError("collateral_update.tee: SGX, TDX or SEV-SNP", code=ErrorCode.DECODE_SHAPE)
    return CollateralUpdate(
        tee=tee,
        fmspc=expect_bytes(fmspc, "collateral_update.fmspc", length=0 if tee == AMD else 6),
        document=expect_bytes(document, "collateral_update.document", max_len=MAX_DOCUMENT_BYTES),
    )


def _fail(reason: str, detail: str) -> TxFailed:
    return TxFailed(f"{reason}: {detail}", code=ErrorCode.TX_BAD_PAYLOAD, reason=reason)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _seconds(when: datetime) -> int:
    """Unix seconds of an aware datetime, by integer arithmetic (no float reaches state)."""
    return (when - _EPOCH) // timedelta(seconds=1)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def _document(fields: dict[str, str]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _crl_part(name: str, crl: x509.CertificateRevocationList, fields: dict[str, str]) -> CollateralPart:
    next_update = crl.next_update_utc or crl.last_update_utc  # check_crl_signature refused a CRL without one
    return CollateralPart(name, _seconds(crl.last_update_utc), _seconds(next_update), _crl_number(crl),
                          _document(fields))


def verify_update(update: CollateralUpdate, *, intel_root: bytes, now_s: int,
                  amd_arks: tuple[bytes, ...] = (), grace_s: int = 0) -> tuple[CollateralPart, ...]:
    """Steps 1-4 of the module docstring: the parts the document holds, each verified.

    A document may hold any of the four parts (Intel serves them separately), at least one.
    Raises ``TxFailed`` with the step's reason.  Pure: the store is not read here.
    """
    if update.tee == AMD:
        return (_verify_amd_crl(update.document, amd_arks, now_s, grace_s),)
    now = block_datetime(now_s)
    try:
        root = load_trust_anchor(intel_root)
    except ValueError as exc:
        raise _fail("no_intel_root", str(exc)) from None
    tee, prefix = update.tee, update.tee.lower()
    try:
        doc = parse_collateral_parts(update.document, prefix=prefix)
    except InvalidProof as exc:
        raise _fail("collateral_malformed", exc.reason) from None
    if not doc.fields:
        raise _fail("collateral_malformed", "the document holds no part")
    parts: list[CollateralPart] = []
    try:
        if doc.tcb_info is not None:
            verify_signed_body(*doc.tcb_info, root=root, now=now, what="tcb_info", prefix=prefix)
        if doc.qe_identity is not None:
            verify_signed_body(*doc.qe_identity, root=root, now=now, what="qe_identity", prefix=prefix)
        if doc.root_ca_crl is not None:
            check_crl_signature(doc.root_ca_crl, root, "root_ca_crl", prefix=prefix)
            parts.append(_crl_part("crl/root_ca", doc.root_ca_crl, doc.fields["root_ca_crl"]))
        if doc.pck_crl is not None:
            crl, chain = doc.pck_crl
            if len(chain) != 2 or common_name(chain[0].subject) not in PCK_CA_CNS:
                raise InvalidProof(f"{prefix}_crl_issuer_mismatch", "the PCK CRL issuer chain is not a PCK CA, root")
            verify_chain(list(chain), ["pck_ca", "root"], trusted=[root], now=now,
                         scheme=SignatureScheme.ECDSA_P256_SHA256, prefix=prefix)
            check_crl_signature(crl, chain[0], "pck_crl", prefix=prefix)
            kind = "processor" if common_name(chain[0].subject) == PCK_PROCESSOR_CA_CN else "platform"
            parts.append(_crl_part(f"crl/pck_{kind}", crl, doc.fields["pck_crl"]))
    except InvalidProof as exc:
        raise _fail("collateral_signature", exc.reason) from None
    try:
        if doc.tcb_info is not None:
            tcb_info = parse_tcb_info(doc.tcb_info[0], prefix=prefix, tee=tee)
            if tcb_info.fmspc != update.fmspc:
                raise _fail("collateral_fmspc_mismatch",
                            f"the TCB info is for FMSPC {tcb_info.fmspc.hex()}, not {update.fmspc.hex()}")
            parts.append(CollateralPart(f"tcb_info/{tee}/{update.fmspc.hex()}", _seconds(tcb_info.issue_date),
                                        _seconds(tcb_info.next_update), tcb_info.tcb_evaluation_data_number,
                                        _document(doc.fields["tcb_info"])))
        if doc.qe_identity is not None:
            identity = parse_qe_identity(doc.qe_identity[0], prefix=prefix, qe_id=QE_IDS[tee])
            parts.append(CollateralPart(f"qe_identity/{tee}", _seconds(identity.issue_date),
                                        _seconds(identity.next_update), identity.tcb_evaluation_data_number,
                                        _document(doc.fields["qe_identity"])))
    except InvalidProof as exc:
        raise _fail("collateral_malformed", exc.reason) from None
    for part in parts:
        if part.issue_date > now_s:
            raise _fail("collateral_not_yet_valid", f"{part.name} is issued after the block time")
    return tuple(sorted(parts, key=lambda p: p.name))


def _verify_amd_crl(data: bytes, amd_arks: tuple[bytes, ...], now_s: int, grace_s: int) -> CollateralPart:
    """An AMD KDS CRL (DER or PEM) issued and signed by one of the ARKs in state, current at
    ``now_s`` (a stored CRL makes its ARK's chains need a current one, so an expired CRL,
    which anyone could replay, must not be the first one stored)."""
    try:
        with strict_parsing():
            raw = bytes(data)
            crl = (x509.load_pem_x509_crl(raw) if raw.lstrip().startswith(b"-----BEGIN")
                   else x509.load_der_x509_crl(raw))
            serials = frozenset(entry.serial_number for entry in crl)
            crl.extensions  # noqa: B018 - parse it now, so later reads cannot fail
    except PARSE_ERRORS as exc:
        raise _fail("collateral_malformed", f"not a CRL: {exc}") from None
    if len(serials) > MAX_REVOKED:
        raise _fail("collateral_malformed", f"the CRL lists more than {MAX_REVOKED} serials")
    arks = [load_trust_anchor(a) for a in amd_arks]
    ark = next((a for a in arks if a.subject == crl.issuer), None)
    if ark is None:
        raise _fail("collateral_signature", "no AMD root in state issued this CRL")
    try:
        next_update = check_amd_crl(crl, ark)
    except InvalidProof as exc:
        raise _fail("collateral_signature", exc.reason) from None
    issued = _seconds(crl.last_update_utc)
    if issued > now_s:
        raise _fail("collateral_not_yet_valid", "the CRL is issued after the block time")
    if _seconds(next_update) + grace_s < now_s:
        raise _fail("collateral_expired", f"the CRL was due at {next_update.isoformat()}")
    der = crl.public_bytes(serialization.Encoding.DER)
    # number 0: an ARK signs a VCEK CRL and a VLEK CRL with CRL numbers of their own, so only
    # thisUpdate orders the CRLs of one ARK.
    return CollateralPart(f"amd_crl/{common_name(ark.subject)}", issued, _seconds(next_update), 0,
                          AmdRevocation(serials, next_update).document(der, _crl_number(crl)))


def _merged(new: CollateralPart, stored: CollateralPart) -> CollateralPart:
    """A newer AMD CRL keeps every serial an earlier one revoked: revocation is permanent."""
    fresh, old = AmdRevocation.from_document(new.document), AmdRevocation.from_document(stored.document)
    revoked = fresh.revoked | old.revoked
    if len(revoked) > MAX_REVOKED:
        raise _fail("collateral_store_full", f"more than {MAX_REVOKED} revoked serials for one ARK")
    doc = json.loads(new.document)
    merged = AmdRevocation(revoked, fresh.next_update).document(bytes.fromhex(doc["crl"]), doc["crl_number"])
    return replace(new, document=merged)


def apply_update(state: StateDB, parts: tuple[CollateralPart, ...]) -> tuple[str, ...]:
    """Steps 5-6: store the newer parts; return their names (``TxFailed`` on a rollback)."""
    newer = []
    for part in parts:
        stored = load_part(state, part.name)
        if stored is None:
            newer.append(part)
            continue
        if part.issue_date < stored.issue_date or part.number < stored.number:
            raise _fail("collateral_rollback",
                        f"{part.name} (issued {part.issue_date}, number {part.number}) is older than the stored one "
                        f"(issued {stored.issue_date}, number {stored.number})")
        if (part.issue_date, part.number) != (stored.issue_date, stored.number):
            newer.append(_merged(part, stored) if part.name.startswith("amd_crl/") else part)
    if not newer:
        raise _fail("collateral_not_newer", "every part equals the stored one")
    if len(set(stored_names(state)) | {p.name for p in newer}) > MAX_PARTS:
        raise _fail("collateral_store_full", f"the store holds at most {MAX_PARTS} parts")
    for part in newer:
        _save_part(state, part)
    return tuple(p.name for p in newer)


__all__ = [
    "CollateralPart",
    "CollateralUpdate",
    "apply_update",
    "assemble",
    "collateral_lookup",
    "decode_update",
    "overdue",
    "load_part",
    "part_key",
    "part_names",
    "stored_names",
    "verify_update",
]
