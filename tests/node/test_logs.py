"""``node.logs``: a named node marks every line, in both formats."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog

from node.logs import configure


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_console_lines_carry_the_node_name(capsys: pytest.CaptureFixture[str]) -> None:
    configure("console", name="v2")
    structlog.get_logger("t").info("block committed", height=3)
    line = capsys.readouterr().err.strip()
    assert "[v2] block committed" in line and "height=3" in line


def test_json_lines_carry_the_node_name_as_a_field(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_NODE_NAME", "v1")
    configure("json")
    structlog.get_logger("t").info("block committed", height=3)
    doc = json.loads(capsys.readouterr().err)
    assert (doc["node"], doc["event"], doc["height"]) == ("v1", "block committed", 3)


def test_an_unnamed_node_writes_plain_lines(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_NODE_NAME", raising=False)
    configure("console")
    structlog.get_logger("t").info("block committed")
    line = capsys.readouterr().err
    assert "] block committed" in line and "] [" not in line  # "[info     ] block committed", no name
