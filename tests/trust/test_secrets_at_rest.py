"""Secrets at rest: state folders 0700, key/approval/state files 0600, no full signature in a log, and the
run status API never hands out approval links."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from factory.adapters.local.notifier import LogNotifier
from factory.approval import approval_links
from factory.private import redact_link, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_stack_keeps_its_state_and_keys_to_its_owner(app_stack):
    state = app_stack.state_dir
    assert _mode(state) == 0o700
    for folder in ("devhost", "logs", "pids"):
        assert _mode(state / folder) == 0o700, folder
    for key in ("approval-signing-key", "devhost/master.key", "devhost/durabletask_extension.key",
                "devhost/eventgrid_extension.key"):
        assert _mode(state / key) == 0o600, key


def test_approval_requests_are_written_0600_and_logged_without_the_signature(tmp_path, caplog):
    links = approval_links("http://127.0.0.1:7071", "k" * 48, "wine-1", "3", "sha256:aa", 2_000_000_000)
    with caplog.at_level(logging.WARNING):
        LogNotifier(tmp_path / "approvals").approval_requested("wine-1", "wine", "3", links)
    written = tmp_path / "approvals" / "wine-1.json"
    assert _mode(written) == 0o600 and _mode(written.parent) == 0o700
    sig = links["approve"].rsplit("sig=", 1)[1]
    assert sig in written.read_text()  # the approver's copy has the link
    assert sig not in caplog.text and sig[:8] in caplog.text  # the log only a prefix
    assert redact_link(links["reject"]).endswith("…")


def test_write_private_replaces_a_world_readable_file_with_a_0600_one(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o600
