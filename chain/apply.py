"""The state transition: from a parent state and a block to the next state.

A block goes from bytes to a new state root in these steps, each a function here:

1. ``validate_header(parent, header, ...)`` — the rules that need no execution:
   chain id, height = parent + 1, time strictly after the parent's, ``prev_hash``,
   the body roots (txs, proofs, evidence, last commit) match the body, the
   validator-set hashes match the state, the proposer is a validator, the beacon
   follows from the parent's.
2. ``verify_last_commit`` — from height 2 on, the block carries the commit that
   finalized its parent, signed by more than 2/3 of the parent's validators.
3. ``execute_block(state, block, app)`` — modules' ``begin_block``; each
   transaction through ``process_transaction``; the proofs section, handed to the
   one module that claims it (``chain.module``; with none, a block carrying any
   proof is invalid); modules' ``end_block``; the rest of the pot to the proposer;
   the state folded into the tree.
4. ``apply_block`` — 1 to 3, then the receipts root and state root computed by
   execution must equal the header's, else ``InvalidBlock(BLOCK_BAD_ROOT)``.

Transaction rule (``process_transaction``), for a transaction already checked
stateless (size, chain id, signature):

* ``nonce`` must equal the sender's account nonce;
* ``gas_price = fee // gas_limit`` must be ≥ ``min_gas_price``;
* ``gas_limit`` must cover the intrinsic gas
  ``tx_base_gas + tx_byte_gas × len(tx_bytes)``;
* the sender must hold ``fee``; it is reserved and the nonce incremented;
* the kind executes; if it fails (``TxFailed``/``OutOfGas``) its writes are
  reverted and the receipt says why (out of gas charges the whole ``gas_limit``);
* ``charged = gas_used × gas_price`` goes to the block's pot and
  ``fee − charged`` back to the sender.

A transaction that breaks one of the first four rules makes the whole block
invalid; a failing execution does not.  Value is conserved: the sum of all
balances grows by exactly ``block_reward`` per block.

Receipt rule (receipts are consensus data: their bytes are the leaves of
``receipts_root``), so that every receipt the chain writes decodes again:

* a failed receipt's ``reason`` is the failure's message with every code point
  UTF-8 cannot encode (a lone surrogate) replaced by ``?``, cut to its first
  ``MAX_REASON`` (1,024) code points;
* a successful execution whose receipt would encode to more than
  ``MAX_RECEIPT_BYTES`` (1 MiB) bytes — events are paid by gas, not capped by
  it — fails instead: its writes are reverted, its events dropped, its reason is
  ``receipt_too_large`` and its gas is what the meter counted;
* ``Receipt.decode`` accepts exactly what these rules let through.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chain.block import Block, Commit, Header, ValidatorSet, beacon_next, last_commit_hash, verify_commit
from chain.codec import decode, encode, expect_array, expect_bytes, expect_int, expect_str, expect_versioned
from chain.errors import ChainError, DecodeError, ErrorCode, InvalidBlock, InvalidTransaction
from chain.merkle import merkle_root
from chain.module import (
    BlockEnv,
    BlockPot,
    Event,
    GasMeter,
    Module,
    OutOfGas,
    ProofModule,
    TxContext,
    TxFailed,
    TxKind,
)
from chain.onion import Onion
from chain.params import ChainParams
from chain.staking import (
    LAST_VALIDATORS_KEY,
    NEXT_VALIDATORS_KEY,
    VALIDATORS_KEY,
    StakingModule,
    bft_time,
    load_record,
    load_set,
    onion_hash,
)
from chain.state import Account, StateCommit, StateDB
from chain.tx import SignedTx, check_stateless
from chain.types import Address, Hash32

RECEIPT_OK = 0
RECEIPT_FAILED = 1
MAX_REASON = 1024
"""Most code points a receipt's ``reason`` holds (longer failure messages are cut)."""
MAX_RECEIPT_BYTES = 1024 * 1024
"""Most bytes one encoded receipt takes; a successful execution past it fails ``receipt_too_large``."""
RECEIPT_TOO_LARGE = "receipt_too_large"


