"""Chain parameters fixed at genesis (the kernel's part; modules have their own).

All amounts are integers in the smallest unit; all ratios are basis points.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from chain.codec import encode


@dataclass(frozen=True, slots=True)
class ChainParams:
    """The kernel's consensus parameters."""

    max_block_bytes: int = 4 * 1024 * 1024
    """Cap on an encoded block."""
    max_block_txs: int = 10_000
    """Cap on the number of transactions in a block."""
    max_tx_bytes: int = 64 * 1024
    """Cap on an encoded transaction."""
    block_gas_limit: int = 200_000_000
    """Cap on the sum of ``gas_limit`` over a block's transactions."""
    min_gas_price: int = 1
    """The lowest ``fee // gas_limit`` a transaction may bid."""
    tx_base_gas: int = 10_000
    """Intrinsic gas of every transaction."""
    tx_byte_gas: int = 10
    """Intrinsic gas per byte of the encoded transaction."""
    transfer_gas: int = 2_000
    """Gas of the ``transfer`` kind on top of the intrinsic gas."""
    block_reward: int = 1_000_000
    """New units minted per block (the "issuance" of ARCHITECTURE §8)."""
    epoch_length: int = 100
    """Blocks per epoch: validator-set changes and AICF settlement happen at its boundaries."""
    address_prefix: str = "cairn"
    """Human-readable prefix of bech32m addresses."""
    max_memory_bytes: int = 512 * 1024 * 1024
    """WASM linear-memory cap (ARCHITECTURE §6)."""
    max_code_bytes: int = 48 * 1024
    """Cap on a contract's code (it travels in a ``deploy`` transaction, under ``max_tx_bytes``)."""
    code_byte_gas: int = 200
    """Gas per byte of deployed code (it is stored by every node for ever)."""
    compile_gas_per_ms: int = 132_000
    """Gas per millisecond of modelled compile work of deployed code: a deploy whose code
    passes the static rules pays ``ceil(work_ns × compile_gas_per_ms / 10⁶)``, where
    ``work_ns`` is ``chain.vm.deploy_rules.CompileModel.work`` of the code's shape (an upper
    bound of wasmtime's compile time, from the code's functions, operators, control points
    and the values live across them; see that module for the formula and its measurements).
    132 000 is twice the transfer path's measured ~66 gas/µs, so a deploy's compile never
    takes longer than its compile gas buys at the transfer rate (``python -m bench compile``
    checks it); charged whether or not the module is in a compile cache."""
    contract_call_gas: int = 20_000
    """Fixed gas of running a transaction's own contract call or ``init`` (instantiating
    and linking a module: ~320 µs measured, at the transfer rate of ~60 gas/µs)."""
    memory_page_gas: int = 6_000
    """Gas per 64 KiB page of linear memory a call ends with, beyond ``free_memory_pages``;
    a call may never grow past what its gas limit could pay for.  Growing and touching a
    page is ~93 µs of page faults (bench/vm.py's memory bomb: 512 MiB in 0.76 s), priced
    at the transfer rate of ~60 gas/µs."""
    free_memory_pages: int = 16
    """Pages (1 MiB) every call may use without the memory charge."""
    max_call_depth: int = 8
    """Nesting limit of contract-to-contract calls (the transaction's own call is depth 0)."""
    max_query_gas: int = 50_000_000
    """Gas cap of a read-only ``contract.call`` query."""
    max_validators: int = 100
    """Size cap of the validator set chosen at each epoch boundary."""
    min_validator_stake: int = 1
    """Least stake that can be chosen into the validator set."""
    unbonding_blocks: int = 1_000
    """Blocks between ``unstake`` and the units returning to the balance."""
    double_sign_slash_bps: int = 500
    """Share of stake a double-signing validator loses (to the fund), besides its tombstone."""
    max_missed_blocks: int = 1_000
    """Consecutive commits a validator may miss before it is jailed (0 = never).

    A commit holds the precommits its proposer had when it decided (at least 2/3 of
    the power), so an honest but slow validator is sometimes left out; the limit is
    set high enough that only a validator that is really gone reaches it."""
    jail_blocks: int = 1_000
    """Length of a liveness jail in blocks."""
    evidence_max_age: int = 10_000
    """How many blocks back double-sign evidence is accepted."""
    staking_gas: int = 5_000
    """Gas of ``stake``, ``unstake``, ``unjail`` and ``evidence`` on top of the intrinsic gas."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def encode(self) -> bytes:
        return encode(self.to_json())
