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


def test_system_keys_are_generated_0600_in_a_0700_state_dir(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, tmp_path / "state")
    state = tmp_path / "state"
    assert state.stat().st_mode & 0o777 == 0o700
    for name, value in (("durabletask_extension.key", cfg.system_key), ("eventgrid_extension.key", cfg.eventgrid_key)):
        path = state / name
        assert path.read_text() == value and len(value) >= 40
        assert path.stat().st_mode & 0o777 == 0o600
    assert len({cfg.master_key, cfg.system_key, cfg.eventgrid_key}) == 3
    again = load_config(tmp_path, state)
    assert (again.system_key, again.eventgrid_key) == (cfg.system_key, cfg.eventgrid_key)


def test_system_keys_from_local_settings(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps({"Keys": {"systemKeys": {
        "durabletask_extension": "dk", "eventgrid_extension": "ek"}}}))
    cfg = load_config(tmp_path, tmp_path / "state")
    assert (cfg.system_key, cfg.eventgrid_key) == ("dk", "ek")
