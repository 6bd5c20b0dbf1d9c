"""Live-performance gate core: labelled predictions scored per day, bounds held over N days."""

import math
from dataclasses import dataclass
from datetime import date

import pandas as pd

from components._shared.errors import ConfigError, DataError, one_of
from components.check_performance.join import JoinCounts, Joined, join_labels
from components.check_performance.measures import METRICS, measure, ordered_classes


@dataclass(frozen=True)
class DayPerformance:
    """One day of predictions (the prediction's UTC day) and how they did once labelled."""

    day: date
    predictions: int
    labelled: int
    late_labels: int
    judged: bool  # at least min_labels_per_day labelled rows
    values: dict[str, float | None]  # metric -> value (empty when not judged)


@dataclass(frozen=True)
class MetricCheck:
    """One bounded metric: its recent values and how long it has stayed below its bound."""

    metric: str
    bound: float  # a minimum: every metric is higher-is-better
    last_day: date | None  # the last judged day with a value
    last_day_value: float | None
    window_value: float | None
    days_below: int  # consecutive judged days below the bound, counted back from the last
    failed: bool  # days_below >= min_days


@dataclass(frozen=True)
class PerformanceResult:
    """The gate's verdict, its reasons and every number behind them."""

    passed: bool
    reasons: list[str]  # why it failed (empty when passed)
    notes: list[str]  # what a reader should know: labels not used, too few judged days
    days: list[DayPerformance]
    window: dict[str, float | None]
    checks: list[MetricCheck]
    counts: JoinCounts
    classes: list
    positive_class: object  # None for multiclass (macro averages)
    min_days: int
    min_labels_per_day: int
    max_label_delay_days: float


def _bounds(bounds: dict) -> dict[str, float]:
    checked = {}
    for name, value in bounds.items():
        if name not in METRICS:
            raise one_of("metric in bounds", name, METRICS)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"bound of {name} is {value!r}; give a number in [0, 1]")
        if not math.isfinite(value) or not 0 <= value <= 1:
            raise ConfigError(f"bound of {name} is {value}; give a number in [0, 1]")
        checked[name] = float(value)
    return checked


def _settings(min_days: int, min_labels_per_day: int, max_label_delay_days: float) -> None:
    if min_days < 1:
        raise ConfigError(f"min_days={min_days}; give 1 or more (days below the bound to fail)")
    if min_labels_per_day < 1:
        raise ConfigError(f"min_labels_per_day={min_labels_per_day}; give 1 or more")
    if not math.isfinite(max_label_delay_days):
        raise ConfigError(
            f"max_label_delay_days={max_label_delay_days}; give days, or below 0 for no cutoff"
        )


def _score(rows: pd.DataFrame, joined: Joined, classes: tuple) -> dict[str, float | None]:
    proba = None
    if joined.proba_columns is not None:
        order = [joined.proba_columns[joined.classes.index(c)] for c in classes]
        proba = rows[order].to_numpy(dtype=float)
    return measure(rows["y_true"].to_numpy(), rows["y_pred"].to_numpy(), proba, classes)


def _days(joined: Joined, classes: tuple, min_labels: int) -> list[DayPerformance]:
    groups = dict(tuple(joined.rows.groupby("day", sort=True)))
    days = []
    for day, predictions in joined.predictions_per_day.sort_index().items():
        rows = groups.get(day)
        labelled = 0 if rows is None else len(rows)
        judged = labelled >= min_labels
        days.append(
            DayPerformance(
                day=day.date(),
                predictions=int(predictions),
                labelled=labelled,
                late_labels=int(joined.late_per_day.get(day, 0)),
                judged=judged,
                values=_score(rows, joined, classes) if judged else {},
            )
        )
    return days


def _check(metric: str, bound: float, days, window, min_days: int) -> MetricCheck:
    judged = [d for d in days if d.judged and d.values.get(metric) is not None]
    below = 0
    for d in reversed(judged):
        if d.values[metric] >= bound:
            break
        below += 1
    last = judged[-1] if judged else None
    return MetricCheck(
        metric=metric,
        bound=bound,
        last_day=last.day if last else None,
        last_day_value=last.values[metric] if last else None,
        window_value=window.get(metric),
        days_below=below,
        failed=below >= min_days,
    )


