"""The field signals a model module keeps while it serves, for the fleet rollout's gates (``GET /signals``):
requests served, errors (5xx: the model failed; 4xx: the request was refused, counted apart), latency p50/p95
over a sliding window of the last ``WINDOW`` requests, and a histogram of its predictions: labels as they are
(classifiers, detectors' ``label``), numbers binned to one significant digit (regressors, anomaly scores).

Kept cheap on the request path: two integer increments, a deque append and one dict update per prediction; the
percentiles are computed when ``/signals`` is read, not per request.
"""

from __future__ import annotations

import math
import os
from collections import deque
from typing import Any

WINDOW = 1024  # the latency window, in requests
MAX_BINS = 64  # distinct labels or bins kept; any further ones count as "other"
MAX_PER_RESPONSE = 256  # predictions of one response looked at (a huge batch costs no more than this)


def bin_of(value: Any) -> str:
    """A prediction's histogram bin: a label as text, a number to one significant digit (0.0734 -> "0.07")."""
    if isinstance(value, bool | str | int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return f"{float(f'{value:.1g}'):g}"
    if isinstance(value, dict):
        label = value.get("label", value.get("class", "?"))
        return bin_of(label) if not isinstance(label, dict | list) else "?"
    return "?"


class ServingSignals:
    """The counters of one serving process (see the module docstring)."""

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.refused = 0
        self.latencies: deque[float] = deque(maxlen=WINDOW)
        self.histogram: dict[str, int] = {}

    def observe(self, seconds: float, result: Any) -> None:
        """A request answered 200 in ``seconds`` with ``result`` (the scoring script's return value)."""
        self.requests += 1
        self.latencies.append(seconds)
        predictions = result.get("predictions") if isinstance(result, dict) else result
        if not isinstance(predictions, list):
            predictions = [predictions]
        histogram = self.histogram
        for item in predictions[:MAX_PER_RESPONSE]:
            values = item if isinstance(item, list) else (item,)  # a detector answers a list per image
            for value in values:
                key = bin_of(value)
                if key not in histogram and len(histogram) >= MAX_BINS:
                    key = "other"
                histogram[key] = histogram.get(key, 0) + 1

    def failed(self, seconds: float, status: int) -> None:
        """A request answered with an error status (5xx counts as an error, 4xx as refused)."""
        self.requests += 1
        self.latencies.append(seconds)
        if status >= 500:
            self.errors += 1
        else:
            self.refused += 1

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /signals`` answers: the counters, p50/p95 in ms over the window, the histogram, the version."""
        window = sorted(self.latencies)

        def percentile(q: float) -> float:
            if not window:
                return 0.0
            return round(window[min(len(window) - 1, math.ceil(q * len(window)) - 1)] * 1000, 3)

        return {"version": os.environ.get("MODEL_VERSION", ""), "requests": self.requests, "errors": self.errors,
                "refused": self.refused, "p50_ms": percentile(0.50), "p95_ms": percentile(0.95),
                "window": len(window), "histogram": dict(self.histogram)}
