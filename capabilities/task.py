"""Task ids: the one name of an AI or quantum job, derived identically on every node.

Rule (ARCHITECTURE §6)::

    task_id = H(b"cairn/task/v1", encode([chain_id, height, tx_hash, caller, payload, seq]))

where ``H`` is ``chain.hashing.H`` (SHA3-256 of ``len(tag) ‖ tag ‖ data``), ``encode``
is canonical CBOR (``chain.codec.encode``) and the six items are

=============  ======================  ==============================================
item           CBOR type               meaning
=============  ======================  ==============================================
``chain_id``   text                    the chain the transaction was signed for
``height``     uint                    height of the block that executes the enqueue
``tx_hash``    bstr (32)               hash of the transaction doing the enqueue
``caller``     bstr (20)               the contract that called ``*_enqueue``
``payload``    bstr                    the canonical CBOR of the enqueue request
                                       (``AiRequest.encode()`` / ``QuantumRequest.encode()``)
``seq``        uint                    index of this enqueue within the transaction
                                       (0, 1, 2, ... across every contract it calls)
=============  ======================  ==============================================

This is the seed's ``H(chainId|height|txHash|caller|payload)`` made unambiguous (CBOR
framing instead of ``|`` concatenation, so no two input tuples share their bytes) and
unique (``seq`` separates two identical enqueues in one transaction).  Replaying the
same transaction at the same height on another node gives the same ids.

The request digest stored in a ``JobReceipt`` is
``request_digest(payload) = H(b"cairn/task-request/v1", payload)``.
"""

from __future__ import annotations

from chain.codec import encode
from chain.hashing import H
from chain.types import Address, Hash32

TASK_TAG = b"cairn/task/v1"
REQUEST_TAG = b"cairn/task-request/v1"
MAX_CHAIN_ID_LEN = 64
MAX_U64 = 2**64 - 1


def task_id(chain_id: str, height: int, tx_hash: bytes, caller: bytes, payload: bytes, seq: int) -> Hash32:
    """The task id of one enqueue (module docstring).

    ``tx_hash`` must be 32 bytes and ``caller`` 20 bytes (else ``DecodeError`` from
    ``Hash32``/``Address``); ``height`` and ``seq`` must be integers in ``[0, 2**64)``
    (else ``ValueError``: a programming error, the VM supplies them).
    """
    if not isinstance(chain_id, str) or not 0 < len(chain_id.encode()) <= MAX_CHAIN_ID_LEN:
        raise ValueError("task_id: chain_id must be 1..64 bytes of text")
    for name, n in (("height", height), ("seq", seq)):
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_U64:
            raise ValueError(f"task_id: {name} must be an integer in [0, 2**64)")
    if not isinstance(payload, bytes):
        raise TypeError("task_id: payload must be bytes")
    items = [chain_id, height, bytes(Hash32(tx_hash)), bytes(Address(caller)), bytes(payload), seq]
    return Hash32(H(TASK_TAG, encode(items)))


def request_digest(payload: bytes) -> Hash32:
    """``H(b"cairn/task-request/v1", payload)``: the digest of a request kept in its receipt."""
    if not isinstance(payload, bytes):
        raise TypeError("request_digest: payload must be bytes")
    return Hash32(H(REQUEST_TAG, payload))
