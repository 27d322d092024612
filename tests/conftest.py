"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "soak", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("soak" if os.environ.get("CAIRN_SOAK") else "ci")


@pytest.fixture(scope="session")
def vectors() -> Path:
    """``tests/vectors``: third-party vectors with known verdicts."""
    if not VECTORS.is_dir():
        raise RuntimeError(f"third-party test data missing at {VECTORS}")
    return VECTORS


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The sample contracts, built once per session from source with the SDK (clang, wasm32).

    The build is the one ``make contracts`` runs (``contracts/build.py``), including its
    reproducibility check, so a test that passes here ran the bytes a contract author gets.
    ``make test`` installs clang and lld first (``make toolchain``); without them this
    fixture fails with build.py's one-line reason, it never skips.  Shared by
    ``tests/contracts`` and ``tests/aicf``.
    """
    out = tmp_path_factory.mktemp("contracts")
    proc = subprocess.run([sys.executable, str(ROOT / "contracts" / "build.py"), str(out), "--check-reproducible"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {p.stem: p.read_bytes() for p in sorted(out.glob("*.wasm"))}
