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
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import structlog
import trio

from chain.consensus import Timeouts
from chain.keys import PrivateKey, encode_address
from chain.onion import Onion
from chain.store import BlockStore
from genesis.schema import Genesis
from node.bft import BftDriver
from node.blocksync import frame_size
from node.chain_service import ChainService
from node.consensus import ConsensusDriver, SoloDriver, wall_clock_ms
from node.dashboard import dashboard_routes
from node.db import LevelDBKV
from node.event_index import EventIndex
from node.evidence import EvidencePool
from node.home import Home, HomeError, NodeConfig
from node.limits import kwargs_for
from node.mempool import Mempool
from node.metrics import NodeMetrics
from node.p2p import DEFAULT_MAX_FRAME_SIZE, Gossip, PeerConfig, PeerManager
from node.privval import PrivValidator
from node.proofpool import ProofPool
from node.rpc.methods import RpcApi
from node.rpc.server import make_app, serve_rpc
from node.rpc.ws import WsHub
from node.wasm_cache import DIR_NAME as WASM_CACHE_DIR
from node.wasm_cache import WasmCache

log = structlog.get_logger("cairn.node")
PRIVVAL_FILE = "priv_validator_state.cbor"
WAL_FILE = "consensus.wal"


@dataclass
class Node:
    """A running node's parts (for tests and the CLI)."""

    chain: ChainService
    mempool: Mempool
    driver: ConsensusDriver
    rpc_addresses: list[str]
    peers: PeerManager | None = None
    p2p_addresses: list[Any] = field(default_factory=list)
    ws: WsHub | None = None
    """The WebSocket hub of the RPC server (``None`` without RPC)."""


def runs_solo(genesis: Genesis, key: PrivateKey, config: NodeConfig) -> bool:
    """The one-validator case: this node's key is the only genesis validator and no peers are configured."""
    return (len(genesis.validators) == 1 and genesis.validators[0].pubkey == key.public_key
            and not config.persistent_peers)


async def run_node(genesis: Genesis, key: PrivateKey, data_dir: str, config: NodeConfig, *,
                   onion: Onion | None = None, clock_ms: Callable[[], int] = wall_clock_ms,
                   task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
    """One node: the store, the mempool, a consensus driver (solo or BFT with p2p) and the RPC server.

    ``clock_ms`` is the clock block and vote times come from (tests pass a virtual one).
    """
    kv = LevelDBKV(data_dir)
    try:
        # Compiled contracts survive restarts; LevelDB's lock makes this node the cache's only writer.
        wasm_cache = WasmCache(Path(data_dir) / WASM_CACHE_DIR)
        chain = ChainService(BlockStore(kv), genesis, compiled_store=wasm_cache,
                             groth16_backend=config.groth16_backend)
        index: EventIndex | None = None
        if config.index_events:  # node storage: caught up from the event log before anything reads it
            index = EventIndex(kv)
            index.catch_up(chain.store)
            chain.on_commit(index.on_commit)
        limits = config.limits
        mempool = Mempool(chain.app, chain.account, **limits.get("mempool", {}))  # type: ignore[arg-type]
        proofs = ProofPool(chain.chain_id, chain.head_state, **limits.get("proofpool", {}))  # type: ignore[arg-type]
        peers: PeerManager | None = None
        driver: SoloDriver | BftDriver
        if runs_solo(genesis, key, config):
            if onion is None:
                raise HomeError("a validator needs its beacon onion (beacon_onion.json) to propose")
            driver = SoloDriver(chain, mempool, key, onion, min_block_interval=config.min_block_interval,
                                max_block_interval=config.max_block_interval, clock_ms=clock_ms,
                                build_gas_limit=config.build_gas_limit, proofs=proofs)
        else:
            peers = PeerManager(key, genesis.chain_id, PeerConfig(
                listen_host=config.p2p_host, listen_port=config.p2p_port, persistent_peers=config.persistent_peers,
                max_frame_size=max(DEFAULT_MAX_FRAME_SIZE, frame_size(chain.app.params.max_block_bytes)),
                **limits.get("p2p", {})))  # type: ignore[arg-type]
            gossip = Gossip(peers)
            timeouts = Timeouts(config.timeout_propose_ms, config.timeout_delta_ms, config.timeout_prevote_ms,
                                config.timeout_delta_ms, config.timeout_precommit_ms, config.timeout_delta_ms)
            driver = BftDriver(chain, mempool, gossip, key=key, privval=PrivValidator(key, Path(data_dir) / PRIVVAL_FILE),
                               wal_path=Path(data_dir) / WAL_FILE, timeouts=timeouts, onion=onion,
                               max_block_interval=config.max_block_interval, clock_ms=clock_ms,
                               evidence=EvidencePool(chain.app.params, **limits.get("evidence", {})),  # type: ignore[arg-type]
                               build_gas_limit=config.build_gas_limit, proofs=proofs)
        api = RpcApi(chain, mempool, on_tx=driver.notify_tx, validator=key.address, peers=peers, driver=driver,
                     proofs=proofs, index=index)
        log.info("node starting", chain_id=genesis.chain_id, height=chain.head.height,
                 validator=encode_address(key.address, chain.app.params.address_prefix), node_id=bytes(key.address).hex(),
                 mode="solo" if peers is None else "bft")
        async with trio.open_nursery() as nursery:
            addrs: list[str] = []
            hub: WsHub | None = None
            if config.rpc_port is not None:
                rpc = limits.get("rpc", {})
                routes: list[Any] = []  # the node's other HTTP endpoints: metrics, the dashboard
                routes.append(NodeMetrics(chain, mempool, peers).route())  # GET /metrics (node.metrics)
                routes.extend(dashboard_routes())  # GET / and /dashboard/* (node.dashboard)
                app = make_app(api.dispatcher(), extra_routes=routes, **kwargs_for(make_app, rpc))  # type: ignore[arg-type]
                hub = WsHub(chain, **kwargs_for(WsHub, rpc))  # type: ignore[arg-type]
                addrs = await nursery.start(partial(serve_rpc, ws=hub, **kwargs_for(serve_rpc, rpc)),  # type: ignore[arg-type]
                                            app, config.rpc_host, config.rpc_port)
                log.info("rpc listening", addresses=addrs)
            p2p_addrs: list[Any] = []
            if peers is not None:
                p2p_addrs = await nursery.start(peers.run)
                log.info("p2p listening", addresses=p2p_addrs, peers=list(config.persistent_peers))
            await nursery.start(driver.run)
            task_status.started(Node(chain, mempool, driver, addrs, peers, p2p_addrs, hub))
    finally:
        kv.close()


async def run_home(home: Home, *, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the node in ``home`` until SIGINT or SIGTERM, then stop cleanly (LevelDB closed)."""
    genesis, key, config, onion = home.load_genesis(), home.load_key(), home.load_config(), home.load_onion()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            node = await nursery.start(partial(run_node, onion=onion), genesis, key, str(home.data_dir), config)
            task_status.started(node)
            async for signum in signals:
                log.info("stopping", signal=signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
