"""What ``func azure functionapp publish`` uploads: every file of the checkout that ``.funcignore`` does not
exclude (gitignore rules). The command line, the local stand-ins, devhost and the local adapters stay home."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_DEPLOYED = ("devhost/", "localstack/", "factory/adapters/local/", "cli/", "tests/")


def deployable_files() -> list[str]:
    """The checkout's files (tracked, as CI has them) less what ``.funcignore`` excludes, matched with git's own
    gitignore matcher (``check-ignore --no-index`` with ``.funcignore`` as the only exclude file)."""
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True,
                             timeout=60).stdout.decode().split("\0")
    files = [f for f in tracked if f]
    check = subprocess.run(["git", "-C", str(ROOT), "-c", f"core.excludesFile={ROOT / '.funcignore'}",
                            "check-ignore", "--no-index", "--stdin", "-z", "--verbose", "--non-matching"],
                           input="\0".join(files).encode(), capture_output=True, timeout=60)
    fields = check.stdout.decode().split("\0")
    deployed: list[str] = []
    for source, _line, _pattern, path in zip(fields[0::4], fields[1::4], fields[2::4], fields[3::4], strict=False):
        if not source or not source.endswith(".funcignore"):
            deployed.append(path)  # no pattern matched, or only a .gitignore one (func ignores those)
    return sorted(deployed)


def test_the_deployed_package_holds_the_app_and_not_the_cli_the_stand_ins_or_the_local_adapters():
    deployed = deployable_files()
    assert "function_app/__init__.py" in deployed and "contract/summary.py" in deployed
    assert "orchestrations/run.py" in deployed and "factory/steps.py" in deployed
    assert "factory/adapters/azure/blob.py" in deployed and "model_server/compare.py" in deployed
    assert "host.json" in deployed and "requirements.txt" in deployed
    leaked = [f for f in deployed if f.startswith(NOT_DEPLOYED)]
    assert leaked == []
