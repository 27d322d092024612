"""The deterministic packages stay pure (no clock, randomness, network, trio, plyvel, node)."""

from __future__ import annotations

from pathlib import Path

from tests.tools.check_purity import violations


def test_pure_packages_have_no_forbidden_imports_or_calls() -> None:
    assert violations() == []


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    pkg = tmp_path / "chain"
    pkg.mkdir()
    (pkg / "bad.py").write_text("import time\nimport trio\nfrom datetime import datetime\nx = datetime.now()\n")
    for other in ("capabilities", "proofs", "aicf", "genesis"):
        (tmp_path / other).mkdir()
    found = violations(tmp_path)
    assert any("imports time" in f for f in found)
    assert any("imports trio" in f for f in found)
    assert any(".now()" in f for f in found)
