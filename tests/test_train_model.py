"""train_model: the core on German credit and synthetic 3-class data, and the KFP component."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kfp import dsl

from components._shared.errors import ConfigError, DataError
from components._shared.io import read_parquet, write_parquet
from components._shared.model_io import load_model, save_model
from components.train_model.component import train_model
from components.train_model.core import ESTIMATORS, PREDICTION_COLUMN, train
from tests.conftest import GERMAN_CREDIT

# Small models keep the suite fast on a shared 2-core machine.
FAST = {
    "hist_gradient_boosting": {"max_iter": 20},
    "random_forest": {"n_estimators": 20},
    "logistic_regression": {},
}


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT)


def three_classes(rows: int = 180, seed: int = 0) -> pd.DataFrame:
    """Separable 3-class data: the label follows x1 and the colour, with gaps in both."""
    rng = np.random.default_rng(seed)
    label = rng.choice(["low", "mid", "high"], size=rows)
    centre = pd.Series(label).map({"low": -3.0, "mid": 0.0, "high": 3.0}).to_numpy()
    colour = pd.Series(label).map({"low": "red", "mid": "green", "high": "blue"})
    frame = pd.DataFrame(
        {
            "x1": centre + rng.normal(0, 0.5, rows),
            "x2": rng.normal(0, 1, rows),
            "colour": colour.astype("str"),
            "label": label,
        }
    )
    frame.loc[frame.index % 11 == 0, "x1"] = np.nan
    frame.loc[frame.index % 13 == 0, "colour"] = None
    return frame


def test_train_model_binary_german_credit_predicts_every_held_out_row(credit):
    result = train(credit, "risk", "random_forest", FAST["random_forest"], 0.25, 42)

    assert result.classes == (0, 1)
    assert result.feature_columns == tuple(c for c in credit.columns if c != "risk")
    assert len(result.test_frame) == 250
    assert result.metrics["train_rows"] == 750.0
    assert result.metrics["test_rows"] == 250.0
    proba = result.test_frame[[result.proba_columns["0"], result.proba_columns["1"]]]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(result.test_frame[PREDICTION_COLUMN]) <= {0, 1}
    accuracy = (result.test_frame[PREDICTION_COLUMN] == result.test_frame["risk"]).mean()
    assert result.metrics["test_accuracy"] == pytest.approx(accuracy)
    assert 0.65 < accuracy <= 1.0  # ~70% of German credit is class 1: better than nothing
    # Stratified: the class shares of the test rows match the whole table's to a row.
    assert result.test_frame["risk"].sum() == round(0.25 * credit["risk"].sum())


def test_train_model_multiclass_learns_three_classes_with_missing_values():
    frame = three_classes()
    result = train(frame, "label", "logistic_regression", {}, 0.3, 7)

    assert result.classes == ("high", "low", "mid")
    assert sorted(result.proba_columns) == ["high", "low", "mid"]
    assert result.metrics["classes"] == 3.0
    assert result.metrics["test_accuracy"] > 0.9
    assert set(result.test_frame[PREDICTION_COLUMN]) <= {"high", "low", "mid"}


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_train_model_same_inputs_give_identical_predictions(estimator, credit):
    first = train(credit, "risk", estimator, FAST[estimator], 0.25, 3)
    second = train(credit, "risk", estimator, FAST[estimator], 0.25, 3)

    pd.testing.assert_frame_equal(first.test_frame, second.test_frame)


_SAVE_IN_A_NEW_PROCESS = """
import hashlib, sys
import pandas as pd
from components._shared.model_io import save_model
from components.train_model.core import train
result = train(pd.read_csv(sys.argv[1]), "risk", sys.argv[2], {}, 0.25, 42)
save_model(result.pipeline, sys.argv[3])
"""


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_train_model_same_inputs_in_two_processes_save_the_same_bytes(estimator, tmp_path):
    # Object ids and save times differ between processes; the saved file must not: a
    # repeated run's model then has the same model_sha256 and is not registered twice.
    paths = [tmp_path / "first.skops", tmp_path / "second.skops"]
    for path in paths:
        args = [GERMAN_CREDIT, estimator, path]
        subprocess.run([sys.executable, "-c", _SAVE_IN_A_NEW_PROCESS, *map(str, args)], check=True)
    first, second = (p.read_bytes() for p in paths)
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()
    other = tmp_path / "other.skops"
    # Another model still saves other bytes (the canonical form hides no difference).
    save_model(train(pd.read_csv(GERMAN_CREDIT), "risk", estimator, {}, 0.25, 7).pipeline, other)
    assert other.read_bytes() != first


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_train_model_pipeline_survives_skops_round_trip(estimator, tmp_path):
    frame = three_classes()
    result = train(frame, "label", estimator, FAST[estimator], 0.3, 1)
    features = result.test_frame[list(result.feature_columns)]

    save_model(result.pipeline, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")

    np.testing.assert_array_equal(
        loaded.predict_proba(features), result.pipeline.predict_proba(features)
    )


def test_train_model_seed_moves_the_split(credit):
    first = train(credit, "risk", "logistic_regression", {}, 0.25, 1)
    second = train(credit, "risk", "logistic_regression", {}, 0.25, 2)

    assert not first.test_frame[["credit_amount", "age"]].equals(
        second.test_frame[["credit_amount", "age"]]
    )


def test_train_model_hyperparameters_and_seed_reach_the_estimator(credit):
    result = train(credit, "risk", "random_forest", {"n_estimators": 7, "max_depth": 3}, 0.25, 11)

    estimator = result.pipeline.named_steps["model"]
    assert (estimator.n_estimators, estimator.max_depth, estimator.random_state) == (7, 3, 11)


def test_train_model_whole_floats_from_a_kfp_struct_become_ints_only_where_ints_are_required(
    credit,
):
    # KFP passes dict parameters as a protobuf Struct: every number arrives as a float.
    result = train(
        credit, "risk", "hist_gradient_boosting", {"max_iter": 20.0, "learning_rate": 1.0}, 0.25, 1
    )
    estimator = result.pipeline[-1]
    assert estimator.max_iter == 20 and isinstance(estimator.max_iter, int)
    assert isinstance(estimator.learning_rate, float)
    forest = train(
        credit, "risk", "random_forest", {"n_estimators": 5.0, "max_features": 1.0}, 0.25, 1
    )
    assert forest.pipeline[-1].n_estimators == 5
    assert forest.pipeline[-1].max_features == 1.0 and isinstance(
        forest.pipeline[-1].max_features, float
    )


def test_train_model_unseen_category_is_ignored_at_prediction_time(credit):
    result = train(credit, "risk", "logistic_regression", {}, 0.25, 5)
    row = credit.drop(columns="risk").head(1).assign(purpose="spaceship", housing=None)

    assert result.pipeline.predict(row)[0] in (0, 1)


def test_train_model_unknown_estimator_lists_the_registry(credit):
    with pytest.raises(ConfigError) as caught:
        train(credit, "risk", "xgb", {}, 0.25, 1)
    assert str(caught.value) == (
        "unknown estimator 'xgb'; expected one of "
        "['hist_gradient_boosting', 'logistic_regression', 'random_forest']"
    )


def test_train_model_unknown_hyperparameter_lists_valid_names(credit):
    with pytest.raises(
        ConfigError, match=r"unknown hyperparameter\(s\) \['n_trees'\].*n_estimators"
    ):
        train(credit, "risk", "random_forest", {"n_trees": 5}, 0.25, 1)


def test_train_model_invalid_hyperparameter_value_is_a_config_error(credit):
    with pytest.raises(ConfigError, match=r"invalid hyperparameter.*max_depth"):
        train(credit, "risk", "hist_gradient_boosting", {"max_depth": -3}, 0.25, 1)


def test_train_model_config_is_checked_before_the_data():
    # This frame cannot be trained on at all; the config errors must come first regardless.
    unusable = pd.DataFrame({"x": [1.0]})
    with pytest.raises(ConfigError, match="unknown estimator"):
        train(unusable, "missing", "xgb", {}, 0.25, 1)
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        train(unusable, "missing", "random_forest", {"bogus": 1}, 0.25, 1)
    with pytest.raises(ConfigError, match="test_size"):
        train(unusable, "missing", "random_forest", {}, 0.0, 1)


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.2, 1.5])
def test_train_model_test_size_outside_open_unit_interval_rejected(test_size, credit):
    with pytest.raises(ConfigError, match=r"test_size must be between 0 and 1.*got"):
        train(credit, "risk", "logistic_regression", {}, test_size, 1)


def test_train_model_missing_target_lists_available_columns(credit):
    with pytest.raises(DataError, match=r"target column 'default' is not in the data.*'risk'"):
        train(credit, "default", "logistic_regression", {}, 0.25, 1)


def test_train_model_single_class_target_rejected(credit):
    with pytest.raises(DataError, match=r"single class.*at least two"):
        train(credit.assign(risk=1), "risk", "logistic_regression", {}, 0.25, 1)


def test_train_model_class_with_one_row_rejected_for_stratified_split(credit):
    frame = credit.copy()
    frame.loc[0, "risk"] = 2
    with pytest.raises(DataError, match=r"classes \{2: 1\}.*at least 2 rows per class"):
        train(frame, "risk", "logistic_regression", {}, 0.25, 1)


def test_train_model_test_set_smaller_than_class_count_rejected():
    frame = three_classes(rows=30)
    with pytest.raises(DataError, match="at least one row per class"):
        train(frame, "label", "logistic_regression", {}, 0.05, 1)


def test_train_model_missing_target_values_rejected(credit):
    frame = credit.astype({"risk": "float"})
    frame.loc[[3, 4], "risk"] = np.nan
    with pytest.raises(DataError, match="2 missing values"):
        train(frame, "risk", "logistic_regression", {}, 0.25, 1)


def test_train_model_reserved_column_prefix_rejected(credit):
    with pytest.raises(DataError, match="reserved"):
        train(
            credit.assign(**{"kfp_mlops:prediction": 1}), "risk", "logistic_regression", {}, 0.25, 1
        )


def test_train_model_date_column_rejected_with_its_dtype(credit):
    frame = credit.assign(opened=pd.Timestamp("2024-01-01"))
    with pytest.raises(DataError, match=r"opened \(datetime64.*drop or convert"):
        train(frame, "risk", "logistic_regression", {}, 0.25, 1)


def test_train_model_component_writes_model_predictions_and_metrics(tmp_path, credit):
    write_parquet(credit, tmp_path / "dataset.parquet")
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset.parquet"))
    model = dsl.Model(uri=str(tmp_path / "model"))
    predictions = dsl.Dataset(uri=str(tmp_path / "predictions"))
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))

    train_model.python_func(
        dataset=dataset,
        target_column="risk",
        estimator="random_forest",
        hyperparameters={"n_estimators": 10},
        test_size=0.2,
        random_seed=42,
        model=model,
        predictions=predictions,
        metrics=metrics,
    )

    assert model.metadata["sha256"] == hashlib.sha256(Path(model.path).read_bytes()).hexdigest()
    assert model.metadata["framework"] == "sklearn"
    assert model.metadata["estimator"] == "random_forest"
    assert model.metadata["hyperparameters"] == {"n_estimators": 10}
    assert model.metadata["target_column"] == "risk"
    assert model.metadata["classes"] == [0, 1]
    assert "sklearn.tree._tree.Tree" in model.metadata["skops_trusted_types"]
    frame = read_parquet(predictions.path)
    assert len(frame) == predictions.metadata["rows"] == 200
    assert predictions.metadata["proba_columns"] == {
        "0": "kfp_mlops:proba:0",
        "1": "kfp_mlops:proba:1",
    }
    assert predictions.metadata["prediction_column"] == "kfp_mlops:prediction"
    assert predictions.metadata["feature_columns"] == model.metadata["feature_columns"]
    assert set(frame.columns) == {
        *credit.columns,
        "kfp_mlops:prediction",
        "kfp_mlops:proba:0",
        "kfp_mlops:proba:1",
    }
    features = frame[predictions.metadata["feature_columns"]]
    np.testing.assert_array_equal(
        load_model(model.path).predict(features), frame["kfp_mlops:prediction"]
    )
    assert metrics.metadata["test_rows"] == 200.0
    assert set(metrics.metadata) == {
        "train_rows",
        "test_rows",
        "features",
        "classes",
        "train_accuracy",
        "test_accuracy",
    }
