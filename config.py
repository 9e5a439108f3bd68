"""
Plain-Python config files and --key=value flags, checked against dataclasses.

A config file is trusted Python that assigns names (`n_layer = 12`). Files are read in order, then flags;
later ones override earlier ones. Every name must be a field of one of the given dataclasses and have that
field's type, otherwise loading stops at once with a one-line error that names the valid keys.
"""

import ast
import dataclasses
import types
import typing
from pathlib import Path

from errors import UserError


def read_config_file(path):
    """The names a config file assigns (private names, modules, functions and classes left out)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} not found")
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return {
        key: value
        for key, value in namespace.items()
        if not key.startswith("_") and not isinstance(value, (types.ModuleType, types.FunctionType, type))
    }


def parse_flag(flag, field_types):
    """'--key=value' -> (key, value): the text itself for a str field (--wandb_run_name=123 stays a name),
    otherwise a Python literal where it parses as one (1e-4, True, None), else the text."""
    if not flag.startswith("--") or "=" not in flag:
        raise UserError(f"expected a config file or --key=value, got {flag!r}")
    key, text = flag[2:].split("=", 1)
    if field_types.get(key) is str:
        return key, text
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


def check_type(key, value, expected):
    """value converted to the field type `expected` (an int is a fine float), or a UserError."""
    allowed = typing.get_args(expected) if typing.get_origin(expected) in (typing.Union, types.UnionType) else ()
    for option in allowed or (expected,):
        if option is type(None) and value is None:
            return None
        if option is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if option is not type(None) and type(value) is option:
            return value
    names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed or (expected,))
    raise UserError(f"config key {key!r} must be {names}, got {value!r} ({type(value).__name__})")


def load_config(sources, *config_classes):
    """Instances of config_classes filled from sources: config file paths and '--key=value' flags."""
    field_types = {}
    for cls in config_classes:
        field_types.update(typing.get_type_hints(cls))
    settings = {}
    for source in sources:
        if source.startswith("--"):
            key, value = parse_flag(source, field_types)
            items, origin = {key: value}, "flag"
        else:
            items, origin = read_config_file(source), source
        for key, value in items.items():
            if key not in field_types:
                valid = ", ".join(sorted(field_types))
                raise UserError(f"unknown config key {key!r} ({origin}); valid keys: {valid}")
            settings[key] = check_type(key, value, field_types[key])
    instances = []
    for cls in config_classes:
        names = {f.name for f in dataclasses.fields(cls)}
        instances.append(cls(**{k: v for k, v in settings.items() if k in names}))
    return tuple(instances)
