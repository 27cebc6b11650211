"""The factory's typed settings: one table (factory/settings.py FIELDS) gives each field's app setting, type and
default; docs/settings.md is generated from it and must be current."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.settings import FIELDS, Settings, SettingsError, markdown

ROOT = Path(__file__).resolve().parents[2]


def test_docs_settings_md_is_generated_from_the_table():
    assert (ROOT / "docs" / "settings.md").read_text() == markdown(), \
        "docs/settings.md is stale: run `python -m factory.settings > docs/settings.md`"


def test_every_field_reads_its_setting_with_its_type_and_default():
    defaults = Settings.from_env({})
    assert defaults.build_timeout_s == 1800 and defaults.activity_attempts == 3
    assert defaults.approval_timeout_s == 24 * 3600 and defaults.website_hostname == "127.0.0.1:7071"
    raw = {"FACTORY_BUILD_TIMEOUT_SECONDS": "90", "FACTORY_ACTIVITY_RETRY_SECONDS": "0.5",
           "APPROVAL_SIGNING_KEY": "k" * 40, "FACTORY_MODELS_DIR": "elsewhere"}
    settings = Settings.from_env(raw)
    assert settings.build_timeout_s == 90 and settings.activity_retry_s == 0.5
    assert settings.approval_signing_key == "k" * 40 and settings.models_dir == (Path(".") / "elsewhere").resolve()
    assert {type(getattr(settings, f.attr)) for f in FIELDS if f.kind is int} == {int}


def test_a_malformed_setting_is_named():
    with pytest.raises(SettingsError, match="FACTORY_ACTIVITY_ATTEMPTS must be int, got 'three'"):
        Settings.from_env({"FACTORY_ACTIVITY_ATTEMPTS": "three"})


def test_a_rollout_poll_interval_of_zero_or_less_is_refused_by_name():
    assert Settings.from_env({}).rollout_poll_s == 30.0
    assert Settings.from_env({"FACTORY_ROLLOUT_POLL_SECONDS": "1.5"}).rollout_poll_s == 1.5
    for raw in ("0", "-2"):
        with pytest.raises(SettingsError, match="FACTORY_ROLLOUT_POLL_SECONDS must be above 0"):
            Settings.from_env({"FACTORY_ROLLOUT_POLL_SECONDS": raw})
