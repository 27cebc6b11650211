"""``Record``: JSON-friendly (de)serialisation for the dataclasses that cross a process boundary."""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import asdict, fields
from enum import Enum
from typing import Any, Self, cast


class Record:
    """Mixin: JSON-friendly (de)serialisation for dataclasses that cross a process boundary (activity inputs
    and outputs, event data, HTTP bodies). ``from_dict`` ignores unknown keys, leaves missing ones (and a null
    where the field's type has no None) at their defaults, and rebuilds nested records (also in lists) and
    ``StrEnum`` members from their plain JSON forms. It is the one place a record's fields are read from a dict."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        hints = _field_types(cls)
        return cls(**{k: _coerce(hints[k], v) for k, v in data.items()
                      if k in hints and (v is not None or _admits_none(hints[k]))})

    @classmethod
    def maybe(cls, data: Any) -> Self | None:
        """``from_dict`` of ``data``, or None when it is not this record (not a dict, a required field missing,
        a value no enum of the record has): a payload of any shape."""
        if not isinstance(data, dict):
            return None
        try:
            return cls.from_dict(cast(dict[str, Any], data))
        except (TypeError, ValueError):
            return None


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in typing.get_type_hints(cls).items() if k in names}


def _admits_none(hint: Any) -> bool:
    """Whether a field of type ``hint`` may hold None (``X | None``, ``Optional[X]``, ``Any``)."""
    if hint is Any or hint is object:
        return True
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` as field type ``hint`` when that is a record or an enum (or either, optional), or a list of
    records."""
    options = typing.get_args(hint) or (hint,)
    if value is None or (value in ("", {}) and type(None) in options):
        return None  # an optional record or enum left empty
    if typing.get_origin(hint) is list and isinstance(value, list):
        item: Any = options[0]
        if isinstance(item, type) and issubclass(item, Record):
            return [item.from_dict(cast(dict[str, Any], v)) if isinstance(v, dict) else v
                    for v in cast(list[Any], value)]
        return cast(list[Any], value)
    for option in options:
        if isinstance(option, type):
            if issubclass(option, Enum) and not isinstance(value, option):
                return option(value)
            if issubclass(option, Record) and isinstance(value, dict):
                return option.from_dict(cast(dict[str, Any], value))
    return value
