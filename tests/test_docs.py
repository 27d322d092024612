"""Every shell block of the README, ``docs/`` and ``contracts/**/README.md`` runs as written.

A block is a fenced code block tagged ``sh``, ``bash`` or ``shell``.  A block preceded by an
HTML comment that starts with ``illustrative`` (``<!-- illustrative: why -->``) is only shown,
never run: one that runs until stopped, needs other machines, or holds placeholders.  Every
other block runs with ``bash -euo pipefail`` in the repository, against a one-validator devnet
of ``cairn devnet`` that this test starts (``CAIRN_RPC`` points at it, so the documented
default ``--rpc`` is the devnet the reader would have), with ``.venv/bin`` first on ``PATH``
and a fresh ``HOME`` (so ``~/.cairn/keys`` starts empty), and must exit 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "contracts").glob("**/README.md")])
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```", re.S | re.M)
SHELLS = {"sh", "bash", "shell"}
MARKER = re.compile(r"<!--\s*illustrative\b[^>]*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    text: str
    illustrative: bool

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks() -> Iterator[Block]:
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) not in SHELLS:
                continue
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            yield Block(path, text.count("\n", 0, m.start()) + 1, m.group(2), bool(MARKER.search(before)))


RUNNABLE = [b for b in blocks() if not b.illustrative]


def test_the_docs_have_shell_blocks_and_most_of_them_run() -> None:
    every = list(blocks())
    assert len(RUNNABLE) >= 4 and len(every) > len(RUNNABLE)
    assert {b.path.name for b in RUNNABLE} >= {"README.md", "NODE.md"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A ``cairn devnet`` on a free port, and the environment the blocks run in."""
    home = tmp_path_factory.mktemp("docs-home")
    port = _free_port()
    env = {**os.environ, "HOME": str(home), "CAIRN_RPC": f"http://127.0.0.1:{port}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("CAIRN_KEYRING", None)
    log = open(home / "devnet.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "cairn"), "devnet", "--home", str(home / "devnet"),
                             "--rpc-laddr", f"127.0.0.1:{port}"], stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                doc = httpx.post(env["CAIRN_RPC"], json={"jsonrpc": "2.0", "id": 1, "method": "node.status"},
                                 timeout=2).json()
                if doc["result"]["height"] >= 1:
                    break
            except (httpx.HTTPError, KeyError):
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (home / "devnet.log").read_text()
            time.sleep(0.2)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.name)
def test_a_documented_shell_block_runs_as_written(block: Block, devnet: dict[str, str]) -> None:
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=ROOT, env=devnet,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{block.name} exited {proc.returncode}:\n{block.text}\n{proc.stdout}\n{proc.stderr}"
