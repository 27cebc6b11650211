"""The scoring script of ONNX image models (Azure ML contract): ``init()`` loads ``model.onnx`` into an
onnxruntime session, ``run(request)`` answers one request. Needs onnxruntime, numpy and Pillow only (no torch,
no scikit-learn). Copied into every image as ``model_server/onnx_score.py``; it works unchanged under ours
(``model_server``) and under Azure ML's ``azureml-inference-server-http`` (``@rawhttp``: ``run`` gets the
request itself, so raw image bytes can be posted).

Model folder (``AZUREML_MODEL_DIR``, searched for ``model.json``): ``model.onnx`` and ``model.json``
``{"task": "classification"|"object_detection", "labels", "input": {"name", "shape": [C, H, W], "mode",
"scale"}, "decoder"?: {"score_threshold", "iou_threshold"}}``. A classifier's one output is the logits; a
detector's is ``N × K × (4 + 1 + C)``: K candidate boxes (normalised corners), objectness and class
probabilities. Session options: one inter-op thread, sequential execution, intra-op threads from
``ORT_INTRA_OP_THREADS`` (default 1): one worker per container.

Requests (Azure ML online-endpoint conventions for images):
- ``Content-Type: image/png|jpeg|*``: the body is one image;
- JSON ``{"input_data": {"columns": ["image"], "data": ["<base64>", ...]}}`` (also ``{"data": [...]}``).
Responses: ``{"predictions": [...]}``, one entry per image: classification ``{"label", "probabilities":
{label: p}}``; detection ``{"boxes": [{"label", "score", "box": {"topX", "topY", "bottomX", "bottomY"}}]}``
(normalised coordinates). Bad input raises ``BadRequest`` (``http_status`` 400).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

try:  # under Azure ML's server: ask for the raw request
    from azureml_inference_server_http.api.aml_request import rawhttp  # type: ignore[import-not-found]
except ImportError:  # under ours: the server reads RAW_HTTP below
    def rawhttp(func: Any) -> Any:
        return func

RAW_HTTP = True  # run() takes the request (method, headers, body), not a decoded JSON document
MAX_IMAGES = 64
MAX_PIXELS = 4096 * 4096

session: Any = None
card: dict[str, Any] = {}
labels: list[str] = []


class BadRequest(ValueError):
    """The request is malformed; the message says what was wrong (answered as HTTP 400)."""

    http_status = 400


def _model_folder(root: Path) -> Path:
    found = sorted(root.rglob("model.json"), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"no model.json under AZUREML_MODEL_DIR={root}")
    return found[0].parent


def init() -> None:
    """Load ``model.onnx`` with one worker's session options."""
    global session, card, labels
    import onnxruntime as ort

    folder = _model_folder(Path(os.environ.get("AZUREML_MODEL_DIR", ".")))
    card = json.loads((folder / "model.json").read_text())
    labels = [str(x) for x in card["labels"]]
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("ORT_INTRA_OP_THREADS", "1"))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(folder / "model.onnx"), sess_options=options,
                                   providers=["CPUExecutionProvider"])


def _decode_image(data: bytes, index: int) -> Any:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    channels, height, width = card["input"]["shape"]
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise BadRequest(f"image {index}: {im.width}x{im.height} pixels is over the limit")
            im = im.convert(card["input"]["mode"])
            if im.size != (width, height):
                im = im.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(im, dtype=np.float32) * float(card["input"].get("scale", 1 / 255))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise BadRequest(f"image {index}: not a decodable image ({exc})") from None
    return pixels[None, :, :] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)[:channels]


def _images_from_json(payload: Any) -> list[bytes]:
    if isinstance(payload, dict) and isinstance(payload.get("input_data"), dict):
        items = payload["input_data"].get("data")
    elif isinstance(payload, dict):
        items = payload.get("data")
    else:
        items = payload
    if not isinstance(items, list) or not items:
        raise BadRequest('expected {"input_data": {"columns": ["image"], "data": ["<base64 image>", ...]}}')
    if len(items) > MAX_IMAGES:
        raise BadRequest(f"{len(items)} images; at most {MAX_IMAGES} per request")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, list) and len(item) == 1:  # a row of the one "image" column
            item = item[0]
        if not isinstance(item, str):
            raise BadRequest(f"image {i}: expected a base64 string, got {type(item).__name__}")
        try:
            out.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise BadRequest(f"image {i}: not valid base64") from None
    return out


