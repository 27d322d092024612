"""Validators: stake, unbonding, jailing, double-sign evidence and epoch-boundary set changes.

This is part of the kernel (``Application.compose`` always installs it).  It
decides who validates and with what voting power.

State (keys from ``chain.smt.state_key``)::

    ("val", address)              -> [1, pubkey, stake, jailed_until, tombstoned, onion]
    ("meta", b"validator_index")  -> sorted list of every address with a record
    ("meta", b"unbonding")        -> [[release_height, address, amount], ...] sorted
    ("meta", b"missed")           -> {address: consecutive missed commits}
    ("evid", evidence_hash)       -> b"\\x01" once evidence was used
    VALIDATORS / NEXT / LAST      -> the validator sets (see below)

Validator sets.  After block ``h``: ``LAST`` signed ``h``, ``VALIDATORS`` signs
``h+1`` and ``NEXT`` signs ``h+2``.  Header ``h+1`` carries
``validators_hash = hash(VALIDATORS)`` and ``next_validators_hash =
hash(NEXT)``, so every header names the set of the block after it and a light
client can follow.  At the end of every block: ``LAST := VALIDATORS``,
``VALIDATORS := NEXT``, and at an epoch boundary (``height % epoch_length ==
0``) ``NEXT := select()``; a change therefore takes effect two blocks after the
boundary block.  ``select()`` takes every record with ``stake ≥
min_validator_stake`` that is neither jailed (``height < jailed_until``) nor
tombstoned, orders by stake descending then address, keeps the first
``max_validators``, and gives each power = stake.  If nobody qualifies, the set
is kept as it is (the chain must not halt on an empty set).

Beacon (ARCHITECTURE §5).  Each validator registers the tip ``x_L`` of a hash onion
``x_{i+1} = onion_hash(x_i) = H(b"cairn/onion/v1", x_i)`` (``onion`` in its
record).  A block's proposer must reveal the preimage of its record's current
``onion`` value — ``onion_hash(beacon_reveal) == record.onion`` — checked in
``validate_header``; executing the block stores the reveal as the new ``onion``,
so the next reveal must go one layer deeper.  The proposer cannot choose its
reveal (it was fixed at registration), only withhold it by not proposing, which
loses the slot to the next round's proposer.

Transactions (payloads are CBOR arrays):

* ``stake [amount, onion_tip]`` — move ``amount`` from the sender's balance to its
  stake; the sender's key becomes a validator key and ``onion_tip`` (32 bytes) its
  registered onion.  A validator that already has a record stakes more with
  ``[amount]`` (its onion is kept).
* ``unstake [amount]`` — reduce stake; the units return to the balance
  ``unbonding_blocks`` later (released at the end of that block).
* ``unjail []`` — clear a jail whose ``jailed_until`` has passed; never a tombstone.
* ``evidence [evidence_bytes]`` — submit double-sign evidence (also accepted in
  the block's evidence section, where invalid evidence invalidates the block).

Double-sign evidence ``[1, vote_a, vote_b]`` with ``vote = [type, height, round,
block_hash, time_ms, validator, signature]`` is valid when both votes are by
the same validator for the same type/height/round with different block hashes,
both signatures verify under the validator's key (``chain.block.vote_digest``),
the height is below the current one and at most ``evidence_max_age`` old, the
validator is not yet tombstoned and the evidence was not used before.  Effect:
``slash = stake × double_sign_slash_bps // 10000`` moves to the fund account,
and the validator is tombstoned (never validates again).

Liveness: a member of ``LAST`` missing from ``max_missed_blocks`` consecutive
commits is jailed for ``jail_blocks`` blocks (0 turns this off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chain.block import Validator, ValidatorSet, vote_digest
from chain.codec import decode, encode, expect_array, expect_bytes, expect_int, expect_versioned
from chain.errors import DecodeError, ErrorCode, InvalidTransaction
from chain.hashing import H
from chain.keys import verify_signature
from chain.module import BlockEnv, BlockPot, Event, TxContext, TxFailed, TxKind
from chain.params import ChainParams
from chain.smt import state_key
from chain.state import StateDB
from chain.types import Address, PublicKey32

VALIDATORS_KEY = state_key("meta", b"validators")
NEXT_VALIDATORS_KEY = state_key("meta", b"next_validators")
LAST_VALIDATORS_KEY = state_key("meta", b"last_validators")
INDEX_KEY = state_key("meta", b"validator_index")
UNBONDING_KEY = state_key("meta", b"unbonding")
MISSED_KEY = state_key("meta", b"missed")
BPS = 10_000


@dataclass(frozen=True, slots=True)
class ValidatorRecord:
    pubkey: PublicKey32
    stake: int
    jailed_until: int = 0
    tombstoned: bool = False
    onion: bytes = b""
    """The onion value the next reveal must hash to (empty: cannot propose)."""

    def encode(self) -> bytes:
        return encode([1, bytes(self.pubkey), self.stake, self.jailed_until, self.tombstoned, self.onion])

    @classmethod
    def decode(cls, data: bytes) -> ValidatorRecord:
        i = expect_versioned(decode(data), "validator record", 1, 6)
        if not isinstance(i[4], bool):
            raise DecodeError("validator record: tombstoned must be a bool", code=ErrorCode.DECODE_SHAPE)
        return cls(PublicKey32(expect_bytes(i[1], "record.pubkey", length=32)), expect_int(i[2], "record.stake", hi=2**128),
                   expect_int(i[3], "record.jailed_until"), i[4], expect_bytes(i[5], "record.onion", max_len=32))

    def with_(self, **changes: Any) -> ValidatorRecord:
        from dataclasses import replace

        return replace(self, **changes)

    def jailed(self, height: int) -> bool:
        return self.tombstoned or height < self.jailed_until


def record_key(address: bytes) -> bytes:
    return state_key("val", bytes(address))


def load_record(state: StateDB, address: bytes) -> ValidatorRecord | None:
    raw = state.get(record_key(address))
    return ValidatorRecord.decode(raw) if raw is not None else None


def save_record(state: StateDB, address: bytes, record: ValidatorRecord) -> None:
    state.set(record_key(address), record.encode())
    index = _load_list(state, INDEX_KEY)
    if bytes(address) not in index:
        state.set(INDEX_KEY, encode(sorted(index + [bytes(address)])))


def _load_list(state: StateDB, key: bytes) -> list[Any]:
    raw = state.get(key)
    return list(decode(raw)) if raw is not None else []


def load_set(state: StateDB, key: bytes) -> ValidatorSet:
    raw = state.get(key)
    if raw is None:
        return ValidatorSet(())
    return ValidatorSet.decode_value(decode(raw, max_size=1024 * 1024))


def select_validators(state: StateDB, params: ChainParams, height: int) -> ValidatorSet:
    """The set ``select()`` of the module docstring."""
    candidates = []
    for address in _load_list(state, INDEX_KEY):
        record = load_record(state, address)
        if record is None or record.jailed(height) or record.stake < max(1, params.min_validator_stake):
            continue
        candidates.append((-record.stake, bytes(address), record))
    candidates.sort()
    chosen = candidates[: params.max_validators]
    return ValidatorSet.of(Validator(Address(a), r.pubkey, r.stake) for _, a, r in chosen)


def onion_hash(value: bytes) -> bytes:
    """One layer of the beacon onion: ``H(b"cairn/onion/v1", value)``."""
    return H(b"cairn/onion/v1", bytes(value))


def onion_tip(seed: bytes, length: int) -> bytes:
    """``x_length`` of the onion that starts at ``x_0 = seed``."""
    x = bytes(seed)
    for _ in range(length):
        x = onion_hash(x)
    return x


def write_genesis_validators(state: StateDB, validators: ValidatorSet, onions: Mapping[bytes, bytes]) -> None:
    """Records (stake = genesis power, registered onion tips) and all three sets for block 1."""
    for v in validators.validators:
        save_record(state, v.address, ValidatorRecord(v.pubkey, v.power, onion=onions.get(bytes(v.address), b"")))
    for key in (VALIDATORS_KEY, NEXT_VALIDATORS_KEY, LAST_VALIDATORS_KEY):
        state.set(key, validators.encode())


# --- evidence -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedVote:
    """A vote as it appears in evidence."""

    vote_type: int
    height: int
    round: int
    block_hash: bytes
    time_ms: int
    validator: Address
    signature: bytes

    def encode_value(self) -> list[Any]:
        return [self.vote_type, self.height, self.round, bytes(self.block_hash), self.time_ms,
                bytes(self.validator), bytes(self.signature)]

    @classmethod
    def decode_value(cls, value: Any) -> SignedVote:
        i = expect_array(value, "vote", 7)
        return cls(expect_int(i[0], "vote.type", lo=1, hi=2), expect_int(i[1], "vote.height"),
                   expect_int(i[2], "vote.round", hi=2**32), expect_bytes(i[3], "vote.block_hash", length=32),
                   expect_int(i[4], "vote.time_ms"), Address(expect_bytes(i[5], "vote.validator", length=20)),
                   expect_bytes(i[6], "vote.signature", length=64))

    def digest(self, chain_id: str) -> bytes:
        return vote_digest(chain_id, self.vote_type, self.height, self.round, self.block_hash, self.time_ms)


@dataclass(frozen=True, slots=True)
class DoubleSign:
    """Two conflicting votes by one validator: ``[1, vote_a, vote_b]``."""

    a: SignedVote
    b: SignedVote

    def encode(self) -> bytes:
        return encode([1, self.a.encode_value(), self.b.encode_value()])

    @classmethod
    def decode(cls, data: bytes) -> DoubleSign:
        i = expect_versioned(decode(data, max_size=4096), "evidence", 1, 3)
        return cls(SignedVote.decode_value(i[1]), SignedVote.decode_value(i[2]))

    def hash(self) -> bytes:
        """Order-independent: the same pair in either order is the same evidence."""
        parts = sorted([encode(self.a.encode_value()), encode(self.b.encode_value())])
        return H(b"cairn/evidence/v1", encode(parts))


EVIDENCE_FAULTS = frozenset({"malformed", "not-same-vote", "no-conflict", "signature"})
"""``check_evidence`` reasons that hold on every node whatever its state: evidence failing one
of these is forged or malformed, and no honest node sends it.  The others (``window``,
``unknown-validator``, ``tombstoned``, ``used``) depend on the state the check ran against."""


def check_evidence(state: StateDB, env: BlockEnv, params: ChainParams, raw: bytes, *,
                   signatures: bool = True) -> tuple[DoubleSign, ValidatorRecord]:
    """The evidence rule of the module docstring, without applying it.

    Raises ``InvalidTransaction`` (``TX_BAD_PAYLOAD``) whose ``details["reason"]`` names the
    broken check (see ``EVIDENCE_FAULTS``).  ``signatures=False`` skips the two signature
    checks, for re-checking evidence that was verified before.
    """

    def bad(reason: str, why: str) -> InvalidTransaction:
        return InvalidTransaction(f"invalid evidence: {why}", code=ErrorCode.TX_BAD_PAYLOAD, reason=reason)

    try:
        ev = DoubleSign.decode(raw)
    except DecodeError as exc:
        raise InvalidTransaction(f"malformed evidence: {exc.message}", code=ErrorCode.TX_BAD_PAYLOAD,
                                 reason="malformed") from exc
    a, b = ev.a, ev.b
    if (a.vote_type, a.height, a.round, a.validator) != (b.vote_type, b.height, b.round, b.validator):
        raise bad("not-same-vote", "votes are not for the same validator, type, height and round")
    if a.block_hash == b.block_hash:
        raise bad("no-conflict", "votes do not conflict")
    if not a.height < env.height or env.height - a.height > params.evidence_max_age:
        raise bad("window", f"height {a.height} outside the evidence window")
    record = load_record(state, a.validator)
    if record is None:
        raise bad("unknown-validator", "unknown validator")
    if record.tombstoned:
        raise bad("tombstoned", "validator already tombstoned")
    if state.get(state_key("evid", ev.hash())) is not None:
        raise bad("used", "evidence already used")
    if signatures:
        for vote in (a, b):
            if not verify_signature(record.pubkey, vote.signature, vote.digest(env.chain_id)):
                raise bad("signature", "a vote signature does not verify")
    return ev, record


def apply_evidence(state: StateDB, env: BlockEnv, params: ChainParams, raw: bytes, slash_to: Address) -> Event:
    """Check double-sign evidence (``check_evidence``) and slash; ``InvalidTransaction`` if invalid."""
    ev, record = check_evidence(state, env, params, raw)
    a = ev.a
    slash = record.stake * params.double_sign_slash_bps // BPS
    save_record(state, a.validator, record.with_(stake=record.stake - slash, tombstoned=True))
    state.credit(slash_to, slash)
    state.set(state_key("evid", ev.hash()), b"\x01")
    return Event("staking", "slashed", (("address", bytes(a.validator)), ("amount", slash),
                                        ("reason", "double_sign"), ("height", a.height)))


# --- transaction kinds --------------------------------------------------------------------


def _amount_payload(value: Any, what: str) -> int:
    items = expect_array(value, f"{what} payload", 1)
    return expect_int(items[0], f"{what}.amount", lo=1, hi=2**128 - 1)


class StakeKind:
    name = "stake"

    def __init__(self, params: ChainParams) -> None:
        self.gas = params.staking_gas

    def decode_payload(self, value: Any) -> tuple[int, bytes]:
        items = expect_array(value, "stake payload")
        if len(items) not in (1, 2):
            raise DecodeError("stake payload: expected [amount] or [amount, onion_tip]", code=ErrorCode.DECODE_SHAPE)
        amount = expect_int(items[0], "stake.amount", lo=1, hi=2**128 - 1)
        tip = expect_bytes(items[1], "stake.onion_tip", length=32) if len(items) == 2 else b""
        return amount, tip

    def execute(self, state: StateDB, ctx: TxContext, payload: tuple[int, bytes]) -> None:
        amount, tip = payload
        ctx.gas.charge(self.gas)
        record = load_record(state, ctx.sender)
        if record is not None and record.tombstoned:
            raise TxFailed("a tombstoned validator cannot stake again", code=ErrorCode.TX_BAD_PAYLOAD)
        if record is None and not tip:
            raise TxFailed("a new validator must register an onion tip: [amount, onion_tip]",
                           code=ErrorCode.TX_BAD_PAYLOAD)
        if record is not None and tip:
            raise TxFailed("the onion is registered once; stake more with [amount]", code=ErrorCode.TX_BAD_PAYLOAD)
        if not state.debit(ctx.sender, amount):
            raise TxFailed("insufficient balance to stake", code=ErrorCode.TX_INSUFFICIENT_BALANCE)
        pubkey = ctx.tx.body.sender_pubkey
        new = ValidatorRecord(pubkey, amount, onion=tip) if record is None else record.with_(stake=record.stake + amount)
        save_record(state, ctx.sender, new)
        ctx.events.append(Event("staking", "staked", (("address", bytes(ctx.sender)), ("amount", amount))))


class UnstakeKind:
    name = "unstake"

    def __init__(self, params: ChainParams) -> None:
        self.params = params

    def decode_payload(self, value: Any) -> int:
        return _amount_payload(value, "unstake")

    def execute(self, state: StateDB, ctx: TxContext, amount: int) -> None:
        ctx.gas.charge(self.params.staking_gas)
        record = load_record(state, ctx.sender)
        if record is None or record.stake < amount:
            raise TxFailed("stake is smaller than the amount to unstake", code=ErrorCode.TX_INSUFFICIENT_BALANCE)
        save_record(state, ctx.sender, record.with_(stake=record.stake - amount))
        release = ctx.env.height + self.params.unbonding_blocks
        queue = _load_list(state, UNBONDING_KEY)
        queue.append([release, bytes(ctx.sender), amount])
        state.set(UNBONDING_KEY, encode(sorted(queue)))
        ctx.events.append(Event("staking", "unbonding", (("address", bytes(ctx.sender)), ("amount", amount),
                                                         ("release_height", release))))


class UnjailKind:
    name = "unjail"

    def __init__(self, params: ChainParams) -> None:
        self.gas = params.staking_gas

    def decode_payload(self, value: Any) -> None:
        expect_array(value, "unjail payload", 0)

    def execute(self, state: StateDB, ctx: TxContext, payload: None) -> None:
        ctx.gas.charge(self.gas)
        record = load_record(state, ctx.sender)
        if record is None or record.tombstoned:
            raise TxFailed("not a validator that can be unjailed", code=ErrorCode.TX_BAD_PAYLOAD)
        if ctx.env.height < record.jailed_until:
            raise TxFailed(f"jailed until height {record.jailed_until}", code=ErrorCode.TX_BAD_PAYLOAD)
        if record.jailed_until == 0:
            raise TxFailed("not jailed", code=ErrorCode.TX_BAD_PAYLOAD)
        save_record(state, ctx.sender, record.with_(jailed_until=0))
        ctx.events.append(Event("staking", "unjailed", (("address", bytes(ctx.sender)),)))


class EvidenceKind:
    name = "evidence"

    def __init__(self, params: ChainParams, slash_to: Address) -> None:
        self.params = params
        self.slash_to = slash_to

    def decode_payload(self, value: Any) -> bytes:
        return expect_bytes(expect_array(value, "evidence payload", 1)[0], "evidence", max_len=4096)

    def execute(self, state: StateDB, ctx: TxContext, raw: bytes) -> None:
        ctx.gas.charge(self.params.staking_gas)
        try:
            ctx.events.append(apply_evidence(state, ctx.env, self.params, raw, self.slash_to))
        except InvalidTransaction as exc:
            raise TxFailed(exc.message, code=exc.code) from exc


# --- the module -----------------------------------------------------------------------------


class StakingModule:
    """Installed by the kernel; see the module docstring."""

    name = "staking"

    def __init__(self, params: ChainParams, slash_to: Address) -> None:
        self.params = params
        self.slash_to = slash_to

    def tx_kinds(self) -> Mapping[str, TxKind]:
        return {"stake": StakeKind(self.params), "unstake": UnstakeKind(self.params),
                "unjail": UnjailKind(self.params), "evidence": EvidenceKind(self.params, self.slash_to)}

    def begin_block(self, state: StateDB, env: BlockEnv) -> list[Event]:
        """Peel the proposer's onion, then evidence from the evidence section, then liveness accounting."""
        if env.beacon_reveal:
            record = load_record(state, env.proposer)
            if record is not None:
                save_record(state, env.proposer, record.with_(onion=bytes(env.beacon_reveal)))
        events = [apply_evidence(state, env, self.params, raw, self.slash_to) for raw in env.evidence]
        events.extend(self._liveness(state, env))
        return events

    def _liveness(self, state: StateDB, env: BlockEnv) -> list[Event]:
        limit = self.params.max_missed_blocks
        if limit == 0 or env.height <= 1:
            return []
        raw = state.get(MISSED_KEY)
        missed: dict[bytes, int] = dict(decode(raw)) if raw is not None else {}
        signers = set(env.last_commit_signers)
        events = []
        for v in load_set(state, LAST_VALIDATORS_KEY).validators:
            a = bytes(v.address)
            if a in signers:
                missed.pop(a, None)
                continue
            missed[a] = missed.get(a, 0) + 1
            if missed[a] >= limit:
                record = load_record(state, a)
                if record is not None and not record.jailed(env.height):
                    until = env.height + self.params.jail_blocks
                    save_record(state, a, record.with_(jailed_until=until))
                    events.append(Event("staking", "jailed", (("address", a), ("until", until))))
                missed.pop(a)
        new = encode(missed) if missed else None
        if new != raw:
            state.set(MISSED_KEY, new)
        return events

    def end_block(self, state: StateDB, env: BlockEnv, pot: BlockPot) -> list[Event]:
        """Release due unbondings; rotate LAST/VALIDATORS/NEXT; select NEXT at an epoch boundary."""
        events: list[Event] = []
        queue = _load_list(state, UNBONDING_KEY)
        due = [e for e in queue if e[0] <= env.height]
        if due:
            for _, address, amount in due:
                state.credit(address, amount)
                events.append(Event("staking", "unbonded", (("address", address), ("amount", amount))))
            rest = queue[len(due):]
            state.set(UNBONDING_KEY, encode(rest) if rest else None)
        current, nxt = state.get(VALIDATORS_KEY), state.get(NEXT_VALIDATORS_KEY)
        if state.get(LAST_VALIDATORS_KEY) != current:
            state.set(LAST_VALIDATORS_KEY, current)
        if current != nxt:
            state.set(VALIDATORS_KEY, nxt)
        if env.height % self.params.epoch_length == 0:
            chosen = select_validators(state, self.params, env.height)
            if chosen.validators and chosen.encode() != nxt:
                state.set(NEXT_VALIDATORS_KEY, chosen.encode())
                events.append(Event("staking", "validator_set", (("effective_height", env.height + 2),
                                                                 ("hash", bytes(chosen.hash())))))
        return events


