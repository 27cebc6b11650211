"""The quality gate: thresholds and champion/challenger."""

from factory.gate import evaluate

THRESHOLDS = {"rmse": {"min": None, "max": 6.0}, "r2": {"min": 0.5, "max": None}}


def test_metrics_within_thresholds_and_no_champion_pass():
    result = evaluate({"rmse": 4.0, "r2": 0.8}, THRESHOLDS, "rmse", False, 0.05)
    assert result.passed and result.reasons == []


def test_each_threshold_breach_is_named():
    result = evaluate({"rmse": 7.5, "r2": 0.2}, THRESHOLDS, "rmse", False, 0.05)
    assert not result.passed
    assert any("rmse 7.5 is above the maximum 6" in r for r in result.reasons)
    assert any("r2 0.2 is below the minimum 0.5" in r for r in result.reasons)


def test_missing_metric_fails_the_gate():
    result = evaluate({"rmse": 4.0}, THRESHOLDS, "rmse", False, None)
    assert not result.passed and "r2 missing" in result.reasons[0]


def test_regression_against_production_beyond_allowance_fails():
    champion = {"version": "2", "metrics": {"rmse": 4.0, "r2": 0.8}}
    assert evaluate({"rmse": 4.1, "r2": 0.8}, THRESHOLDS, "rmse", False, 0.05, champion).passed
    worse = evaluate({"rmse": 4.5, "r2": 0.8}, THRESHOLDS, "rmse", False, 0.05, champion)
    assert not worse.passed and "production version 2" in worse.reasons[0]


def test_higher_is_better_direction():
    champion = {"version": "1", "metrics": {"f1": 0.9}}
    assert not evaluate({"f1": 0.8}, {}, "f1", True, 0.05, champion).passed
    assert evaluate({"f1": 0.95}, {}, "f1", True, 0.05, champion).passed
