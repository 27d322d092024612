"""A node's home directory: config, genesis, validator key and data.

Layout::

    HOME/config.toml          rpc address, block intervals, logging
    HOME/genesis.json         the chain's genesis document
    HOME/validator_key.json   this node's Ed25519 key (mode 0600, unencrypted)
    HOME/beacon_onion.json    a validator's beacon onion seed and length (mode 0600)
    HOME/data/                LevelDB: blocks, receipts, indexes, state
    HOME/data/wasm-cache/     compiled contract code (node/wasm_cache.py); safe to delete
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chain.errors import ChainError
from chain.keys import PrivateKey
from chain.onion import Onion
from genesis.schema import Genesis, load_genesis
from node.executor import DEFAULT_BUILD_GAS
from node.limits import parse as parse_limits
from proofs.groth16 import resolve_backend

CONFIG_TEMPLATE = """\
# Cairn node configuration
[rpc]
# JSON-RPC listen address (host:port). Keep it on 127.0.0.1 unless a proxy guards it.
laddr = "{rpc}"

[p2p]
# Validator-to-validator transport (used when the chain has more than one validator).
laddr = "{p2p}"
# "ID@host:port" entries; ID is the peer's node address (its validator key's address).
persistent_peers = [{peers}]

[consensus]
# Seconds between blocks while transactions wait, and at most between empty blocks.
min_block_interval = {min_interval}
max_block_interval = {max_interval}
# BFT round timeouts (milliseconds): base + round x delta.
timeout_propose_ms = 3000
timeout_prevote_ms = 1000
timeout_precommit_ms = 1000
timeout_delta_ms = 500
# Most gas a block this node proposes holds (at most the genesis block_gas_limit).
build_gas_limit = {build_gas}

[proofs]
# Groth16 backend (zk_verify and zk envelopes): "py_ecc" (the reference), "native" (the
# optional groth16py extra) or "auto" (native when installed). Both give the same verdicts.
groth16_backend = "auto"

[index]
# Index every committed block's events by attribute, for tx.search and chain.searchBlocks
# (docs/RPC.md). Node storage, rebuilt from the event log when missing; off by default.
events = {index_events}

[log]
format = "console"   # or "json"
level = "info"

# Bounds on what peers and clients can make this node hold (docs/RELIABILITY.md lists every
# setting and its default), for example:
# [mempool]
# max_txs_per_sender = 10000
# [p2p]
# max_inbound = 40
# [rpc]
# max_connections = 512
"""


CONSENSUS_KEYS = frozenset({"min_block_interval", "max_block_interval", "timeout_propose_ms", "timeout_prevote_ms",
                            "timeout_precommit_ms", "timeout_delta_ms", "build_gas_limit"})
"""The ``[consensus]`` settings; any other key there is a configuration error naming it."""


class HomeError(ChainError):
    """A home directory that is missing or malformed."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    rpc_host: str = "127.0.0.1"
    rpc_port: int | None = 26657
    """None: no RPC server (a node run in-process by tests, or a validator with RPC off)."""
    min_block_interval: float = 0.2
    max_block_interval: float = 1.0
    log_format: str = "console"
    log_level: str = "info"
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 26656
    persistent_peers: tuple[str, ...] = ()
    timeout_propose_ms: int = 3000
    timeout_prevote_ms: int = 1000
    timeout_precommit_ms: int = 1000
    timeout_delta_ms: int = 500
    build_gas_limit: int = DEFAULT_BUILD_GAS
    """Most gas a block this node proposes holds (``node.executor``; capped by the genesis limit)."""
    groth16_backend: str = "auto"
    """``proofs.groth16`` backend: ``py_ecc``, ``native`` or ``auto`` (native when installed)."""
    index_events: bool = False
    """``[index] events``: keep the event index of ``node.event_index`` (``tx.search``, ``chain.searchBlocks``)."""
    limits: Mapping[str, Mapping[str, int | float]] = field(default_factory=dict)
    """Settings of ``node.limits`` given in ``config.toml``, by section (the rest keep their defaults)."""


