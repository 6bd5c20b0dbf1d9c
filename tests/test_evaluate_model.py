"""evaluate_model: known-answer metrics, the gate's decisions, and champion/challenger on MLflow."""

import math
import socket
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kfp import dsl
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from components._shared.errors import ConfigError, DataError, ServiceError
from components._shared.io import write_parquet
from components._shared.model_io import TRUSTED_TYPES, SkopsFileFlavor, load_model
from components._shared.registry.champion import Champion, load_champion
from components.evaluate_model.component import evaluate_model
from components.evaluate_model.core import PredictionColumns, Thresholds, evaluate
from components.evaluate_model.report import render_markdown
from components.evaluate_model.trained_on import TrainingRows
from components.train_model.component import train_model
from tests.conftest import GERMAN_CREDIT

PRED = "kfp_mlops:prediction"


def no_champion() -> None:
    return None


def scored(y_true, y_pred, proba, classes):
    """A predictions frame with one feature `x`, and a fitted classifier over the same rows."""
    frame = pd.DataFrame({"x": np.arange(len(y_true), dtype=float), "y": y_true, PRED: y_pred})
    for i, label in enumerate(classes):
        frame[f"kfp_mlops:proba:{label}"] = [row[i] for row in proba]
    columns = PredictionColumns(
        target_column="y",
        feature_columns=("x",),
        prediction_column=PRED,
        proba_columns={str(c): f"kfp_mlops:proba:{c}" for c in classes},
    )
    model = DummyClassifier(strategy="most_frequent").fit(frame[["x"]], frame["y"])
    return frame, columns, model


@pytest.fixture
def binary():
    # Known answers: accuracy 3/4; F1 of class 1 = 2PR/(P+R) with P=2/3, R=1 -> 0.8;
    # every positive is ranked above every negative -> ROC AUC 1.0.
    return scored(
        [0, 0, 1, 1], [0, 1, 1, 1], [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.1, 0.9]], [0, 1]
    )


@pytest.fixture
def ten_rows():
    """7 of 10 rows are class 1; the challenger is right on 6: accuracy 0.6."""
    y_true = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    y_pred = [1, 1, 1, 1, 1, 0, 0, 1, 1, 0]
    proba = [[0.7, 0.3] if p == 0 else [0.3, 0.7] for p in y_pred]
    return scored(y_true, y_pred, proba, [0, 1])


def majority_champion(frame, version=3):
    """A champion that always predicts the majority class 1: accuracy 0.7 on ten_rows."""
    return Champion(
        version, DummyClassifier(strategy="most_frequent").fit(frame[["x"]], frame["y"])
    )


def trained_elsewhere(champion, target_column):
    """A champion whose training rows are none of the test rows: every test row is compared."""
    return TrainingRows(pd.DataFrame({"x": [-1.0, -2.0], "y": [0, 1]}), "other.csv")


# ten_rows has 10 test rows, fewer than the default minimum of compared rows.
FAIR = {"trained_on": trained_elsewhere, "min_compared_rows": 1}


def test_evaluate_model_binary_known_answers(binary):
    frame, columns, model = binary
    result = evaluate(frame, columns, model, "f1", Thresholds(min_accuracy=0.5), no_champion)

    assert result.values["accuracy"] == pytest.approx(0.75)
    assert result.values["f1"] == pytest.approx(0.8)
    assert result.values["roc_auc"] == pytest.approx(1.0)
    assert result.confusion == ((1, 1), (0, 2))
    assert result.categories == ("0", "1")
    assert result.roc_class == "1"
    assert 0 <= result.values["latency_p50_ms"] <= result.values["latency_p95_ms"]


