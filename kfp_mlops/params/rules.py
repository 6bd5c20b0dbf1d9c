"""The rules pipeline parameters must meet: one table, checked before any task runs."""

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Rule(Protocol):
    """One parameter's rule: what it accepts, and what is wrong with a value (None if fine)."""

    accepts: str

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Why `value` breaks the rule, or None; `params` holds every effective value."""


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    low_text = "-inf" if low is None else _number(low)
    high_text = "inf" if high is None else _number(high)
    return f"{left}{low_text}, {high_text}{right}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Number:
    """A finite number in an interval; with `unset_below_zero`, any negative value means unset."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    unset_below_zero: bool = False

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        text = f"a finite number in {_interval(self.low, self.high, self.low_open, self.high_open)}"
        return text + (", or below 0 to unset it" if self.unset_below_zero else "")

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Out of range or not finite (the type is checked before this rule)."""
        if not math.isfinite(value):
            return "is not a finite number"
        if self.unset_below_zero and value < 0:
            return None
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        return "is out of range" if below or above else None


@dataclass(frozen=True)
class Choice:
    """A name from a registry; the registry is imported only when a value is checked."""

    registry: Callable[[], Iterable[str]]
    what: str

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        return f"one of {sorted(self.registry())} ({self.what})"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Not a registered name."""
        return None if value in set(self.registry()) else f"is not a known {self.what}"


@dataclass(frozen=True)
class Text:
    """A non-empty string (a column, a model name, a URI)."""

    what: str

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        return f"a non-empty string ({self.what})"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Empty or blank."""
        return "is empty" if not value.strip() else None


@dataclass(frozen=True)
class Uri:
    """A data URI load_data can read: a local path, file:// or s3://BUCKET/KEY-or-PREFIX/."""

    optional: bool = False  # "" means "not given" (e.g. reference_uri: ask the champion)
    accepts: str = "a local path, file://PATH or s3://BUCKET/KEY (a prefix ends in '/')"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Empty when required, an unsupported scheme, or an s3:// URI without bucket or key."""
        from components._shared.errors import DataError
        from components._shared.input_checks import check_scheme

        if not value.strip():
            return None if self.optional else "is empty"
        try:
            check_scheme(value)  # the same check load_data makes, here before any task runs
        except DataError as exc:
            return str(exc).removeprefix(f"cannot read {value}: ")
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if value.startswith("s3://") and not (bucket and key):
            return "names no bucket and key (or prefix ending in '/')"
        return None


@dataclass(frozen=True)
class Names:
    """A list of distinct, non-empty column names; `required` refuses an empty list."""

    what: str
    required: bool = False

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        size = "one or more" if self.required else "zero or more"
        return f"a list of {size} distinct column names ({self.what})"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Empty when required, a non-string or blank item, or a repeated name."""
        if self.required and not value:
            return "is empty"
        bad = [v for v in value if not isinstance(v, str) or not v.strip()]
        if bad:
            return f"holds items that are not column names: {bad}"
        repeated = sorted({v for v in value if value.count(v) > 1})
        return f"names {repeated} more than once" if repeated else None


@dataclass(frozen=True)
class PositiveNumbers:
    """A mapping of names to positive finite numbers (per-column drift thresholds)."""

    what: str

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        return f"a mapping of column name to a finite number > 0 ({self.what})"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """A value that is not a positive finite number."""
        bad = {
            k: v
            for k, v in value.items()
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0
        }
        return f"has values that are not numbers > 0: {bad}" if bad else None


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


def _drift_methods() -> Iterable[str]:
    from components.detect_drift.stattests import AUTO, REGISTRY

    return [AUTO, *REGISTRY]


_PROBABILITY_BOUND = Number(0.0, 1.0, unset_below_zero=True)

# Keyed by name: the training and monitoring pipelines share names, and mean the same by them.
RULES: dict[str, Rule] = {
    "data_uri": Uri(),
    "current_uri": Uri(),
    "retrain_data_uri": Uri(),
    "reference_uri": Uri(optional=True),
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
