"""The node's compiled-module disk store (``node.wasm_cache.WasmCache``) under the real engine.

A fresh engine compiles once and writes the store; a second fresh engine loads the module
from the store (no compile, so no write) and runs it; damaged entries (a torn file, a bit
flip, bytes from another wasmtime build) are never executed: they are recompiled and
replaced.  The store never raises.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from chain.vm.engine import Engine, code_hash
from node.wasm_cache import MAGIC, SUFFIX, WasmCache

WAT = """
(module
  (memory (export "memory") 1)
  (func (export "answer") (result i64) (i64.const {n})))
"""


def module(n: int = 42) -> bytes:
    return bytes(wasmtime.wat2wasm(WAT.format(n=n)))


def run(engine: Engine, code: bytes) -> int:
    res = engine.execute(code, "answer", gas_limit=10_000)
    assert res.ok, res
    value = res.values[0]
    assert isinstance(value, int)
    return value


def test_a_second_engine_loads_what_the_first_compiled(tmp_path: Path) -> None:
    code = module()
    first = WasmCache(tmp_path / "wasm-cache")
    engine = Engine(compiled_store=first)
    assert run(engine, code) == 42
    entry = first.path_of(code_hash(code))
    assert entry.name == code_hash(code).hex() + SUFFIX and entry.read_bytes().startswith(MAGIC)
    assert (engine.cache_misses, first.misses, first.writes) == (1, 1, 1)

    # a restarted node: new engine, new store object, same directory
    second = WasmCache(tmp_path / "wasm-cache")
    again = Engine(compiled_store=second)
    assert run(again, code) == 42
    # one engine miss served by the store: deserialized, not compiled (a compile writes)
    assert (again.cache_misses, second.hits, second.writes) == (1, 1, 0)
    assert again.cached(code_hash(code)) is not None
    assert run(again, code) == 42 and again.cache_hits == 1 and second.hits == 1  # in memory now


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b[:-1] + bytes([b[-1] ^ 1]), id="bit-flip-in-native-code"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b"XXXX" + b[4:], id="bad-magic"),
    ],
)
def test_a_damaged_entry_is_recompiled_and_replaced(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    code = module(7)
    Engine(compiled_store=WasmCache(tmp_path)).compile(code)
    path = WasmCache(tmp_path).path_of(code_hash(code))
    good = path.read_bytes()
    path.write_bytes(damage(good))

    store = WasmCache(tmp_path)
    engine = Engine(compiled_store=store)
    assert run(engine, code) == 7
    assert (store.hits, store.misses, store.writes) == (0, 1, 1)
    # replaced by a good entry that the next engine loads
    fresh = WasmCache(tmp_path)
    assert run(Engine(compiled_store=fresh), code) == 7 and (fresh.hits, fresh.writes) == (1, 0)


def test_native_code_wasmtime_refuses_is_recompiled_and_overwritten(tmp_path: Path) -> None:
    # A well-framed entry (good checksum) whose wasmtime part another build could have
    # written: the engine's deserialize refuses it, compiles, and overwrites the entry.
    code = module(9)
    key = code_hash(code)
    store = WasmCache(tmp_path)
    store.put(key, key + (0).to_bytes(8, "big") + b"not a wasmtime artifact")
    stale = store.path_of(key).read_bytes()
    engine = Engine(compiled_store=store)
    assert run(engine, code) == 9
    assert (store.hits, store.writes) == (1, 2)
    assert store.path_of(key).read_bytes() != stale
    assert run(Engine(compiled_store=WasmCache(tmp_path)), code) == 9


def test_an_entry_under_the_wrong_key_is_not_used(tmp_path: Path) -> None:
    a, b = module(1), module(2)
    store = WasmCache(tmp_path)
    Engine(compiled_store=store).compile(a)
    # b's slot holds a's artifact: the engine checks the code hash inside it
    os.replace(store.path_of(code_hash(a)), store.path_of(code_hash(b)))
    fresh = WasmCache(tmp_path)
    assert run(Engine(compiled_store=fresh), b) == 2 and fresh.writes == 1


def test_the_store_never_raises(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")
    store = WasmCache(blocked / "wasm-cache")  # its parent is a file: every operation fails
    key = bytes(32)
    store.put(key, b"data")
    assert store.get(key) is None and store.writes == 0
    assert store.get(b"short") is None
    store.put(b"short", b"data")
    assert store.total_bytes() == 0
    # the engine still works without a usable store
    assert run(Engine(compiled_store=store), module()) == 42


def test_the_total_size_is_capped_dropping_the_least_recently_used(tmp_path: Path) -> None:
    store = WasmCache(tmp_path, max_bytes=3 * (len(MAGIC) + 32 + 1000))
    keys = [bytes([i]) * 32 for i in range(5)]
    for i, key in enumerate(keys[:3]):
        store.put(key, bytes(1000))
        os.utime(store.path_of(key), (1_000_000 + i, 1_000_000 + i))
    assert store.get(keys[0]) is not None  # a read makes the oldest the most recent
    store.put(keys[3], bytes(1000))
    assert [store.path_of(k).exists() for k in keys[:4]] == [True, False, True, True]
    assert store.total_bytes() <= store.max_bytes
    # an entry larger than the whole cap is not kept (and evicts nothing)
    store.put(keys[4], bytes(store.max_bytes))
    assert not store.path_of(keys[4]).exists() and store.path_of(keys[3]).exists()


def test_leftover_temporary_files_are_removed_on_the_next_write(tmp_path: Path) -> None:
    store = WasmCache(tmp_path)
    leftover = tmp_path / ".tmp-crashed"
    leftover.write_bytes(b"half a module")
    store.put(bytes(32), b"x")
    assert not leftover.exists() and store.get(bytes(32)) == b"x"
