"""Load JSON into frozen dataclasses, naming the exact bad field on error.

Supported field types: ``int`` (not bool, not float), ``str``, ``bool``,
``dict[str, int]``, ``tuple[tuple[int, int], ...]`` and nested dataclasses.  A
missing field takes its default; an unknown field is an error, so a typo in a
genesis file is caught instead of silently ignored.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from chain.errors import InvalidGenesis

T = TypeVar("T")


def fail(path: str, problem: str) -> InvalidGenesis:
    return InvalidGenesis(f"genesis field {path}: {problem}", field=path)


def load_value(tp: Any, value: Any, path: str) -> Any:
    """Check ``value`` against ``tp`` and convert it."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return load_dataclass(tp, value, path)
    origin = typing.get_origin(tp)
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(path, f"expected an integer, got {type(value).__name__}")
        if value < 0:
            raise fail(path, "must not be negative")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise fail(path, f"expected a string, got {type(value).__name__}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise fail(path, f"expected true or false, got {type(value).__name__}")
        return value
    if origin is dict:
        _, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise fail(path, "expected an object")
        return {str(k): load_value(vt, v, f"{path}.{k}") for k, v in value.items()}
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise fail(path, "expected an array")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(load_value(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise fail(path, f"expected {len(args)} items")
        return tuple(load_value(t, v, f"{path}[{i}]") for i, (t, v) in enumerate(zip(args, value, strict=True)))
    raise TypeError(f"unsupported field type {tp!r} at {path}")  # pragma: no cover - programming error


def load_dataclass(cls: type[T], value: Any, path: str) -> T:
    """Build ``cls`` from a JSON object, rejecting unknown fields."""
    if not isinstance(value, dict):
        raise fail(path, "expected an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - names)
    if unknown:
        raise fail(f"{path}.{unknown[0]}", "unknown field")
    kwargs = {name: load_value(hints[name], value[name], f"{path}.{name}") for name in names if name in value}
    return cls(**kwargs)


def dump_dataclass(obj: Any) -> Any:
    """The JSON form of a dataclass built by ``load_dataclass``."""
    if dataclasses.is_dataclass(obj):
        return {f.name: dump_dataclass(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [dump_dataclass(v) for v in obj]
    if isinstance(obj, dict):
        return {k: dump_dataclass(v) for k, v in obj.items()}
    return obj
