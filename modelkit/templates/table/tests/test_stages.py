"""__MODEL__'s stages on its sample, run as its pipeline steps run them (src/ plus the kit's files)."""

import json
from pathlib import Path

from factory.catalog import load_model_spec
from factory.gate import evaluate
from factory.kit import run_stage

MODEL = Path(__file__).resolve().parents[1]


def test_the_stages_train_a_model_that_passes_its_gate(tmp_path):
    data = load_model_spec(MODEL).data.sample  # the sample model.yaml declares (data.sample)
    out = {n: tmp_path / n for n in ("p", "f", "m", "e")}
    for program, *args in (("prep", "--data", data, "--prepared", out["p"]),
                           ("transform", "--prepared", out["p"], "--features", out["f"]),
                           ("train", "--features", out["f"], "--model_name", MODEL.name, "--model", out["m"]),
                           ("evaluate", "--model", out["m"], "--features", out["f"], "--metrics", out["e"])):
        done = run_stage(MODEL, program, *args)
        assert done.returncode == 0, done.stderr
    metrics = json.loads((out["e"] / "metrics.json").read_text())
    verdict = evaluate(metrics, load_model_spec(MODEL).gate)
    assert verdict.passed, verdict.reasons
