"""Data validation: an uploaded CSV checked against its model's ``model.yaml`` schema before any training.

``validate_csv`` is pure (it only reads the file) and streams it, so a 200 MB upload is never held in memory.
Rows are numbered as in a spreadsheet: the header is row 1, the first data row is row 2. At most
``MAX_ERRORS`` errors are reported; one more then says where checking stopped.
"""

from __future__ import annotations

import codecs
import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory.model_spec import ColumnSpec, DataSchema, ModelSpec

MAX_ERRORS = 20
SNIFF_BYTES = 64 * 1024
_OTHER_DELIMITERS = (";", "\t", "|")
_BOOLEANS = {"true", "false", "1", "0", "yes", "no", "t", "f", "y", "n"}


@dataclass(frozen=True)
class DataError:
    """One thing wrong with an upload: where (``row``/``column`` when they apply) and what was expected."""

    model: str
    file: str  # how the upload is shown to people, e.g. "incoming/nyc_taxi/2026-11.csv"
    expected: str
    got: str = ""
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [f"row {self.row}"] if self.row is not None else []
        if self.column is not None:
            where.append(f'column "{self.column}"')
        place = ", ".join(where)
        got = f", got {self.got}" if self.got else ""
        return f"{self.model} upload {self.file}: {place + ': ' if place else ''}expected {self.expected}{got}"

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "file": self.file, "row": self.row, "column": self.column,
                "expected": self.expected, "got": self.got, "message": str(self)}


def _shown(value: str, limit: int = 40) -> str:
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return f'"{value}"'


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _is_integer(value: str) -> bool:
    try:
        return float(value).is_integer()
    except (ValueError, OverflowError):
        return False


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_CHECKS: dict[str, tuple[Callable[[str], bool], str]] = {
    "number": (_is_number, "a number"),
    "integer": (_is_integer, "a whole number"),
    "datetime": (_is_datetime, "a date and time (ISO 8601, e.g. 2026-11-03 14:05:00)"),
    "boolean": (lambda v: v.lower() in _BOOLEANS, "true or false"),
    "string": (lambda v: True, "text"),
}


def _looks_binary(head: bytes) -> str | None:
    """Why the first bytes cannot be a CSV text file, or None."""
    if b"\0" in head:
        return "binary data (NUL bytes)"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a multi-byte character cut at the end is fine
    except UnicodeDecodeError as exc:
        return f"bytes that are not UTF-8 text (at byte {exc.start})"
    return None


def size_error(size: int, spec: ModelSpec, display_name: str) -> DataError | None:
    """The error for an upload of ``size`` bytes over the model's ``data.max_mb``, or None. Checked on the blob's
    properties before downloading it, and again on the file itself."""
    if size <= spec.data.max_bytes:
        return None
    return DataError(model=spec.name, file=display_name, expected=f"a file of at most {spec.data.max_mb:g} MB",
                     got=f"{size / 1e6:.1f} MB")


def validate_csv(path: Path, spec: ModelSpec, display_name: str, max_errors: int = MAX_ERRORS) -> list[DataError]:
    """Every problem (up to ``max_errors``) that keeps ``path`` from being a valid upload for ``spec``.

    Checks, in order: size limit, empty file, not a CSV (binary, not UTF-8, another delimiter), the header
    (missing required columns), each row (field count, required values, types), then the row count.
    An empty list means the file is valid.
    """
    path = Path(path)
    schema = spec.data
    if not isinstance(schema, DataSchema):
        raise ValueError(f"{spec.name}: data.kind is {schema.kind}, not table: its uploads are not CSV files")

    def error(expected: str, got: str = "", row: int | None = None, column: str | None = None) -> DataError:
        return DataError(model=spec.name, file=display_name, expected=expected, got=got, row=row, column=column)

    too_big = size_error(path.stat().st_size, spec, display_name)
    if too_big:
        return [too_big]
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        return [error(f"a CSV file with a header row and at least {schema.min_rows} data rows", "an empty file")]
    if reason := _looks_binary(head):
        return [error("a CSV text file (UTF-8, comma-separated)", reason)]

    errors: list[DataError] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, strict=False)
        header = next((r for r in reader if any(f.strip() for f in r)), None)
        if header is None:
            return [error(f"a CSV file with a header row and at least {schema.min_rows} data rows", "an empty file")]
        header = [h.strip() for h in header]
        header_row = reader.line_num
        if len(header) == 1 and len(schema.columns) > 1:
            used = next((d for d in _OTHER_DELIMITERS if d in header[0]), None)
            got = f"a header separated by {used!r}" if used else f"a single column {_shown(header[0])}"
            return [error("comma-separated values", got, row=header_row)]
        positions: list[tuple[ColumnSpec, int]] = []
        for column in schema.columns:
            index = next((header.index(n) for n in column.names if n in header), None)
            if index is not None:
                positions.append((column, index))
            elif column.required:
                also = f" (or {', '.join(column.aliases)})" if column.aliases else ""
                errors.append(error(f"a column named {column.name}{also}", "a header without it",
                                    row=header_row, column=column.name))
        if errors:
            return errors[:max_errors]
        rows = 0
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            rows += 1
            row = reader.line_num
            if len(fields) != len(header):
                errors.append(error(f"{len(header)} fields as in the header", f"{len(fields)} fields", row=row))
            else:
                for column, index in positions:
                    value = fields[index].strip()
                    if value == "":
                        if column.required:
                            errors.append(error(f"a value ({_CHECKS[column.type][1]})", "an empty cell", row=row,
                                                column=header[index]))
                        continue
                    check, expected = _CHECKS[column.type]
                    if not check(value):
                        errors.append(error(expected, _shown(value), row=row, column=header[index]))
            if len(errors) >= max_errors:
                stop = error(f"at most {max_errors} errors", f"more; checking stopped at row {row}")
                return [*errors[:max_errors], stop]
    if rows < schema.min_rows:
        errors.append(error(f"at least {schema.min_rows} data rows", str(rows)))
    return errors
