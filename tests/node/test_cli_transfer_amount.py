"""``cairn tx transfer`` refuses a zero amount before it signs or sends anything.

The chain refuses zero transfers (``TX_BAD_PAYLOAD``, ``chain.apply.TransferKind``); the CLI
says so as a usage error, naming ``--amount``.  The RPC address is unreachable on purpose:
the refusal must come before any request.
"""

from __future__ import annotations

import pytest

from chain.keys import encode_address
from genesis.devnet import devnet_account_key
from node.cli import main

TRANSFER = ["tx", "transfer", "--from", "devnet:0", "--to", encode_address(devnet_account_key(1).address, "cairn"),
            "--rpc", "http://127.0.0.1:1"]


@pytest.mark.parametrize("amount", ["0", "000"])
def test_a_zero_amount_is_a_usage_error(amount: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*TRANSFER, "--amount", amount])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--amount" in err and "at least 1" in err and len(err.splitlines()) == 1, err


def test_a_positive_amount_gets_past_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    # ... and fails only on the unreachable node
    assert main([*TRANSFER, "--amount", "1"]) != 0
    err = capsys.readouterr().err
    assert "127.0.0.1:1" in err and "--amount" not in err, err
