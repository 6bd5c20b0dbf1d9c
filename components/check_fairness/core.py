"""Fairness gate core: per-group rates and disparity differences per sensitive feature."""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from components._shared.errors import ConfigError, DataError, one_of
from components._shared.groups import MISSING_GROUP, group_rows, too_many_groups
from components.check_fairness.measurable import feature_problems, target_problems

DEFAULT_MIN_GROUP_SIZE = 30
# Differences are compared with a little slack so a bound equal to the value passes.
TOLERANCE = 1e-12


@dataclass(frozen=True)
class GroupRates:
    """One group's share of positive predictions and its error rates for one class."""

    count: int
    selection_rate: float
    tpr: float
    fpr: float
    small: bool  # fewer rows than min_group_size: reported and counted, but noisy


@dataclass(frozen=True)
class FeatureFairness:
    """Disparities across the groups of one sensitive feature."""

    feature: str
    demographic_parity_difference: float
    equalized_odds_difference: float
    reported_class: object  # the class the group rates are for (the worst one)
    groups: dict[str, GroupRates]
    bins: list[str] | None = None  # quartile bins, when the feature was numeric
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)  # multiclass only
    # Why the feature is not judged (more groups than MAX_GROUPS); then no rates were
    # computed: the disparities are NaN, `groups` is empty, `n_groups` says how many.
    not_judged: str = ""
    n_groups: int | None = None

    @property
    def judged(self) -> bool:
        """Whether the feature's disparities were measured and count toward the verdict."""
        return not self.not_judged


@dataclass(frozen=True)
class FairnessResult:
    """The gate's verdict, its reasons and the numbers behind them."""

    passed: bool
    reasons: list[str]
    features: dict[str, FeatureFairness]
    positive_classes: list
    max_demographic_parity_difference: float | None
    max_equalized_odds_difference: float | None
    min_group_size: int

    @property
    def demographic_parity_difference(self) -> float | None:
        """The worst demographic parity difference over the judged features."""
        values = [f.demographic_parity_difference for f in self.features.values() if f.judged]
        return max(values) if values else None

    @property
    def equalized_odds_difference(self) -> float | None:
        """The worst equalized odds difference over the judged features."""
        values = [f.equalized_odds_difference for f in self.features.values() if f.judged]
        return max(values) if values else None


def _bound(name: str, value: float | None) -> float | None:
    """A threshold below zero means unset; NaN or infinity would turn the check off unseen."""
    if value is not None and not math.isfinite(value):
        raise ConfigError(
            f"{name} is {value}; set a number in [0, 1], or one below 0 to unset the bound"
        )
    return None if value is None or value < 0 else float(value)


def _normalize_class(value: object) -> object:
    # Ints in KFP metadata come back as floats; the data still holds ints.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _positive_classes(classes: list, positive_label: str) -> list:
    if positive_label:
        by_name = {str(c): c for c in classes}
        if positive_label not in by_name:
            raise one_of("positive_label", positive_label, list(by_name))
        return [by_name[positive_label]]
    if len(classes) < 2:
        raise DataError(f"the predictions name {len(classes)} class(es) {classes}; need at least 2")
    # Binary: the second class in sklearn order is the positive one; multiclass: one-vs-rest.
    return [classes[1]] if len(classes) == 2 else list(classes)


def _is_class(values: pd.Series, cls: object) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values) and isinstance(cls, int | float):
        return (values == cls).to_numpy(dtype=int)
    return (values.astype(str) == str(cls)).to_numpy(dtype=int)


def _disparities(y_true, y_pred, groups: pd.Series) -> tuple[float, float, pd.DataFrame]:
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    with warnings.catch_warnings():
        # fairlearn 0.15 still calls pandas APIs that pandas 3 deprecates.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        frame = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "tpr": true_positive_rate,
                "fpr": false_positive_rate,
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups.to_numpy(),
        )
        dp = demographic_parity_difference(y_true, y_pred, sensitive_features=groups.to_numpy())
        eo = equalized_odds_difference(y_true, y_pred, sensitive_features=groups.to_numpy())
    return float(dp), float(eo), frame.by_group


