"""The one error tree of Cairn.

Every error that can happen in normal operation (bad bytes from a peer, a
transaction that does not pay its fee, a block whose root is wrong) is a
``ChainError``.  Each carries an ``ErrorCode`` and the values involved, and each
code is either *temporary* (the same input may be fine later: a nonce gap, a
full mempool) or *permanent* (the input is wrong forever: a bad signature, a
non-canonical encoding).  ``node/`` uses that split to decide whether to ban a
peer and which JSON-RPC error code to answer with.

Anything that is not a ``ChainError`` is a bug and is allowed to crash the
service that raised it.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.IntEnum):
    """Stable numeric codes.  Never renumber; append only.

    The JSON-RPC layer answers with these numbers as error codes (docs/RPC.md),
    so they are part of the public interface.
    """

    # decoding (permanent)
    DECODE = 100
    DECODE_NON_CANONICAL = 101
    DECODE_TRAILING = 102
    DECODE_OVERSIZE = 103
    DECODE_VERSION = 104
    DECODE_SHAPE = 105
    BAD_LENGTH = 106
    BAD_ADDRESS = 107
    # transactions
    TX_BAD_SIGNATURE = 200
    TX_WRONG_CHAIN = 201
    TX_NONCE_TOO_LOW = 202
    TX_NONCE_GAP = 203  # temporary: an earlier nonce may still arrive
    TX_INSUFFICIENT_BALANCE = 204
    TX_FEE_TOO_LOW = 205
    TX_GAS_LIMIT = 206
    TX_UNKNOWN_KIND = 207
    TX_BAD_PAYLOAD = 208
    TX_TOO_LARGE = 209
    TX_DUPLICATE = 210  # temporary: already known
    MEMPOOL_FULL = 211  # temporary
    TX_REPLACEMENT_UNDERPRICED = 212  # temporary
    # blocks
    BLOCK_INVALID = 300
    BLOCK_BAD_PARENT = 301
    BLOCK_BAD_HEIGHT = 302
    BLOCK_BAD_TIME = 303
    BLOCK_BAD_ROOT = 304
    BLOCK_BAD_COMMIT = 305
    BLOCK_BAD_PROPOSER = 306
    BLOCK_TOO_LARGE = 307
    BLOCK_BAD_CHAIN = 308
    BLOCK_BAD_VALIDATORS = 309
    BLOCK_BAD_BEACON = 310
    # proofs
    PROOF_INVALID = 400
    # genesis / configuration
    GENESIS_INVALID = 500
    # store
    NOT_FOUND = 600
    STORE_CORRUPT = 601
    # contracts / VM
    VM_INVALID_MODULE = 700
    VM_CALL_FAILED = 701
    VM_NO_CONTRACT = 702
    # consensus messages from peers (permanent: no honest node sends them)
    CONSENSUS_MESSAGE_INVALID = 800


TEMPORARY_CODES = frozenset(
    {
        ErrorCode.TX_NONCE_GAP,
        ErrorCode.TX_DUPLICATE,
        ErrorCode.MEMPOOL_FULL,
        ErrorCode.TX_REPLACEMENT_UNDERPRICED,
        ErrorCode.TX_INSUFFICIENT_BALANCE,
    }
)


class ChainError(Exception):
    """Base of every expected error.  ``details`` holds the values that differed."""

    default_code: ErrorCode = ErrorCode.DECODE

    def __init__(self, message: str, *, code: ErrorCode | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.details = details

    @property
    def temporary(self) -> bool:
        """True when the same input may succeed later (do not ban the sender)."""
        return self.code in TEMPORARY_CODES

    def __str__(self) -> str:
        return self.message


class DecodeError(ChainError):
    """Bytes that are not the canonical encoding of the expected object."""

    default_code = ErrorCode.DECODE


class InvalidTransaction(ChainError):
    """A transaction that may not enter the mempool or a block."""

    default_code = ErrorCode.TX_BAD_PAYLOAD


class InvalidBlock(ChainError):
    """A block (or header) that breaks a validity rule."""

    default_code = ErrorCode.BLOCK_INVALID


class InvalidProof(ChainError):
    """Evidence (attestation, zk proof, trap results, Merkle proof) that does not verify.

    ``reason`` is a short stable string naming the check that failed.
    """

    default_code = ErrorCode.PROOF_INVALID

    def __init__(self, reason: str, message: str | None = None, **details: Any) -> None:
        super().__init__(message or reason, code=ErrorCode.PROOF_INVALID, reason=reason, **details)
        self.reason = reason


class InvalidConsensusMessage(ChainError):
    """A vote, proposal, commit or piece of evidence that no honest node would send.

    ``reason`` is a short stable string (``bad-signature``, ``wrong-proposer``,
    ``commit-of-another-block``, ...).  Permanent: the peer that sent it is banned.
    """

    default_code = ErrorCode.CONSENSUS_MESSAGE_INVALID

    def __init__(self, reason: str, message: str | None = None, **details: Any) -> None:
        super().__init__(message or reason, reason=reason, **details)
        self.reason = reason


class InvalidGenesis(ChainError):
    """A genesis document that fails validation; ``field`` names the bad field."""

    default_code = ErrorCode.GENESIS_INVALID


class NotFound(ChainError):
    """A lookup for something the store does not hold."""

    default_code = ErrorCode.NOT_FOUND


class StoreCorrupt(ChainError):
    """The store's contents contradict themselves (should never happen)."""

    default_code = ErrorCode.STORE_CORRUPT
