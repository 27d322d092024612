"""Build the sample contracts to WebAssembly, reproducibly, and check their imports.

Usage::

    python contracts/build.py OUT_DIR [--check-reproducible]

* every ``contracts/samples/*.c`` is compiled by clang (wasm32, the fixed flags in
  :func:`clang_command`) to ``OUT_DIR/NAME.wasm``;
* every ``contracts/samples/*.wat`` is assembled by ``wasmtime.wat2wasm``;
* every module is then checked against the chain's rules (``capabilities/specs/ABI.md``):
  it validates with SIMD and threads off, imports only functions of module ``env`` that
  ``contracts/sdk/cairn.h`` declares, each with the header's wasm type, exports its
  memory as ``memory``, and exports nothing else but methods of type ``() -> ()``.
  The header is the one list of host functions: its ``CAIRN_HOST("name")`` lines are
  parsed here.

The output does not depend on where the checkout is: no debug info, paths mapped with
``-ffile-prefix-map``, names and producer sections stripped.  ``--check-reproducible``
also builds from two copies of the sources at different paths and fails if any byte
differs from the first build.

Exit status: 0 built and checked; 1 a build or check failed (the reason on stderr);
2 the toolchain is missing (clang, wasm-ld, or the wasmtime Python package).
Stdlib only; wasmtime is imported when first needed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).resolve().parent
"""The ``contracts/`` directory: ``sdk/`` and ``samples/`` live here."""

MAX_CODE_BYTES = 48 * 1024
"""``ChainParams.max_code_bytes`` default (chain/params.py; code travels in a transaction)."""

METHOD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

_HOST_DECL = re.compile(
    r'CAIRN_HOST\("(\w+)"\)\s*(?:CAIRN_NORETURN\s+)?(void|int32_t|int64_t)\s+(\w+)\s*\(([^)]*)\)\s*;'
)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_RESULT_TYPES = {"void": (), "int32_t": ("i32",), "int64_t": ("i64",)}

Signature = tuple[tuple[str, ...], tuple[str, ...]]
"""(param types, result types), as wasm type names."""


class BuildError(Exception):
    """A build or check failed; the message is the one line printed."""


class ToolMissing(Exception):
    """A tool the build needs is not installed; the message is the one line printed."""


def host_functions(header: Path) -> dict[str, Signature]:
    """The host functions ``header`` declares: ABI name -> wasm signature.

    Each is a ``CAIRN_HOST("name") RET cairn_name(PARAMS);`` declaration; a pointer or
    array parameter and ``[u]int32_t`` are ``i32``, ``[u]int64_t`` is ``i64``.
    """
    text = _COMMENT.sub(" ", header.read_text(encoding="utf-8"))
    found: dict[str, Signature] = {}
    for name, ret, c_name, params_text in _HOST_DECL.findall(text):
        if c_name != f"cairn_{name}":
            raise BuildError(f"{header}: env.{name} is declared as {c_name}, expected cairn_{name}")
        params: list[str] = []
        for param in (p.strip() for p in params_text.split(",")):
            if param in ("", "void"):
                continue
            if "*" in param or "[" in param or re.match(r"(const\s+)?u?int32_t\b", param):
                params.append("i32")
            elif re.match(r"(const\s+)?u?int64_t\b", param):
                params.append("i64")
            else:
                raise BuildError(f"{header}: env.{name}: cannot map parameter {param!r} to a wasm type")
        found[name] = (tuple(params), _RESULT_TYPES[ret])
    if not found:
        raise BuildError(f"{header}: no CAIRN_HOST declarations found")
    return found


def find_clang() -> str:
    """The clang to use (``$CLANG`` or ``clang``), after checking it and wasm-ld exist."""
    clang = shutil.which(os.environ.get("CLANG", "clang"))
    if clang is None:
        raise ToolMissing(
            "clang not found: install clang and lld (Debian: apt-get install clang lld) or set CLANG"
        )
    # Ask clang where it would find the linker: its own directory first, then PATH.
    found = subprocess.run([clang, "-print-prog-name=wasm-ld"], capture_output=True, text=True).stdout.strip()
    if not (os.path.isfile(found) or shutil.which(found or "wasm-ld")):
        raise ToolMissing("wasm-ld not found: install lld (Debian: apt-get install lld)")
    return clang


def clang_command(clang: str, root: Path, src: Path, out: Path) -> list[str]:
    """The fixed clang command line for one sample under the source tree ``root``."""
    return [
        clang,
        "--target=wasm32",
        "-std=c11",
        "-Os",  # deployed code costs gas per byte; host calls, not wasm ops, dominate run time
        "-ffreestanding",
        "-nostdlib",
        "-mbulk-memory",  # struct copies become memory.copy / memory.fill, not libc calls
        "-mno-simd128",  # the chain refuses SIMD and threads
        "-mno-atomics",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-g0",
        f"-ffile-prefix-map={root}=.",
        f"-fdebug-prefix-map={root}=.",
        "-I",
        str(root / "sdk"),
        "-Wl,--no-entry",
        "-Wl,--stack-first",  # a stack overflow traps instead of overwriting data
        "-Wl,-z,stack-size=65536",
        "-Wl,--strip-all",
        "-o",
        str(out),
        str(src),
    ]


def _wasmtime() -> Any:
    try:
        import wasmtime
    except ImportError as e:
        raise ToolMissing(
            f"the wasmtime Python package is not importable ({e}); run with .venv/bin/python"
        ) from e
    return wasmtime


def build_tree(root: Path, out_dir: Path) -> dict[str, bytes]:
    """Builds every sample under ``root/samples`` into ``out_dir``: file name -> bytes.

    ``out_dir`` may be relative to the caller's directory (clang runs in ``root``).
    """
    clang = find_clang()
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, bytes] = {}
    samples = root / "samples"
    for src in sorted(samples.glob("*.c")):
        out = out_dir / f"{src.stem}.wasm"
        proc = subprocess.run(
            clang_command(clang, root, src, out),
            cwd=root,
            capture_output=True,
            text=True,
            env={**os.environ, "LC_ALL": "C"},
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise BuildError(f"clang failed on samples/{src.name} (exit {proc.returncode})")
        built[out.name] = out.read_bytes()
    for src in sorted(samples.glob("*.wat")):
        out = out_dir / f"{src.stem}.wasm"
        try:
            wasm = bytes(_wasmtime().wat2wasm(src.read_text(encoding="utf-8")))
        except ToolMissing:
            raise
        except Exception as e:
            raise BuildError(f"wat2wasm failed on samples/{src.name}: {str(e).splitlines()[0]}") from e
        out.write_bytes(wasm)
        built[out.name] = wasm
    if not built:
        raise BuildError(f"no samples in {samples}")
    return built


def _engine() -> Any:
    """The chain's own engine configuration (chain/vm/engine.py), enough to validate.

    Imported lazily from the installed ``chain`` package (the repo's .venv), so the
    feature set checked here is the one validators run, by construction.
    """
    _wasmtime()  # the one-line "missing wasmtime" error, before the chain import
    try:
        from chain.vm.engine import VmConfig, deterministic_config
    except ImportError as e:
        raise ToolMissing(f"the chain package is not importable ({e}); run with the repo's .venv") from e
    import wasmtime

    return wasmtime.Engine(deterministic_config(VmConfig()))


def describe(engine: Any, wasm: bytes) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    """A module's imports ((module, name) -> type) and exports (name -> type)."""
    module = _wasmtime().Module(engine, wasm)
    return {(i.module, i.name): i.type for i in module.imports}, {e.name: e.type for e in module.exports}


def _signature(func_type: Any) -> Signature:
    return tuple(str(p) for p in func_type.params), tuple(str(r) for r in func_type.results)


def _show(sig: Signature) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


def check_module(engine: Any, name: str, wasm: bytes, host: dict[str, Signature]) -> None:
    """Raises :class:`BuildError` unless ``wasm`` is a contract the chain accepts."""
    wasmtime = _wasmtime()
    if len(wasm) > MAX_CODE_BYTES:
        raise BuildError(f"{name}: {len(wasm)} bytes, over max_code_bytes {MAX_CODE_BYTES}")
    try:
        imports, exports = describe(engine, wasm)
    except Exception as e:
        raise BuildError(f"{name}: not valid for the chain's engine: {str(e).splitlines()[0]}") from e
    for (module, field), typ in imports.items():
        if module != "env" or field not in host:
            raise BuildError(f"{name}: imports {module}.{field}, which is not a host function in sdk/cairn.h")
        if not isinstance(typ, wasmtime.FuncType) or _signature(typ) != host[field]:
            got = _show(_signature(typ)) if isinstance(typ, wasmtime.FuncType) else type(typ).__name__
            raise BuildError(f"{name}: imports env.{field} as {got}, but cairn.h says {_show(host[field])}")
    if not isinstance(exports.get("memory"), wasmtime.MemoryType):
        raise BuildError(f"{name}: does not export its memory as 'memory'")
    for export, typ in exports.items():
        if export == "memory":
            continue
        if not isinstance(typ, wasmtime.FuncType) or _signature(typ) != ((), ()):
            raise BuildError(f"{name}: exports {export!r}, which is not a method of type () -> ()")
        if not METHOD_NAME.fullmatch(export):
            raise BuildError(f"{name}: method name {export!r} is not [A-Za-z_][A-Za-z0-9_]{{0,63}}")


def check_reproducible(reference: dict[str, bytes]) -> None:
    """Builds from two copies of the sources at different paths; all must equal ``reference``."""
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        trees = [Path(a) / "c", Path(b) / "another" / "checkout" / "contracts"]
        builds = []
        for tree in trees:
            shutil.copytree(CONTRACTS / "sdk", tree / "sdk")
            shutil.copytree(CONTRACTS / "samples", tree / "samples")
            builds.append(build_tree(tree, tree / "out"))
        for tree, built in zip(trees, builds, strict=True):
            for file in sorted(reference.keys() | built.keys()):
                if reference.get(file) != built.get(file):
                    raise BuildError(f"not reproducible: {file} differs when built from {tree}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build contracts/samples to OUT_DIR/NAME.wasm.")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument(
        "--check-reproducible",
        action="store_true",
        help="also build from two copies at other paths and fail if any byte differs",
    )
    args = parser.parse_args(argv)
    try:
        _wasmtime()  # before anything is built: every module is checked with it
        host = host_functions(CONTRACTS / "sdk" / "cairn.h")
        built = build_tree(CONTRACTS, args.out_dir)
        engine = _engine()
        try:
            for name, wasm in built.items():
                check_module(engine, name, wasm, host)
        except BuildError:
            for name in built:  # leave no module of a failed build around to deploy
                (args.out_dir / name).unlink(missing_ok=True)
            raise
        if args.check_reproducible:
            check_reproducible(built)
    except ToolMissing as e:
        print(f"build.py: {e}", file=sys.stderr)
        return 2
    except BuildError as e:
        print(f"build.py: {e}", file=sys.stderr)
        return 1
    for name, wasm in built.items():
        print(f"{args.out_dir / name}  {len(wasm)} bytes  sha256 {hashlib.sha256(wasm).hexdigest()}")
    if args.check_reproducible:
        print("reproducible: identical when built from two other paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
