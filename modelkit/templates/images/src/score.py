"""Score: batch-score the test set with onnxruntime as the serving image will (replaces the kit's tabular one)."""

import argparse
from pathlib import Path

import image_classifier

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True)
    args = parser.parse_args()
    print(f"score: {image_classifier.score(args.model, args.features, args.scores)}")