def write_key(path: Path, key: PrivateKey) -> None:
    doc = {"type": "ed25519", "pubkey": bytes(key.public_key).hex(), "seed": key.seed.hex()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def read_key(path: Path) -> PrivateKey:
    try:
        doc = json.loads(path.read_text())
        key = PrivateKey.from_seed(bytes.fromhex(doc["seed"]))
    except (OSError, ValueError, KeyError, TypeError, ChainError) as exc:
        raise HomeError(f"cannot read key file {path}: {exc}") from None
    if doc.get("pubkey") not in (None, bytes(key.public_key).hex()):
        raise HomeError(f"key file {path}: pubkey does not match seed")
    return key


@dataclass(frozen=True, slots=True)
class Home:
    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "config.toml"

    @property
    def genesis_file(self) -> Path:
        return self.path / "genesis.json"

    @property
    def key_file(self) -> Path:
        return self.path / "validator_key.json"

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def onion_file(self) -> Path:
        return self.path / "beacon_onion.json"

    def load_onion(self) -> Onion | None:
        """The validator's beacon onion (``None`` for a full node that never proposes)."""
        if not self.onion_file.exists():
            return None
        try:
            doc = json.loads(self.onion_file.read_text())
            return Onion(bytes.fromhex(doc["seed"]), int(doc["length"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HomeError(f"cannot read {self.onion_file}: {exc}") from None

    def exists(self) -> bool:
        return self.genesis_file.exists()

    def init(self, genesis: Genesis, key: PrivateKey, *, rpc: str = "127.0.0.1:26657",
             min_interval: float = 0.2, max_interval: float = 1.0, p2p: str = "127.0.0.1:26656",
             peers: tuple[str, ...] = (), onion: tuple[bytes, int] | None = None,
             index_events: bool = False) -> None:
        """Write genesis, key, config and (for a validator) the onion seed and length."""
        if self.exists():
            raise HomeError(f"{self.path} already holds a node (genesis.json exists)")
        self.path.mkdir(parents=True, exist_ok=True)
        self.genesis_file.write_text(genesis.dumps())
        write_key(self.key_file, key)
        if onion is not None:
            fd = os.open(self.onion_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"seed": onion[0].hex(), "length": onion[1]}, f)
        self.config_file.write_text(CONFIG_TEMPLATE.format(
            rpc=rpc, min_interval=min_interval, max_interval=max_interval, p2p=p2p, build_gas=DEFAULT_BUILD_GAS,
            peers=", ".join(f'"{p}"' for p in peers), index_events="true" if index_events else "false"))

    def load_genesis(self) -> Genesis:
        try:
            text = self.genesis_file.read_text()
        except OSError as exc:
            raise HomeError(f"cannot read {self.genesis_file}: {exc.strerror}") from None
        return load_genesis(text)

    def load_key(self) -> PrivateKey:
        return read_key(self.key_file)

    def load_config(self) -> NodeConfig:
        if not self.config_file.exists():
            return NodeConfig()
        try:
            doc = tomllib.loads(self.config_file.read_text())
            host, _, port = str(doc.get("rpc", {}).get("laddr", "127.0.0.1:26657")).rpartition(":")
            cons = doc.get("consensus", {})
            unknown = sorted(set(cons) - CONSENSUS_KEYS) if isinstance(cons, dict) else ["(not a table)"]
            if unknown:
                raise ValueError(f"consensus.{unknown[0]} is not a setting (known: {', '.join(sorted(CONSENSUS_KEYS))})")
            proofs = doc.get("proofs", {})
            if not isinstance(proofs, dict) or sorted(set(proofs) - {"groth16_backend"}):
                raise ValueError("[proofs] takes only groth16_backend")
            backend = str(proofs.get("groth16_backend", "auto"))
            resolve_backend(backend)  # ValueError naming the choices, or a missing native package
            index = doc.get("index", {})
            if not isinstance(index, dict) or sorted(set(index) - {"events"}):
                raise ValueError("[index] takes only events")
            index_events = index.get("events", False)
            if not isinstance(index_events, bool):
                raise ValueError("index.events must be true or false")
            log = doc.get("log", {})
            p2p = doc.get("p2p", {})
            p2p_host, _, p2p_port = str(p2p.get("laddr", "127.0.0.1:26656")).rpartition(":")
            peers = p2p.get("persistent_peers", [])
            if not isinstance(peers, list) or not all(isinstance(x, str) for x in peers):
                raise ValueError("p2p.persistent_peers must be a list of strings")
            limits = parse_limits(doc, ignore={"rpc": {"laddr"}, "p2p": {"laddr", "persistent_peers"}})
            return NodeConfig(
                limits=limits,
                p2p_host=p2p_host or "127.0.0.1",
                p2p_port=int(p2p_port),
                persistent_peers=tuple(peers),
                timeout_propose_ms=int(cons.get("timeout_propose_ms", 3000)),
                timeout_prevote_ms=int(cons.get("timeout_prevote_ms", 1000)),
                timeout_precommit_ms=int(cons.get("timeout_precommit_ms", 1000)),
                timeout_delta_ms=int(cons.get("timeout_delta_ms", 500)),
                build_gas_limit=int(cons.get("build_gas_limit", DEFAULT_BUILD_GAS)),
                groth16_backend=backend,
                index_events=index_events,
                rpc_host=host or "127.0.0.1",
                rpc_port=int(port),
                min_block_interval=float(cons.get("min_block_interval", 0.2)),
                max_block_interval=float(cons.get("max_block_interval", 1.0)),
                log_format=str(log.get("format", "console")),
                log_level=str(log.get("level", "info")),
            )
        except (tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
            raise HomeError(f"{self.config_file}: {exc}") from None
