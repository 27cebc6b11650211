"""The register step's ``registered.json`` is read as a ``Registration`` record: a model's own register stage
that writes another shape fails the run with the file and the field named, not a ``KeyError`` minutes later."""

import json
from pathlib import Path

import pytest

from contract import Registration
from factory.adapters.local.pipeline_plan import PipelineError, Plan, output_dir, read_registration

PLAN = Plan(model="wine_cultivar", steps=[], outputs={"registration": "register.registration"})


def _write(run_dir: Path, text: str) -> Path:
    path = output_dir(run_dir, "register", "registration") / "registered.json"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_kits_registration_reads_as_a_record(tmp_path):
    _write(tmp_path, json.dumps({"name": "wine_cultivar", "version": "3", "tags": {"run_id": "r1"}, "reused": True}))
    assert read_registration(PLAN, tmp_path) == Registration("wine_cultivar", "3", {"run_id": "r1"}, reused=True)


@pytest.mark.parametrize(("written", "says"), [
    ('{"name": "wine_cultivar", "version": 3, "tags": {}}',
     'field version: expected the registered version as text (e.g. "3"), got 3'),
    ('{"name": "wine_cultivar", "version": "3", "tags": {"accuracy": 0.9}}',
     "field tags: expected a mapping of text to text, got {'accuracy': 0.9}"),
    ('{"name": "wine_cultivar", "version": "3", "tags": ["run_id"]}',
     "field tags: expected a mapping of text to text, got ['run_id']"),
    ('{"name": "wine_cultivar", "version": "3", "reused": "yes"}', "field reused: expected true or false, got 'yes'"),
    ('{"model": "wine_cultivar", "version": "3"}',
     "field name: expected a non-empty string (the field is required), got nothing"),
    ('["wine_cultivar", "3"]', "field (top level): expected a mapping, got ['wine_cultivar', '3']"),
    ('{"name": "wine_cultivar", "version": "3"', "Expecting ',' delimiter"),
])
def test_a_registration_of_another_shape_names_the_file_and_the_field(tmp_path, written, says):
    path = _write(tmp_path, written)
    with pytest.raises(PipelineError) as err:
        read_registration(PLAN, tmp_path)
    assert str(err.value).startswith(f"models/wine_cultivar: {path}: ") and says in str(err.value)
