"""shapes_detector's stage programs on a small generated upload, run as the pipeline runs them (a subprocess
per stage from the kit's snapshot of src/), mAP@0.5 on hand-made boxes, the decoding the serving script does,
and the fp16 rule both ways on a crafted detector: kept within the model's tolerance, refused outside it."""

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
from model_server import onnx_score

MODEL = Path(__file__).resolve().parents[1]
SRC = MODEL / "src"
KIT_STAGES = MODEL.parents[1] / "modelkit" / "stages"


def _load(path: Path, name: str):
    """A module of this model by file (other models have modules of the same names)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


onnx_artifact = _load(KIT_STAGES / "onnx_artifact.py", "onnx_artifact")  # the kit helpers, by these names
metrics = _load(SRC / "metrics.py", "metrics")
evaluate = _load(SRC / "evaluate.py", "shapes_detector_evaluate")
generate = _load(MODEL / "data" / "generate.py", "shapes_detector_generate")


def stage(program: str, *args: object) -> str:
    done = run_stage(MODEL, program, *args, env={"PATH": "/usr/bin:/bin", "TRAIN_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shapes")
    generate.write_dataset(out / "upload.tar.gz", images=60, seed=3)
    stage("prep", "--data", out / "upload.tar.gz", "--prepared", out / "prepared")
    stage("transform", "--prepared", out / "prepared", "--features", out / "features")
    stage("train", "--features", out / "features", "--model_name", "shapes_detector", "--model", out / "model",
          "--epochs", 3)
    stage("evaluate", "--model", out / "model", "--features", out / "features", "--fp16_tolerance", 0.01,
          "--key_metric", "map_50", "--chosen", out / "chosen", "--metrics", out / "metrics")
    stage("score", "--model", out / "chosen", "--features", out / "features", "--scores", out / "scores")
    return out


def test_the_stages_make_an_onnx_detector_with_its_map(outputs):
    prepared = np.load(outputs / "prepared" / "images.npz")
    assert prepared["x"].shape == (60, 64, 64, 3) and len(prepared["boxes"]) == len(prepared["box_image"]) >= 60
    assert ((prepared["boxes"] >= 0) & (prepared["boxes"] <= 1)).all()
    card = json.loads((outputs / "chosen" / "model.json").read_text())
    assert card["task"] == "object_detection" and card["labels"] == ["circle", "square", "triangle"]
    assert card["precision"] in ("fp16", "fp32") and card["decoder"]["score_threshold"] == 0.3
    found = json.loads((outputs / "metrics" / "metrics.json").read_text())
    assert set(found) == {"map_50", "ap_circle", "ap_square", "ap_triangle", "map_50_fp32", "map_50_fp16", "fp16"}
    assert 0 <= found["map_50"] <= 1 and found["fp16"] == (1.0 if card["precision"] == "fp16" else 0.0)
    (dense,) = onnx_artifact.run(onnx_artifact.session(outputs / "chosen" / "model.onnx"), np.zeros((2, 3, 64, 64)))
    assert dense.shape == (2, 64, 8)  # 8×8 cells × (4 box corners + objectness + 3 class probabilities)
    assert json.loads((outputs / "scores" / "summary.json").read_text())["rows"] == 9
    assert len((outputs / "scores" / "boxes.jsonl").read_text().splitlines()) == 9


def _dense(boxes: list[tuple[int, tuple[float, ...], float]], classes: int = 2, cells: int = 6) -> np.ndarray:
    rows = np.zeros((cells, 5 + classes), np.float32)
    for k, (label, box, score) in enumerate(boxes):
        rows[k, :4], rows[k, 4], rows[k, 5 + label] = box, score, 1.0
    return rows


TRUTH = {"boxes": np.array([[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9], [0.2, 0.2, 0.6, 0.6]], np.float32),
         "box_label": np.array([0, 1, 0]), "box_image": np.array([0, 0, 1])}


def test_map_is_one_for_exact_boxes_and_falls_with_misses_and_false_alarms():
    perfect = np.stack([_dense([(0, (0.1, 0.1, 0.4, 0.4), 0.9), (1, (0.5, 0.5, 0.9, 0.9), 0.8)]),
                        _dense([(0, (0.2, 0.2, 0.6, 0.6), 0.7)])])
    assert metrics.map_at(perfect, TRUTH, 2)["map_50"] == pytest.approx(1.0)
    shifted = np.stack([_dense([(0, (0.3, 0.3, 0.6, 0.6), 0.9), (1, (0.5, 0.5, 0.9, 0.9), 0.8)]),
                        _dense([(0, (0.2, 0.2, 0.6, 0.6), 0.7)])])  # image 0's class-0 box misses (IoU < 0.5)
    result = metrics.map_at(shifted, TRUTH, 2)
    # class 0: the miss ranks first, then one of its two boxes is found at precision 0.5: AP 0.5 × 0.5
    assert result["ap_1"] == pytest.approx(1.0) and result["ap_0"] == pytest.approx(0.25)
    wrong_label = np.stack([_dense([(1, (0.1, 0.1, 0.4, 0.4), 0.9)]), _dense([])])
    assert metrics.map_at(wrong_label, TRUTH, 2)["map_50"] == pytest.approx(0.0)
    duplicate = np.stack([_dense([(0, (0.1, 0.1, 0.4, 0.4), 0.9), (0, (0.6, 0.0, 0.9, 0.3), 0.95),
                                  (1, (0.5, 0.5, 0.9, 0.9), 0.8)]), _dense([(0, (0.2, 0.2, 0.6, 0.6), 0.7)])])
    assert metrics.map_at(duplicate, TRUTH, 2)["ap_0"] == pytest.approx(2 / 3)  # a false alarm ranked first


def test_the_decoding_is_the_serving_scripts():
    """metrics.decode (what mAP counts) finds the boxes the image answers with (onnx_score.decode_detections)."""
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, 1, size=(64, 8)).astype(np.float32)
    rows[:, 2:4] = rows[:, :2] + rng.uniform(0.05, 0.4, size=(64, 2))
    onnx_score.labels = ["circle", "square", "triangle"]
    served = onnx_score.decode_detections(rows, 0.3, 0.45)
    ours = metrics.decode(rows, 0.3, 0.45)
    assert len(served) == len(ours) > 3
    assert sorted((b["label"], b["score"]) for b in served) == sorted(
        (onnx_score.labels[c], round(s, 4)) for c, s, _ in ours)


def _crafted_detector(folder: Path, truth: list[float]) -> Path:
    """A detector answering one box of class 0 for any image: ``(truth + 1000) - 1000``. In fp32 that is
    ``truth`` to 1e-4; in fp16 (resolution 0.5 at 1000) the corners snap to 0 or 0.5 and the box misses."""
    row = np.array([[*truth, 1.0, 1.0, 0.0, 0.0]], np.float32)
    nodes = [helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=1),
             helper.make_node("Reshape", ["mean", "shape"], ["per_image"]),
             helper.make_node("Mul", ["per_image", "zero"], ["nothing"]),
             helper.make_node("Sub", ["shifted", "offset"], ["rows"]),
             helper.make_node("Add", ["rows", "nothing"], ["dense"])]
    graph = helper.make_graph(
        nodes, "crafted", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 64, 64])],
        [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["batch", 1, 8])],
        [numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
         numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
         numpy_helper.from_array((row + 1000.0)[None], "shifted"),
         numpy_helper.from_array(np.array(1000.0, np.float32), "offset")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    onnx_artifact.write_card(folder, {"name": "crafted", "task": "object_detection", "format": "onnx",
                                      "labels": ["circle", "square", "triangle"], "precision": "fp32"})
    return folder


def _one_box_test_set(truth: list[float], images: int = 4) -> dict[str, np.ndarray]:
    return {"x": np.zeros((images, 3, 64, 64), np.float32), "boxes": np.array([truth] * images, np.float32),
            "box_label": np.zeros(images, np.int64), "box_image": np.arange(images, dtype=np.int64)}


def test_fp16_is_refused_outside_the_tolerance_and_fp32_kept(tmp_path):
    truth = [0.1, 0.1, 0.4, 0.4]
    found = evaluate.choose(_crafted_detector(tmp_path / "m", truth), _one_box_test_set(truth), 0.01, "map_50",
                            tmp_path / "chosen")
    assert found["map_50_fp32"] == pytest.approx(1.0) and found["map_50_fp16"] == pytest.approx(0.0)
    assert found["fp16"] == 0.0 and found["map_50"] == pytest.approx(1.0)
    assert onnx_artifact.read_card(tmp_path / "chosen")["precision"] == "fp32"
    assert (tmp_path / "chosen" / "model.onnx").read_bytes() == (tmp_path / "m" / "model.onnx").read_bytes()


def test_fp16_is_kept_within_the_tolerance(tmp_path):
    truth = [0.1, 0.1, 0.4, 0.4]
    found = evaluate.choose(_crafted_detector(tmp_path / "m", truth), _one_box_test_set(truth), 1.0, "map_50",
                            tmp_path / "chosen")
    assert found["fp16"] == 1.0 and found["map_50"] == pytest.approx(0.0)
    assert onnx_artifact.read_card(tmp_path / "chosen")["precision"] == "fp16"
    kept = onnx.load(str(tmp_path / "chosen" / "model.onnx"))
    assert any(init.data_type == TensorProto.FLOAT16 for init in kept.graph.initializer)


def test_the_serving_check_expects_the_true_box_of_one_shape_per_label(tmp_path):
    generate.write_serving_check(tmp_path)
    expected = json.loads((tmp_path / "expected-response.json").read_text())
    assert [p["boxes"][0]["label"] for p in expected["predictions"]] == list(generate.LABELS)
    for name in ("sample-request.json", "expected-response.json"):  # the committed files are the generator's
        assert (tmp_path / name).read_bytes() == (MODEL / "model" / name).read_bytes(), name
