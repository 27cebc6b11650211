"""host.json and local.settings.json handling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devhost.config import apply_values, load_config


def test_reads_hub_keys_and_values(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps(
        {"extensions": {"durableTask": {"hubName": "Hub1", "maxConcurrentActivityFunctions": 3}}}))
    (tmp_path / "local.settings.json").write_text(json.dumps(
        {"Values": {"A": "1"}, "Keys": {"functionKeys": {"default": "fk"}, "masterKey": "mk"}}))
    cfg = load_config(tmp_path, tmp_path / "state")
    assert (cfg.hub_name, cfg.max_activities, cfg.function_keys, cfg.master_key) == ("Hub1", 3, {"default": "fk"},
                                                                                       "mk")
    assert cfg.values == {"A": "1"} and cfg.system_key


def test_generated_master_key_is_kept_across_starts(tmp_path: Path) -> None:
    first = load_config(tmp_path, tmp_path / "state").master_key
    assert first and load_config(tmp_path, tmp_path / "state").master_key == first
    assert (tmp_path / "state" / "master.key").stat().st_mode & 0o077 == 0


def test_values_do_not_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVHOST_CFG_TEST_SET", "from-env")
    monkeypatch.delenv("DEVHOST_CFG_TEST_NEW", raising=False)
    apply_values({"DEVHOST_CFG_TEST_SET": "from-file", "DEVHOST_CFG_TEST_NEW": "from-file"})
    assert os.environ["DEVHOST_CFG_TEST_SET"] == "from-env"
    assert os.environ["DEVHOST_CFG_TEST_NEW"] == "from-file"
    monkeypatch.delenv("DEVHOST_CFG_TEST_NEW")


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text("{nope")
    with pytest.raises(SystemExit, match="host.json: not valid JSON"):
        load_config(tmp_path, tmp_path / "state")
