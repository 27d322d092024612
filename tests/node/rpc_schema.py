"""Checks an RPC answer against its method's result schema in ``node.rpc.spec`` (with ``jsonschema``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft7Validator

from node.rpc.spec import COMPONENTS, METHODS


@cache
def validator(method: str) -> Draft7Validator:
    # The refs point at #/components/schemas/..., where OpenRPC keeps them: the same place here.
    schema = {"allOf": [METHODS[method].result], "components": {"schemas": COMPONENTS}}
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def check_result(method: str, result: Any) -> None:
    """``result`` is a valid answer of ``method``; the assertion lists every mismatch, by path."""
    errors = sorted(validator(method).iter_errors(result), key=lambda e: list(map(str, e.absolute_path)))
    assert not errors, f"{method} answered outside its schema:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in errors)
