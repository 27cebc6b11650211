"""digits' stage programs on a small upload, run as the pipeline runs them (a subprocess per stage in src/),
and the fp16 rule both ways: kept within the model's tolerance, refused outside it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from factory.kit import run_stage

MODEL = Path(__file__).resolve().parents[1]
SRC = MODEL / "src"
KIT_STAGES = MODEL.parents[1] / "modelkit" / "stages"  # the kit's image helpers the stages include


def _load(path: Path, name: str):
    """A module of this model by file (other models have modules of the same names)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


onnx_artifact = _load(KIT_STAGES / "onnx_artifact.py", "onnx_artifact")  # the kit helpers, by these names
images = _load(KIT_STAGES / "images.py", "images")
image_classifier = _load(KIT_STAGES / "image_classifier.py", "image_classifier")
evaluate = image_classifier  # choose(): what digits' evaluate step runs
write_sample = _load(MODEL / "data" / "make_sample.py", "digits_make_sample").write_sample


def stage(program: str, *args: object) -> str:
    done = run_stage(MODEL, program, *args, env={"PATH": "/usr/bin:/bin", "TRAIN_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits")
    write_sample(out / "upload.zip", limit=400)
    stage("prep", "--data", out / "upload.zip", "--prepared", out / "prepared")
    stage("transform", "--prepared", out / "prepared", "--features", out / "features")
    stage("train", "--features", out / "features", "--model_name", "digits", "--model", out / "model", "--epochs", 4)
    stage("evaluate", "--model", out / "model", "--features", out / "features", "--fp16_tolerance", 0.01,
          "--key_metric", "accuracy", "--chosen", out / "chosen", "--metrics", out / "metrics")
    stage("score", "--model", out / "chosen", "--features", out / "features", "--scores", out / "scores")
    return out


def test_the_stages_make_an_onnx_classifier_with_its_metrics(outputs):
    prepared = np.load(outputs / "prepared" / "images.npz")
    assert prepared["x"].shape == (400, 8, 8) and prepared["x"].dtype == np.uint8
    sizes = {n: len(np.load(outputs / "features" / f"{n}.npz")["y"]) for n in ("train", "val", "test")}
    assert sum(sizes.values()) == 400 and sizes["test"] >= 50
    card = json.loads((outputs / "chosen" / "model.json").read_text())
    assert card["format"] == "onnx" and card["task"] == "classification" and card["labels"] == list("0123456789")
    assert card["precision"] in ("fp16", "fp32") and card["framework"].startswith("torch 2.13.0")
    metrics = json.loads((outputs / "metrics" / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "f1_macro", "accuracy_fp32", "accuracy_fp16", "fp16"}
    assert metrics["accuracy"] > 0.5  # four epochs on 280 images; the full run reaches about 0.97
    assert metrics["fp16"] == (1.0 if card["precision"] == "fp16" else 0.0)
    summary = json.loads((outputs / "scores" / "summary.json").read_text())
    assert summary["rows"] == sizes["test"]
    onnx.checker.check_model(str(outputs / "chosen" / "model.onnx"))


def test_prep_refuses_a_zip_slip_member(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../evil.png", b"x")
    done = run_stage(MODEL, "prep", "--data", tmp_path / "evil.zip", "--prepared", tmp_path / "p")
    assert done.returncode != 0 and "expected a relative path inside the archive" in done.stderr
    assert not (tmp_path.parent / "evil.png").exists()


def _biased_model(folder: Path) -> Path:
    """logits = 0 · image + [1000, 1000.25]: fp32 says class 1; in fp16 both biases round to 1000 (the
    resolution there is 0.5), a tie argmax resolves to class 0, so fp16 loses every answer."""
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"]), helper.make_node("MatMul", ["flat", "W"], ["mm"]),
         helper.make_node("Add", ["mm", "B"], ["logits"])],
        "biased", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(np.zeros((64, 2), np.float32), "W"),
         numpy_helper.from_array(np.array([1000.0, 1000.25], np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    onnx_artifact.write_card(folder, {"name": "biased", "task": "classification", "format": "onnx",
                                      "labels": ["0", "1"], "precision": "fp32"})
    return folder


def test_fp16_is_refused_outside_the_tolerance_and_fp32_kept(tmp_path):
    test = {"x": np.zeros((20, 1, 8, 8), np.float32), "y": np.ones(20, np.int64)}
    metrics = evaluate.choose(_biased_model(tmp_path / "m"), test, 0.01, "accuracy", tmp_path / "chosen")
    assert metrics["accuracy_fp32"] == 1.0 and metrics["accuracy_fp16"] == 0.0
    assert metrics["fp16"] == 0.0 and metrics["accuracy"] == 1.0
    card = onnx_artifact.read_card(tmp_path / "chosen")
    assert card["precision"] == "fp32"
    assert (tmp_path / "chosen" / "model.onnx").read_bytes() == (tmp_path / "m" / "model.onnx").read_bytes()


def test_fp16_is_kept_within_the_tolerance(tmp_path):
    test = {"x": np.zeros((20, 1, 8, 8), np.float32), "y": np.ones(20, np.int64)}
    metrics = evaluate.choose(_biased_model(tmp_path / "m"), test, 1.0, "accuracy", tmp_path / "chosen")
    assert metrics["fp16"] == 1.0 and metrics["accuracy"] == 0.0
    assert onnx_artifact.read_card(tmp_path / "chosen")["precision"] == "fp16"
    kept = onnx.load(str(tmp_path / "chosen" / "model.onnx"))
    assert any(init.data_type == TensorProto.FLOAT16 for init in kept.graph.initializer)


@pytest.mark.parametrize(("fp32", "fp16", "tolerance", "higher", "kept"), [
    (0.97, 0.965, 0.01, True, True), (0.97, 0.95, 0.01, True, False), (0.97, 0.98, 0.0, True, True),
    (0.97, 0.97, None, True, False), (2.0, 2.005, 0.01, False, True), (2.0, 2.5, 0.01, False, False),
])
def test_the_fp16_rule(fp32, fp16, tolerance, higher, kept):
    assert onnx_artifact.keep_fp16(fp32, fp16, tolerance, higher) is kept
