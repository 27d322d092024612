"""``python -m bench [NAME ...]``: run the benchmarks (all by default)."""

from __future__ import annotations

import importlib
import platform
import sys
import time

BENCHES = ["transfers", "mempool", "proofs", "groth16", "network", "vm", "compile", "aicf", "settlement", "rpc"]


def main() -> int:
    names = sys.argv[1:] or BENCHES
    print(f"# cairn benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# machine: {platform.machine()}, {platform.processor() or 'cpu'}, {_cores()} cores, "
          f"Python {platform.python_version()}")
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        mod.main()
    return 0


def _cores() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
