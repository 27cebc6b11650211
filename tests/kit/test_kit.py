"""The model kit: snapshots made as Azure ML makes them, and a model's own file winning over the kit's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from factory.adapters.local.pipeline_plan import PipelineError, load_plan
from factory.adapters.local.pipeline_runner import run_pipeline
from factory.catalog import load_model_spec
from factory.kit import KIT, KitError, place_kit_beside, snapshot, stage_component
from factory.ports import TrainingRequest

REPO = Path(__file__).resolve().parents[2]


def _copy(models: Path, source: str, name: str) -> Path:
    place_kit_beside(models)
    dest = models / name
    shutil.copytree(REPO / "models" / source, dest, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    spec = yaml.safe_load((dest / "model.yaml").read_text())
    spec["name"] = name
    (dest / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return dest


def test_a_snapshot_holds_the_code_folder_and_each_include_by_name(tmp_path):
    code = tmp_path / "src"
    (code / "pkg").mkdir(parents=True)
    (code / "train.py").write_text("print('train')\n")
    (code / "pkg" / "util.py").write_text("X = 1\n")
    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    shared = tmp_path / "kit"
    (shared / "helpers").mkdir(parents=True)
    (shared / "artifact.py").write_text("A = 1\n")
    (shared / "helpers" / "io.py").write_text("B = 2\n")
    out = snapshot(code, [shared / "artifact.py", shared / "helpers"], tmp_path / "snap")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["artifact.py", "helpers/io.py", "pkg/util.py", "train.py"]


def test_an_include_colliding_with_a_code_file_is_refused_as_azure_ml_refuses_it(tmp_path):
    code = tmp_path / "src"
    code.mkdir()
    (code / "artifact.py").write_text("OWN = True\n")
    with pytest.raises(KitError, match="already exists"):
        snapshot(code, [KIT / "stages" / "artifact.py"], tmp_path / "snap")
    with pytest.raises(KitError, match="does not exist"):
        snapshot(code, [tmp_path / "nowhere.py"], tmp_path / "snap2")
    # the same folder for Azure ML: a model that adds its own artifact.py but still includes the kit's
    folder = _copy(tmp_path / "models", "wine_cultivar", "wine_own")
    (folder / "src" / "artifact.py").write_text((KIT / "stages" / "artifact.py").read_text())
    train = stage_component(folder, "train")
    assert not train._validate().passed  # azure-ai-ml: "A file already exists for additional include"
    with pytest.raises(PipelineError, match=r"train.yml: step train: additional include .*already exists"):
        load_plan(load_model_spec(folder))


def test_the_kit_components_leave_out_an_include_the_model_overrides(tmp_path):
    folder = _copy(tmp_path / "models", "wine_cultivar", "wine_own")
    plan = {s.name: s for s in load_plan(load_model_spec(folder)).steps}
    helpers = ["image_classifier.py", "images.py", "onnx_artifact.py"]  # for an image model's own score.py
    assert [Path(i).name for i in plan["score"].includes] == ["score.py", "artifact.py", *helpers]
    assert plan["score"].code_dir == str(folder / "src")
    (folder / "src" / "score.py").write_text("raise SystemExit('x')\n")
    plan = {s.name: s for s in load_plan(load_model_spec(folder)).steps}
    assert [Path(i).name for i in plan["score"].includes] == ["artifact.py", *helpers]
    assert stage_component(folder, "score")._validate().passed


OWN_SCORE = '''"""wine_own's own batch scoring: the kit's, plus a marker in summary.json."""
import argparse
import json
from pathlib import Path

import artifact
import numpy as np
import pandas as pd

parser = argparse.ArgumentParser()
for name in ("--model", "--features", "--scores"):
    parser.add_argument(name, type=Path, required=True)
args = parser.parse_args()
estimator, card = artifact.load(args.model)
test = pd.read_csv(args.features / "test.csv")
predicted = np.asarray(estimator.predict(artifact.feature_matrix(test, card)))
args.scores.mkdir(parents=True, exist_ok=True)
(args.scores / "summary.json").write_text(json.dumps({"rows": len(test), "scored_by": "wine_own"}))
print(f"score: {len(test)} rows scored by the model's own score.py")
'''


@pytest.mark.slow  # a whole training run (about 18 s): with the slow suite, so `make test` keeps its budget
def test_a_model_overriding_a_kit_stage_runs_its_own_file(tmp_path):
    folder = _copy(tmp_path / "models", "wine_cultivar", "wine_own")
    (folder / "src" / "score.py").write_text(OWN_SCORE)
    spec = load_model_spec(folder)
    request = TrainingRequest(model="wine_own", run_id="own-1", data_uri=str(folder / "data" / "wine.csv"))
    result = run_pipeline(spec, request, tmp_path / "run", tmp_path / "state")
    assert result.registered.version == "1"
    summary = json.loads((tmp_path / "run" / "steps" / "score" / "scores" / "summary.json").read_text())
    assert summary["scored_by"] == "wine_own" and summary["rows"] > 0
    snap = tmp_path / "run" / "snapshots"
    assert (snap / "score" / "score.py").read_text() == OWN_SCORE
    assert (snap / "register" / "register.py").read_bytes() == (KIT / "stages" / "register.py").read_bytes()
    assert (snap / "train" / "artifact.py").read_bytes() == (KIT / "stages" / "artifact.py").read_bytes()
