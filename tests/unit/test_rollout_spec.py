"""``rollout:`` in model.yaml: parsed into rings over stable hash buckets, every bad field named."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from factory.catalog import CatalogError, load_model_spec
from factory.rollout.spec import BUCKET_TAG, bucket, summary

MODELS = Path(__file__).resolve().parents[2] / "models"
ROLLOUT = {"fleet": "tags.site = 'plant-a'",
           "rings": [{"name": "canary", "percent": 10, "min_devices": 1, "bake_minutes": 2},
                     {"name": "wave", "percent": 50, "bake_minutes": 2}, {"name": "all", "percent": 100}],
           "abort": {"max_failed_percent": 20, "max_error_rate": 0.02, "max_p95_regression": 0.5,
                     "max_prediction_shift": 0.25}}


def model_with(tmp_path: Path, rollout: object) -> Path:
    folder = tmp_path / "nyc_taxi"
    shutil.copytree(MODELS / "nyc_taxi", folder, ignore=shutil.ignore_patterns("__pycache__"))
    raw = yaml.safe_load((folder / "model.yaml").read_text())
    raw["rollout"] = rollout
    (folder / "model.yaml").write_text(yaml.safe_dump(raw))
    return folder


def test_rollout_parses_into_disjoint_rings_whose_conditions_are_fleet_and_buckets(tmp_path):
    spec = load_model_spec(model_with(tmp_path, ROLLOUT)).rollout
    assert spec is not None
    assert [(r.name, r.percent, r.min_devices, r.bake_minutes) for r in spec.rings] == [
        ("canary", 10, 1, 2.0), ("wave", 50, 0, 2.0), ("all", 100, 0, 0.0)]
    assert [spec.buckets(i) for i in range(3)] == [(0, 10), (10, 50), (50, 100)]
    assert spec.target_condition(1) == (f"(tags.site = 'plant-a') AND tags.{BUCKET_TAG} >= 10 "
                                        f"AND tags.{BUCKET_TAG} < 50")
    assert spec.abort.max_prediction_shift == 0.25
    assert summary(spec) == ("fleet tags.site = 'plant-a': canary 10 % (at least 1 device, bakes 2 min), "
                             "wave 50 % (bakes 2 min), all 100 %")


def test_a_model_without_rollout_has_none():
    assert load_model_spec(MODELS / "nyc_taxi").rollout is None


@pytest.mark.parametrize(("change", "field", "expected"), [
    ({"fleet": "site = plant-a"}, "rollout.fleet", "target condition"),
    ({"fleet": "tags.site = 'a'\nOR 1=1"}, "rollout.fleet", "target condition"),
    ({"rings": []}, "rollout.rings", "a list of rings"),
    ({"rings": [{"name": "a", "percent": 50}, {"name": "b", "percent": 40}, {"name": "c", "percent": 100}]},
     "rollout.rings[1].percent", "above the previous ring's 50"),
    ({"rings": [{"name": "a", "percent": 50}]}, "rollout.rings[0].percent", "100 in the last ring"),
    ({"rings": [{"name": "a", "percent": 50}, {"name": "a", "percent": 100}]}, "rollout.rings[1].name", "no other"),
    ({"rings": [{"name": "a", "percent": 100, "bake_minutes": -1}]}, "rollout.rings[0].bake_minutes", "minutes"),
    ({"rings": [{"name": "a", "percent": 100, "size": 3}]}, "rollout.rings[0].size", "one of the fields"),
    ({"abort": {"max_error_rate": 2}}, "rollout.abort.max_error_rate", "between 0 and 1"),
    ({"abort": {"max_failed_percent": 120}}, "rollout.abort.max_failed_percent", "between 0 and 100"),
])
def test_a_bad_rollout_field_is_named_with_what_was_expected(tmp_path, change, field, expected):
    with pytest.raises(CatalogError) as caught:
        load_model_spec(model_with(tmp_path, {**ROLLOUT, **change}))
    message = str(caught.value)
    assert "model.yaml: field " + field + ":" in message and expected in message


def test_bucket_is_stable_and_spreads_devices_evenly():
    assert bucket("plant-a-0001") == bucket("plant-a-0001") == 46  # a constant: the same on every host
    counts = Counter(bucket(f"device-{i}") for i in range(10_000))
    assert set(counts) == set(range(100)) and max(counts.values()) < 140 and min(counts.values()) > 60


def test_the_model_schema_knows_rollout():
    import json

    import jsonschema

    schema = json.loads((MODELS.parent / "modelkit" / "schema" / "model.schema.json").read_text())
    raw = yaml.safe_load((MODELS / "nyc_taxi" / "model.yaml").read_text())
    jsonschema.validate({**raw, "rollout": ROLLOUT}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**raw, "rollout": {**ROLLOUT, "rings": [{"name": "a", "percent": 101}]}}, schema)
