"""Score: batch-score the test digits one by one with onnxruntime, as the serving image will (replaces the
kit's tabular score.py in the kit's score step); predictions.csv and summary.json."""

from __future__ import annotations

import argparse
from pathlib import Path

import image_classifier

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True, help="output folder: predictions.csv, summary.json")
    args = parser.parse_args()
    print(f"score: {image_classifier.score(args.model, args.features, args.scores, 'digit')}")