def test_evaluate_model_multiclass_macro_f1_and_one_vs_rest_auc():
    # Per-class F1: a 0.5, b 0.8, c 2/3 -> macro 0.65556.
    proba = [
        [0.7, 0.2, 0.1],
        [0.3, 0.6, 0.1],
        [0.1, 0.8, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.1, 0.8],
        [0.5, 0.1, 0.4],
    ]
    frame, columns, model = scored(
        ["a", "a", "b", "b", "c", "c"], ["a", "b", "b", "b", "c", "a"], proba, ["a", "b", "c"]
    )
    result = evaluate(frame, columns, model, "roc_auc", Thresholds(min_roc_auc=0.5), no_champion)

    assert result.values["f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # One-vs-rest AUCs: a 7/8 (0.3 of row 2 ranks below row 6's 0.5), b 1.0, c 1.0.
    assert result.values["roc_auc"] == pytest.approx((0.875 + 1.0 + 1.0) / 3)
    assert result.roc_class == "c"
    assert result.confusion == ((1, 1, 0), (0, 2, 0), (1, 0, 1))


def test_evaluate_model_roc_curve_downsampled_with_finite_thresholds():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    p1 = np.clip(y * 0.2 + rng.random(1000) * 0.8, 0, 1)
    frame, columns, model = scored(y, (p1 > 0.5).astype(int), np.column_stack([1 - p1, p1]), [0, 1])
    result = evaluate(frame, columns, model, "roc_auc", Thresholds(min_roc_auc=0.5), no_champion)

    fpr, tpr, thresholds = result.roc
    assert 2 <= len(fpr) <= 200 and len(fpr) == len(tpr) == len(thresholds)
    assert all(math.isfinite(t) and 0.0 <= t <= 1.0 for t in thresholds)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_evaluate_model_no_thresholds_fails_closed(binary):
    frame, columns, model = binary
    result = evaluate(frame, columns, model, "accuracy", Thresholds(), no_champion)

    assert not result.passed
    assert any("no thresholds configured" in r and "fail closed" in r for r in result.reasons)
    assert result.metrics()["blessed"] == 0.0


def test_evaluate_model_first_run_judged_on_thresholds_only(binary):
    frame, columns, model = binary
    result = evaluate(frame, columns, model, "accuracy", Thresholds(min_accuracy=0.7), no_champion)

    assert result.passed and result.first_run
    assert "first run: no champion to compare; judged on thresholds only" in result.reasons
    assert result.metrics()["champion_version"] == 0.0
    assert "champion_accuracy" not in result.metrics()


def test_evaluate_model_accuracy_below_minimum_not_blessed(binary):
    frame, columns, model = binary
    result = evaluate(frame, columns, model, "accuracy", Thresholds(min_accuracy=0.8), no_champion)

    assert not result.passed
    assert "accuracy 0.7500 fails min_accuracy 0.8" in result.reasons


def test_evaluate_model_latency_above_maximum_not_blessed(binary):
    frame, columns, model = binary
    # No predict call takes under a femtosecond: the bound is certain to fail.
    thresholds = Thresholds(min_accuracy=0.5, max_latency_ms=1e-12)
    result = evaluate(frame, columns, model, "accuracy", thresholds, no_champion)

    assert not result.passed
    assert [c.passed for c in result.checks] == [True, False]
    assert any("latency_p95_ms" in r and "fails max_latency_ms" in r for r in result.reasons)


def test_evaluate_model_champion_equal_blessed(ten_rows):
    frame, columns, _ = ten_rows
    champion = majority_champion(frame)
    # The challenger's predictions of ten_rows score 0.6; make them the champion's own (0.7).
    frame = frame.assign(**{PRED: 1})
    result = evaluate(
        frame,
        columns,
        champion.model,
        "accuracy",
        Thresholds(min_accuracy=0.5),
        lambda: champion,
        **FAIR,
    )

    assert result.passed and not result.first_run
    assert (result.champion_version, result.champion_value, result.delta) == (3, 0.7, 0.0)
    assert result.metrics()["delta_accuracy"] == 0.0


def test_evaluate_model_champion_better_beyond_max_regression_not_blessed(ten_rows):
    frame, columns, model = ten_rows
    champion = majority_champion(frame)
    thresholds = Thresholds(min_accuracy=0.5, max_regression=0.015)
    result = evaluate(frame, columns, model, "accuracy", thresholds, lambda: champion, **FAIR)

    assert not result.passed
    assert result.delta == pytest.approx(-0.1)
    assert any("regression beyond max_regression 0.015" in r for r in result.reasons)
    assert result.metrics()["champion_accuracy"] == pytest.approx(0.7)
    assert result.metrics()["delta_accuracy"] == pytest.approx(-0.1)


def test_evaluate_model_regression_within_tolerance_blessed(ten_rows):
    frame, columns, model = ten_rows
    champion = majority_champion(frame)
    thresholds = Thresholds(min_accuracy=0.5, max_regression=0.2)
    result = evaluate(frame, columns, model, "accuracy", thresholds, lambda: champion, **FAIR)

    assert result.passed
    assert any("within max_regression 0.2" in r for r in result.reasons)


def test_evaluate_model_unset_max_regression_reports_but_does_not_enforce(ten_rows):
    frame, columns, model = ten_rows
    thresholds = Thresholds(min_accuracy=0.5, max_regression=-1)
    result = evaluate(
        frame, columns, model, "accuracy", thresholds, lambda: majority_champion(frame), **FAIR
    )

    assert result.passed
    assert result.delta == pytest.approx(-0.1)
    assert any("not enforced" in r for r in result.reasons)


def test_evaluate_model_champion_on_other_columns_reported_and_thresholds_decide(ten_rows):
    frame, columns, model = ten_rows
    other = pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    on_income = make_pipeline(
        ColumnTransformer([("keep", "passthrough", ["income"])]), LogisticRegression()
    )
    champion = Champion(5, on_income.fit(other[["income"]], other["y"]))
    result = evaluate(
        frame, columns, model, "accuracy", Thresholds(min_accuracy=0.5), lambda: champion, **FAIR
    )

    assert result.passed and not result.first_run
    assert result.champion_version == 5 and result.delta is None
    assert any(
        r.startswith("champion v5 could not score the test set") and "income" in r
        for r in result.reasons
    )
    assert "champion_accuracy" not in result.metrics()
    assert result.metrics()["champion_version"] == 5.0


def test_evaluate_model_champion_with_other_classes_cannot_score(ten_rows):
    frame, columns, model = ten_rows
    three = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [0, 1, 2]})
    champion = Champion(2, DummyClassifier().fit(three[["x"]], three["y"]))
    result = evaluate(
        frame, columns, model, "accuracy", Thresholds(min_accuracy=0.5), lambda: champion, **FAIR
    )

    assert result.passed
    assert any("predicts classes [0, 1, 2]" in r for r in result.reasons)


