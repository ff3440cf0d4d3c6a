"""Config dataclasses from JSON-like dicts (checkpoint sidecars, build specs sent to worker processes)."""

from __future__ import annotations

import dataclasses
import typing

from avremix.errors import UsageError


def config_from_dict(cls: type, data: dict):
    """Rebuild a (nested) config dataclass; lists become tuples; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise UsageError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    kwargs = {}
    for key, value in data.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            value = config_from_dict(kind, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)
