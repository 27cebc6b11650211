"""Score: batch-score the test set the way the serving image will (onnxruntime, one thread) and write the
predictions and a summary (the register stage requires it)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx_artifact


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True, help="output folder: predictions.csv, summary.json")
    args = parser.parse_args(argv)
    test = dict(np.load(args.features / "test.npz"))
    sess = onnx_artifact.session(args.model / onnx_artifact.MODEL_FILE)
    started = time.perf_counter()
    (logits,) = onnx_artifact.run(sess, test["x"], batch=1)
    seconds = time.perf_counter() - started
    if logits.shape != (len(test["y"]), 10) or not np.all(np.isfinite(logits)):
        raise SystemExit(f"score: the model gave shape {logits.shape} or non-finite values")
    args.scores.mkdir(parents=True, exist_ok=True)
    lines = ["prediction,digit"] + [f"{p},{t}" for p, t in zip(logits.argmax(1), test["y"], strict=True)]
    (args.scores / "predictions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {"rows": len(test["y"]), "seconds": round(seconds, 4),
               "ms_per_image": round(1000 * seconds / len(test["y"]), 4)}
    (args.scores / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"score: {len(test['y'])} images scored one by one in {seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