def test_evaluate_model_unloadable_champion_reported(ten_rows):
    frame, columns, model = ten_rows
    champion = Champion(4, None, "version 4 is saved as 'cloudpickle'")
    result = evaluate(
        frame, columns, model, "accuracy", Thresholds(min_accuracy=0.5), lambda: champion, **FAIR
    )

    assert result.passed
    assert any("champion v4" in r and "cloudpickle" in r for r in result.reasons)


def test_evaluate_model_unknown_primary_metric_listed_before_mlflow_is_asked(binary):
    frame, columns, model = binary

    def must_not_be_called():
        raise AssertionError("the champion was looked up before the config was checked")

    with pytest.raises(ConfigError) as caught:
        evaluate(
            frame, columns, model, "precision", Thresholds(min_accuracy=0.5), must_not_be_called
        )
    assert str(caught.value) == (
        "unknown primary metric 'precision'; expected one of ['accuracy', 'f1', 'roc_auc']"
    )


def test_evaluate_model_predictions_without_a_class_probability_rejected(binary):
    frame, columns, model = binary
    columns = PredictionColumns("y", ("x",), PRED, {"0": "kfp_mlops:proba:0"})
    with pytest.raises(DataError, match="no probability column for class '1'"):
        evaluate(frame, columns, model, "accuracy", Thresholds(min_accuracy=0.5), no_champion)


def test_evaluate_model_metadata_not_from_train_model_rejected():
    with pytest.raises(DataError, match=r"lacks \['prediction_column', 'proba_columns'\]"):
        PredictionColumns.from_metadata({"target_column": "y", "feature_columns": ["x"]})


def test_evaluate_model_report_puts_verdict_first(ten_rows):
    frame, columns, model = ten_rows
    thresholds = Thresholds(min_accuracy=0.5, max_regression=0.015)
    result = evaluate(
        frame, columns, model, "accuracy", thresholds, lambda: majority_champion(frame), **FAIR
    )
    text = render_markdown(result)

    assert text.startswith("# Evaluation: REJECTED")
    assert "| **accuracy** (primary) | 0.6000 | min_accuracy 0.5000 | pass |" in text
    assert "| f1 |" in text and "not set" in text
    assert "| champion v3 | 0.7000 |" in text
    assert result.report_metadata()["champion_value"] == pytest.approx(0.7)


# --- component tests: real artifacts, real MLflow (the embedded stack) ---


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT)


