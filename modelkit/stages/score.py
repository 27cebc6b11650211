"""Score: batch-score the test set the way the serving image will (joblib + model.json, a float array, no
pandas in the call), check the answers are usable, and write them to predictions.csv."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import artifact
import numpy as np
import pandas as pd


def predict(model_dir: Path, rows: np.ndarray) -> np.ndarray:
    """``predict()`` of the artifact on a 2-D float array, features in model.json's order."""
    estimator, _ = artifact.load(model_dir)
    return np.asarray(estimator.predict(rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True, help="output folder: predictions.csv, summary.json")
    args = parser.parse_args(argv)
    _, card = artifact.load(args.model)
    test = pd.read_csv(args.features / "test.csv")
    started = time.perf_counter()
    predicted = predict(args.model, artifact.feature_matrix(test, card))
    seconds = time.perf_counter() - started
    if predicted.shape != (len(test),) or not np.all(np.isfinite(predicted)):
        raise SystemExit(f"score: predict() gave shape {predicted.shape} or non-finite values for {len(test)} rows")
    args.scores.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"prediction": predicted, card["target"]: test[card["target"]]}).to_csv(
        args.scores / "predictions.csv", index=False)
    summary = {"rows": len(test), "seconds": round(seconds, 4), "mean_prediction": float(predicted.mean())}
    (args.scores / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"score: {len(test)} rows scored in {seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
