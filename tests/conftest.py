"""Shared test fixtures."""

from __future__ import annotations

import os
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