def trained(tmp_path, credit, estimator, hyperparameters, seed=42):
    """Run train_model for real and hand its outputs over as input artifacts."""
    write_parquet(credit, tmp_path / "dataset.parquet")
    model = dsl.Model(uri=str(tmp_path / f"{estimator}-model"))
    predictions = dsl.Dataset(uri=str(tmp_path / f"{estimator}-predictions"))
    train_model.python_func(
        dataset=dsl.Dataset(uri=str(tmp_path / "dataset.parquet")),
        target_column="risk",
        estimator=estimator,
        hyperparameters=hyperparameters,
        test_size=0.25,
        random_seed=seed,
        model=model,
        predictions=predictions,
        metrics=dsl.Metrics(uri=str(tmp_path / f"{estimator}-metrics")),
    )
    return model, predictions


def run_gate(tmp_path, model, predictions, model_name, **bounds):
    """Call the component; returns (blessed, metrics, classification metrics, report)."""
    params = {"min_accuracy": -1.0, "min_roc_auc": -1.0, "max_latency_ms": -1.0}
    params |= {"max_regression": 0.015, "primary_metric": "roc_auc", **bounds}
    outputs = (
        dsl.Metrics(uri=str(tmp_path / "eval-metrics")),
        dsl.ClassificationMetrics(uri=str(tmp_path / "eval-classification")),
        dsl.Markdown(uri=str(tmp_path / "eval-report.md")),
    )
    blessed = evaluate_model.python_func(
        model=model,
        predictions=predictions,
        model_name=model_name,
        kfp_run_id="",
        metrics=outputs[0],
        classification_metrics=outputs[1],
        report=outputs[2],
        **params,
    )
    return (blessed, *outputs)


def lineage_of(seed: int = 42) -> dict[str, str]:
    """The lineage tags of a model trained by `trained` (the data it read and how it split)."""
    import hashlib
    import json

    parameters = {"target_column": "risk", "test_size": 0.25, "random_seed": seed}
    return {
        "dataset_uri": str(GERMAN_CREDIT),
        "dataset_sha256": hashlib.sha256(Path(GERMAN_CREDIT).read_bytes()).hexdigest(),
        "parameters": json.dumps(parameters),
    }