# --- receipts ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receipt:
    """The outcome of one transaction: ``[1, tx_hash, status, gas_used, fee_paid, reason, events]``.

    Each event is ``[module, name, [[key, value], ...]]``.  A receipt never holds a
    reason longer than ``MAX_REASON`` (``ValueError``): build failed receipts'
    reasons with ``receipt_reason``.
    """

    tx_hash: Hash32
    status: int
    gas_used: int
    fee_paid: int
    reason: str = ""
    events: tuple[Event, ...] = ()

    def __post_init__(self) -> None:
        if len(self.reason) > MAX_REASON:
            raise ValueError(f"receipt reason of {len(self.reason)} code points (at most {MAX_REASON})")

    def encode_value(self) -> list[Any]:
        return [1, bytes(self.tx_hash), self.status, self.gas_used, self.fee_paid, self.reason,
                [e.encode_value() for e in self.events]]

    def encode(self) -> bytes:
        return encode(self.encode_value())

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        """One receipt's bytes (at most ``MAX_RECEIPT_BYTES``)."""
        return cls.decode_value(decode(data, max_size=MAX_RECEIPT_BYTES))

    @classmethod
    def decode_value(cls, value: Any) -> Receipt:
        i = expect_versioned(value, "receipt", 1, 7)
        events = [Event.decode_value(e) for e in expect_array(i[6], "receipt.events")]
        return cls(Hash32(expect_bytes(i[1], "receipt.tx_hash", length=32)),
                   expect_int(i[2], "receipt.status", hi=1), expect_int(i[3], "receipt.gas_used"),
                   expect_int(i[4], "receipt.fee_paid", hi=2**256),
                   expect_str(i[5], "receipt.reason", max_len=MAX_REASON), tuple(events))

    @property
    def ok(self) -> bool:
        return self.status == RECEIPT_OK


def receipt_reason(message: str) -> str:
    """The ``reason`` a failed receipt records for a failure ``message`` (module docstring).

    Cut first, then replace: a lone surrogate becomes one ``?``, so the length holds.
    """
    return message[:MAX_REASON].encode("utf-8", "replace").decode("utf-8")


def encode_receipts(encoded: Sequence[bytes]) -> bytes:
    """A block's receipts as stored: a CBOR array of each receipt's own bytes."""
    return encode(list(encoded))


def decode_receipts(data: bytes) -> list[Receipt]:
    """A block's stored receipts (``encode_receipts``).

    The array is the store's own record of one block: as long as its receipts are
    (each at most ``MAX_RECEIPT_BYTES``, at most ``max_block_txs`` of them), so it is
    not capped again here — a cap would only refuse what the chain wrote.
    """
    value = decode(data, max_size=len(data))
    if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
        raise DecodeError("receipts: expected an array of byte strings", code=ErrorCode.DECODE_SHAPE)
    return [Receipt.decode(v) for v in value]


# --- the kernel's own transaction kind -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transfer:
    """``transfer`` payload: ``[to, amount]``."""

    to: Address
    amount: int


