"""``contracts/build.py`` as ``make contracts`` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_make_contracts_builds_into_a_relative_directory(tmp_path: Path) -> None:
    """``make contracts`` passes ``contracts/build`` relative to the repository, while clang
    runs inside ``contracts/``; the output must land where it was asked for."""
    proc = subprocess.run([sys.executable, str(ROOT / "contracts" / "build.py"), "out/wasm"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "wasm").glob("*.wasm")) == [
        "ai_agent.wasm", "counter.wasm", "token.wasm", "zk_vault.wasm"]
