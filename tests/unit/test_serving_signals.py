"""The scoring server's field signals: counters, the latency window's percentiles and the prediction bins."""

from __future__ import annotations

from model_server.signals import MAX_BINS, WINDOW, ServingSignals, bin_of


def test_labels_stay_labels_and_numbers_are_binned_to_one_significant_digit():
    assert [bin_of(v) for v in ("class_1", 3, True, 12.7, 0.0734, -250.0, float("nan"))] == [
        "class_1", "3", "True", "10", "0.07", "-200", "nan"]
    assert bin_of({"label": "circle", "score": 0.9}) == "circle"


def test_detector_answers_count_each_detection_label():
    signals = ServingSignals()
    signals.observe(0.002, {"predictions": [[{"label": "circle"}, {"label": "square"}], [{"label": "circle"}]]})
    assert signals.histogram == {"circle": 2, "square": 1} and signals.requests == 1


def test_errors_and_refusals_are_counted_apart_and_percentiles_cover_the_window():
    signals = ServingSignals()
    for i in range(WINDOW + 100):
        signals.observe((i % 100 + 1) / 1000, {"predictions": [1.0]})
    signals.failed(0.001, 500)
    signals.failed(0.001, 400)
    snap = signals.snapshot()
    assert (snap["requests"], snap["errors"], snap["refused"], snap["window"]) == (WINDOW + 102, 1, 1, WINDOW)
    assert 45 <= snap["p50_ms"] <= 55 and 90 <= snap["p95_ms"] <= 100


def test_the_histogram_is_bounded():
    signals = ServingSignals()
    signals.observe(0.001, {"predictions": [f"label-{i}" for i in range(MAX_BINS + 10)]})
    assert len(signals.histogram) == MAX_BINS + 1 and signals.histogram["other"] == 10
