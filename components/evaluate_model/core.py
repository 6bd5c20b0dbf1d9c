"""Score a classifier's held-out predictions against thresholds and the current champion."""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from components._shared.errors import ConfigError, DataError, one_of
from components._shared.registry.champion import Champion
from components.evaluate_model.latency import latency_ms
from components.evaluate_model.scoring import METRICS, Scores, roc_points


@dataclass(frozen=True)
class Thresholds:
    """Gate bounds; below 0 means "not set" (a run's bounds: the pipeline signature's)."""

    min_accuracy: float = -1.0
    min_roc_auc: float = -1.0
    max_latency_ms: float = -1.0
    max_regression: float = -1.0

    def __post_init__(self) -> None:
        # NaN compares false with everything: `nan >= 0` would read as "not set" and turn a
        # gate (the champion comparison, say) off without a word.
        for field in fields(self):
            value = getattr(self, field.name)
            if not math.isfinite(value):
                raise ConfigError(
                    f"{field.name}={value} is not a finite number; give a bound, or a value "
                    "below 0 to leave it unset"
                )

    def is_set(self, name: str) -> bool:
        """Whether a bound is configured."""
        return getattr(self, name) >= 0


@dataclass(frozen=True)
class PredictionColumns:
    """Where the predictions artifact keeps the target, features, prediction and probabilities."""

    target_column: str
    feature_columns: tuple[str, ...]
    prediction_column: str
    proba_columns: Mapping[str, str]  # str(class) -> column

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> "PredictionColumns":
        """Read the names train_model wrote into the predictions metadata."""
        keys = ["target_column", "feature_columns", "prediction_column", "proba_columns"]
        missing = [k for k in keys if k not in metadata]
        if missing:
            raise DataError(f"predictions metadata lacks {missing}; was it written by train_model?")
        return cls(
            target_column=metadata["target_column"],
            feature_columns=tuple(metadata["feature_columns"]),
            prediction_column=metadata["prediction_column"],
            proba_columns=dict(metadata["proba_columns"]),
        )


@dataclass(frozen=True)
class Check:
    """One bound compared with one measured value."""

    metric: str
    value: float
    bound: str  # e.g. "min_accuracy"
    limit: float
    passed: bool


@dataclass(frozen=True)
class Evaluation:
    """Everything the gate measured and decided."""

    passed: bool
    reasons: tuple[str, ...]
    primary_metric: str
    values: dict[str, float]  # accuracy, f1, roc_auc, latency_p50_ms, latency_p95_ms
    checks: tuple[Check, ...]
    first_run: bool
    champion_version: int | None
    champion_value: float | None
    delta: float | None
    categories: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    roc_class: str  # the class the ROC curve is drawn for (one-vs-rest)
    roc: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]  # fpr, tpr, thresholds

    def metrics(self) -> dict[str, float]:
        """The numbers for the Metrics artifact (0 stands for "no champion")."""
        numbers = dict(self.values)
        numbers["champion_version"] = float(self.champion_version or 0)
        if self.champion_value is not None and self.delta is not None:
            numbers[f"champion_{self.primary_metric}"] = self.champion_value
            numbers[f"delta_{self.primary_metric}"] = self.delta
        numbers["blessed"] = 1.0 if self.passed else 0.0
        return numbers

    def report_metadata(self) -> dict[str, Any]:
        """The verdict and its facts for the report artifact's metadata."""
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "primary_metric": self.primary_metric,
            "primary_value": self.values[self.primary_metric],
            "champion_version": self.champion_version,
            "champion_value": self.champion_value,
            "delta": self.delta,
            "first_run": self.first_run,
            "roc_class": self.roc_class,
        }


def _scores(frame: pd.DataFrame, columns: PredictionColumns, classes: tuple) -> Scores:
    needed = [columns.target_column, columns.prediction_column]
    try:
        needed += [columns.proba_columns[str(c)] for c in classes]
    except KeyError as exc:
        raise DataError(
            f"no probability column for class {exc.args[0]!r} of the model; the predictions "
            f"have {sorted(columns.proba_columns)}: were they made by this model?"
        ) from None
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DataError(f"the predictions table lacks columns {absent}")
    return Scores(
        y_true=frame[columns.target_column].to_numpy(),
        y_pred=frame[columns.prediction_column].to_numpy(),
        proba=frame[needed[2:]].to_numpy(dtype=float),
        classes=classes,
    )


def _threshold_checks(values: dict[str, float], thresholds: Thresholds) -> list[Check]:
    bounds = [
        ("accuracy", "min_accuracy", True),
        ("roc_auc", "min_roc_auc", True),
        ("latency_p95_ms", "max_latency_ms", False),
    ]
    checks = []
    for metric, bound, is_min in bounds:
        if thresholds.is_set(bound):
            limit = getattr(thresholds, bound)
            value = values[metric]
            passed = value >= limit if is_min else value <= limit
            checks.append(Check(metric, value, bound, limit, passed))
    return checks


