"""The quality gate: each gated metric's bounds and its regression against production, in its own direction."""

from contract import Champion
from factory.gate import evaluate
from factory.model_spec import Gate, GatedMetric

TAXI = Gate(metric="rmse", metrics={
    "rmse": GatedMetric("rmse", higher_is_better=False, max=6.0, max_regression=0.05),
    "r2": GatedMetric("r2", higher_is_better=True, min=0.5),
})


def test_metrics_within_bounds_and_no_champion_pass():
    result = evaluate({"rmse": 4.0, "r2": 0.8}, TAXI)
    assert result.passed and result.reasons == []


def test_each_bound_breach_is_named():
    result = evaluate({"rmse": 7.5, "r2": 0.2}, TAXI)
    assert not result.passed
    assert any("rmse 7.5 is above the maximum 6" in r for r in result.reasons)
    assert any("r2 0.2 is below the minimum 0.5" in r for r in result.reasons)


def test_missing_or_nan_metric_fails_the_gate():
    assert "r2 missing" in evaluate({"rmse": 4.0}, TAXI).reasons[0]
    assert "r2 missing" in evaluate({"rmse": 4.0, "r2": float("nan")}, TAXI).reasons[0]


def test_regression_against_production_beyond_allowance_fails():
    champion = Champion("2", {"rmse": 4.0, "r2": 0.8})
    assert evaluate({"rmse": 4.1, "r2": 0.8}, TAXI, champion).passed
    worse = evaluate({"rmse": 4.5, "r2": 0.8}, TAXI, champion)
    assert not worse.passed and "production version 2" in worse.reasons[0] and "lower is better" in worse.reasons[0]
    # r2 declares no allowance: a worse r2 than production is fine as long as it is above its minimum
    assert evaluate({"rmse": 4.0, "r2": 0.6}, TAXI, champion).passed


def test_a_custom_metric_gates_in_both_directions():
    """No metric names in the factory: a made-up metric gates by the direction model.yaml gives it."""
    up = Gate(metric="map_50", metrics={"map_50": GatedMetric("map_50", True, min=0.5, max_regression=0.02)})
    down = Gate(metric="mse", metrics={"mse": GatedMetric("mse", False, max=2.0, max_regression=0.02)})
    assert evaluate({"map_50": 0.7}, up).passed and not evaluate({"map_50": 0.4}, up).passed
    assert evaluate({"mse": 1.0}, down).passed and not evaluate({"mse": 2.5}, down).passed
    champ_up = Champion("3", {"map_50": 0.8})
    assert evaluate({"map_50": 0.79}, up, champ_up).passed        # 1.25 % worse: allowed
    assert not evaluate({"map_50": 0.75}, up, champ_up).passed    # 6 % lower: worse
    assert evaluate({"map_50": 0.95}, up, champ_up).passed        # higher: better
    champ_down = Champion("3", {"mse": 1.0})
    assert evaluate({"mse": 1.01}, down, champ_down).passed
    assert not evaluate({"mse": 1.2}, down, champ_down).passed    # higher mse: worse
    assert evaluate({"mse": 0.5}, down, champ_down).passed        # lower mse: better


def test_every_gated_metric_is_compared_with_production_not_only_the_key_one():
    gate = Gate(metric="f1", metrics={"f1": GatedMetric("f1", True, max_regression=0.1),
                                      "recall": GatedMetric("recall", True, max_regression=0.1)})
    champion = Champion("1", {"f1": 0.9, "recall": 0.9})
    result = evaluate({"f1": 0.9, "recall": 0.7}, gate, champion)
    assert not result.passed and result.reasons[0].startswith("recall 0.7 is worse than production version 1")


def test_a_metric_the_champion_lacks_is_not_compared():
    champion = Champion("1", {"r2": 0.9})
    assert evaluate({"rmse": 5.0, "r2": 0.9}, TAXI, champion).passed
