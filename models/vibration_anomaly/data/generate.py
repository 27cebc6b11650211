"""Seeded generator of edge sensor readings: vibration and temperature of rotating machines, with labelled
anomalies (bearing wear, overheating, impact spikes) for evaluation.

``python models/vibration_anomaly/data/generate.py [--rows N] [--seed S] [--out PATH]``; the committed sample
``readings.csv`` is ``--rows 3000 --seed 7``. The same seed always gives the same file.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

COLUMNS = ["timestamp", "device_id", "vibration_rms", "vibration_peak", "temperature_c", "anomaly"]
ANOMALY_RATE = 0.03


def _normal(rng: random.Random, hour: float, machine: int) -> tuple[float, float, float]:
    rms = rng.gauss(2.0 + 0.15 * machine, 0.25)
    peak = rms * rng.gauss(3.0, 0.25)
    temp = 45.0 + 4.0 * math.sin(2 * math.pi * hour / 24) + 1.5 * machine + rng.gauss(0, 1.2)
    return rms, peak, temp


def _anomaly(rng: random.Random, hour: float, machine: int) -> tuple[float, float, float]:
    rms, peak, temp = _normal(rng, hour, machine)
    kind = rng.choice(("bearing", "overheat", "impact"))
    if kind == "bearing":  # worn bearing: everything vibrates more
        rms *= rng.uniform(2.0, 3.5)
        peak = rms * rng.gauss(3.4, 0.3)
    elif kind == "overheat":
        temp += rng.uniform(18, 35)
    else:  # impact: a sharp peak on a normal rms
        peak *= rng.uniform(3.0, 6.0)
    return rms, peak, temp


def generate(rows: int, seed: int) -> list[dict[str, object]]:
    """``rows`` readings every 10 s from three machines, about 3 % of them anomalies (``anomaly`` = 1)."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    readings = []
    for i in range(rows):
        when = start + timedelta(seconds=10 * i)
        machine = i % 3
        hour = when.hour + when.minute / 60
        is_anomaly = rng.random() < ANOMALY_RATE
        rms, peak, temp = (_anomaly if is_anomaly else _normal)(rng, hour, machine)
        readings.append({
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "device_id": f"press-{machine + 1:02d}",
            "vibration_rms": round(max(rms, 0.05), 4), "vibration_peak": round(max(peak, 0.1), 4),
            "temperature_c": round(temp, 2), "anomaly": int(is_anomaly),
        })
    return readings


def write(path: Path, rows: int = 3000, seed: int = 7) -> Path:
    """Write ``generate(rows, seed)`` as CSV to ``path``."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(generate(rows, seed))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("readings.csv"))
    args = parser.parse_args()
    print(write(args.out, args.rows, args.seed))
