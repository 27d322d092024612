"""The OpenRPC document and docs/RPC.md's method table, both built from ``node.rpc.spec``.

``python -m node.rpc.openrpc`` prints the OpenRPC 1.2.6 document (what ``rpc.discover``
answers); ``--markdown`` rewrites the method table of docs/RPC.md, between the
``methods:begin`` and ``methods:end`` marker comments, in place; ``--check`` exits 1 when
the table there is not what the spec gives (tests/node/test_rpc_spec.py runs the same check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from node.rpc.spec import COMPONENTS, ERROR_MESSAGES, METHODS_LIST, Method, Param

OPENRPC_VERSION = "1.2.6"
DOC = Path(__file__).resolve().parents[2] / "docs" / "RPC.md"
BEGIN = "<!-- methods:begin (generated from node/rpc/spec.py by `python -m node.rpc.openrpc --markdown`; do not edit) -->"
END = "<!-- methods:end -->"


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "required": p.required, "schema": p.schema}
    if p.note:
        out["description"] = p.note
    return out


def _method(m: Method) -> dict[str, Any]:
    return {
        "name": m.name,
        "summary": m.summary,
        "description": m.doc,
        "paramStructure": "either",
        "params": [_param(p) for p in m.params],
        "result": {"name": "result", "schema": m.result},
        "errors": [{"code": c, "message": ERROR_MESSAGES.get(c, str(c))} for c in m.errors],
    }


def document(version: str) -> dict[str, Any]:
    """The OpenRPC document of every method in the spec, for a node of ``version``."""
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": "Cairn node JSON-RPC", "version": version,
                 "description": "JSON-RPC 2.0 over HTTP POST / (docs/RPC.md). Params by name or by position."},
        "methods": [_method(m) for m in METHODS_LIST],
        "components": {"schemas": COMPONENTS},
    }


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _params_cell(m: Method) -> str:
    if m.params_doc is not None:
        return m.params_doc
    if not m.params:
        return "—"
    cells = []
    for p in m.params:
        cell = f"`{p.name}`" + ("" if p.required else "?")
        cells.append(cell + (f" ({p.note})" if p.note else ""))
    return ", ".join(cells)


def markdown_table() -> str:
    """docs/RPC.md's method table: one row per method, in the spec's order."""
    rows = ["| method | params | result | errors |", "|---|---|---|---|"]
    for m in METHODS_LIST:
        errors = ", ".join(f"`{c}`" for c in m.errors) or "—"
        rows.append(f"| `{m.name}` | {_escape(_params_cell(m))} | {_escape(m.doc)} | {errors} |")
    return "\n".join(rows) + "\n"


def splice(text: str, table: str) -> str:
    """``text`` with what lies between the markers replaced by ``table``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"docs/RPC.md lacks the marker comments {BEGIN!r} ... {END!r}")
    return text[:start + len(BEGIN)] + "\n" + table + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.rpc.openrpc", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--markdown", action="store_true", help="rewrite the method table of docs/RPC.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/RPC.md's table is out of date")
    parser.add_argument("--doc", type=Path, default=DOC, help="the markdown file (default: docs/RPC.md)")
    args = parser.parse_args(argv)
    if args.markdown or args.check:
        text = args.doc.read_text()
        new = splice(text, markdown_table())
        if args.check:
            if new != text:
                print(f"{args.doc}: the method table is out of date; run python -m node.rpc.openrpc --markdown",
                      file=sys.stderr)
                return 1
            return 0
        if new != text:
            args.doc.write_text(new)
        return 0
    from node.rpc.methods import VERSION  # the routes module imports this one

    json.dump(document(VERSION), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
