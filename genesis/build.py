"""From a genesis document to the application, the genesis state and block 0.

* ``make_application(genesis)`` composes the kernel with the modules (in this
  fixed order: ``aicf``) and the chain parameters — what ``node`` runs and what
  tests build without I/O.
* ``build_genesis_state(genesis)`` credits the initial balances, writes the
  validator set (current and next) and the parameters into state, and folds it
  into the tree.
* ``genesis_header`` is block 0: height 0, the genesis time, empty body roots,
  zero ``prev_hash``, the genesis state root, and
  ``beacon_0 = H(b"cairn/beacon-genesis/v1", genesis.hash())``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aicf.attestation import AttestationPolicy, save_policy
from aicf.module import FUND_ADDRESS, AicfModule
from capabilities.module import contracts_module
from chain.apply import Application
from chain.block import Header, Validator, ValidatorSet
from chain.codec import encode
from chain.hashing import H
from chain.kv import MemoryKV
from chain.merkle import merkle_root
from chain.smt import EMPTY_ROOT, state_key
from chain.staking import write_genesis_validators
from chain.state import StateCommit, StateDB
from chain.types import ZERO_HASH, Address, Hash32
from chain.vm.engine import CompiledStore
from chain.vm.runtime import store_beacon
from genesis.fields import dump_dataclass
from genesis.schema import Genesis
from genesis.trust import ai_verify_config, amd_arks, intel_sgx_root
from proofs.groth16 import Groth16Cache
from proofs.tee.verdicts import TeeVerdictCache


def make_application(genesis: Genesis, *, compiled_store: CompiledStore | None = None,
                     groth16_cache: Groth16Cache | None = None,
                     tee_cache: TeeVerdictCache | None = None) -> Application:
    """The kernel and modules composed with this chain's parameters.

    Module order (it fixes the order of the begin/end-block hooks): staking (the
    kernel's), contracts (``capabilities``), AICF.  ``compiled_store`` is where the node
    keeps compiled contract code between restarts (none: compile in memory only);
    ``groth16_cache`` memoizes Groth16 verdicts and names the backend (``proofs.groth16``),
    ``tee_cache`` TEE attestation verdicts (``proofs.tee.verdicts``).
    The one price schedule, ``genesis.aicf.pricing``, reaches both the enqueue ceiling (the
    contracts module's host functions) and the policy adapter (the AICF module).
    """
    contracts = contracts_module(genesis.params, genesis.capabilities, genesis.aicf.pricing,
                                 compiled_store=compiled_store, groth16_cache=groth16_cache)
    aicf = AicfModule(genesis.chain_id, genesis.aicf, genesis.capabilities,
                      ai_verify_config(verdict_cache=tee_cache), genesis.params.epoch_length)
    return Application.compose(genesis.chain_id, genesis.params, [contracts, aicf], slash_to=FUND_ADDRESS)


def genesis_policy(genesis: Genesis) -> AttestationPolicy:
    """Version 0 of the attestation policy: the shipped vendor roots and genesis's allowlists."""
    a = genesis.aicf.attestation
    hexes = lambda values: tuple(bytes.fromhex(v) for v in values)  # noqa: E731 - validated by the schema
    return AttestationPolicy(0, tuple(amd_arks().values()), intel_sgx_root(), hexes(a.sevsnp_measurements),
                             hexes(a.sgx_mrenclaves), hexes(a.tdx_mrtds), hexes(a.devnet_measurements))


def validator_set(genesis: Genesis) -> ValidatorSet:
    return ValidatorSet.of(Validator(v.address, v.pubkey, v.power) for v in genesis.validators)


@dataclass(frozen=True, slots=True)
class GenesisOutput:
    header: Header
    state: StateCommit


def genesis_beacon(genesis: Genesis) -> Hash32:
    """``beacon_0 = H(b"cairn/beacon-genesis/v1", genesis.hash())``."""
    return Hash32(H(b"cairn/beacon-genesis/v1", genesis.hash()))


def build_genesis(genesis: Genesis) -> GenesisOutput:
    """The genesis state (as tree writes) and block 0's header."""
    state = StateDB(MemoryKV(), EMPTY_ROOT)
    for address, amount in genesis.initial_balances:
        state.credit(address, amount)
    vals = validator_set(genesis)
    write_genesis_validators(state, vals, {bytes(v.address): v.onion_tip for v in genesis.validators})
    state.set(state_key("param", b"chain"), genesis.params.encode())
    state.set(state_key("param", b"aicf"), encode(dump_dataclass(genesis.aicf)))
    state.set(state_key("param", b"capabilities"), encode(dump_dataclass(genesis.capabilities)))
    save_policy(state, genesis_policy(genesis))
    store_beacon(state, genesis_beacon(genesis))
    commit = state.commit()
    empty = Hash32(merkle_root(()))
    header = Header(
        chain_id=genesis.chain_id,
        height=0,
        time_ms=genesis.genesis_time_ms,
        prev_hash=ZERO_HASH,
        last_commit_hash=ZERO_HASH,
        txs_root=empty,
        proofs_root=empty,
        evidence_root=empty,
        receipts_root=empty,
        state_root=Hash32(commit.root),
        validators_hash=vals.hash(),
        next_validators_hash=vals.hash(),
        proposer=Address(bytes(20)),
        beacon_reveal=b"",
        beacon=genesis_beacon(genesis),
    )
    return GenesisOutput(header, commit)
