"""``model-factory new NAME --kind table|images --task ...``: a model folder that trains, passes its tests and
goes through the factory as it is, from the kit's templates (``modelkit/templates/<kind>/``).

The table scaffold has four thin stage programs calling the kit's ``tabular`` helpers, their components, a
seeded sample upload (four numeric features and a target made for the task), the serving sample request and
its expected response, and a test that trains on the sample and checks the gate. The images scaffold
(classification) has five thin stage programs over the kit's ``image_classifier`` helpers (a small CNN with
PyTorch, exported to ONNX, fp16 kept within the tolerance, served by the kit's onnx environment), an
ImageFolder sample upload of drawn shapes, and the same kind of test. Change ``src/`` for the real data;
``model-factory check NAME`` says what is still missing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from factory.kit import KIT

TEMPLATES = KIT / "templates"
TASKS = ("regression", "classification", "anomaly")
KIND_TASKS = {"table": TASKS, "images": ("classification",)}
NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
GATES: dict[str, dict[str, Any]] = {  # model.yaml gate: the key metric and each gated metric's direction/bounds
    "regression": {"metric": "rmse", "metrics": {"rmse": {"direction": "minimize", "max": 1.0},
                                                 "r2": {"direction": "maximize", "min": 0.8}}},
    "classification": {"metric": "f1_macro", "metrics": {"accuracy": {"direction": "maximize", "min": 0.8},
                                                         "f1_macro": {"direction": "maximize", "min": 0.8}}},
    "anomaly": {"metric": "f1", "metrics": {"f1": {"direction": "maximize", "min": 0.5}}},
}
# what the kit's tabular.metrics writes per task (modelkit/stages/tabular.py METRICS): model.yaml evaluate.metrics
WRITES = {"regression": ("rmse", "mae", "r2"), "classification": ("accuracy", "f1_macro"),
          "anomaly": ("precision", "recall", "f1")}
# serving check rows (x1..x4) and what the scaffolded model answers for them
REQUESTS: dict[str, tuple[list[list[float]], list[Any], float]] = {
    "regression": ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], [3.0, -2.0, 0.0], 0.5),
    "classification": ([[-2, -2, 0, 0], [0, 0, 0, 0], [2, 2, 0, 0]], [0, 1, 2], 0),
    "anomaly": ([[0, 0, 0, 0], [8, 8, 8, 8]], [1, -1], 0),
}


class ScaffoldError(ValueError):
    """The name, kind or task cannot be scaffolded, or the folder exists; the message says which."""


def _sample(task: str, rows: int = 800) -> str:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, 4))
    if task == "regression":
        y = np.round(3 * x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2] + rng.normal(scale=0.3, size=rows), 4)
    elif task == "classification":
        s = x[:, 0] + x[:, 1]
        y = np.where(s < -0.7, 0, np.where(s < 0.7, 1, 2))
    else:
        y = (rng.random(rows) < 0.05).astype(int)
        x[y == 1] += rng.choice([-6.0, 6.0], size=(int(y.sum()), 4))
    lines = ["x1,x2,x3,x4,target"] + [",".join(f"{v:.4f}" for v in row) + f",{t}" for row, t in zip(x, y, strict=True)]
    return "\n".join(lines) + "\n"


def _model_yaml(name: str, task: str) -> str:
    spec = {"name": name, "description": f"{name}: a {task} model (scaffolded; describe what it predicts).",
            "task": task, "environment": "sklearn",
            "data": {"kind": "table", "sample": "data/sample.csv", "min_rows": 200, "max_mb": 50,
                     "columns": {"x1": "number", "x2": "number", "x3": "number", "x4": "number",
                                 "target": "number" if task == "regression" else "integer"}},
            "artifact": {"format": "joblib"},
            "serving": {"inputs": {"x1": "number", "x2": "number", "x3": "number", "x4": "number"}},
            "evaluate": {"metrics": list(WRITES[task])},
            "gate": {"metric": GATES[task]["metric"], "max_regression_vs_production": 0.05,
                     "metrics": GATES[task]["metrics"]},
            "training": {"timeout_seconds": 900}, "image": {"repository": f"models/{name.replace('_', '-')}"},
            "edge": {"poll_seconds": 5, "timeout_seconds": 600}}
    head = "# yaml-language-server: $schema=../../modelkit/schema/model.schema.json\n"
    return head + yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=110)


def scaffold(models_dir: Path, name: str, kind: str, task: str) -> Path:
    """Write ``models_dir/<name>``; returns the folder."""
    if not NAME.match(name):
        raise ScaffoldError(f"name {name!r}: expected lower-case letters, digits and _ (e.g. pump_vibration)")
    template = TEMPLATES / kind
    if not template.is_dir() or kind not in KIND_TASKS:
        known = ", ".join(sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir()))
        raise ScaffoldError(f"--kind {kind!r}: the kit has templates for {known}")
    if task not in KIND_TASKS[kind]:
        raise ScaffoldError(f"--task {task!r}: expected one of {', '.join(KIND_TASKS[kind])} for --kind {kind}")
    folder = Path(models_dir) / name
    if folder.exists():
        raise ScaffoldError(f"{folder}: already exists; pick another name or remove it")
    for source in sorted(template.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            dest = folder / source.relative_to(template)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(source.read_text().replace("__MODEL__", name).replace("__TASK__", task))
    if kind == "images":
        from factory.image_scaffold import write_images_model

        write_images_model(folder, name)
        return folder
    (folder / "model.yaml").write_text(_model_yaml(name, task))
    (folder / "data").mkdir()
    (folder / "data" / "sample.csv").write_text(_sample(task))
    rows, predictions, tolerance = REQUESTS[task]
    (folder / "model").mkdir()
    request = {"data": [dict(zip(("x1", "x2", "x3", "x4"), row, strict=True)) for row in rows]}
    (folder / "model" / "sample-request.json").write_text(json.dumps(request, indent=2) + "\n")
    (folder / "model" / "expected-response.json").write_text(
        json.dumps({"predictions": predictions, "tolerance": tolerance}, indent=2) + "\n")
    return folder


def register(subparsers: argparse._SubParsersAction) -> None:
    new = subparsers.add_parser("new", help="scaffold a model folder that trains and passes its tests as it is")
    new.add_argument("name", help="the model's name (= its folder)")
    new.add_argument("--kind", default="table", help="the kit template (modelkit/templates/<kind>/): table, images")
    new.add_argument("--task", required=True, help=f"{', '.join(TASKS)} (images: classification)")
    new.add_argument("--models-dir", type=Path, default=Path("models"))
    new.set_defaults(func=cmd_new)


def cmd_new(args: argparse.Namespace) -> int:
    try:
        folder = scaffold(args.models_dir, args.name, args.kind, args.task)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name}: scaffolded in {folder}; next: model-factory check {args.name}, "
          f"model-factory train {args.name}, model-factory try {args.name}; then change src/, data/, model/ and "
          "model.yaml for your data (docs/adding-a-model.md, 'The inner loop')")
    return 0
