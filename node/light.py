"""``cairn light``: a light client that trusts nothing a node says without checking it.

The rules are ``chain.light``'s (pure); this module only fetches over JSON-RPC and decides
what to fetch.  A session starts from a **trusted header**, given as ``HEIGHT:HASH`` (a
checkpoint obtained out of band) or computed from a genesis file, and moves forward:

* **Headers.**  To trust height ``h`` it fetches the header, its commit and the validator
  sets that sign ``h`` and ``h + 1`` from the primary node and verifies them with
  ``LightClient.verify``: adjacent when ``h`` follows the trusted height, else skipping
  (≥ 1/3 of the trusted next set signed, > 2/3 of the new set did).  A skip whose overlap is
  too small is bisected, as CometBFT does: the middle height is verified first.  The
  trusted header must be younger than the trusting period at ``now`` (a parameter; the CLI
  passes the wall clock).
* **Witnesses.**  Every header it comes to trust is compared with each witness's header at
  that height.  A different hash whose commit verifies under the same rules is a
  light-client attack: ``chain.light.conflict_evidence`` names the validators that signed
  both, the session submits that double-sign evidence to the primary and every witness
  (``evidence.submit``, where a full node verifies it, gossips it, and a block slashes and
  tombstones them) and refuses to answer (``witness_conflict``).  A witness whose header
  does not verify is only reported.
* **Queries.**  A value is read with ``state.getProof`` at a verified height, under a key
  the client computes itself from the query (never the key the node names), checked
  against the verified header's ``state_root`` and decoded.

Every refusal is a :class:`LightError` whose ``check`` names the check that failed
(``trusted_hash``, ``header``, ``commit``, ``validators``, ``proof``, ``witness_conflict``,
``unreachable``, ...), so the CLI prints one line with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chain.block import Commit, Header, Validator, ValidatorSet
from chain.errors import ChainError, ErrorCode, InvalidBlock, InvalidProof
from chain.keys import decode_address
from chain.light import LightClient, LightClientError, conflict_evidence, verify_state
from chain.types import Address, Hash32, PublicKey32
from node.client import NodeUnreachable, RpcClient, RpcClientError

DEFAULT_TRUSTING_PERIOD_MS = 14 * 24 * 3600 * 1000
"""Two weeks (CometBFT's default), shorter than any unbonding period a chain should choose."""
MAX_BISECTIONS = 64


class LightError(Exception):
    """A refusal: ``check`` is the check that failed, the message says why."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check


@dataclass(frozen=True, slots=True)
class SignedHeader:
    header: Header
    commit: Commit
    validators: ValidatorSet
    next_validators: ValidatorSet


def _validator_set(doc: dict[str, Any], prefix: str) -> ValidatorSet:
    """A ``chain.getValidators`` answer as a set (its hash is checked against headers later)."""
    try:
        return ValidatorSet.of(Validator(decode_address(v["address"], prefix), PublicKey32(bytes.fromhex(v["pubkey"])),
                                         int(v["power"])) for v in doc["validators"])
    except (KeyError, TypeError, ValueError, ChainError) as exc:
        raise LightError("validators", f"the validator set does not decode: {exc}") from None


class Source:
    """One node's JSON-RPC, read for what the light client needs."""

    def __init__(self, client: RpcClient, prefix: str = "cairn") -> None:
        self.client = client
        self.url = client.url
        self.prefix = prefix
        """The chain's address prefix (how its RPC writes validator addresses)."""

    def call(self, method: str, **params: Any) -> Any:
        try:
            return self.client.call(method, **params)
        except RpcClientError as exc:
            raise LightError("rpc", f"{self.url}: {method} refused: {exc}") from None
        except (NodeUnreachable, OSError) as exc:
            raise LightError("unreachable", str(exc)) from None

    def close(self) -> None:
        self.client.close()

    def header(self, height: int) -> Header:
        doc = self.call("chain.getCommit", height=height)
        return _decode(Header, doc["header"]["raw"], "header")

    def signed_header(self, height: int) -> SignedHeader:
        doc = self.call("chain.getCommit", height=height)
        header = _decode(Header, doc["header"]["raw"], "header")
        commit = _decode(Commit, doc["commit"]["raw"], "commit")
        validators = _validator_set(self.call("chain.getValidators", height=height), self.prefix)
        next_validators = _validator_set(self.call("chain.getValidators", height=height + 1), self.prefix)
        return SignedHeader(header, commit, validators, next_validators)


def _decode(cls: Any, raw_hex: str, what: str) -> Any:
    try:
        return cls.decode(bytes.fromhex(raw_hex))
    except (ValueError, ChainError) as exc:
        raise LightError(what, f"the {what} bytes do not decode: {exc}") from None


@dataclass
class LightSession:
    """A light client following ``primary``, cross-checked by ``witnesses`` (module docstring)."""

    primary: Source
    client: LightClient
    witnesses: list[Source] = field(default_factory=list)
    now_ms: Callable[[], int] = lambda: 0
    warnings: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    """Hashes of the evidence this session submitted."""

    @classmethod
    def from_trust(cls, primary: Source, chain_id: str, height: int, block_hash: bytes, *,
                   witnesses: Sequence[Source] = (), now_ms: Callable[[], int],
                   trusting_period_ms: int = DEFAULT_TRUSTING_PERIOD_MS) -> LightSession:
        """Trust the header at ``height`` whose hash is ``block_hash`` (checked, not assumed)."""
        header = primary.header(height)
        if header.hash() != block_hash:
            raise LightError("trusted_hash", f"the node's header {height} is {bytes(header.hash()).hex()}, "
                                             f"not the trusted {block_hash.hex()}")
        if header.chain_id != chain_id:
            raise LightError("chain", f"the node follows {header.chain_id!r}, not {chain_id!r}")
        nxt = _validator_set(primary.call("chain.getValidators", height=height + 1), primary.prefix)
        return cls._start(primary, header, nxt, witnesses, now_ms, trusting_period_ms)

    @classmethod
    def from_genesis(cls, primary: Source, genesis_header: Header, next_validators: ValidatorSet, *,
                     witnesses: Sequence[Source] = (), now_ms: Callable[[], int],
                     trusting_period_ms: int = DEFAULT_TRUSTING_PERIOD_MS) -> LightSession:
        """Trust the genesis header computed locally from the genesis document."""
        status = primary.call("node.status")
        if status.get("chain_id") != genesis_header.chain_id:
            raise LightError("chain", f"the node follows {status.get('chain_id')!r}, "
                                      f"not {genesis_header.chain_id!r}")
        first = primary.header(1)
        if first.prev_hash != genesis_header.hash():
            raise LightError("trusted_hash", "the node's block 1 does not follow this genesis (a different genesis)")
        return cls._start(primary, genesis_header, next_validators, witnesses, now_ms, trusting_period_ms)

    @classmethod
    def _start(cls, primary: Source, header: Header, nxt: ValidatorSet, witnesses: Sequence[Source],
               now_ms: Callable[[], int], trusting_period_ms: int) -> LightSession:
        try:
            client = LightClient.bootstrap(header.chain_id, header, nxt, trusting_period_ms=trusting_period_ms)
        except LightClientError as exc:
            raise LightError("validators", exc.message) from None
        return cls(primary, client, list(witnesses), now_ms)

    @property
    def trusted(self) -> Header:
        return self.client.trusted

    def close(self) -> None:
        """Close every node connection (the primary's and the witnesses')."""
        for source in (self.primary, *self.witnesses):
            source.close()

    def __enter__(self) -> LightSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- headers ---------------------------------------------------------------------

    def verify_to(self, height: int) -> Header:
        """Trust the primary's header at ``height`` (module docstring, "Headers" and "Witnesses")."""
        if height <= self.trusted.height:
            if height == self.trusted.height:
                return self.trusted
            raise LightError("height", f"height {height} is below the trusted {self.trusted.height}")
        base = self.client
        pending = [height]
        steps = 0
        while pending:
            target = pending[-1]
            sh = self.primary.signed_header(target)
            try:
                self.client = self.client.verify(sh.header, sh.commit, sh.validators, sh.next_validators,
                                                 now_ms=self.now_ms())
                pending.pop()
            except InvalidBlock as exc:  # LightClientError, or verify_commit's refusal
                if exc.details.get("reason") == "insufficient_overlap" and target > self.trusted.height + 1:
                    steps += 1
                    if steps > MAX_BISECTIONS:
                        raise LightError("commit", "bisection did not converge") from None
                    pending.append((self.trusted.height + target) // 2)
                    continue
                raise LightError(_check_of(exc), f"header {target}: {exc.message}") from None
        self._cross_check(base, self.trusted)
        return self.trusted

    def _cross_check(self, base: LightClient, header: Header) -> None:
        for witness in self.witnesses:
            try:
                theirs = witness.signed_header(header.height)
            except LightError as exc:
                self.warnings.append(f"witness {witness.url}: {exc}")
                continue
            if theirs.header.hash() == header.hash():
                continue
            try:  # does the witness's header verify from what we trusted before?
                base.verify(theirs.header, theirs.commit, theirs.validators, theirs.next_validators,
                            now_ms=self.now_ms())
            except InvalidBlock as exc:
                self.warnings.append(f"witness {witness.url} gave an unverifiable header {header.height}: "
                                     f"{exc.message}")
                continue
            ours = self.primary.signed_header(header.height)
            self._report(ours, theirs)
            raise LightError("witness_conflict",
                             f"witness {witness.url} has another signed header at height {header.height} "
                             f"({bytes(theirs.header.hash()).hex()[:16]}… vs {bytes(header.hash()).hex()[:16]}…); "
                             f"submitted {len(self.submitted)} pieces of double-sign evidence")

    def _report(self, ours: SignedHeader, theirs: SignedHeader) -> None:
        try:
            evidence = conflict_evidence(self.client.chain_id, (ours.header, ours.commit),
                                         (theirs.header, theirs.commit), ours.validators, theirs.validators)
        except InvalidBlock as exc:
            self.warnings.append(f"the conflict gives no evidence: {exc.message}")
            return
        for ev in evidence:
            for node in (self.primary, *self.witnesses):
                try:
                    node.call("evidence.submit", evidence=ev.encode().hex())
                except LightError as exc:
                    self.warnings.append(f"{node.url} did not take the evidence: {exc}")
            self.submitted.append(bytes(ev.hash()).hex())

    # --- queries ---------------------------------------------------------------------

    def prove(self, kind: str, ident: Any, key: bytes, height: int | None = None) -> tuple[bytes | None, Header]:
        """The value at ``key`` in the state of a verified header (the primary's head by default)."""
        if height is None:
            height = int(self.primary.call("node.status")["height"])
        header = self.verify_to(height)
        params: dict[str, Any] = {"height": height}
        if kind == "account":
            params["address"] = ident
        else:
            params.update(kind=kind, **({} if ident is None else {"id": ident}))
        doc = self.primary.call("state.getProof", **params)
        served = _decode(Header, doc["header"]["raw"], "header")
        if served.hash() != header.hash():
            raise LightError("header", f"the proof is for another header than the verified {height}")
        value = None if doc["value"] is None else bytes.fromhex(doc["value"])
        try:
            verify_state(header, key, value, bytes.fromhex(doc["proof"]))
        except InvalidProof as exc:
            raise LightError("proof", f"{exc.reason}: {exc.message}") from None
        return value, header


_CHECKS = {ErrorCode.BLOCK_BAD_VALIDATORS: "validators", ErrorCode.BLOCK_BAD_COMMIT: "commit",
           ErrorCode.BLOCK_BAD_CHAIN: "chain"}


def _check_of(exc: InvalidBlock) -> str:
    """The check a refusal names: its reason when it gives one, else by its error code."""
    reason = exc.details.get("reason")
    if reason == "trusting_period":
        return reason
    return _CHECKS.get(exc.code, "header")


# --- the queries the CLI offers: the key each one reads and how its value reads ---------------


def query_key(kind: str, ident: str, prefix: str) -> tuple[str, Any, bytes]:
    """``(state.getProof kind, id param, state key)`` for a CLI query."""
    from aicf.records import job_record_key, provider_key
    from aicf.settlement import epoch_key, payout_key
    from capabilities.records import result_key
    from chain.state import account_key

    if kind in ("account", "provider"):
        address = Address(decode_address(ident, prefix))
        return (kind, ident, account_key(address) if kind == "account" else provider_key(address))
    if kind in ("job", "result", "payout"):
        try:
            task = Hash32(bytes.fromhex(ident))
        except ValueError:
            raise LightError("query", f"{ident!r} is not a task id (64 hex digits)") from None
        key = {"job": job_record_key, "result": result_key, "payout": payout_key}[kind](task)
        return (kind, ident, key)
    if kind == "epoch":
        if not ident.isdigit():
            raise LightError("query", f"{ident!r} is not an epoch number")
        return (kind, int(ident), epoch_key(int(ident)))
    raise LightError("query", f"unknown query {kind!r}")


def show_value(kind: str, value: bytes | None) -> Any:
    """The proven value, decoded for printing (``None``: proven absent)."""
    if value is None:
        return None
    from aicf.records import AicfJob, ProviderRecord, decode_record
    from aicf.settlement import EpochRecord, Payout
    from capabilities.records import ResultRecord
    from chain.state import Account

    try:
        if kind == "account":
            return _named(Account.decode(value))
        if kind == "result":
            return _named(ResultRecord.decode(value))
        cls = {"job": AicfJob, "provider": ProviderRecord, "payout": Payout, "epoch": EpochRecord}[kind]
        return _named(decode_record(cls, value))
    except ChainError as exc:  # proven bytes that do not decode: the chain's record format is not ours
        raise LightError("decode", f"the proven {kind} does not decode: {exc}") from None


def _named(value: Any) -> Any:
    """A record as JSON: dataclass fields by name, bytes as hex, big integers as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _named(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_named(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)
    return value


__all__ = ["LightError", "LightSession", "Source", "query_key", "show_value"]