def _notes(counts: JoinCounts, days: list[DayPerformance], min_days: int, min_labels: int):
    notes = []
    unused = {
        "labels name no prediction in the window (unknown request id or row)": (
            counts.unknown_labels
        ),
        "labels repeat a labelled row (the latest time wins; else the last in the file)": (
            counts.duplicate_labels
        ),
        "labels arrived after max_label_delay_days (not used)": counts.late_labels,
        "labels have no `row` for a request of several rows (not used)": counts.ambiguous_labels,
        "labels are empty (not used)": counts.null_labels,
        "prediction rows were logged twice under one request id (the earliest is kept)": (
            counts.duplicate_predictions
        ),
    }
    notes += [f"{n} {what}" for what, n in unused.items() if n]
    notes.append(f"{counts.unlabelled} of {counts.predictions} predictions have no label yet")
    judged = sum(d.judged for d in days)
    if judged < min_days:
        notes.append(
            f"only {judged} day(s) have >= {min_labels} labels (min_labels_per_day); a bound "
            f"fails after {min_days} judged days below it (min_days)"
        )
    return notes


def check_performance(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    bounds: dict,
    min_days: int,
    min_labels_per_day: int,
    max_label_delay_days: float,
    positive_label: str,
) -> PerformanceResult:
    """Score the labelled predictions per day and over the window, and hold them to bounds.

    A bound fails when its metric is below it on each of the last `min_days` judged days
    (days with at least `min_labels_per_day` labels; days with fewer neither break nor
    extend the run). Fails closed: no bound set means not passed.

    Args:
        predictions: Prediction-log rows of the window: request_id, time, prediction,
            proba_<class>... (see kfp_mlops/serve/logrows.py).
        labels: request_id, label[, time][, row].
        bounds: Metric -> minimum, e.g. {"precision": 0.85}; metrics: accuracy, precision,
            recall, f1, roc_auc.
        min_days: Consecutive judged days below a bound that fail the gate.
        min_labels_per_day: Labelled rows a day needs to be judged.
        max_label_delay_days: Labels known later than this after the prediction are late
            (counted, not used); below 0: no cutoff.
        positive_label: The positive class as text (binary); empty: the second class in
            sorted order, as evaluate_model scores.

    Raises:
        ConfigError: An unknown metric, a bound outside [0, 1], a setting out of range, a
            positive_label that names no class.
        DataError: No predictions in the window, missing columns, labels not of the model's
            classes, or no label that matches a prediction.
    """
    checked = _bounds(bounds)
    _settings(min_days, min_labels_per_day, max_label_delay_days)
    if predictions.empty:
        raise DataError("the prediction log has no rows in the window: nothing to judge")
    joined = join_labels(predictions, labels, max_label_delay_days)
    counts = joined.counts
    if counts.used_labels == 0:
        raise DataError(
            f"no label matches a prediction in the window ({counts.labels} labels: "
            f"{counts.unknown_labels} unknown ids, {counts.late_labels} late, "
            f"{counts.ambiguous_labels} without row for multi-row requests, "
            f"{counts.null_labels} empty); check labels_uri and the window's days"
        )
    classes = ordered_classes(joined.classes, positive_label)
    days = _days(joined, classes, min_labels_per_day)
    window = _score(joined.rows, joined, classes)
    checks = [_check(m, b, days, window, min_days) for m, b in checked.items()]
    reasons = [
        f"{c.metric} below {c.bound:g} on each of the last {c.days_below} judged days "
        f"(min_days {min_days}); last day {c.last_day}: {c.last_day_value:.4f}"
        for c in checks
        if c.failed
    ]
    if not checked:
        reasons.append("no performance bound set: refusing to pass (fail closed)")
    return PerformanceResult(
        passed=not reasons,
        reasons=reasons,
        notes=_notes(counts, days, min_days, min_labels_per_day),
        days=days,
        window=window,
        checks=checks,
        counts=counts,
        classes=list(joined.classes),
        positive_class=classes[1] if len(classes) == 2 else None,
        min_days=min_days,
        min_labels_per_day=min_labels_per_day,
        max_label_delay_days=max_label_delay_days,
    )