class TransferKind:
    """Move ``amount`` from the sender to ``to``; costs ``transfer_gas``.

    ``amount`` is in ``[1, 2**128 - 1]``: a zero transfer moves nothing and is a
    malformed payload (``TX_BAD_PAYLOAD``), like a zero ``stake``.
    """

    name = "transfer"

    def __init__(self, params: ChainParams) -> None:
        self._gas = params.transfer_gas

    def decode_payload(self, value: Any) -> Transfer:
        if not isinstance(value, list) or len(value) != 2:
            raise DecodeError("transfer payload: expected [to, amount]", code=ErrorCode.DECODE_SHAPE)
        return Transfer(Address(expect_bytes(value[0], "transfer.to", length=20)),
                        expect_int(value[1], "transfer.amount", lo=1, hi=2**128 - 1))

    def execute(self, state: StateDB, ctx: TxContext, payload: Transfer) -> None:
        ctx.gas.charge(self._gas)
        if not state.debit(ctx.sender, payload.amount):
            raise TxFailed("insufficient balance for the transferred amount",
                           code=ErrorCode.TX_INSUFFICIENT_BALANCE)
        state.credit(payload.to, payload.amount)
        ctx.events.append(Event("bank", "transfer", (("from", bytes(ctx.sender)), ("to", bytes(payload.to)),
                                                     ("amount", payload.amount))))


# --- the application: kernel + modules -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Application:
    """The composed chain: its id, kernel parameters, modules and every tx kind."""

    chain_id: str
    params: ChainParams
    modules: tuple[Module, ...] = ()
    kinds: Mapping[str, TxKind] = field(default_factory=dict)
    proof_module: ProofModule | None = None
    """The module that claims the proofs section (``chain.module``), if any."""

    @classmethod
    def compose(cls, chain_id: str, params: ChainParams, modules: Iterable[Module], *,
                slash_to: Address) -> Application:
        """The kernel (transfers, staking) plus ``modules``; slashed stake goes to ``slash_to``."""
        mods = (StakingModule(params, slash_to), *modules)
        kinds: dict[str, TxKind] = {"transfer": TransferKind(params)}
        for m in mods:
            for name, kind in m.tx_kinds().items():
                if name in kinds:
                    raise ValueError(f"transaction kind {name!r} registered twice")
                kinds[name] = kind
        claimants = [m for m in mods if isinstance(m, ProofModule)]
        if len(claimants) > 1:
            raise ValueError(f"modules {[m.name for m in claimants]} all claim the proofs section")
        return cls(chain_id, params, mods, kinds, claimants[0] if claimants else None)


def intrinsic_gas(tx: SignedTx, params: ChainParams) -> int:
    return params.tx_base_gas + params.tx_byte_gas * len(tx.raw)


def check_against_account(tx: SignedTx, account: Account, app: Application, *, expected_nonce: int | None = None) -> Any:
    """The stateful admission rules shared by the mempool and ``process_transaction``.

    Returns the decoded payload.  ``expected_nonce`` lets the mempool check a
    transaction queued behind pending ones from the same sender.
    """
    body = tx.body
    params = app.params
    nonce = account.nonce if expected_nonce is None else expected_nonce
    if body.nonce < nonce:
        raise InvalidTransaction(f"nonce {body.nonce} already used (next is {nonce})",
                                 code=ErrorCode.TX_NONCE_TOO_LOW, expected=nonce, got=body.nonce)
    if body.nonce > nonce:
        raise InvalidTransaction(f"nonce {body.nonce} is ahead of the next nonce {nonce}",
                                 code=ErrorCode.TX_NONCE_GAP, expected=nonce, got=body.nonce)
    if body.gas_price < params.min_gas_price:
        least = body.gas_limit * params.min_gas_price
        raise InvalidTransaction(f"fee {body.fee} for gas limit {body.gas_limit} bids a gas price of {body.gas_price}"
                                 f" (fee ÷ gas limit), below the minimum {params.min_gas_price}: the fee must be at"
                                 f" least {least}", code=ErrorCode.TX_FEE_TOO_LOW, min_fee=least)
    need = intrinsic_gas(tx, params)
    if body.gas_limit < need:
        raise InvalidTransaction(f"gas limit {body.gas_limit} below the intrinsic gas {need}",
                                 code=ErrorCode.TX_GAS_LIMIT)
    if body.gas_limit > params.block_gas_limit:
        raise InvalidTransaction("gas limit above the block gas limit", code=ErrorCode.TX_GAS_LIMIT)
    kind = app.kinds.get(body.kind)
    if kind is None:
        raise InvalidTransaction(f"unknown transaction kind {body.kind!r}", code=ErrorCode.TX_UNKNOWN_KIND)
    try:
        payload = kind.decode_payload(body.payload)
    except DecodeError as exc:
        raise InvalidTransaction(f"bad {body.kind} payload: {exc}", code=ErrorCode.TX_BAD_PAYLOAD) from exc
    if account.balance < body.fee:
        raise InvalidTransaction(f"balance {account.balance} cannot cover the fee {body.fee}",
                                 code=ErrorCode.TX_INSUFFICIENT_BALANCE)
    return payload


