"""The small protocol through which the kernel runs modules (ARCHITECTURE §1).

A module contributes transaction kinds and begin/end-block hooks.  The kernel
knows nothing else about it.  ``apply_block`` runs, in this fixed order:
every module's ``begin_block`` (in the application's module order), the
transactions in block order, the block's proofs section (below), every module's
``end_block``, then pays what is left of the block's pot (fees plus block reward)
to the proposer.

**The proofs section.**  At most one module of an application handles proofs: the
one that is a ``ProofModule`` (has ``apply_proofs``).  The kernel hands it the
section's items, in block order, as raw bytes (the envelope format belongs to
``proofs``, a layer above the kernel); it decodes, attributes and verifies them,
and raises ``InvalidBlock`` for an item no honest proposer would include.  A block
whose proofs section is not empty while no module handles proofs is invalid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from chain.codec import expect_array, expect_str
from chain.errors import ChainError, ErrorCode
from chain.state import StateDB
from chain.tx import SignedTx
from chain.types import Address


@dataclass(frozen=True, slots=True)
class Event:
    """Something a transaction or hook reports; recorded in receipts."""

    module: str
    name: str
    attrs: tuple[tuple[str, Any], ...] = ()

    def encode_value(self) -> list[Any]:
        return [self.module, self.name, [[k, v] for k, v in self.attrs]]

    @classmethod
    def decode_value(cls, value: Any) -> Event:
        """``[module, name, [[key, value], ...]]`` (``encode_value``); ``DecodeError`` otherwise."""
        module, name, attrs = expect_array(value, "event", 3)
        pairs = []
        for pair in expect_array(attrs, "event.attrs"):
            key, v = expect_array(pair, "event.attr", 2)
            pairs.append((expect_str(key, "event.attr.key"), v))
        return cls(expect_str(module, "event.module"), expect_str(name, "event.name"), tuple(pairs))


@dataclass(frozen=True, slots=True)
class BlockEnv:
    """What a block exposes to execution: nothing here comes from a clock."""

    chain_id: str
    height: int
    time_ms: int
    proposer: Address
    beacon: bytes
    evidence: tuple[bytes, ...] = ()
    """The block's evidence section (handled by the staking module)."""
    last_commit_signers: tuple[bytes, ...] = ()
    """Addresses that signed the commit this block carries."""
    beacon_reveal: bytes = b""
    """The proposer's onion layer revealed in this block."""


class OutOfGas(ChainError):
    """Execution ran past the transaction's ``gas_limit``."""


class TxFailed(ChainError):
    """The transaction is valid but its execution failed; becomes a failed receipt."""


@dataclass(slots=True)
class GasMeter:
    """Counts gas for one transaction; ``charge`` raises ``OutOfGas`` past the limit."""

    limit: int
    used: int = 0

    def charge(self, amount: int) -> None:
        if amount < 0:
            raise ValueError("negative gas")
        if self.used + amount > self.limit:
            self.used = self.limit
            raise OutOfGas("out of gas", code=ErrorCode.TX_GAS_LIMIT)
        self.used += amount


@dataclass(slots=True)
class TxContext:
    """Passed to a kind's ``execute``."""

    tx: SignedTx
    env: BlockEnv
    gas: GasMeter
    events: list[Event] = field(default_factory=list)

    @property
    def sender(self) -> Address:
        return self.tx.sender


class TxKind(Protocol):
    """One transaction kind."""

    name: str

    def decode_payload(self, value: Any) -> Any:
        """Check and convert the payload; ``DecodeError`` if malformed."""
        ...

    def execute(self, state: StateDB, ctx: TxContext, payload: Any) -> None:
        """Apply the transaction; raise ``TxFailed`` / ``OutOfGas`` to fail it."""
        ...


@dataclass(slots=True)
class BlockPot:
    """The block's fees and newly minted reward, shared out at end of block."""

    fees: int
    reward: int
    taken: int = 0

    @property
    def total(self) -> int:
        return self.fees + self.reward

    def take(self, amount: int) -> int:
        if amount < 0 or self.taken + amount > self.total:
            raise ValueError("pot overdrawn")
        self.taken += amount
        return amount

    @property
    def remaining(self) -> int:
        return self.total - self.taken


class Module(Protocol):
    """A chain module (``aicf``, ``capabilities``, ...)."""

    name: str

    def tx_kinds(self) -> Mapping[str, TxKind]: ...

    def begin_block(self, state: StateDB, env: BlockEnv) -> list[Event]: ...

    def end_block(self, state: StateDB, env: BlockEnv, pot: BlockPot) -> list[Event]: ...


@runtime_checkable
class ProofModule(Module, Protocol):
    """The module that claims the block's proofs section (see the module docstring)."""

    def apply_proofs(self, state: StateDB, env: BlockEnv, proofs: Sequence[bytes]) -> list[Event]:
        """Apply the section's items in order; ``InvalidBlock`` for one that makes the block invalid."""
        ...
