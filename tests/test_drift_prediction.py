"""Prediction drift: a model's output on both datasets, compared apart from the columns."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import SVC

from components._shared.errors import ConfigError, DataError
from components._shared.model_io import save_model
from components.detect_drift.core import detect_drift
from components.detect_drift.report import as_json, metrics_of, render_html, render_markdown
from kfp_mlops.cli.main import main as cli_main


def frame(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50 + 15 * shift, 10, n)
    return pd.DataFrame(
        {
            "income": income,
            "age": rng.integers(20, 70, n),
            "city": rng.choice(["a", "b", "c"], n),
            "risk": (income + rng.normal(0, 5, n) > 55).astype(int),
        }
    )


def fitted() -> LogisticRegression:
    """A classifier of `risk` on income and age (city is not an input: a third column)."""
    train = frame(3_000, 0.0, 0)
    return LogisticRegression(max_iter=500).fit(train[["income", "age"]], train["risk"])


@pytest.fixture(scope="module")
def model():
    return fitted()


def test_prediction_drift_flags_a_shift_in_what_the_model_uses(model):
    result = detect_drift(frame(2_000, 0.0, 1), frame(2_000, 1.0, 2), model=model)
    p = result.prediction
    assert p.column == "prediction" and p.column_type == "numerical"
    assert p.method == "wasserstein" and p.drifted and p.score > 0.1
    # Reported apart: not a column, not in the share.
    assert "prediction" not in [c.column for c in result.columns]
    assert result.drift_share == sum(c.drifted for c in result.compared) / len(result.compared)


def test_prediction_drift_is_quiet_on_the_same_distribution(model):
    result = detect_drift(frame(2_000, 0.0, 3), frame(2_000, 0.0, 4), model=model)
    assert not result.prediction.drifted and result.prediction.score < 0.1


def test_prediction_drift_streams_with_the_same_verdict(model, monkeypatch):
    from components._shared.io import sources

    monkeypatch.setattr(sources, "BATCH_ROWS", 777)
    ref, cur = frame(5_000, 0.0, 5), frame(5_000, 0.4, 6)
    exact = detect_drift(ref, cur, model=model, mode="exact").prediction
    streamed = detect_drift(ref, cur, model=model, mode="streaming").prediction
    assert streamed.drifted == exact.drifted and streamed.method == exact.method
    assert abs(streamed.score - exact.score) <= streamed.error_bound


def test_prediction_of_a_model_without_probabilities_is_categorical():
    train = frame(1_000, 0.0, 7)
    regressor = LinearRegression().fit(train[["income"]], train["risk"])
    result = detect_drift(frame(500, 0.0, 8), frame(500, 0.0, 9), model=regressor)
    assert result.prediction.column_type == "numerical"  # float predictions
    labels = SVC().fit(train[["income"]], train["risk"])  # labels only
    assert not hasattr(labels, "predict_proba")
    result = detect_drift(frame(1_500, 0.0, 8), frame(1_500, 0.0, 9), model=labels)
    assert result.prediction.column_type == "categorical"
    assert result.prediction.method == "jensenshannon"


def test_prediction_threshold_and_method_apply_to_the_prediction_column(model):
    result = detect_drift(
        frame(2_000, 0.0, 1),
        frame(2_000, 0.2, 2),
        model=model,
        thresholds={"prediction": 0.5},
        per_column_methods={"prediction": "psi"},
    )
    assert (result.prediction.method, result.prediction.threshold) == ("psi", 0.5)


def test_prediction_drift_needs_every_feature(model):
    current = frame(500, 0.0, 2).drop(columns=["age"])
    with pytest.raises(DataError, match=r"current data lacks the model's input columns \['age'\]"):
        detect_drift(frame(500, 0.0, 1), current, columns=["income", "city"], model=model)


def test_drift_with_a_model_compares_its_inputs_not_the_target_or_a_logs_extra_columns(model):
    # A training snapshot (with the target) against a prediction log (request ids, outputs).
    reference = frame(1_000, 0.0, 1)
    current = frame(1_000, 1.0, 2).drop(columns=["risk"])
    current["request_id"] = [f"r{i}" for i in range(len(current))]
    current["prediction"] = 1
    result = detect_drift(reference, current, model=model)
    assert [c.column for c in result.columns] == ["income", "age"]
    assert result.prediction is not None and result.prediction.drifted


def test_drift_with_a_model_and_a_data_column_named_prediction_asked_for_is_refused(model):
    current = frame(500, 0.0, 2).assign(prediction=1)
    reference = frame(500, 0.0, 1).assign(prediction=0)
    with pytest.raises(ConfigError, match="'prediction' is both a data column"):
        detect_drift(reference, current, columns=["income", "prediction"], model=model)


def test_drift_with_a_model_missing_one_of_its_inputs_names_it(model):
    current = frame(500, 0.0, 2).drop(columns=["age"])
    with pytest.raises(DataError, match="column 'age' is missing from the current data"):
        detect_drift(frame(500, 0.0, 1), current, model=model)


def test_prediction_drift_needs_a_model_fitted_on_named_columns():
    train = frame(500, 0.0, 0)
    bare = LogisticRegression().fit(train[["income"]].to_numpy(), train["risk"])
    with pytest.raises(ConfigError, match="does not record its input columns"):
        detect_drift(frame(200, 0.0, 1), frame(200, 0.0, 2), model=bare)


def test_prediction_drift_in_every_report(model):
    result = detect_drift(frame(2_000, 0.0, 1), frame(2_000, 1.0, 2), model=model)
    assert as_json(result)["prediction"]["drifted"] is True
    assert metrics_of(result)["prediction_drifted"] == 1.0
    assert "prediction drift: DRIFTED (wasserstein" in render_markdown(result)
    assert "prediction drift: DRIFTED" in render_html(result)
    assert as_json(detect_drift(frame(300, 0, 1), frame(300, 0, 2)))["prediction"] is None


def test_cli_drift_with_a_model_file(model, tmp_path, capsys):
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    frame(2_000, 0.0, 1).to_parquet(ref)
    frame(2_000, 1.0, 2).to_parquet(cur)
    save_model(model, tmp_path / "model.skops")
    code = cli_main(
        ["drift", str(ref), str(cur), "--model", str(tmp_path / "model.skops"), "--format", "json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert (
        code == 3 and out["prediction"]["drifted"] and out["prediction"]["column"] == "prediction"
    )


@pytest.mark.parametrize(
    ("model_uri", "code", "message"),
    [
        ("missing.skops", 1, "neither models:/NAME@ALIAS, models:/NAME/VERSION nor an existing"),
        ("models:/credit/latest", 2, "is not models:/NAME@ALIAS or models:/NAME/VERSION"),
    ],
)
def test_cli_drift_bad_model_uri_says_which_forms_work(tmp_path, capsys, model_uri, code, message):
    ref = tmp_path / "ref.parquet"
    frame(300, 0.0, 1).to_parquet(ref)
    assert cli_main(["drift", str(ref), str(ref), "--model", model_uri]) == code
    assert message in capsys.readouterr().err