def process_transaction(state: StateDB, tx: SignedTx, env: BlockEnv, app: Application, pot: BlockPot) -> Receipt:
    """Apply one transaction (see the module docstring); raises ``InvalidTransaction``."""
    sender = tx.sender
    account = state.get_account(sender)
    payload = check_against_account(tx, account, app)
    body = tx.body
    state.put_account(sender, Account(account.balance - body.fee, account.nonce + 1, account.code_hash))
    meter = GasMeter(body.gas_limit, intrinsic_gas(tx, app.params))
    ctx = TxContext(tx, env, meter)
    mark = state.snapshot()
    failure: str | None = None
    try:
        app.kinds[body.kind].execute(state, ctx, payload)
    except (TxFailed, OutOfGas) as exc:
        state.revert(mark)
        failure = exc.message
    charged = meter.used * body.gas_price
    if failure is None:
        receipt = Receipt(tx.hash, RECEIPT_OK, meter.used, charged, "", tuple(ctx.events))
        size = len(receipt.encode())
        if size > MAX_RECEIPT_BYTES:
            state.revert(mark)
            failure = f"{RECEIPT_TOO_LARGE}: {size} bytes (at most {MAX_RECEIPT_BYTES})"
    if failure is not None:
        ctx.events.clear()
        receipt = Receipt(tx.hash, RECEIPT_FAILED, meter.used, charged, receipt_reason(failure))
    state.credit(sender, body.fee - charged)
    pot.fees += charged
    return receipt


# --- validator sets in state -------------------------------------------------------------


def load_validators(state: StateDB, key: bytes = VALIDATORS_KEY) -> ValidatorSet:
    """``staking.load_set``, for the sets a block needs: an empty one is an invalid state."""
    validators = load_set(state, key)
    if not validators.validators:
        raise InvalidBlock("state holds no validator set", code=ErrorCode.BLOCK_BAD_VALIDATORS)
    return validators


# --- blocks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockOutput:
    """What executing a block produced."""

    state: StateCommit
    receipts: tuple[Receipt, ...]
    receipts_root: Hash32
    events: tuple[Event, ...]
    receipt_bytes: tuple[bytes, ...] = ()
    """Each receipt's canonical bytes (the leaves of ``receipts_root``)."""
    begin_events: int = 0
    """How many of ``events`` the ``begin_block`` hooks emitted (they lead ``events``; the
    proofs section's and the ``end_block`` hooks' follow).  With it the store can log every
    event in execution order: ``executed_events``."""

    def executed_events(self) -> list[Event]:
        """Every event of the block in execution order: the ``begin_block`` hooks', each
        receipt's in transaction order, then the proofs section's and the ``end_block`` hooks'."""
        out = list(self.events[:self.begin_events])
        for r in self.receipts:
            out.extend(r.events)
        out.extend(self.events[self.begin_events:])
        return out

    @property
    def state_root(self) -> Hash32:
        return Hash32(self.state.root)


def body_roots(block: Block) -> dict[str, bytes]:
    return {
        "txs_root": merkle_root(block.txs),
        "proofs_root": merkle_root(block.proofs),
        "evidence_root": merkle_root(block.evidence),
        "last_commit_hash": last_commit_hash(block.last_commit),
    }


