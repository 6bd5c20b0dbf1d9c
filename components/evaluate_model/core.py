"""Score a classifier's held-out predictions against thresholds and the current champion."""

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd
from sklearn.metrics import confusion_matrix

from components._shared.errors import ConfigError, DataError, one_of
from components._shared.registry.champion import Champion
from components.evaluate_model.comparison import MIN_COMPARED_ROWS, Comparison, TrainedOn, compare
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
    # The rows compared and both models' scores on them.
    comparison: Comparison = dataclasses.field(default_factory=lambda: Comparison("", True))

    @property
    def compared_on(self) -> str:
        """Which test rows the champion comparison used, in one sentence ("" if none)."""
        return self.comparison.rows_line(self.champion_version)

    def metrics(self) -> dict[str, float]:
        """The numbers for the Metrics artifact (0 stands for "no champion")."""
        numbers = dict(self.values)
        numbers["champion_version"] = float(self.champion_version or 0)
        if self.champion_value is not None and self.delta is not None:
            numbers[f"champion_{self.primary_metric}"] = self.champion_value
            numbers[f"delta_{self.primary_metric}"] = self.delta
        if self.comparison.challenger_value is not None:
            numbers[f"compared_{self.primary_metric}"] = self.comparison.challenger_value
        if self.comparison.compared_rows is not None:
            numbers["compared_rows"] = float(self.comparison.compared_rows)
            numbers["champion_trained_rows"] = float(self.comparison.seen_rows or 0)
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
            "comparison": self.comparison.outcome,
            "compared_value": self.comparison.challenger_value,
            "test_rows": self.comparison.test_rows,
            "compared_rows": self.comparison.compared_rows,
            "champion_trained_rows": self.comparison.seen_rows,
            "compared_on": self.compared_on,
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


def evaluate(
    frame: pd.DataFrame,
    columns: PredictionColumns,
    model: Any,
    primary_metric: str,
    thresholds: Thresholds,
    load_champion: Callable[[], Champion | None],
    trained_on: TrainedOn | None = None,
    min_compared_rows: int = MIN_COMPARED_ROWS,
) -> Evaluation:
    """Measure the challenger, compare it with the champion, and decide whether to bless it.

    Args:
        frame: The held-out rows with the challenger's predictions and probabilities.
        columns: Names of the target, feature, prediction and probability columns.
        model: The fitted challenger (timed on single rows; its classes_ order the columns).
        primary_metric: The metric compared with the champion (a key of METRICS).
        thresholds: Bounds; one below 0 is not set. None set at all: not blessed.
        load_champion: Returns the current champion or None; called after config checks.
        trained_on: Returns the champion's training rows (or raises CannotJudge); the
            champion is scored only on test rows not among them. None: they are unknown,
            and the comparison cannot judge.
        min_compared_rows: Fewest unseen test rows the comparison judges on.

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
    comparison = compare(
        primary_metric, scores, frame, columns, champion, thresholds, trained_on, min_compared_rows
    )
    reasons.append(comparison.reason)
    if champion is not None and comparison.compared_rows is not None:
        reasons.append(comparison.rows_line(champion.version))
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
        comparison=comparison,
    )