def _score_champion(
    champion: Champion, frame: pd.DataFrame, columns: PredictionColumns, classes: tuple
) -> tuple[Scores | None, str | None]:
    if champion.model is None:
        return None, champion.problem
    model = champion.model
    champion_classes = np.asarray(getattr(model, "classes_", [])).tolist()
    if [str(c) for c in champion_classes] != [str(c) for c in classes]:
        expected = np.asarray(classes).tolist()
        return None, f"it predicts classes {champion_classes}, the test set has {expected}"
    try:
        features = frame[list(columns.feature_columns)]
        scores = Scores(
            y_true=frame[columns.target_column].to_numpy(),
            y_pred=np.asarray(model.predict(features)),
            proba=np.asarray(model.predict_proba(features), dtype=float),
            classes=classes,
        )
    except Exception as exc:  # a champion trained on other columns fails in many ways
        return None, f"{type(exc).__name__}: {str(exc)[:300]}"
    return scores, None


@dataclass(frozen=True)
class _Comparison:
    reason: str
    passed: bool  # False only for a regression beyond max_regression
    champion_value: float | None = None
    delta: float | None = None


def _compare(
    primary: str,
    value: float,
    champion: Champion | None,
    champion_scores: Scores | None,
    problem: str | None,
    thresholds: Thresholds,
) -> _Comparison:
    if champion is None:
        return _Comparison("first run: no champion to compare; judged on thresholds only", True)
    if champion_scores is None:
        return _Comparison(
            f"champion v{champion.version} could not score the test set ({problem}); "
            "judged on thresholds only",
            True,
        )
    champion_value = METRICS[primary](champion_scores)
    delta = value - champion_value
    text = (
        f"{primary} {value:.4f} vs champion v{champion.version} {champion_value:.4f} "
        f"(delta {delta:+.4f}"
    )
    if not thresholds.is_set("max_regression"):
        reason, passed = f"{text}; max_regression not set, not enforced)", True
    elif delta >= -thresholds.max_regression:
        reason, passed = f"{text}, within max_regression {thresholds.max_regression})", True
    else:
        reason = f"{text}): regression beyond max_regression {thresholds.max_regression}"
        passed = False
    return _Comparison(reason, passed, champion_value, delta)


def evaluate(
    frame: pd.DataFrame,
    columns: PredictionColumns,
    model: Any,
    primary_metric: str,
    thresholds: Thresholds,
    load_champion: Callable[[], Champion | None],
) -> Evaluation:
    """Measure the challenger, compare it with the champion, and decide whether to bless it.

    Args:
        frame: The held-out rows with the challenger's predictions and probabilities.
        columns: Names of the target, feature, prediction and probability columns.
        model: The fitted challenger (timed on single rows; its classes_ order the columns).
        primary_metric: The metric compared with the champion (a key of METRICS).
        thresholds: Bounds; one below 0 is not set. None set at all: not blessed.
        load_champion: Returns the current champion or None; called after config checks.

    Raises:
        ConfigError: unknown primary metric.
        DataError: the predictions do not match the model.
    """
    if primary_metric not in METRICS:
        raise one_of("primary metric", primary_metric, METRICS)
    classes = tuple(getattr(model, "classes_", ()))
    if len(classes) < 2:
        raise DataError("the model has no classes_; evaluate_model needs a fitted classifier")
    scores = _scores(frame, columns, classes)
    values = {name: fn(scores) for name, fn in METRICS.items()}
    features = frame[list(columns.feature_columns)]
    values["latency_p50_ms"], values["latency_p95_ms"] = latency_ms(model, features)

    checks = _threshold_checks(values, thresholds)
    reasons = [
        f"{c.metric} {c.value:.4f} {'meets' if c.passed else 'fails'} {c.bound} {c.limit}"
        for c in checks
    ]
    if not checks:
        reasons.append(
            "no thresholds configured (min_accuracy, min_roc_auc, max_latency_ms are all < 0): "
            "refusing to bless (fail closed)"
        )
    champion = load_champion()
    champion_scores, problem = (None, None)
    if champion is not None:
        champion_scores, problem = _score_champion(champion, frame, columns, classes)
    comparison = _compare(
        primary_metric, values[primary_metric], champion, champion_scores, problem, thresholds
    )
    reasons.append(comparison.reason)
    cm = confusion_matrix(scores.y_true, scores.y_pred, labels=list(classes))
    roc_class, roc = roc_points(scores)
    return Evaluation(
        passed=bool(checks) and all(c.passed for c in checks) and comparison.passed,
        reasons=tuple(reasons),
        primary_metric=primary_metric,
        values=values,
        checks=tuple(checks),
        first_run=champion is None,
        champion_version=None if champion is None else champion.version,
        champion_value=comparison.champion_value,
        delta=comparison.delta,
        categories=tuple(str(c) for c in classes),
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
        roc_class=roc_class,
        roc=roc,
    )
