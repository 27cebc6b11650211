"""Score: batch-score the test set the way the serving image will (onnxruntime, one thread, one image per
call) and write the boxes found per image and a summary (the register stage requires it)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import metrics
import numpy as np
import onnx_artifact


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True, help="output folder: boxes.jsonl, summary.json")
    args = parser.parse_args(argv)
    test = dict(np.load(args.features / "test.npz"))
    card = onnx_artifact.read_card(args.model)
    sess = onnx_artifact.session(args.model / onnx_artifact.MODEL_FILE)
    started = time.perf_counter()
    (dense,) = onnx_artifact.run(sess, test["x"], batch=1)
    seconds = time.perf_counter() - started
    if dense.shape[0] != len(test["x"]) or dense.shape[2] != 5 + len(card["labels"]) or not np.isfinite(dense).all():
        raise SystemExit(f"score: the model gave shape {dense.shape} or non-finite values")
    threshold = card["decoder"]["score_threshold"]
    args.scores.mkdir(parents=True, exist_ok=True)
    with (args.scores / "boxes.jsonl").open("w", encoding="utf-8") as out:
        for rows in dense:
            found = [{"label": card["labels"][c], "score": round(s, 4), "box": [round(float(v), 4) for v in b]}
                     for c, s, b in metrics.decode(rows, threshold)]
            out.write(json.dumps(found) + "\n")
    summary = {"rows": len(test["x"]), "seconds": round(seconds, 4),
               "ms_per_image": round(1000 * seconds / len(test["x"]), 4)}
    (args.scores / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"score: {len(test['x'])} images scored one by one in {seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
