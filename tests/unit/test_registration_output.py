"""The register step's ``registered.json`` is read as a ``Registration`` record: a model's own register stage
that writes another shape fails the run with the file and the field named, not a ``KeyError`` minutes later."""

import json
from pathlib import Path

import pytest

from contract import Registration
from factory.adapters.local.pipeline_plan import Plan, output_dir
from factory.adapters.local.pipeline_runner import PipelineError, read_registration

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
    ('{"name": "wine_cultivar", "version": 3, "tags": {}}', "version is 3; expected the registered version as text"),
    ('{"name": "wine_cultivar", "version": "3", "tags": {"accuracy": 0.9}}', "tags must map text to text"),
    ('{"name": "wine_cultivar", "version": "3", "tags": ["run_id"]}', "tags must map text to text"),
    ('{"name": "wine_cultivar", "version": "3", "reused": "yes"}', "reused is 'yes'; expected true or false"),
    ('{"model": "wine_cultivar", "version": "3"}', "expected an object with name and version"),
    ('["wine_cultivar", "3"]', "expected an object with name and version"),
    ('{"name": "wine_cultivar", "version": "3"', "Expecting ',' delimiter"),
])
def test_a_registration_of_another_shape_names_the_file_and_the_field(tmp_path, written, says):
    path = _write(tmp_path, written)
    with pytest.raises(PipelineError) as err:
        read_registration(PLAN, tmp_path)
    assert str(err.value).startswith(f"models/wine_cultivar: {path}: ") and says in str(err.value)