def bft_time(signatures: Sequence[tuple[int, int]]) -> int:
    """The power-weighted median of ``(time_ms, power)`` pairs (CometBFT's BFT time).

    Sorted by time, the first time at which the cumulative power exceeds half
    of the total.  With more than 2/3 honest power in a commit, the result lies
    between two honest validators' clocks.
    """
    ordered = sorted(signatures)
    total = sum(p for _, p in ordered)
    acc = 0
    for t, p in ordered:
        acc += p
        if 2 * acc > total:
            return t
    raise ValueError("bft_time of an empty commit")


def set_start_height(height: int, epoch_length: int) -> int:
    """The first height signed by the validator set that signs ``height``.

    Sets change only two blocks after an epoch boundary (see the module
    docstring), so the set of ``height`` took effect at ``b + 2`` for the last
    boundary ``b ≤ height − 2``, or at height 1.  Proposer priorities
    (``chain.consensus.proposer``) restart from zero there.
    """
    if height < 2:
        return 1
    return max(1, (height - 2) // epoch_length * epoch_length + 2)


def staking_of(app: object) -> StakingModule:
    """The staking module of a composed application (the kernel installs exactly one)."""
    for module in getattr(app, "modules", ()):
        if isinstance(module, StakingModule):
            return module
    raise LookupError("the application has no staking module")
