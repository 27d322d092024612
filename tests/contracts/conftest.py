"""The sample contracts, built once per session from source with the SDK (clang, wasm32).

The build is the one ``make contracts`` runs (``contracts/build.py``), including its
reproducibility check, so a test that passes here ran the bytes a contract author gets.
``make test`` installs clang and lld first (``make toolchain``); without them this
fixture fails with build.py's one-line reason, it never skips.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("contracts")
    proc = subprocess.run([sys.executable, str(ROOT / "contracts" / "build.py"), str(out), "--check-reproducible"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {p.stem: p.read_bytes() for p in sorted(out.glob("*.wasm"))}

