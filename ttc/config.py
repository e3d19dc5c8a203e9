"""Typed configs: frozen dataclasses, TOML deltas, ``--set key=value`` overrides, loud failures.

``load_config(Cls, toml_path, overrides)`` starts from ``Cls()``'s defaults, applies the TOML table and
then each ``section.key=value`` override, and type-checks every value against the dataclass fields.
Unknown keys and wrong types raise ``ConfigError`` with a one-line message that names the key and
the fix, before anything runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn


class ConfigError(ValueError):
    """Bad configuration; the message names the key and how to fix it."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors (a bad type, a missing or unknown flag) are one line on stderr,
    ``error: ...; see PROG --help``, and exit code 2, like every other bad input of ttc's commands."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def refuse_repeats(values_by_flag: dict[str, Sequence]) -> None:
    """ConfigError naming the first flag whose values repeat one (seeds or sizes given twice would
    train twice and write repeated rows)."""
    for flag, values in values_by_flag.items():
        if len(set(values)) < len(values):
            raise ConfigError(f"{flag} {' '.join(map(str, values))} repeats a value; give each once")


def refuse_unusable_dirs(paths_by_flag: dict[str, Path]) -> None:
    """ConfigError naming the first output folder that cannot be created or written (checked before any
    work, so a long run does not fail at its end)."""
    from ttc.cache import unusable_dir
    for flag, path in paths_by_flag.items():
        problem = unusable_dir(path)
        if problem:
            raise ConfigError(f"{flag} {str(path)!r} {problem}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return _merge(typing.cast(Any, tp)(), value, where)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: {value!r} does not fit {_type_name(tp)}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _merge(current: Any, delta: dict, where: str) -> Any:
    """``current`` (a dataclass instance) with ``delta`` applied, keeping its other values."""
    hints = typing.get_type_hints(type(current))
    fields = {f.name for f in dataclasses.fields(current)}
    unknown = sorted(set(delta) - fields)
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key '{name}'; known keys here: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in delta.items():
        sub = getattr(current, name)
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(sub) and isinstance(value, dict):
            kwargs[name] = _merge(sub, value, key)
        else:
            kwargs[name] = _coerce(value, hints[name], key)
    try:
        return dataclasses.replace(current, **kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=value`` → (["a", "b"], value) with value parsed as TOML (bare words become strings)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. --set pools.n_samples=32")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def nest(path: list[str], value: Any) -> dict:
    out: dict = {}
    cur = out
    for part in path[:-1]:
        cur = cur.setdefault(part, {})
    cur[path[-1]] = value
    return out


def deep_update(base: dict, delta: dict) -> dict:
    out = dict(base)
    for k, v in delta.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(cls: type, path: str | Path | None = None, overrides: Sequence[str] = ()) -> Any:
    table: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {str(path)!r} not found; pass an existing TOML file to --config")
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} is not a file; pass a TOML file to --config")
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML ({e}); fix the syntax") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {str(path)!r} is not UTF-8 text; save it as UTF-8 TOML") from None
        except OSError as e:
            raise ConfigError(f"config file {str(path)!r} cannot be read ({e.strerror})") from None
    for text in overrides:
        keys, value = parse_override(text)
        table = deep_update(table, nest(keys, value))
    return _merge(cls(), table, "") if table else cls()


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
