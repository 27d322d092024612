"""The node: one trio nursery running the consensus driver and the RPC server.

Start order matters and is enforced with ``nursery.start``: the store is open
and the head checked before anything runs, the RPC server is bound before the
node reports itself ready, and the driver starts last.  On shutdown the nursery
is cancelled; LevelDB is closed in ``finally`` after every task has stopped, and
since each commit is one synchronous write batch there is no half-written block
to flush.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

import structlog
import trio

from chain.keys import PrivateKey
from chain.store import BlockStore
from genesis.schema import Genesis
from node.chain_service import ChainService
from node.consensus import SoloDriver
from node.db import LevelDBKV
from node.home import Home, NodeConfig
from node.mempool import Mempool
from node.rpc.methods import RpcApi
from node.rpc.server import make_app, serve_rpc

log = structlog.get_logger("cairn.node")


@dataclass
class Node:
    """A running node's parts (for tests and the CLI)."""

    chain: ChainService
    mempool: Mempool
    driver: SoloDriver
    rpc_addresses: list[str]


async def run_node(genesis: Genesis, key: PrivateKey, data_dir: str, config: NodeConfig, *,
                   task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
    kv = LevelDBKV(data_dir)
    try:
        chain = ChainService(BlockStore(kv), genesis)
        mempool = Mempool(chain.app, chain.account)
        driver = SoloDriver(chain, mempool, key, min_block_interval=config.min_block_interval,
                            max_block_interval=config.max_block_interval)
        api = RpcApi(chain, mempool, on_tx=driver.notify_tx, validator=key.address)
        log.info("node starting", chain_id=genesis.chain_id, height=chain.head.height,
                 validator=bytes(key.address).hex())
        async with trio.open_nursery() as nursery:
            addrs = await nursery.start(serve_rpc, make_app(api.dispatcher()), config.rpc_host, config.rpc_port)
            log.info("rpc listening", addresses=addrs)
            await nursery.start(driver.run)
            task_status.started(Node(chain, mempool, driver, addrs))
    finally:
        kv.close()


async def run_home(home: Home, *, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the node in ``home`` until SIGINT or SIGTERM, then stop cleanly (LevelDB closed)."""
    genesis, key, config = home.load_genesis(), home.load_key(), home.load_config()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            node = await nursery.start(run_node, genesis, key, str(home.data_dir), config)
            task_status.started(node)
            async for signum in signals:
                log.info("stopping", signal=signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
