"""checkov (framework bicep) finds no failed check in infra/; every skip is in place, with a written reason, and
still needed (a skip whose check no longer runs on that resource is stale and fails the test)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"
SKIP = re.compile(r"//\s*checkov:skip=(CKV2?_[A-Z]+_\d+)(?::\s*(.*))?")


@pytest.fixture(scope="module")
def report() -> dict:
    checkov = Path(sys.executable).with_name("checkov")
    proc = subprocess.run(
        [str(checkov), "--directory", str(INFRA), "--framework", "bicep", "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_"))},
    )
    assert proc.stdout.strip(), f"checkov printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def skips_in_files() -> dict[tuple[str, str], str]:
    """(file relative to infra/ with a leading '/', check id) -> written reason, for every in-place skip."""
    found = {}
    for path in INFRA.rglob("*.bicep"):
        for line in path.read_text().splitlines():
            if m := SKIP.search(line):
                found[("/" + str(path.relative_to(INFRA)), m.group(1))] = (m.group(2) or "").strip()
    return found


def test_checkov_scans_every_bicep_file_without_parsing_errors(report) -> None:
    assert report["check_type"] == "bicep"
    assert report["summary"]["parsing_errors"] == 0, report["results"].get("parsing_errors")
    scanned = {c["file_path"] for c in report["results"]["passed_checks"] + report["results"]["skipped_checks"]}
    assert len(scanned) >= 6 and report["summary"]["passed"] >= 20


def test_checkov_has_no_failed_check(report) -> None:
    failed = [f"{c['check_id']} {c['check_name']} at {c['file_path']}:{c['file_line_range']} ({c['resource']})"
              for c in report["results"]["failed_checks"]]
    assert failed == []


def test_every_skip_has_a_reason_and_is_still_needed(report) -> None:
    in_files = skips_in_files()
    assert in_files, "no in-place skip found: the pattern or the files changed"
    for (file, check), reason in in_files.items():
        assert len(reason) >= 20, f"{file}: #checkov:skip={check} needs a written reason"
    skipped = {(c["file_path"], c["check_id"]) for c in report["results"]["skipped_checks"]}
    assert set(in_files) - skipped == set(), "stale skips (the check no longer applies there)"
    assert skipped - set(in_files) == set(), "skips that are not written in place in the files"
