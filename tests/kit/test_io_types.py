"""The local runner treats ``uri_file`` and ``uri_folder`` inputs and outputs as Azure ML does: a ``uri_folder``
output is a folder the step fills, a ``uri_file`` output is one file path (its folder made, the file not), a
consumer gets its producer's file or folder, an input bound to the other kind is refused, and a type the
runner does not support is a clear error naming the component, the step, the port and the type."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from factory.adapters.local.pipeline_plan import (
    PipelineError,
    Step,
    check_input,
    load_plan,
    output_path,
    prepare_outputs,
    resolve_command,
)
from factory.adapters.local.pipeline_runner import run_pipeline
from factory.catalog import load_model_spec
from factory.kit import place_kit_beside
from factory.ports import TrainingRequest

REPO = Path(__file__).resolve().parents[2]

PREP = Step(name="prep", command="python prep.py --data ${{inputs.data}} --table ${{outputs.table}} "
            "--images ${{outputs.images}}", code_dir=".", inputs={"data": "${{parent.inputs.data}}"},
            outputs=["table", "images"], input_types={"data": "uri_file"},
            output_types={"table": "uri_file", "images": "uri_folder"})
USE = Step(name="use", command="python use.py --table ${{inputs.table}} --images ${{inputs.images}}", code_dir=".",
           inputs={"table": "${{parent.jobs.prep.outputs.table}}", "images": "${{parent.jobs.prep.outputs.images}}"},
           outputs=[], depends_on=["prep"], input_types={"table": "uri_file", "images": "uri_folder"})


def test_outputs_are_a_file_path_or_a_folder_and_consumers_get_what_the_producer_wrote(tmp_path):
    upload = tmp_path / "upload.csv"
    upload.write_text("a\n1\n")
    prepare_outputs(tmp_path, PREP)
    table, images = output_path(tmp_path, PREP, "table"), output_path(tmp_path, PREP, "images")
    assert table.parent.is_dir() and not table.exists()  # as Azure ML: the step writes the file
    assert images.is_dir() and not any(images.iterdir())  # an empty folder the step fills
    argv = resolve_command(PREP, {"data": str(upload)}, tmp_path, producers={"prep": PREP})
    assert argv[1:] == ["prep.py", "--data", str(upload), "--table", str(table), "--images", str(images)]
    table.write_text("b\n2\n")
    (images / "0.png").write_bytes(b"png")
    argv = resolve_command(USE, {}, tmp_path, producers={"prep": PREP})
    assert argv[1:] == ["use.py", "--table", str(table), "--images", str(images)]


def test_an_input_bound_to_the_other_kind_is_refused_with_the_fix(tmp_path):
    folder, file = tmp_path / "folder", tmp_path / "file.csv"
    folder.mkdir()
    file.write_text("a\n")
    with pytest.raises(PipelineError, match=rf"step prep: input data is declared uri_file but {folder} is a folder; "
                                            "declare it uri_folder in the component, or bind it to a file"):
        check_input(PREP, "data", str(folder))
    with pytest.raises(PipelineError, match=rf"step use: input images is declared uri_folder but {file} is a file; "
                                            "declare it uri_file in the component"):
        check_input(USE, "images", str(file))
    with pytest.raises(PipelineError, match=r"input data is declared uri_file but .*missing.csv is nothing"):
        check_input(PREP, "data", str(tmp_path / "missing.csv"))
    # the upload (uri_file) bound to a folder stops the step before it runs
    with pytest.raises(PipelineError, match="input data is declared uri_file but"):
        resolve_command(PREP, {"data": str(folder)}, tmp_path, producers={"prep": PREP})


def _wine(tmp_path: Path, name: str) -> Path:
    place_kit_beside(tmp_path / "models")
    folder = tmp_path / "models" / name
    shutil.copytree(REPO / "models" / "wine_cultivar", folder, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    raw = yaml.safe_load((folder / "model.yaml").read_text())
    raw["name"] = name
    (folder / "model.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def _replace(file: Path, old: str, new: str) -> None:
    text = file.read_text()
    assert old in text, (file, old)
    file.write_text(text.replace(old, new))


PREP_TO_FILE = """import sys
    from pathlib import Path
    out = Path(sys.argv[4])
    out.parent.mkdir(parents=True, exist_ok=True)
    clean(tabular.read_upload(Path(sys.argv[2]))).to_csv(out, index=False)"""
TRANSFORM_FROM_FILE = """import sys
    from pathlib import Path
    out = Path(sys.argv[4])
    out.mkdir(parents=True, exist_ok=True)
    for part, rows in zip(("train", "test"), split(pd.read_csv(sys.argv[2])), strict=True):
        rows.to_csv(out / f"{part}.csv", index=False)"""


@pytest.mark.slow  # a whole training run (about 18 s): with the slow suite, so `make test` keeps its budget
def test_a_uri_file_output_passed_between_steps_trains_a_model(tmp_path):
    """prep writes one CSV file (``uri_file``), transform reads that file: the run registers a version."""
    folder = _wine(tmp_path, "wine_file")
    components, src = folder / "mlops" / "components", folder / "src"
    _replace(components / "prep.yml", "prepared: {type: uri_folder}", "prepared: {type: uri_file}")
    _replace(components / "transform.yml", "prepared: {type: uri_folder}", "prepared: {type: uri_file}")
    # the kit's mains read and write folders: here prep writes the file and transform reads it (argv: --x X --y Y)
    _replace(src / "prep.py", 'tabular.prep_main(clean, "wines")', PREP_TO_FILE)
    _replace(src / "transform.py", "tabular.transform_main(split, FEATURES)", TRANSFORM_FROM_FILE)
    spec = load_model_spec(folder)
    request = TrainingRequest(model=spec.name, run_id="file-1", data_uri=str(folder / "data" / "wine.csv"))
    result = run_pipeline(spec, request, tmp_path / "run", tmp_path / "state")
    assert result.registered.version == "1"
    assert (tmp_path / "run" / "steps" / "prep" / "prepared" / "prepared").is_file()


@pytest.mark.parametrize(("port", "declared"), [("outputs", "mltable"), ("inputs", "custom_model")])
def test_a_type_the_local_runner_does_not_support_is_a_clear_error(tmp_path, port, declared):
    folder = _wine(tmp_path, "wine_types")
    component = folder / "mlops" / "components" / "transform.yml"
    name = "features" if port == "outputs" else "prepared"
    _replace(component, f"{name}: {{type: uri_folder}}", f"{name}: {{type: {declared}}}")
    kind = "output" if port == "outputs" else "input"
    with pytest.raises(PipelineError, match=rf"transform.yml: step transform, {kind} {name}: type {declared} is not "
                                            r"supported by the local runner; use one of uri_file, uri_folder"):
        load_plan(load_model_spec(folder))