def validate_header(parent: Header, block: Block, state: StateDB, app: Application) -> None:
    """The header rules that need no execution; ``InvalidBlock`` naming the broken rule.

    ``state`` is the parent's post-state (it holds the validator sets).
    """
    h = block.header
    if h.chain_id != app.chain_id:
        raise InvalidBlock(f"block is for chain {h.chain_id!r}", code=ErrorCode.BLOCK_BAD_CHAIN)
    if h.height != parent.height + 1:
        raise InvalidBlock(f"height {h.height} does not follow {parent.height}", code=ErrorCode.BLOCK_BAD_HEIGHT)
    if h.prev_hash != parent.hash():
        raise InvalidBlock("prev_hash is not the parent's hash", code=ErrorCode.BLOCK_BAD_PARENT)
    if h.time_ms <= parent.time_ms:
        raise InvalidBlock(f"time {h.time_ms} not after the parent's {parent.time_ms}", code=ErrorCode.BLOCK_BAD_TIME)
    if len(block.txs) > app.params.max_block_txs:
        raise InvalidBlock("too many transactions", code=ErrorCode.BLOCK_TOO_LARGE)
    if len(block.encode()) > app.params.max_block_bytes:
        raise InvalidBlock("block too large", code=ErrorCode.BLOCK_TOO_LARGE)
    for name, value in body_roots(block).items():
        if getattr(h, name) != value:
            raise InvalidBlock(f"{name} does not match the block body", code=ErrorCode.BLOCK_BAD_ROOT, field=name)
    validators = load_validators(state)
    if h.validators_hash != validators.hash():
        raise InvalidBlock("validators_hash does not match state", code=ErrorCode.BLOCK_BAD_VALIDATORS)
    if h.next_validators_hash != load_validators(state, NEXT_VALIDATORS_KEY).hash():
        raise InvalidBlock("next_validators_hash does not match state", code=ErrorCode.BLOCK_BAD_VALIDATORS)
    if validators.get(h.proposer) is None:
        raise InvalidBlock("proposer is not a validator", code=ErrorCode.BLOCK_BAD_PROPOSER)
    if block.last_commit is not None:
        expected = commit_time(block.last_commit, load_validators(state, LAST_VALIDATORS_KEY))
        if h.time_ms != expected:
            raise InvalidBlock(f"time {h.time_ms} is not the BFT time {expected} of the last commit",
                               code=ErrorCode.BLOCK_BAD_TIME)
    if h.beacon != beacon_next(parent.beacon, h.beacon_reveal):
        raise InvalidBlock("beacon does not follow from the parent's", code=ErrorCode.BLOCK_BAD_BEACON)
    record = load_record(state, h.proposer)
    if record is None or not record.onion or onion_hash(h.beacon_reveal) != record.onion:
        raise InvalidBlock("beacon_reveal is not the preimage of the proposer's onion", code=ErrorCode.BLOCK_BAD_BEACON)


def commit_time(commit: Commit, validators: ValidatorSet) -> int:
    """BFT time: the power-weighted median of the commit's signature times (``staking.bft_time``)."""
    pairs = []
    for s in commit.signatures:
        v = validators.get(s.validator)
        if v is not None:
            pairs.append((s.time_ms, v.power))
    if not pairs:
        raise InvalidBlock("last commit carries no known signature", code=ErrorCode.BLOCK_BAD_COMMIT)
    return bft_time(pairs)


def verify_last_commit(parent: Header, block: Block, parent_validators: ValidatorSet) -> None:
    """Block ``h ≥ 2`` must carry a valid commit for block ``h − 1``; block 1 carries none."""
    commit = block.last_commit
    if parent.height == 0:
        if commit is not None:
            raise InvalidBlock("the first block carries no last commit", code=ErrorCode.BLOCK_BAD_COMMIT)
        return
    if commit is None:
        raise InvalidBlock("missing last commit", code=ErrorCode.BLOCK_BAD_COMMIT)
    verify_commit(commit, chain_id=parent.chain_id, validators=parent_validators,
                  height=parent.height, block_hash=parent.hash())


