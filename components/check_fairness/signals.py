"""The fairness gate's figures for the Pushgateway and its one-line verdict record.

Per feature, its two disparities (`kfp_mlops_fairness_feature_disparity{feature, metric}`);
per group, its selection rate, TPR and FPR (`kfp_mlops_fairness_group_rate{feature, group,
rate}`), only for features with at most MAX_GROUPS_PUSHED groups: a group label per value of
an identifier-like column would flood Prometheus with series.
"""

import math

from components._shared.groups import MAX_GROUPS
from components._shared.verdicts.gate_records import GateRecord
from components._shared.verdicts.pushgateway import GateFigures, Series
from components.check_fairness.core import FairnessResult

GATE = "fairness"
MAX_GROUPS_PUSHED = MAX_GROUPS  # more is not a group (components/_shared/groups.py)
_DISPARITIES = ("demographic_parity_difference", "equalized_odds_difference")
_RATES = ("selection_rate", "tpr", "fpr")


def figures_of(
    result: FairnessResult, model: str, duration_seconds: float | None = None
) -> GateFigures:
    """The worst disparities with their max bounds, then per-feature and per-group figures."""
    metrics: dict[str, float] = {}
    bounds: dict[str, tuple[float, str]] = {}
    for name in _DISPARITIES:
        worst = getattr(result, name)
        if worst is not None and math.isfinite(worst):
            metrics[name] = worst
        bound = getattr(result, f"max_{name}")
        if bound is not None:
            bounds[name] = (bound, "max")
    return GateFigures(
        gate=GATE,
        model=model,
        passed=result.passed,
        metrics=metrics,
        thresholds=bounds,
        series=_feature_series(result) + _group_series(result),
        duration_seconds=duration_seconds,
    )


def _feature_series(result: FairnessResult) -> list[Series]:
    found = []
    for feature in result.features.values():
        for name in _DISPARITIES:
            value = getattr(feature, name)
            if math.isfinite(value):
                found.append(
                    Series(
                        "kfp_mlops_fairness_feature_disparity",
                        "A disparity across the groups of one sensitive feature",
                        {"feature": feature.feature, "metric": name},
                        value,
                    )
                )
    return found


def _group_series(result: FairnessResult) -> list[Series]:
    found = []
    for feature in result.features.values():
        if len(feature.groups) > MAX_GROUPS_PUSHED:
            continue
        for group, rates in feature.groups.items():
            for rate in _RATES:
                value = getattr(rates, rate)
                if math.isfinite(value):
                    found.append(
                        Series(
                            "kfp_mlops_fairness_group_rate",
                            "One group's selection rate, TPR or FPR (for the reported class)",
                            {"feature": feature.feature, "group": group, "rate": rate},
                            value,
                        )
                    )
    return found


def _part(label: str, value: float | None, bound: float | None, worst: str) -> str:
    if value is None or not math.isfinite(value):
        return f"{label}: not measured"
    where = f" ({worst})" if worst else ""
    if bound is None:
        return f"{label} {value:.4f}{where}, no bound set"
    sign = "≤" if value <= bound else ">"
    return f"{label} {value:.4f}{where} {sign} {bound:g}"


def line_of(result: FairnessResult) -> str:
    """One sentence: each worst disparity against its bound, then why when not blessed."""
    parts = []
    for name in _DISPARITIES:
        label = name.replace("_", " ")
        value = getattr(result, name)
        worst = max(result.features.values(), key=lambda f: getattr(f, name), default=None)
        feature = worst.feature if worst is not None and value is not None else ""
        parts.append(_part(label, value, getattr(result, f"max_{name}"), feature))
    line = "; ".join(parts)
    if not result.passed and result.reasons:
        line += "; not blessed: " + "; ".join(result.reasons)
    return line


def record_of(result: FairnessResult, model: str, pipeline: str = "") -> GateRecord:
    """The verdict record the run's notification reads."""
    return GateRecord(
        gate=GATE, passed=result.passed, line=line_of(result), model=model, pipeline=pipeline
    )
