"""Check that the deterministic packages touch no clock, randomness, network, trio, plyvel or node.

Rule (ARCHITECTURE §1): ``chain``, ``capabilities``, ``proofs``, ``aicf`` and ``genesis``
may not import the modules in ``FORBIDDEN_IMPORTS`` nor call the clock or
randomness functions in ``FORBIDDEN_CALLS``.  Run as
``python -m tests.tools.check_purity``; prints one line per violation and exits 1
if there are any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("chain", "capabilities", "proofs", "aicf", "genesis")
FORBIDDEN_IMPORTS = {
    "node", "trio", "plyvel", "socket", "time", "random", "secrets", "asyncio", "threading",
    "subprocess", "multiprocessing", "httpx", "hypercorn", "starlette", "urllib", "http", "requests",
    "selectors", "signal", "uuid",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "urandom", "getrandom", "perf_counter", "monotonic", "time_ns"}
FORBIDDEN_ATTRS = {("np", "random"), ("numpy", "random"), ("os", "environ"), ("os", "urandom")}


def violations(root: Path = ROOT) -> list[str]:
    found: list[str] = []
    for pkg in PURE_PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root)
            tree = ast.parse(path.read_text(), filename=str(rel))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    if name.split(".")[0] in FORBIDDEN_IMPORTS:
                        found.append(f"{rel}:{node.lineno}: imports {name}")
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    if node.func.attr in FORBIDDEN_CALLS:
                        found.append(f"{rel}:{node.lineno}: calls .{node.func.attr}()")
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    if (node.value.id, node.attr) in FORBIDDEN_ATTRS:
                        found.append(f"{rel}:{node.lineno}: uses {node.value.id}.{node.attr}")
    return found


def main() -> int:
    found = violations()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
