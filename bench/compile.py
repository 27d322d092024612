"""Deploys pay for their compile time: compile seconds per gas of hostile modules.

For every family of ``bench/hostile_wasm.py`` the bench deploys (in the sense of the chain's
rules) the **largest module the chain accepts**: at most ``max_code_bytes``, passing the
static rules of ``chain.vm.deploy_rules``, and with a whole deploy's gas (intrinsic +
``contract_call_gas`` + code bytes + compile gas) within ``block_gas_limit``, which no
transaction can exceed.  Families that the rules refuse at every size are shown at
``max_code_bytes`` with their reason (a refused deploy compiles nothing).  Also measured: the
sample contracts (``contracts/``, built with clang when it is installed) and bench/vm.py's
contracts.

For each module: the compile gas the deploy is charged (``ContractRuntime.compile_gas``),
and the compile seconds: ``Engine.compile`` on a new engine (no cache), the larger of wall
and CPU time of one compile, median of ``BENCH_COMPILE_ROUNDS`` (3; quick 1).  Then
seconds per gas of compile gas alone (the intrinsic and code-byte gas pay for other work).

Anchor (same run): seconds per gas of plain ``transfer`` transactions through the validator
path, (t0) of ``bench.vm.tx_path`` (decode, verify, apply, state root, save), measured
before and after the compiles; the faster of the two is used (the stricter test).  The run
passes when the worst compile seconds per gas is at most the transfers' seconds per gas.

``python -m bench compile [--quick]`` (``BENCH_COMPILE_QUICK=1``); ``BENCH_VM_TXS`` sets the
transfers of the anchor (default 4000, quick 1000).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.hostile_wasm import FAMILIES, Family, wasm
from bench.transfers import bench_genesis
from bench.vm import STORE_WAT, TOKEN_WAT, VM_WAT, large_wat, tx_path
from capabilities.host import host_functions
from chain.keys import PrivateKey
from chain.vm.engine import Engine, ModuleError
from chain.vm.runtime import ContractRuntime
from genesis.schema import Genesis

QUICK = os.environ.get("BENCH_COMPILE_QUICK", "") not in ("", "0") or "--quick" in sys.argv
ROUNDS = int(os.environ.get("BENCH_COMPILE_ROUNDS", "1" if QUICK else "3"))
if QUICK:
    os.environ.setdefault("BENCH_VM_TXS", "1000")
N_ACCOUNTS = 1000
TX_OVERHEAD = 200
"""Bytes a deploy transaction carries besides its code (signature, key, fields)."""

REFUSED: dict[str, Family] = {
    "16k nested loops (the red team's)": lambda n: _m(f"(func {'loop ' * n}{'end ' * n})"),
    "multi-value loops (32 values)": lambda n: _m(
        f"(type $mv (func (param {'i32 ' * 32}) (result {'i32 ' * 32})))",
        f"(func (param i32) {'local.get 0 ' * 32}{'loop (type $mv) end ' * n}{'drop ' * 32})"),
    "table of 1,000,000 entries": lambda n: _m("(table 1000000 funcref)", "(func)" * n),
    "data outside the memory": lambda n: _m(f'(data (i32.const 65535) "{"a" * n}")'),
}
"""Shapes the static rules refuse (shown at ``max_code_bytes``)."""


def _m(*parts: str) -> str:
    return '(module (memory (export "memory") 1) ' + " ".join(parts) + ")"


@dataclass(frozen=True, slots=True)
class Row:
    shape: str
    n: int
    size: int
    reason: str = ""
    """The rule that refused it, if any."""
    gas: int = 0
    """Compile gas charged."""
    wall: float = 0.0
    cpu: float = 0.0

    @property
    def seconds(self) -> float:
        return max(self.wall, self.cpu)


class Deployer:
    """The chain's deploy rules, for sizing modules and pricing them."""

    def __init__(self, genesis: Genesis) -> None:
        self.params = genesis.params
        self.runtime = ContractRuntime(genesis.params, host_functions(genesis.capabilities))

    def verdict(self, code: bytes) -> tuple[str, int]:
        """``(refusal reason or "", compile gas)``; ``"over block gas"`` when no deploy can pay."""
        try:
            shape = self.runtime.inspect_code(code)
        except ModuleError as e:
            return e.reason, 0
        gas = self.runtime.compile_gas(shape)
        p = self.params
        fixed = p.tx_base_gas + p.tx_byte_gas * (len(code) + TX_OVERHEAD) + p.contract_call_gas
        if fixed + p.code_byte_gas * len(code) + gas > p.block_gas_limit:
            return "over block gas", gas
        return "", gas

    def largest(self, family: Family) -> tuple[int, bytes] | None:
        """The largest ``n`` whose module the chain accepts (rules, size and block gas)."""

        def ok(n: int) -> bytes | None:
            code = wasm(family(n))
            return code if not self.verdict(code)[0] else None

        lo, best = 0, None
        n = 1
        while (code := ok(n)) is not None:
            lo, best = n, code
            n *= 2
            if n > 4 * self.params.max_code_bytes:
                break
        hi = n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            code = ok(mid)
            if code is not None:
                lo, best = mid, code
            else:
                hi = mid
        return (lo, best) if best is not None else None

    def at_size_cap(self, family: Family) -> tuple[int, bytes]:
        lo, code = 1, wasm(family(1))
        n = 1
        while n <= 4 * self.params.max_code_bytes:
            n *= 2
            c = wasm(family(n))
            if len(c) > self.params.max_code_bytes:
                break
            lo, code = n, c
        hi = n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            c = wasm(family(mid))
            if len(c) <= self.params.max_code_bytes:
                lo, code = mid, c
            else:
                hi = mid
        return lo, code


