"""Writes node/rpcclient_methods.py: one typed client method per method of ``node.rpc.spec``.

``python -m node.rpc.clientgen`` rewrites the file; ``--check`` exits 1 when it is not what
the spec gives (tests/node/test_rpcclient.py runs the same check).  Each RPC method
``group.camelName`` becomes ``group_snake_name``: its required params positional (in the
spec's order), its optional ones keyword-only and left out of the request when ``None``;
it returns the result's JSON.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from node.rpc.spec import METHODS_LIST, Method, Param, Schema

TARGET = Path(__file__).resolve().parents[1] / "rpcclient_methods.py"
HEADER = '''"""Typed client methods, one per JSON-RPC method (generated from node/rpc/spec.py by
`python -m node.rpc.clientgen`; do not edit).  ``node.rpcclient`` binds them to transports."""

from __future__ import annotations

from typing import Any


'''


def py_name(method: str) -> str:
    """``chain.getBlockResults`` -> ``chain_get_block_results``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", method.replace(".", "_")).lower()


def py_type(schema: Schema) -> str:
    if "oneOf" in schema:
        kinds = []
        for s in schema["oneOf"]:
            t = py_type(s)
            if t not in kinds:
                kinds.append(t)
        return " | ".join(kinds) if "Any" not in kinds else "Any"
    if "enum" in schema:
        return "str"
    return {"string": "str", "integer": "int", "boolean": "bool", "array": "list[Any]",
            "object": "dict[str, Any]"}.get(schema.get("type", ""), "Any")


def _signature(m: Method) -> str:
    req = [p for p in m.params if p.required]
    opt = [p for p in m.params if not p.required]
    parts = ["self"] + [f"{p.name}: {py_type(p.schema)}" for p in req]
    if opt:
        parts.append("*")
        parts += [f"{p.name}: {_optional(p)} = None" for p in opt]
    return ", ".join(parts)


def _optional(p: Param) -> str:
    t = py_type(p.schema)
    return t if t == "Any" else f"{t} | None"


def _method(m: Method, *, is_async: bool) -> str:
    args = ", ".join(f"{p.name}={p.name}" for p in m.params)
    call = f'self.call("{m.name}"' + (f", {args})" if args else ")")
    d = "async def" if is_async else "def"
    aw = "await " if is_async else ""
    return (f"    {d} {py_name(m.name)}({_signature(m)}) -> Any:\n"
            f'        """{m.summary}"""\n'
            f"        return {aw}{call}\n")


def _class(name: str, *, is_async: bool) -> str:
    d = "async def" if is_async else "def"
    doc = "awaitable" if is_async else "blocking"
    out = [f"class {name}:\n",
           f'    """Every method of the spec, {doc}; a subclass provides ``call``."""\n\n',
           f"    {d} call(self, method: str, /, **params: Any) -> Any:\n",
           "        raise NotImplementedError\n"]
    for m in METHODS_LIST:
        out.append("\n" + _method(m, is_async=is_async))
    return "".join(out)


def source() -> str:
    return HEADER + _class("SyncMethods", is_async=False) + "\n\n" + _class("AsyncMethods", is_async=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.rpc.clientgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = source()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET}: out of date; run python -m node.rpc.clientgen", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
