"""Typed fields out of a YAML mapping (``model.yaml``), each failure a ``CatalogError`` naming the file, the
dotted field and what was expected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, cast


class CatalogError(ValueError):
    """A ``model.yaml`` is missing, unreadable or has a bad field; the message names file and field."""


class Fields:
    """Reads typed fields out of one YAML mapping, raising ``CatalogError`` with the file and dotted path."""

    def __init__(self, file: Path, data: Any, path: str = "") -> None:
        self.file, self.path = file, path
        if not isinstance(data, dict):
            self.fail(path or "(top level)", "a mapping", data)
        self.data: dict[str, Any] = data

    def fail(self, key: str, expected: str, got: Any) -> NoReturn:
        shown = "nothing" if got is None else repr(got)
        raise CatalogError(f"{self.file}: field {key}: expected {expected}, got {shown}")

    def key(self, key: str) -> str:
        """The dotted path of ``key`` in the file."""
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, expected: str, default: Any = ..., check: Callable[[Any], bool] | None = None) -> Any:
        value = self.data.get(key, default)
        if value is ...:
            self.fail(self.key(key), f"{expected} (the field is required)", None)
        if value is not default and check is not None and not check(value):
            self.fail(self.key(key), expected, value)
        return value

    def text(self, key: str, default: Any = ...) -> str:
        return self.get(key, "a non-empty string", default, lambda v: isinstance(v, str) and v.strip() != "")

    def number(self, key: str, default: Any = ..., positive: bool = False) -> float:
        value = self.optional_number(key, default, positive)
        if value is None:
            self.fail(self.key(key), "a number", None)
        return value

    def optional_number(self, key: str, default: float | None = None, positive: bool = False) -> float | None:
        expected = "a positive number" if positive else "a number"
        value = self.get(key, expected, default, lambda v: is_number(v) and (not positive or v > 0))
        return value if value is None else float(value)

    def integer(self, key: str, default: Any = ...) -> int:
        value = self.optional_integer(key, default)
        if value is None:
            self.fail(self.key(key), "a positive integer", None)
        return value

    def optional_integer(self, key: str, default: int | None = None) -> int | None:
        return self.get(key, "a positive integer", default,
                        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0)

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        return self.get(key, "one of " + ", ".join(choices), default, lambda v: v in choices)

    def section(self, key: str, default: Any = ...) -> Fields:
        value = self.get(key, "a mapping", default, lambda v: isinstance(v, dict))
        return Fields(self.file, value, self.key(key))

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            self.fail(self.key(extra[0]), "one of the fields " + ", ".join(sorted(known)), extra[0])


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_dict(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON/YAML mapping, else ``{}``: reading a document of unchecked shape."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """``value`` when it is a JSON/YAML list, else ``[]``."""
    return cast(list[Any], value) if isinstance(value, list) else []


def as_dicts(value: object) -> list[dict[str, Any]]:
    """The JSON/YAML mappings of ``value`` when it is a list (other items dropped), else ``[]``."""
    return [cast(dict[str, Any], v) for v in as_list(value) if isinstance(v, dict)]