def _execute(state: StateDB, header: Header, txs: Sequence[bytes], app: Application, *,
             verified: Container[bytes], drop_invalid: bool, evidence: tuple[bytes, ...] = (),
             signers: tuple[bytes, ...] = (), proofs: Sequence[bytes] = ()
             ) -> tuple[list[bytes], list[bytes], BlockOutput]:
    """Hooks, transactions, proofs, pot; with ``drop_invalid`` an invalid transaction or proof is
    left out instead of failing the block.  Returns the included transactions and proofs."""
    env = BlockEnv(header.chain_id, header.height, header.time_ms, header.proposer, bytes(header.beacon),
                   evidence, signers, bytes(header.beacon_reveal))
    events: list[Event] = []
    for m in app.modules:
        try:
            events.extend(m.begin_block(state, env))
        except InvalidTransaction as exc:  # bad evidence in the block's evidence section
            raise InvalidBlock(f"{m.name}: {exc.message}", code=ErrorCode.BLOCK_INVALID) from exc
    begun = len(events)
    pot = BlockPot(fees=0, reward=app.params.block_reward)
    receipts: list[Receipt] = []
    included: list[bytes] = []
    gas_total = 0
    for index, raw in enumerate(txs):
        mark = state.snapshot()
        fees_before = pot.fees
        try:
            tx = SignedTx.decode(raw, max_size=app.params.max_tx_bytes)
            if tx.hash not in verified:
                check_stateless(tx, chain_id=app.chain_id, max_tx_bytes=app.params.max_tx_bytes)
            if gas_total + tx.body.gas_limit > app.params.block_gas_limit:
                raise InvalidTransaction("block gas limit exceeded", code=ErrorCode.TX_GAS_LIMIT)
            receipt = process_transaction(state, tx, env, app, pot)
        except ChainError as exc:
            if drop_invalid:
                state.revert(mark)
                pot.fees = fees_before
                continue
            raise InvalidBlock(f"transaction {index} is invalid: {exc.message}", code=ErrorCode.BLOCK_INVALID,
                               index=index, tx_code=int(exc.code)) from exc
        gas_total += tx.body.gas_limit
        receipts.append(receipt)
        included.append(raw)
    included_proofs: list[bytes] = []
    if proofs and app.proof_module is None:
        if not drop_invalid:
            raise InvalidBlock(f"the block carries {len(proofs)} proofs and no module handles proofs",
                               code=ErrorCode.BLOCK_INVALID)
    elif proofs and app.proof_module is not None and not drop_invalid:
        events.extend(app.proof_module.apply_proofs(state, env, proofs))
        included_proofs = list(proofs)
    elif proofs and app.proof_module is not None:
        for raw in proofs:
            mark = state.snapshot()
            try:
                events.extend(app.proof_module.apply_proofs(state, env, (raw,)))
            except InvalidBlock:
                state.revert(mark)
                continue
            included_proofs.append(raw)
    for m in app.modules:
        events.extend(m.end_block(state, env, pot))
    state.credit(header.proposer, pot.remaining)
    commit = state.commit()
    encoded = tuple(r.encode() for r in receipts)
    out = BlockOutput(commit, tuple(receipts), Hash32(merkle_root(encoded)), tuple(events), encoded, begun)
    return included, included_proofs, out


def execute_block(state: StateDB, block: Block, app: Application, *,
                  verified: Container[bytes] = frozenset()) -> BlockOutput:
    """Run a block's transactions and hooks against ``state`` (the parent's post-state).

    ``verified`` holds hashes of transactions whose signatures the caller has
    already checked (the mempool's signature cache); all others are checked here.
    Raises ``InvalidBlock`` if any transaction is invalid.
    """
    signers = tuple(bytes(s.validator) for s in block.last_commit.signatures) if block.last_commit else ()
    return _execute(state, block.header, block.txs, app, verified=verified, drop_invalid=False,
                    evidence=block.evidence, signers=signers, proofs=block.proofs)[2]


