"""The AICF chain module.

This stage carries the per-block treasury inflow (ARCHITECTURE §8); providers, the job
queue, the matcher, leases and settlement plug in through the same hooks.

Rule, at the end of every block, with ``pot`` the block's fees and reward:

    to_fund = fees × fee_share_bps // 10000 + reward × block_mint_bps // 10000

is credited to the fund's module account ``module_address("aicf/fund")``; the
kernel pays the rest of the pot to the proposer.  Rounding is down, so the
proposer receives the remainders and no unit is created or lost.
"""

from __future__ import annotations

from collections.abc import Mapping

from aicf.params import AicfParams
from chain.keys import module_address
from chain.module import BlockEnv, BlockPot, Event, TxKind
from chain.state import StateDB

FUND_ADDRESS = module_address("aicf/fund")
BPS = 10_000


def treasury_share(fees: int, reward: int, params: AicfParams) -> int:
    """The fund's part of a block's pot (see the module docstring)."""
    t = params.treasury
    return fees * t.fee_share_bps // BPS + reward * t.block_mint_bps // BPS


class AicfModule:
    """The AI Compute Fund as a kernel module."""

    name = "aicf"

    def __init__(self, params: AicfParams) -> None:
        self.params = params

    def tx_kinds(self) -> Mapping[str, TxKind]:
        return {}

    def begin_block(self, state: StateDB, env: BlockEnv) -> list[Event]:
        return []

    def end_block(self, state: StateDB, env: BlockEnv, pot: BlockPot) -> list[Event]:
        amount = pot.take(treasury_share(pot.fees, pot.reward, self.params))
        state.credit(FUND_ADDRESS, amount)
        return [Event("aicf", "treasury", (("amount", amount),))] if amount else []
