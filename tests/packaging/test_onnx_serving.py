"""ONNX image models served by the shared scoring server: base64 JSON and raw image bytes (Azure ML online
endpoint conventions), label + probabilities and boxes with labels and scores, bad input → 400. Tiny ONNX
graphs made with onnx.helper (no torch)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from model_server.check import wait_ready
from tests.packaging.helpers import REPO
from tests.packaging.test_server import Server

SCORE = REPO / "modelkit" / "environments" / "onnx" / "score.py"  # the shim over model_server/onnx_score.py


def _save(graph: onnx.GraphProto, folder: Path, card: dict) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def classifier(folder: Path) -> Path:
    """2x2 grey images → 3 logits: ``logits = flatten(image) @ W`` (W picks pixel 0, 1 or 2)."""
    weights = np.zeros((4, 3), dtype=np.float32)
    weights[0, 0] = weights[1, 1] = weights[2, 2] = 10.0
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"]), helper.make_node("MatMul", ["flat", "W"], ["logits"])],
        "tiny_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 2, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(weights, "W")])
    return _save(graph, folder, {"name": "tiny", "task": "classification", "format": "onnx", "labels": ["a", "b", "c"],
                                 "input": {"name": "image", "shape": [1, 2, 2], "mode": "L", "scale": 1 / 255}})


def detector(folder: Path) -> Path:
    """Any 4x4 RGB image → the same 3 candidate boxes (two overlapping circles, one square)."""
    rows = np.array([[0.1, 0.1, 0.5, 0.5, 0.9, 0.9, 0.1],     # circle 0.81
                     [0.12, 0.1, 0.5, 0.52, 0.8, 0.9, 0.1],   # circle 0.72, overlaps the first: suppressed
                     [0.6, 0.6, 0.9, 0.9, 0.95, 0.2, 0.8],    # square 0.76
                     [0.0, 0.0, 0.2, 0.2, 0.1, 0.5, 0.5]],    # below the threshold
                    dtype=np.float32).reshape(1, 4, 7)
    graph = helper.make_graph(
        [helper.make_node("Shape", ["image"], ["shape"]),
         helper.make_node("Slice", ["shape", "zero", "one"], ["batch"]),
         helper.make_node("Concat", ["batch", "tail"], ["reps"], axis=0),
         helper.make_node("Tile", ["rows", "reps"], ["dense"])],
        "tiny_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 4, 4])],
        [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["batch", 4, 7])],
        [numpy_helper.from_array(rows, "rows"), numpy_helper.from_array(np.array([0], np.int64), "zero"),
         numpy_helper.from_array(np.array([1], np.int64), "one"),
         numpy_helper.from_array(np.array([1, 1], np.int64), "tail")])
    return _save(graph, folder, {"name": "shapes", "task": "object_detection", "format": "onnx",
                                 "labels": ["circle", "square"], "decoder": {"score_threshold": 0.5,
                                                                             "iou_threshold": 0.45},
                                 "input": {"name": "image", "shape": [3, 4, 4], "mode": "RGB", "scale": 1 / 255}})


def png(pixels: list[int], fmt: str = "PNG", size: tuple[int, int] = (2, 2)) -> bytes:
    out = io.BytesIO()
    Image.frombytes("L", size, bytes(pixels)).save(out, format=fmt)
    return out.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    servers = {}
    for name, make in (("classifier", classifier), ("detector", detector)):
        servers[name] = Server(SCORE, make(root / name), root / f"{name}.log", max_body=1 << 20)
    for srv in servers.values():
        wait_ready(f"http://127.0.0.1:{srv.port}", 60)
    yield servers
    for srv in servers.values():
        srv.stop()


def test_base64_json_gives_label_and_probabilities(served):
    body = {"input_data": {"columns": ["image"], "index": [0, 1], "data": [_b64(png([255, 0, 0, 0])),
                                                                          _b64(png([0, 0, 255, 0]))]}}
    status, answer = served["classifier"].request("POST", "/score", json.dumps(body).encode(),
                                                  {"Content-Type": "application/json"})
    assert status == 200
    first, second = answer["predictions"]
    assert first["label"] == "a" and second["label"] == "c"
    assert first["probabilities"]["a"] > 0.99 and abs(sum(first["probabilities"].values()) - 1) < 1e-5


def test_raw_image_bytes_with_an_image_content_type(served):
    status, answer = served["classifier"].request("POST", "/score", png([0, 255, 0, 0]),
                                                  {"Content-Type": "image/png"})
    assert status == 200 and answer["predictions"][0]["label"] == "b"
    # a JPEG of another size is decoded, converted to the model's mode and resized
    big = png([0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0], "PNG", (4, 4))
    status, answer = served["classifier"].request("POST", "/score", big, {"Content-Type": "image/png"})
    assert status == 200 and len(answer["predictions"]) == 1


@pytest.mark.parametrize(("body", "headers", "message"), [
    (b"\x89PNG not really", {"Content-Type": "image/png"}, "image 0: not a decodable image"),
    (b"", {"Content-Type": "image/jpeg"}, "an empty image body"),
    (b'{"input_data": {"data": ["!!!"]}}', {"Content-Type": "application/json"}, "image 0: not valid base64"),
    (b'{"input_data": {"data": [3]}}', {"Content-Type": "application/json"}, "expected a base64 string"),
    (b'{"rows": []}', {"Content-Type": "application/json"}, 'expected {"input_data"'),
    (b"\xff\xfe", {"Content-Type": "application/octet-stream"}, "neither an image"),
])
def test_bad_requests_get_400_saying_what_was_wrong(served, body, headers, message):
    status, answer = served["classifier"].request("POST", "/score", body, headers)
    assert status == 400 and message in answer["error"]


def test_detection_gives_boxes_with_labels_and_scores_after_nms(served):
    rgb = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(rgb, format="JPEG")
    body = {"input_data": {"columns": ["image"], "data": [_b64(rgb.getvalue()), _b64(rgb.getvalue())]}}
    status, answer = served["detector"].request("POST", "/score", json.dumps(body).encode(),
                                                {"Content-Type": "application/json"})
    assert status == 200 and len(answer["predictions"]) == 2
    boxes = answer["predictions"][0]["boxes"]
    assert [(b["label"], b["score"]) for b in boxes] == [("circle", 0.81), ("square", 0.76)]
    assert boxes[0]["box"] == {"topX": 0.1, "topY": 0.1, "bottomX": 0.5, "bottomY": 0.5}
    status, raw = served["detector"].request("POST", "/score", rgb.getvalue(), {"Content-Type": "image/jpeg"})
    assert status == 200 and raw["predictions"][0] == answer["predictions"][0]


def test_session_options_one_worker_threads_from_the_environment(tmp_path, monkeypatch):
    import model_server.onnx_score as onnx_score

    monkeypatch.setenv("AZUREML_MODEL_DIR", str(classifier(tmp_path / "m")))
    monkeypatch.setenv("ORT_INTRA_OP_THREADS", "3")
    onnx_score.init()
    options = onnx_score.session.get_session_options()
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    monkeypatch.delenv("ORT_INTRA_OP_THREADS")
    onnx_score.init()
    assert onnx_score.session.get_session_options().intra_op_num_threads == 1
