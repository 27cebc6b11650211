"""Transform: scale the images to [0, 1] and split them (stratified, seeded) into train, val and test."""

import argparse
from pathlib import Path

import image_classifier

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    args = parser.parse_args()
    print(f"transform: {image_classifier.transform(args.prepared, args.features)}")