def _request_images(request: Any) -> list[bytes]:
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    body = request.get_data()
    if content_type.startswith("image/"):
        if not body:
            raise BadRequest("an empty image body")
        return [body]
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is neither an image (Content-Type image/*) nor JSON: {exc}") from None
    return _images_from_json(payload)


def _softmax(logits: Any) -> Any:
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _classify(batch: Any) -> list[dict[str, Any]]:
    (logits,) = session.run(None, {card["input"]["name"]: batch})
    probs = _softmax(logits.astype("float64"))
    return [{"label": labels[int(p.argmax())], "probabilities": {lab: round(float(v), 6) for lab, v in
                                                                 zip(labels, p, strict=True)}} for p in probs]


def _nms(boxes: Any, scores: Any, iou: float) -> list[int]:
    """Greedy non-maximum suppression: the indices kept, best first."""
    import numpy as np

    order, keep = list(np.argsort(-scores)), []
    while order:
        best = order.pop(0)
        keep.append(best)
        if not order:
            break
        rest = np.asarray(order)
        x0 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        overlap = inter / np.maximum(area[best] + area[rest] - inter, 1e-9)
        order = [int(i) for i, o in zip(rest, overlap, strict=True) if o <= iou]
    return keep


def decode_detections(rows: Any, score_threshold: float, iou_threshold: float) -> list[dict[str, Any]]:
    """One image's dense output ``K × (4 + 1 + C)`` (``topX, topY, bottomX, bottomY`` normalised, objectness,
    class probabilities) → its boxes: score = objectness × best class probability, thresholded, NMS per label."""
    import numpy as np

    boxes, objectness, classes = rows[:, :4].astype(np.float64), rows[:, 4], rows[:, 5:]
    label_index = classes.argmax(axis=1)
    scores = objectness * classes.max(axis=1)
    found = []
    for c in np.unique(label_index[scores >= score_threshold]):
        idx = np.flatnonzero((label_index == c) & (scores >= score_threshold))
        for k in _nms(boxes[idx], scores[idx], iou_threshold):
            i = idx[k]
            x0, y0, x1, y1 = (round(float(v), 4) for v in np.clip(boxes[i], 0.0, 1.0))
            found.append({"label": labels[int(c)], "score": round(float(scores[i]), 4),
                          "box": {"topX": x0, "topY": y0, "bottomX": x1, "bottomY": y1}})
    return sorted(found, key=lambda b: (-b["score"], b["label"]))


def _detect(batch: Any) -> list[dict[str, Any]]:
    (dense,) = session.run(None, {card["input"]["name"]: batch})
    decoder = card.get("decoder", {})
    threshold, iou = float(decoder.get("score_threshold", 0.5)), float(decoder.get("iou_threshold", 0.45))
    return [{"boxes": decode_detections(rows, threshold, iou)} for rows in dense]


def _predict(request: Any) -> dict[str, Any]:
    import numpy as np

    images = [_decode_image(data, i) for i, data in enumerate(_request_images(request))]
    batch = np.stack(images).astype(np.float32)
    task = card.get("task")
    return {"predictions": _detect(batch) if task == "object_detection" else _classify(batch)}


@rawhttp
def run(request: Any) -> Any:
    """Answer one request (see the module docstring). Under Azure ML's own server a ``BadRequest`` becomes its
    ``AMLResponse`` with status 400; under ours it is raised and answered 400."""
    try:
        return _predict(request)
    except BadRequest as exc:
        aml = sys.modules.get("azureml_inference_server_http.api.aml_response")
        if aml is None:
            raise
        return aml.AMLResponse({"error": str(exc)}, 400, json_str=True)