def compile_seconds(code: bytes, rounds: int) -> tuple[float, float]:
    """Median ``(wall, cpu)`` seconds of ``Engine.compile`` on a fresh engine."""
    walls, cpus = [], []
    for _ in range(rounds):
        engine = Engine()
        w, c = time.perf_counter(), time.process_time()
        engine.compile(code)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def sample_contracts() -> dict[str, bytes]:
    """contracts/samples built by contracts/build.py (when clang is installed) and bench/vm.py's."""
    out = {"bench/vm.py put": wasm(STORE_WAT), "bench/vm.py token": wasm(TOKEN_WAT), "bench/vm.py vm": wasm(VM_WAT),
           "bench/vm.py generated (100 functions)": wasm(large_wat(funcs=100))}
    root = Path(__file__).resolve().parents[1] / "contracts"
    sys.path.insert(0, str(root))
    try:
        import build  # contracts/build.py

        with tempfile.TemporaryDirectory() as tmp:
            for name, code in sorted(build.build_tree(root, Path(tmp)).items()):
                out[f"contracts/{name}"] = code
    except Exception as e:  # clang missing: the hostile families are what matters here
        print(f"     (sample contracts not built: {e})")
    finally:
        sys.path.remove(str(root))
    return out


def transfer_seconds_per_gas(genesis: Genesis, accounts: list[PrivateKey]) -> float:
    """Seconds per gas of (t0), ``bench.vm.tx_path``'s plain transfers."""
    t0 = tx_path(genesis, accounts, kinds=("t0",))["t0"]
    return 1 / (t0.rate * t0.gas_per_tx)


def main() -> None:
    started = time.perf_counter()
    accounts = [PrivateKey.derive(f"bench/{i}") for i in range(N_ACCOUNTS)]
    genesis = bench_genesis(accounts)
    print(f"## compile: compile seconds per gas of hostile deploys against transfers{' [quick]' if QUICK else ''}")
    before = transfer_seconds_per_gas(genesis, accounts)
    d = Deployer(genesis)
    rows: list[Row] = []
    for name, family in FAMILIES.items():
        found = d.largest(family)
        if found is None:
            n, code = d.at_size_cap(family)
            rows.append(Row(name, n, len(code), d.verdict(code)[0] or "refused"))
            continue
        n, code = found
        gas = d.verdict(code)[1]
        rows.append(Row(name, n, len(code), "", gas, *compile_seconds(code, ROUNDS)))
    for name, code in sample_contracts().items():
        reason, gas = d.verdict(code)
        rows.append(Row(name, 0, len(code), reason, gas, *compile_seconds(code, ROUNDS)))
    for name, family in REFUSED.items():
        n, code = d.at_size_cap(family)
        rows.append(Row(name, n, len(code), d.verdict(code)[0] or "NOT REFUSED"))
    after = transfer_seconds_per_gas(genesis, accounts)
    anchor = min(before, after)
    print(f"(t0) transfers: {1 / before / 1e6:.1f} Mgas/s before the compiles, {1 / after / 1e6:.1f} after; "
          f"anchor {anchor * 1e9:.2f} ns/gas")
    print(f"     {'shape':52s} {'n':>6s} {'bytes':>6s} {'compile s':>9s} {'(cpu)':>7s} {'gas':>11s} "
          f"{'ns/gas':>7s} {'/ (t0)':>7s}")
    worst: Row | None = None
    for r in rows:
        if r.reason:
            print(f"     {r.shape:52s} {r.n:6d} {r.size:6d}   refused: {r.reason}")
            continue
        spg = r.seconds / r.gas
        if worst is None or spg > worst.seconds / worst.gas:
            worst = r
        print(f"     {r.shape:52s} {r.n:6d} {r.size:6d} {r.wall:9.3f} {r.cpu:7.3f} {r.gas:11,d} "
              f"{spg * 1e9:7.3f} {spg / anchor:7.3f}")
    assert worst is not None
    ratio = worst.seconds / worst.gas / anchor
    print(f"(k)  worst compile s/gas: {worst.seconds / worst.gas * 1e9:.3f} ns/gas ({worst.shape}: "
          f"{worst.seconds:.3f} s for {worst.gas:,} gas); transfers {anchor * 1e9:.3f} ns/gas; ratio {ratio:.3f}")
    unrefused = [r.shape for r in rows if r.reason == "NOT REFUSED"]
    verdict = "PASS" if ratio <= 1 and not unrefused else "FAIL"
    print(f"{verdict}: worst compile s/gas {'<=' if ratio <= 1 else '>'} transfer s/gas (ratio {ratio:.3f})"
          + (f"; not refused: {unrefused}" if unrefused else ""))
    print(f"(compile bench took {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
