"""``node.executor.BlockExecutor.build``: a proposer's own gas budget, and the one transaction that may exceed it."""

from __future__ import annotations

from chain.kv import MemoryKV
from chain.store import BlockStore
from genesis.devnet import devnet_account_key, devnet_genesis, devnet_onion, devnet_validator_key
from node.chain_service import ChainService
from node.executor import DEFAULT_BUILD_GAS, BlockExecutor
from node.mempool import Mempool
from tests.node.helpers import GAS_LIMIT, sign_tx


def _executor(build_gas_limit: int) -> tuple[BlockExecutor, Mempool]:
    chain = ChainService(BlockStore(MemoryKV()), devnet_genesis(1))
    mempool = Mempool(chain.app, chain.account)
    return BlockExecutor(chain, mempool, build_gas_limit=build_gas_limit), mempool


def _build(ex: BlockExecutor) -> int:
    block = ex.build(proposer=devnet_validator_key(0), onion=devnet_onion(0), now_ms=ex.chain.head.time_ms + 1000)
    return len(block.txs)


def test_a_built_block_holds_at_most_the_build_gas_limit() -> None:
    ex, pool = _executor(5 * GAS_LIMIT)
    for n in range(12):
        pool.add(sign_tx(devnet_account_key(1), n))
    assert _build(ex) == 5


def test_a_transaction_over_the_budget_gets_a_block_of_its_own() -> None:
    ex, pool = _executor(GAS_LIMIT)
    big = sign_tx(devnet_account_key(1), 0, gas_limit=3 * GAS_LIMIT)
    pool.add(big)
    pool.add(sign_tx(devnet_account_key(1), 1))
    assert _build(ex) == 1


def test_the_default_budget_is_below_the_devnet_block_gas_limit() -> None:
    params = devnet_genesis(1).params
    assert DEFAULT_BUILD_GAS < params.block_gas_limit
    assert DEFAULT_BUILD_GAS // GAS_LIMIT == 2_000