def apply_block(state: StateDB, parent: Header, block: Block, app: Application, *,
                verified: Container[bytes] = frozenset()) -> BlockOutput:
    """Validate and execute ``block`` on top of ``parent``; every root is recomputed and compared."""
    validate_header(parent, block, state, app)
    verify_last_commit(parent, block, load_validators(state, LAST_VALIDATORS_KEY))
    out = execute_block(state, block, app, verified=verified)
    if out.receipts_root != block.header.receipts_root:
        raise InvalidBlock("receipts_root does not match execution", code=ErrorCode.BLOCK_BAD_ROOT,
                           field="receipts_root")
    if out.state_root != block.header.state_root:
        raise InvalidBlock("state_root does not match execution", code=ErrorCode.BLOCK_BAD_ROOT, field="state_root",
                           expected=bytes(out.state_root).hex(), got=bytes(block.header.state_root).hex())
    return out


def build_block(state: StateDB, parent: Header, app: Application, *, txs: Sequence[bytes], now_ms: int,
                proposer: Address, onion: Onion, last_commit: Commit | None = None,
                evidence: Sequence[bytes] = (), proofs: Sequence[bytes] = (),
                verified: Container[bytes] = frozenset()) -> tuple[Block, BlockOutput]:
    """Assemble a block for a proposer from candidate transactions and proof envelopes.

    Candidates that turn out invalid against the state (stale nonce, balance
    spent by an earlier one; a proof the proofs module would refuse) are left out, so the
    result always passes ``apply_block`` on the same parent.  ``state`` is consumed.

    The block's time is the BFT time of ``last_commit``; only the first block
    (no last commit) takes ``max(now_ms, parent.time_ms + 1)``.  The beacon reveal
    is the next layer of the proposer's ``onion`` (``ValueError`` if it has none left).
    """
    record = load_record(state, proposer)
    beacon_reveal = onion.reveal_for(record.onion) if record is not None else None
    if beacon_reveal is None:
        raise ValueError("this onion cannot reveal the proposer's next layer (not registered, or used up)")
    validators = load_validators(state)
    if last_commit is not None:
        time_ms = commit_time(last_commit, load_validators(state, LAST_VALIDATORS_KEY))
    else:
        time_ms = max(now_ms, parent.time_ms + 1)
    header = Header(
        chain_id=app.chain_id, height=parent.height + 1, time_ms=time_ms, prev_hash=parent.hash(),
        last_commit_hash=last_commit_hash(last_commit), txs_root=Hash32(bytes(32)),
        proofs_root=Hash32(merkle_root(())), evidence_root=Hash32(merkle_root(evidence)),
        receipts_root=Hash32(bytes(32)), state_root=Hash32(bytes(32)),
        validators_hash=validators.hash(),
        next_validators_hash=load_validators(state, NEXT_VALIDATORS_KEY).hash(),
        proposer=proposer, beacon_reveal=beacon_reveal, beacon=beacon_next(parent.beacon, beacon_reveal),
    )
    signers = tuple(bytes(s.validator) for s in last_commit.signatures) if last_commit else ()
    included, included_proofs, out = _execute(state, header, txs, app, verified=verified, drop_invalid=True,
                                              evidence=tuple(evidence), signers=signers, proofs=proofs)
    header = replace(header, txs_root=Hash32(merkle_root(included)), proofs_root=Hash32(merkle_root(included_proofs)),
                     receipts_root=out.receipts_root, state_root=out.state_root)
    return Block(header, tuple(included), proofs=tuple(included_proofs), evidence=tuple(evidence),
                 last_commit=last_commit), out
