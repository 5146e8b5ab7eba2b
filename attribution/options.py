"""Arguments dataclasses are the one place a setting and its default are written; the CLI derives its flags
from them (as kronfluence's argument dataclasses and transformers' HfArgumentParser do).

    @dataclass
    class FactorArguments:
        batch_size: int = option(8, "documents per forward+backward")

    add_options(parser, FactorArguments)          # --batch-size (default: 8)
    factor_args = options_from(FactorArguments, args)
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any


def option(default: Any, help: str, *, choices: tuple | None = None, flag: str | None = None) -> Any:
    """A dataclass field with its help text (and optionally its choices and flag name) for the CLI."""
    metadata = {"help": help, "choices": choices, "flag": flag}
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _field_type(hint: Any) -> tuple[Any, bool]:
    """(the element type argparse converts to, whether the field takes several values)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _field_type(args[0])
    if typing.get_origin(hint) in (list, tuple):
        return args[0], True
    return hint, False


def default_of(cls: type, name: str) -> Any:
    """The default of the field `name` of the dataclass `cls`."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


def add_options(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of `cls` that has help text, default and help taken from the field."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip or "help" not in field.metadata:
            continue
        default = default_of(cls, field.name)
        kind, several = _field_type(hints[field.name])
        flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": field.name, "default": default}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = kind
            if field.metadata.get("flag") and not field.metadata.get("choices"):  # named as its flag, not its field
                kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()
            if several:
                kwargs["nargs"] = "+"
            if field.metadata.get("choices"):
                kwargs["choices"] = field.metadata["choices"]
        shown = " ".join(map(str, default)) if several and default else default
        parser.add_argument(flag, help=f"{field.metadata['help']} (default: {shown})", **kwargs)


def options_from(cls: type, args: argparse.Namespace, **overrides: Any):
    """An instance of `cls` from parsed arguments; fields the parser lacks keep their defaults."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **overrides})
