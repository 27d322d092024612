"""The built-in devnet genesis.

Its keys are derived from public labels (``PrivateKey.derive``), so anyone can
sign for them: the devnet is for laptops and tests, never for value.  The chain
id ends in ``-devnet`` so that nothing else can mistake it for a real chain.

* validators: ``devnet/validator/<i>``, power 100 each, with beacon onions seeded
  from the same labels (``devnet_onion``);
* funded accounts: ``devnet/account/<i>`` for i in 0..9, 10^15 units each;
* reference providers: ``devnet/provider/<i>`` for i in 0..3, funded like the accounts, so
  ``cairn provider run`` can register and stake with no set-up;
* devnet attestation (``proofs.devnet``) enabled, with the one software signer
  ``devnet/attestation-signer`` and the one measurement ``DEVNET_MEASUREMENT`` (the reference
  provider's): a genesis that is not a devnet's refuses the class.
"""

from __future__ import annotations

from aicf.params import AicfParams, AttestationParams
from chain.hashing import H
from chain.keys import PrivateKey
from chain.onion import Onion
from chain.params import ChainParams
from genesis.schema import Genesis, GenesisValidator
from proofs.devnet import is_devnet_chain_id

DEVNET_CHAIN_ID = "cairn-devnet"
DEVNET_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEVNET_ACCOUNTS = 10
DEVNET_BALANCE = 10**15
DEVNET_PROVIDERS = 4
DEVNET_MEASUREMENT = H(b"cairn/devnet-measurement/v1", b"cairn reference provider")
"""The launch measurement the devnet allowlists: the reference provider's software."""
DEVNET_ONION_LENGTH = 200_000
DEVNET_EPOCH_LENGTH = 20
"""Blocks per epoch on the devnet (the chain default is 100): the fund settles, and validator
sets change, every 20 blocks, so a new user sees a payout within a minute."""
"""Proposals each devnet validator can make (about two days of blocks at one a second)."""


def devnet_validator_key(index: int) -> PrivateKey:
    return PrivateKey.derive(f"devnet/validator/{index}")


def devnet_account_key(index: int) -> PrivateKey:
    return PrivateKey.derive(f"devnet/account/{index}")


def devnet_provider_key(index: int) -> PrivateKey:
    return PrivateKey.derive(f"devnet/provider/{index}")


def devnet_attestation_seed() -> bytes:
    """The devnet software signer's Ed25519 seed (public, like every devnet key)."""
    return PrivateKey.derive("devnet/attestation-signer").seed


def devnet_onion_seed(index: int) -> bytes:
    """The devnet validator's onion seed (public, like its key)."""
    return H(b"cairn/devnet-onion/v1", f"devnet/validator/{index}".encode())


def devnet_onion(index: int) -> Onion:
    """The devnet validator's beacon onion (``DEVNET_ONION_LENGTH`` layers)."""
    return Onion(devnet_onion_seed(index), DEVNET_ONION_LENGTH)


def devnet_genesis(validators: int = 1, chain_id: str = DEVNET_CHAIN_ID) -> Genesis:
    """The devnet genesis with ``validators`` validators."""
    funded = [devnet_account_key(i).address for i in range(DEVNET_ACCOUNTS)]
    funded += [devnet_provider_key(i).address for i in range(DEVNET_PROVIDERS)]
    signer = PrivateKey.derive("devnet/attestation-signer").public_key
    attestation = AttestationParams(devnet_enabled=is_devnet_chain_id(chain_id), devnet_signers=(bytes(signer).hex(),),
                                    devnet_measurements=(DEVNET_MEASUREMENT.hex(),))
    return Genesis(
        chain_id=chain_id,
        genesis_time_ms=DEVNET_TIME_MS,
        initial_balances=tuple(sorted((a, DEVNET_BALANCE) for a in funded)),
        aicf=AicfParams(attestation=attestation),
        params=ChainParams(epoch_length=DEVNET_EPOCH_LENGTH),
        validators=tuple(
            GenesisValidator(f"validator-{i}", devnet_validator_key(i).public_key, 100, devnet_onion(i).tip)
            for i in range(validators)
        ),
    )