def _feature_fairness(
    frame: pd.DataFrame, feature: str, target: str, prediction: str, positives: list, min_size: int
) -> FeatureFairness:
    grouping = group_rows(frame[feature])
    groups, bins = grouping.labels, grouping.bins
    # Tiny groups by the dozen differ by chance: a gap between them is not a verdict. Their
    # rates are not computed either (an identifier's thousands of groups would cost fairlearn
    # minutes and the report thousands of rows).
    too_many = too_many_groups(feature, grouping.counted, ": no disparity judged (fail closed)")
    if too_many:
        nan = float("nan")
        return FeatureFairness(
            feature, nan, nan, None, {}, bins, not_judged=too_many, n_groups=len(grouping.counted)
        )
    counts = groups.value_counts()
    per_class, worst = {}, None
    for cls in positives:
        y_true, y_pred = _is_class(frame[target], cls), _is_class(frame[prediction], cls)
        dp, eo, by_group = _disparities(y_true, y_pred, groups)
        per_class[str(cls)] = {"demographic_parity_difference": dp, "equalized_odds_difference": eo}
        if worst is None or max(dp, eo) > max(worst[1], worst[2]):
            worst = (cls, dp, eo, by_group)
    cls, _, _, by_group = worst
    rates = {
        g: GroupRates(
            count=int(counts[g]),
            selection_rate=float(by_group.loc[g, "selection_rate"]),
            tpr=float(by_group.loc[g, "tpr"]),
            fpr=float(by_group.loc[g, "fpr"]),
            small=bool(counts[g] < min_size),
        )
        for g in grouping.order
    }
    return FeatureFairness(
        feature=feature,
        demographic_parity_difference=max(
            c["demographic_parity_difference"] for c in per_class.values()
        ),
        equalized_odds_difference=max(c["equalized_odds_difference"] for c in per_class.values()),
        reported_class=cls,
        groups=rates,
        bins=bins,
        per_class=per_class if len(positives) > 1 else {},
    )


def _require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} {missing} not in the predictions; available columns: {list(frame.columns)}"
        )


def _violations(features: dict[str, FeatureFairness], max_dp, max_eo) -> list[str]:
    reasons = []
    for name, f in features.items():
        if max_dp is not None and f.demographic_parity_difference > max_dp + TOLERANCE:
            reasons.append(
                f"demographic parity difference by {name!r} is "
                f"{f.demographic_parity_difference:.4f} > {max_dp:g}"
            )
        if max_eo is not None and f.equalized_odds_difference > max_eo + TOLERANCE:
            reasons.append(
                f"equalized odds difference by {name!r} is "
                f"{f.equalized_odds_difference:.4f} > {max_eo:g}"
            )
    return reasons


def check_fairness(
    frame: pd.DataFrame,
    *,
    target_column: str,
    prediction_column: str,
    classes: list,
    sensitive_features: list[str],
    max_demographic_parity_difference: float,
    max_equalized_odds_difference: float,
    positive_label: str,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> FairnessResult:
    """Measure per-group rates and disparities, and bless only within every set bound.

    Fails closed when a disparity cannot be measured: a sensitive feature with fewer than two
    groups (or missing everywhere), a target with missing values or a single class.

    Args:
        frame: Held-out rows with the target, the prediction and the sensitive features.
        target_column: Column with the true class.
        prediction_column: Column with the predicted class.
        classes: The model's classes in sklearn order.
        sensitive_features: Columns to split the rows by; empty means not blessed.
        max_demographic_parity_difference: Bound on the selection-rate gap; < 0 unsets it.
        max_equalized_odds_difference: Bound on the worse of the TPR and FPR gaps; < 0 unsets it.
        positive_label: The favourable class as text; empty means classes[1] when binary and
            every class one-vs-rest (worst class counts) when multiclass.
        min_group_size: Groups with fewer rows are flagged as small (still counted).

    Returns:
        The verdict with its reasons and the per-feature numbers.

    Raises:
        DataError: A named column is missing from the frame (the error lists the columns).
        ConfigError: positive_label names no class, or a bound is NaN or infinite.
    """
    classes = [_normalize_class(c) for c in classes]
    max_dp = _bound("max_demographic_parity_difference", max_demographic_parity_difference)
    max_eo = _bound("max_equalized_odds_difference", max_equalized_odds_difference)
    sensitive_features = list(sensitive_features or [])
    if frame.empty:
        raise DataError("the predictions have no rows: nothing to assess")
    _require_columns(frame, [target_column, prediction_column], "target/prediction column")
    _require_columns(frame, sensitive_features, "sensitive feature")
    positives = _positive_classes(classes, positive_label)
    features = {
        name: _feature_fairness(
            frame, name, target_column, prediction_column, positives, min_group_size
        )
        for name in sensitive_features
    }
    reasons = []
    if not sensitive_features:
        reasons.append("no sensitive features given: cannot assess fairness (fail closed)")
    if max_dp is None and max_eo is None:
        reasons.append(
            "no fairness threshold set (both bounds < 0): refusing to bless (fail closed)"
        )
    reasons += target_problems(frame[target_column])
    judged = {}
    for name, f in features.items():
        if not f.judged:
            reasons.append(f.not_judged)
            continue
        groups = [g for g in f.groups if g != MISSING_GROUP]
        judged[name] = f
        reasons += feature_problems(
            f.feature, groups, f.demographic_parity_difference, f.equalized_odds_difference
        )
    reasons += _violations(judged, max_dp, max_eo)
    return FairnessResult(
        passed=not reasons,
        reasons=reasons,
        features=features,
        positive_classes=positives,
        max_demographic_parity_difference=max_dp,
        max_equalized_odds_difference=max_eo,
        min_group_size=min_group_size,
    )
