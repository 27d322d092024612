"""Replay blocks on fresh in-memory chains and print the roots: the other process of
``test_determinism``.

Usage: ``python -m tests.chain.vm.replay FILE``.  ``FILE`` is canonical CBOR
``[prefix, runs]``: ``prefix`` a list of encoded blocks applied first on every chain,
``runs`` a list of lists of encoded blocks, each list applied (``apply_block``, every
root recomputed and compared with the header) on its own fresh devnet chain after the
prefix.  Prints JSON: per run, ``[state_root_hex, receipts_root_hex]`` per block of it.
A block the chain refuses prints ``["error", message]`` in its place and ends that run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chain.block import Block
from chain.codec import decode
from chain.errors import ChainError
from tests.chain.vm.contracts import Node


def replay(prefix: list[bytes], runs: list[list[bytes]]) -> list[list[list[str]]]:
    results: list[list[list[str]]] = []
    for run in runs:
        node = Node()
        for raw in prefix:
            node.apply(Block.decode(raw))
        roots: list[list[str]] = []
        for raw in run:
            try:
                out = node.apply(Block.decode(raw))
            except ChainError as e:
                roots.append(["error", str(e)])
                break
            roots.append([bytes(out.state_root).hex(), bytes(out.receipts_root).hex()])
        results.append(roots)
    return results


def main(argv: list[str]) -> int:
    prefix, runs = decode(Path(argv[1]).read_bytes(), max_size=1 << 30)
    json.dump(replay(prefix, runs), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
