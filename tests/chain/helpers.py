"""Builders for chain tests: a devnet chain in memory, signed transfers, committed blocks.

These drive the real kernel (no copies of its rules): genesis from ``genesis``,
blocks from ``chain.apply.build_block``, commits signed by the devnet validator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chain.apply import Application, BlockOutput, build_block
from chain.block import Block, Commit, Header, sign_commit_sig
from chain.keys import PrivateKey
from chain.kv import MemoryKV
from chain.store import BlockStore
from chain.tx import SignedTx, TxBody
from genesis.build import build_genesis, make_application
from genesis.devnet import devnet_account_key, devnet_genesis, devnet_onion, devnet_validator_key
from genesis.schema import Genesis


def transfer(key: PrivateKey, to: bytes, amount: int, nonce: int, *, chain_id: str = "cairn-devnet",
             fee: int = 40_000, gas_limit: int = 20_000) -> SignedTx:
    return TxBody(chain_id, nonce, key.public_key, fee, gas_limit, "transfer", [bytes(to), amount]).sign(key)


@dataclass
class MemChain:
    """A one-validator devnet chain on a MemoryKV."""

    genesis: Genesis = field(default_factory=devnet_genesis)
    kv: MemoryKV = field(default_factory=MemoryKV)

    def __post_init__(self) -> None:
        self.app: Application = make_application(self.genesis)
        self.store = BlockStore(self.kv)
        out = build_genesis(self.genesis)
        self.store.save_genesis(out.header, out.state, self.genesis.hash())
        self.validator = devnet_validator_key(0)
        self.onion = devnet_onion(0)

    @property
    def head(self) -> Header:
        return self.store.load_head_header()

    def last_commit(self) -> Commit | None:
        h = self.head.height
        return self.store.load_commit(h) if h > 0 else None

    def build(self, txs: list[SignedTx] | list[bytes], *, time_step: int = 1000,
              evidence: tuple[bytes, ...] = (), proofs: tuple[bytes, ...] = ()) -> tuple[Block, BlockOutput]:
        raws = [t.raw if isinstance(t, SignedTx) else t for t in txs]
        parent = self.head
        return build_block(self.store.head_state(), parent, self.app, txs=raws, now_ms=parent.time_ms + time_step,
                           proposer=self.validator.address, onion=self.onion, last_commit=self.last_commit(),
                           evidence=evidence, proofs=proofs)

    def sign_commit(self, block: Block, time_ms: int | None = None) -> Commit:
        """The validator's commit of ``block``, its precommit stamped ``time_ms`` (default: a
        second after the block), which is the BFT time of the next block."""
        h = block.header
        stamp = h.time_ms + 1000 if time_ms is None else time_ms
        return Commit(h.height, 0, block.hash, (sign_commit_sig(self.validator, h.chain_id, h.height, 0, block.hash,
                                                                stamp),))

    def commit(self, block: Block, out: BlockOutput, *, next_time_ms: int | None = None) -> None:
        self.store.save_block(block, out, self.sign_commit(block, next_time_ms))


def account(i: int) -> PrivateKey:
    return devnet_account_key(i)
