"""Data validation: every bad-data case gives a message naming file, row and column, and trains nothing."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from models_testlib import MODELS

from cli.commands.models import cmd_train, register
from factory.catalog import load_catalog
from factory.validation import MAX_ERRORS, validate_csv

CATALOG = load_catalog(MODELS)
TAXI, WINE = CATALOG["nyc_taxi"], CATALOG["wine_cultivar"]
SHOWN = "incoming/nyc_taxi/2026-11.csv"


def _taxi_rows(n: int = 600) -> list[list[str]]:
    with TAXI.data.sample.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    return rows[: n + 1]


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _messages(path: Path, spec=TAXI) -> list[str]:
    return [str(e) for e in validate_csv(path, spec, SHOWN)]


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_sample_upload_is_valid(name, tmp_path):
    spec = CATALOG[name]
    if spec.data.kind == "images":
        from factory.image_validation import validate_image_archive

        assert validate_image_archive(spec.data.sample, spec, spec.data.sample.name, tmp_path / "extract") == []
    else:
        assert validate_csv(spec.data.sample, spec, spec.data.sample.name) == []


def test_the_yellow_feed_is_valid_for_nyc_taxi_through_its_column_aliases():
    assert validate_csv(MODELS / "nyc_taxi" / "data" / "yellowTaxiData.csv", TAXI, "yellow.csv") == []


def test_wrong_type_names_row_column_expected_and_got(tmp_path):
    rows = _taxi_rows()
    column = rows[0].index("tripDistance")
    rows[136][column] = "three miles"  # spreadsheet row 137: the header is row 1
    assert _messages(_write(tmp_path / "x.csv", rows)) == [
        f'nyc_taxi upload {SHOWN}: row 137, column "tripDistance": expected a number, got "three miles"']


def test_bad_datetime_and_integer_and_empty_required_value(tmp_path):
    rows = _taxi_rows()
    rows[5][rows[0].index("lpepPickupDatetime")] = "yesterday"
    rows[6][rows[0].index("passengerCount")] = "1.5"
    rows[7][rows[0].index("fareAmount")] = ""
    messages = _messages(_write(tmp_path / "x.csv", rows))
    assert messages[0].startswith(f'nyc_taxi upload {SHOWN}: row 6, column "lpepPickupDatetime": expected a date')
    assert messages[0].endswith('got "yesterday"')
    assert messages[1] == f'nyc_taxi upload {SHOWN}: row 7, column "passengerCount": expected a whole number, got "1.5"'
    assert messages[2] == (f'nyc_taxi upload {SHOWN}: row 8, column "fareAmount": expected a value (a number), '
                           "got an empty cell")


def _without(rows: list[list[str]], column: str) -> list[list[str]]:
    index = rows[0].index(column)
    return [r[:index] + r[index + 1:] for r in rows]


def test_missing_column(tmp_path):
    rows = _without(_taxi_rows(), "fareAmount")
    assert _messages(_write(tmp_path / "x.csv", rows)) == [
        f'nyc_taxi upload {SHOWN}: row 1, column "fareAmount": expected a column named fareAmount, '
        "got a header without it"]


def test_a_missing_optional_column_is_fine(tmp_path):
    rows = _without(_taxi_rows(), "rateCodeID")
    assert _messages(_write(tmp_path / "x.csv", rows)) == []


def test_empty_file(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"")
    assert _messages(tmp_path / "x.csv") == [
        f"nyc_taxi upload {SHOWN}: expected a CSV file with a header row and at least 500 data rows, got an empty file"]


def test_binary_file_is_not_a_csv(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + os.urandom(2000))
    assert _messages(tmp_path / "x.csv") == [
        f"nyc_taxi upload {SHOWN}: expected a CSV text file (UTF-8, comma-separated), got binary data (NUL bytes)"]


def test_latin1_text_is_not_utf8(tmp_path):
    (tmp_path / "x.csv").write_bytes("alcohol;région\n".encode("latin-1"))
    assert "got bytes that are not UTF-8 text" in _messages(tmp_path / "x.csv")[0]


def test_wrong_delimiter(tmp_path):
    rows = _taxi_rows()
    (tmp_path / "x.csv").write_text("\n".join(";".join(r) for r in rows) + "\n")
    assert _messages(tmp_path / "x.csv") == [
        f"nyc_taxi upload {SHOWN}: row 1: expected comma-separated values, got a header separated by ';'"]


def test_too_few_rows(tmp_path):
    assert _messages(_write(tmp_path / "x.csv", _taxi_rows(120))) == [
        f"nyc_taxi upload {SHOWN}: expected at least 500 data rows, got 120"]


def test_over_the_size_limit_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "x.csv"
    with big.open("wb") as f:  # a sparse 30 MB file: wine.csv allows 20 MB
        f.truncate(30_000_000)
    assert [str(e) for e in validate_csv(big, WINE, "big.csv")] == [
        "wine_cultivar upload big.csv: expected a file of at most 20 MB, got 30.0 MB"]


def test_ragged_row(tmp_path):
    rows = _taxi_rows()
    rows[10] = rows[10][:5]
    assert _messages(_write(tmp_path / "x.csv", rows)) == [
        f"nyc_taxi upload {SHOWN}: row 11: expected 23 fields as in the header, got 5 fields"]


def test_errors_are_capped(tmp_path):
    rows = _taxi_rows()
    for row in rows[1:]:
        row[rows[0].index("tripDistance")] = "far"
    messages = _messages(_write(tmp_path / "x.csv", rows))
    assert len(messages) == MAX_ERRORS + 1
    assert messages[-1] == f"nyc_taxi upload {SHOWN}: expected at most {MAX_ERRORS} errors, got more; checking " \
                           f"stopped at row {MAX_ERRORS + 1}"


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    rows = _taxi_rows()
    bad_type = [list(r) for r in rows]
    bad_type[3][rows[0].index("tripDistance")] = "three miles"
    files = {
        "wrong type": _write(tmp_path / "type.csv", bad_type),
        "missing column": _write(tmp_path / "missing.csv", [r[:4] for r in rows]),
        "too few rows": _write(tmp_path / "few.csv", rows[:50]),
        "empty": tmp_path / "empty.csv",
        "binary": tmp_path / "binary.csv",
        "delimiter": tmp_path / "semicolon.csv",
    }
    files["empty"].write_bytes(b"")
    files["binary"].write_bytes(b"\x00\x01\x02" * 100)
    files["delimiter"].write_text("\n".join(";".join(r) for r in rows))
    return files


def test_every_bad_data_case_trains_nothing_through_the_cli(tmp_path, monkeypatch, capsys):
    import argparse

    state = tmp_path / "state"
    monkeypatch.setenv("FACTORY_STATE_DIR", str(state))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    for case, path in _bad_files(tmp_path).items():
        args = parser.parse_args(["train", "nyc_taxi", "--data", str(path), "--models-dir", str(MODELS)])
        assert cmd_train(args) == 1, case
        err = capsys.readouterr().err
        assert "nothing was trained" in err and f"nyc_taxi upload {path}" in err, case
    assert not state.exists()  # no run folder, no MLflow store: nothing started
