"""The kit's tabular helpers (modelkit/stages/tabular.py), which the tabular models' stage programs call:
reading an upload, the splits, the card, the metrics and the stage mains, run in-process on small frames."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

STAGES = Path(__file__).resolve().parents[2] / "modelkit" / "stages"


@pytest.fixture
def tabular(monkeypatch):
    """The kit module as a stage's snapshot has it: ``tabular`` beside ``artifact`` on the path."""
    monkeypatch.syspath_prepend(str(STAGES))
    monkeypatch.delitem(sys.modules, "artifact", raising=False)
    spec = importlib.util.spec_from_file_location("tabular", STAGES / "tabular.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _readings(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i % 7) for i in range(n)], "y": [float(i % 3) for i in range(n)],
                         "label": [int(i % 7 == 6) for i in range(n)]})


def test_an_upload_is_a_csv_or_every_csv_of_a_folder_read_by_the_models_reader(tabular, tmp_path):
    (tmp_path / "b.csv").write_text("x,y\n3,4\n")
    (tmp_path / "a.csv").write_text("x,y\n1,2\n,5\n")
    (tmp_path / "notes.txt").write_text("not data")
    both = tabular.read_upload(tmp_path, lambda f: pd.read_csv(f).assign(file=f.name))
    assert both["file"].tolist() == ["a.csv", "a.csv", "b.csv"]
    assert tabular.complete(both, ["x", "y"]).to_dict("list") == {"x": [1.0, 3.0], "y": [2.0, 4.0]}
    assert len(tabular.read_upload(tmp_path / "b.csv")) == 1


def test_an_upload_folder_without_a_csv_is_refused_with_its_path(tabular, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no CSV file in {tmp_path}"):
        tabular.read_upload(tmp_path)
    with pytest.raises(FileNotFoundError):
        tabular.prep_main(lambda f: f, argv=["--data", str(tmp_path), "--prepared", str(tmp_path / "p")])
    assert not (tmp_path / "p").exists()


def test_the_splits_are_seeded_stratified_or_in_order(tabular):
    frame = _readings(120)
    train, test = tabular.split(frame, "y", "classification", 0.25, seed=42)
    again, _ = tabular.split(frame, "y", "classification", 0.25, seed=42)
    other, _ = tabular.split(frame, "y", "classification", 0.25, seed=7)
    assert (len(train), len(test)) == (90, 30) and train.equals(again) and not train.equals(other)
    assert sorted(test["y"].value_counts()) == [10, 10, 10] and list(test.index) == list(range(30))
    first, last = tabular.split_in_order(frame, 0.3)
    assert first["x"].tolist() == frame["x"][:84].tolist() and last["x"].tolist() == frame["x"][84:].tolist()


def test_the_stage_mains_train_an_anomaly_model_with_its_card_and_metrics(tabular, tmp_path, capsys):
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _readings(200).to_csv(tmp_path / "upload.csv", index=False)
    out = {n: tmp_path / n for n in ("prepared", "features", "model", "metrics")}
    params = {"contamination": 1 / 7, "random_state": 0}
    tabular.prep_main(lambda f: f[f["x"] > 0], "readings", argv=["--data", str(tmp_path / "upload.csv"),
                                                                 "--prepared", str(out["prepared"])])
    tabular.transform_main(lambda f: tabular.split_in_order(f, 0.25), ["x", "y"],
                           argv=["--prepared", str(out["prepared"]), "--features", str(out["features"])])
    tabular.train_main(
        lambda t: tabular.fit_model(make_pipeline(StandardScaler(), IsolationForest(**params)), t, "anomaly",
                                    ["x", "y"], "label"),
        lambda m, t, name: tabular.card(m, t, name, "anomaly", ["x", "y"], "label", params),
        argv=["--features", str(out["features"]), "--model_name", "pumps", "--model", str(out["model"])])
    tabular.evaluate_main(lambda m, t: tabular.metrics(m, t, "anomaly"),
                          argv=["--model", str(out["model"]), "--features", str(out["features"]),
                                "--metrics", str(out["metrics"])])
    card = json.loads((out["model"] / "model.json").read_text())
    assert card["estimator"] == "StandardScaler+IsolationForest" and card["params"] == params
    assert card["predict"] == {"anomaly": -1, "normal": 1} and card["train_rows"] == 128  # 171 kept, 3/4
    metrics = json.loads((out["metrics"] / "metrics.json").read_text())
    assert set(metrics) == {"precision", "recall", "f1"} and all(0.0 <= v <= 1.0 for v in metrics.values())
    printed = capsys.readouterr().out
    assert "prep: 200 readings read, 171 kept" in printed and "transform: 2 features, 128 train rows" in printed


def test_the_card_names_a_bare_estimator_and_the_classes_seen_in_training(tabular):
    from sklearn.linear_model import LogisticRegression

    train = _readings(30)
    model = tabular.fit_model(LogisticRegression(), train, "classification", ["x"], "label")
    card = tabular.card(model, train, "m", "classification", ["x"], "label", predict="the label")
    assert list(card)[:7] == ["name", "task", "features", "target", "classes", "predict", "estimator"]
    assert card["estimator"] == "LogisticRegression" and card["classes"] == [0, 1] and card["params"] == {}
