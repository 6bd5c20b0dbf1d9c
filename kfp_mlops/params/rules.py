"""The rules pipeline parameters must meet: one table, checked before any task runs."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kfp_mlops.params.kinds import (
    Bounds,
    Choice,
    Day,
    Names,
    Number,
    PositiveNumbers,
    Rule,
    Text,
    Uri,
)


@dataclass(frozen=True)
class Hyperparameters:
    """Estimator parameters, checked by building (not fitting) the chosen estimator."""

    accepts: str = "parameters of the chosen estimator, by name (see its scikit-learn docs)"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """A name the estimator does not take, or a value it refuses."""
        from components._shared.errors import ConfigError
        from components.train_model.core import ESTIMATORS, build_estimator

        if params.get("estimator") not in ESTIMATORS:
            return None  # the estimator's own rule reports that
        try:
            # Seed 0: the seed has its own rule, and no hyperparameter's validity depends on it.
            build_estimator(params["estimator"], value, 0)
        except ConfigError as exc:
            return f"is refused ({exc})"
        return None


@dataclass(frozen=True)
class Suite:
    """A GX 1.x suite in JSON form, checked without the data (columns are checked later)."""

    accepts: str = 'a GX 1.x suite {"name": ..., "expectations": [...]}, or {} for the baseline'

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Not a suite, an unknown expectation type or invalid kwargs."""
        from components._shared.errors import ConfigError
        from components.validate_data.suite import check_suite

        try:
            check_suite(value)
        except ConfigError as exc:
            return f"is not a valid suite: {exc}"
        return None


def _estimators() -> Iterable[str]:
    from components.train_model.core import ESTIMATORS

    return ESTIMATORS


def _metrics() -> Iterable[str]:
    from components.evaluate_model.scoring import METRICS

    return METRICS


def _performance_metrics() -> Iterable[str]:
    from components.check_performance.measures import METRICS

    return METRICS


def _drift_methods() -> Iterable[str]:
    from components.detect_drift.stattests import AUTO, REGISTRY

    return [AUTO, *REGISTRY]


_PROBABILITY_BOUND = Number(0.0, 1.0, unset_below_zero=True)
VERSIONED = (
    "a local path, file://PATH, s3://BUCKET/KEY (a prefix ends in '/') or a dataset version "
    "dataset://NAME@sha256:HEX or dataset://NAME@TAG"
)

# Keyed by name: the training and monitoring pipelines share names, and mean the same by them.
RULES: dict[str, Rule] = {
    "data_uri": Uri(accepts=VERSIONED, versions=True),
    "current_uri": Uri(accepts=VERSIONED, versions=True),
    # Empty (the default): retrain on a training set built from the log and its labels.
    "retrain_data_uri": Uri(accepts=VERSIONED, versions=True, optional=True),
    "reference_uri": Uri(optional=True),
    "current_start_date": Day(starts=True),
    "current_end_date": Day(starts=False),
    "current_last_days": Number(0, 3660),
    "target_column": Text("the label column"),
    "model_name": Text("the registered model's name"),
    "sensitive_features": Names("columns the fairness gate splits rows by", required=True),
    "drift_columns": Names("columns to compare; empty compares every column"),
    "estimator": Choice(_estimators, "estimator"),
    "hyperparameters": Hyperparameters(),
    "test_size": Number(0.0, 1.0, low_open=True, high_open=True),
    "random_seed": Number(0, 2**32 - 1),  # scikit-learn's range for random_state
    "suite": Suite(),
    "min_rows": Number(1),
    "primary_metric": Choice(_metrics, "metric"),
    "min_accuracy": _PROBABILITY_BOUND,
    "min_roc_auc": _PROBABILITY_BOUND,
    "max_latency_ms": Number(0.0, unset_below_zero=True),
    # A regression is a difference of metrics that lie in [0, 1].
    "max_regression": _PROBABILITY_BOUND,
    "max_demographic_parity_difference": _PROBABILITY_BOUND,
    "max_equalized_odds_difference": _PROBABILITY_BOUND,
    "drift_method": Choice(_drift_methods, "drift method"),
    "drift_share": Number(0.0, 1.0, low_open=True),
    "drift_thresholds": PositiveNumbers("per-column drift thresholds"),
    # Live performance (monitoring): labels that arrive after the predictions.
    "labels_uri": Uri(optional=True),
    "predictions_uri": Uri(),
    "performance_start_date": Day(starts=True, window="performance"),
    "performance_end_date": Day(starts=False, window="performance"),
    "performance_last_days": Number(0, 3660),
    "performance_bounds": Bounds(_performance_metrics, "live performance"),
    "performance_min_days": Number(1, 3660),
    "performance_min_labels_per_day": Number(1),
    "max_label_delay_days": Number(0.0, unset_below_zero=True),
    # The training set built from production (monitoring's retrain).
    "retrain_start_date": Day(starts=True, window="retrain"),
    "retrain_end_date": Day(starts=False, window="retrain"),
    "retrain_last_days": Number(0, 3660),
    "min_labelled_rows": Number(1),
    # Sharded drift (monitoring): 1 is the one-pod gate; 2..64 shards per side.
    "shards": Number(1, 64),
    "fan_in": Choice(lambda: ("collected", "s3"), "drift fan-in"),
}


def non_finite(value: Any, where: str = "") -> list[str]:
    """Where a NaN or infinity hides in a value, nested lists and dicts included."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where or 'value'}={value}"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite(v, f"{where}.{k}" if where else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in non_finite(v, f"{where}[{i}]")]
    return []


def problems(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """One message per parameter that breaks its rule, naming value, range and way out.

    Args:
        values: Every effective parameter value (defaults with the given values over them),
            already of its declared type.
        defaults: The pipeline's defaults, quoted as an example of a valid value.
    """
    found = []
    for name, value in values.items():
        rule = RULES.get(name)
        hidden = non_finite(value)
        if hidden:  # refused everywhere: a NaN bound silently turns its check off
            why = "is not a finite number" if isinstance(value, float) else f"holds {hidden}"
        elif rule is None or (why := rule.problem(value, values)) is None:
            continue
        accepts = rule.accepts if rule else "finite numbers only (no NaN or infinity)"
        example = f"; the default is {_shown(defaults[name])}" if name in defaults else ""
        found.append(
            f"parameter {name}={_shown(value)} {why}: expected {accepts}{example}. "
            f"Set it with -p {name}=VALUE or in the --params file"
        )
    return found


def _shown(value: Any) -> str:
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:79] + "…"
