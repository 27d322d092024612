"""The CLI describes itself: every subcommand and every flag has help text; a bare command
prints help; ``--version`` prints the version; under ``--json`` errors are JSON."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest

from node.cli import CLI_ERROR, UNREACHABLE, USAGE_ERROR, _parser, main


def _walk(parser: argparse.ArgumentParser, path: str = "cairn") -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", argparse.Action([name], name, help=helps.get(name))
                yield from _walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action


def test_every_subcommand_and_flag_has_help() -> None:
    entries = list(_walk(_parser()))
    assert len(entries) > 80  # the whole tree was walked
    missing = [where for where, action in entries if not action.help]
    assert missing == []


def test_a_bare_command_prints_help_and_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out
    assert main(["tx"]) == 0
    assert "transfer" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("cairn ")


def test_errors_under_json_are_json_with_the_same_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "account", "devnet:0", "--json", "--rpc", "http://127.0.0.1:1"]) == 1
    assert json.loads(capsys.readouterr().err)["error"]["code"] == UNREACHABLE
    assert main(["keys", "show", "nobody", "--json", "--keyring", "/nonexistent"]) == 1
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["code"] == CLI_ERROR and "nobody" in err["message"]
    with pytest.raises(SystemExit) as done:
        main(["query", "account", "--json"])
    assert done.value.code == 2
    assert json.loads(capsys.readouterr().err)["error"]["code"] == USAGE_ERROR
    assert main(["keys", "show", "nobody", "--keyring", "/nonexistent"]) == 1
    assert capsys.readouterr().err.startswith("error: ")  # without --json: one plain line