def register_champion(
    model_name: str, model: dsl.Model, alias: str = "champion", tags: dict | None = None
) -> int:
    """Register a train_model file as register_model stores it: its exact bytes, its sha256 tag.

    Its lineage tags are those of `trained` with seed 42 unless `tags` are given.
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    sha = model.metadata["sha256"]
    with mlflow.start_run() as run:
        info = Model.log(
            artifact_path=None,  # deprecated but still required; `name` is what counts
            name="model",
            flavor=SkopsFileFlavor(model.path),
            sk_model=load_model(model.path, sha256=sha),
            serialization_format="skops",
            skops_trusted_types=sorted(TRUSTED_TYPES),
            pip_requirements=["scikit-learn==1.9.1", "skops==0.16.0"],
        )
    client = MlflowClient()
    try:
        client.create_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(
        model_name,
        source=info.model_uri,
        run_id=run.info.run_id,
        tags={"model_sha256": sha, **(lineage_of() if tags is None else tags)},
        model_id=info.model_id,
    ).version
    client.set_registered_model_alias(model_name, alias, version)
    return int(version)


def unique_name() -> str:
    return f"evaluate-test-{uuid.uuid4().hex[:10]}"


def test_evaluate_model_component_first_run_blessed_on_thresholds(stack, tmp_path, credit):
    model, predictions = trained(tmp_path, credit, "logistic_regression", {})
    blessed, metrics, classification, report = run_gate(
        tmp_path, model, predictions, unique_name(), min_accuracy=0.6
    )

    assert blessed is True
    assert report.metadata["first_run"] is True
    assert report.metadata["champion_version"] is None and report.metadata["delta"] is None
    assert (
        "first run: no champion to compare; judged on thresholds only" in report.metadata["reasons"]
    )
    assert metrics.metadata["champion_version"] == 0.0 and metrics.metadata["blessed"] == 1.0
    assert set(metrics.metadata) == {
        "accuracy", "f1", "roc_auc", "latency_p50_ms", "latency_p95_ms", "champion_version",
        "blessed",
    }  # fmt: skip
    matrix = classification.metadata["confusionMatrix"]
    assert [s["displayName"] for s in matrix["annotationSpecs"]] == ["0", "1"]
    assert sum(sum(r["row"]) for r in matrix["rows"]) == 250
    curve = classification.metadata["confidenceMetrics"]
    assert 2 <= len(curve) <= 200
    assert all(0.0 <= p["confidenceThreshold"] <= 1.0 for p in curve)
    text = Path(report.path).read_text(encoding="utf-8")
    assert text.startswith("# Evaluation: PASSED") and "First run" in text


def test_evaluate_model_component_no_thresholds_not_blessed(stack, tmp_path, credit):
    model, predictions = trained(tmp_path, credit, "logistic_regression", {})
    blessed, metrics, _, report = run_gate(tmp_path, model, predictions, unique_name())

    assert blessed is False and report.metadata["passed"] is False
    assert any("fail closed" in r for r in report.metadata["reasons"])
    assert metrics.metadata["blessed"] == 0.0


def test_evaluate_model_component_threshold_not_met_not_blessed(stack, tmp_path, credit):
    model, predictions = trained(tmp_path, credit, "logistic_regression", {})
    blessed, _, _, report = run_gate(tmp_path, model, predictions, unique_name(), min_roc_auc=0.99)

    assert blessed is False
    assert any(
        r.startswith("roc_auc") and "fails min_roc_auc 0.99" in r
        for r in report.metadata["reasons"]
    )


def test_evaluate_model_component_champion_equal_blessed(stack, tmp_path, credit, monkeypatch):
    name = unique_name()
    model, predictions = trained(tmp_path, credit, "random_forest", {"n_estimators": 30})
    version = register_champion(name, model)
    downloads = tmp_path / "tmp"
    downloads.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(downloads))

    blessed, metrics, _, report = run_gate(tmp_path, model, predictions, name, min_accuracy=0.6)

    assert blessed is True
    assert report.metadata["first_run"] is False
    assert report.metadata["champion_version"] == version
    assert report.metadata["delta"] == 0.0
    # The same seed, the same split: no test row was in its training set, all are compared.
    assert report.metadata["comparison"] == "compared"
    assert (report.metadata["compared_rows"], report.metadata["champion_trained_rows"]) == (250, 0)
    assert metrics.metadata["champion_roc_auc"] == metrics.metadata["roc_auc"]
    assert metrics.metadata["delta_roc_auc"] == 0.0
    assert list(downloads.iterdir()) == []  # the champion's download is cleaned up


def test_evaluate_model_component_weak_challenger_rejected_by_champion(stack, tmp_path, credit):
    name = unique_name()
    strong, _ = trained(tmp_path / "strong", credit, "random_forest", {"n_estimators": 100})
    register_champion(name, strong)
    weak_hp = {"n_estimators": 1, "max_depth": 1}
    model, predictions = trained(tmp_path / "weak", credit, "random_forest", weak_hp)

    blessed, metrics, _, report = run_gate(tmp_path, model, predictions, name, min_accuracy=0.6)

    assert blessed is False
    assert metrics.metadata["delta_roc_auc"] < -0.015
    assert any("regression beyond max_regression 0.015" in r for r in report.metadata["reasons"])
    assert "## Champion comparison" in Path(report.path).read_text(encoding="utf-8")


def test_evaluate_model_champion_lookup_without_alias_is_a_first_run(stack, credit):
    from mlflow import MlflowClient

    name = unique_name()
    MlflowClient().create_registered_model(name)

    assert load_champion(name) is None
    assert load_champion(unique_name()) is None


def test_evaluate_model_unreachable_mlflow_is_a_service_error(monkeypatch, tmp_path, credit):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", closed)
    model, predictions = trained(tmp_path, credit, "logistic_regression", {})

    with pytest.raises(ServiceError, match=f"MLflow at {closed} .*did not answer"):
        run_gate(tmp_path, model, predictions, unique_name(), min_accuracy=0.6)


def test_evaluate_model_unconfigured_mlflow_is_a_service_error(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    with pytest.raises(ServiceError, match="MLFLOW_TRACKING_URI"):
        load_champion("anything")


@pytest.mark.parametrize("bound", ["max_regression", "min_accuracy", "max_latency_ms"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_thresholds_refuse_a_non_finite_bound_instead_of_reading_it_as_unset(bound, value):
    with pytest.raises(ConfigError, match=rf"{bound}=(nan|inf) is not a finite number.*below 0"):
        Thresholds(**{bound: value})
