"""Live-performance gate core: labelled predictions scored per day, bounds held over N days."""

import math

import numpy as np
import pandas as pd

from components._shared.errors import ConfigError, DataError, one_of
from components._shared.labels.accept import accept_labels
from components._shared.logformat import PROBA_PREFIX, proba_column
from components.check_performance.bounds import NOT_JUDGED, check_bound
from components.check_performance.join import JoinCounts, Joined, join_labels
from components.check_performance.measures import METRICS, measure, ordered_classes
from components.check_performance.result import (
    DayPerformance,
    PerformanceResult,
    alias_not_set,
    labels_refused,
    no_labels_yet,
)
from components.check_performance.served import Served, split_served


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


def _require_probabilities(bounds: dict, joined: Joined, columns: list) -> None:
    """A roc_auc bound on a log without a probability per class could never be judged."""
    if "roc_auc" not in bounds or joined.proba_columns is not None:
        return
    needed = [proba_column(c) for c in joined.classes]
    lacking = [c for c in needed if c not in columns]
    raise DataError(
        f"the roc_auc bound needs the model's probabilities, one column per class {needed}; "
        f"the prediction log lacks {lacking} (its columns: {columns}); log the probabilities "
        f"(the server's own prediction log writes {PROBA_PREFIX}<class>; a payload-logger "
        "sink must record them too) or drop roc_auc from the bounds"
    )


def _unscored(metric: str, rows: pd.DataFrame, classes: tuple, proba, unlogged: int) -> str:
    """Why a metric has no value on these rows (measure gives None, not a reason)."""
    if metric != "roc_auc":
        return "undefined on these rows"
    if proba is None:
        return "no probabilities logged"
    if unlogged:
        return f"no probabilities logged for {unlogged} of {len(rows)} rows"
    seen = rows["y_true"].nunique()
    if seen < 2:
        return "labels of one class only"
    if seen < len(classes):
        return f"labels of {seen} of the {len(classes)} classes"
    return "undefined on these rows"


def _score(rows: pd.DataFrame, joined: Joined, classes: tuple) -> tuple[dict, dict[str, str]]:
    """Every metric of the rows, and why each one without a value has none."""
    proba, unlogged = None, 0
    if joined.proba_columns is not None:
        order = [joined.proba_columns[joined.classes.index(c)] for c in classes]
        proba = rows[order].to_numpy(dtype=float)
        # Parts written without scores (another sink, another version) read as null.
        unlogged = int(np.isnan(proba).any(axis=1).sum())
    values = measure(
        rows["y_true"].to_numpy(), rows["y_pred"].to_numpy(), None if unlogged else proba, classes
    )
    why = {m: _unscored(m, rows, classes, proba, unlogged) for m, v in values.items() if v is None}
    return values, why


def _days(joined: Joined, classes: tuple, min_labels: int) -> list[DayPerformance]:
    groups = dict(tuple(joined.rows.groupby("day", sort=True)))
    days = []
    for day, predictions in joined.predictions_per_day.sort_index().items():
        rows = groups.get(day)
        labelled = 0 if rows is None else len(rows)
        judged = labelled >= min_labels
        values, unscored = _score(rows, joined, classes) if judged else ({}, {})
        days.append(
            DayPerformance(
                day=day.date(),
                predictions=int(predictions),
                labelled=labelled,
                late_labels=int(joined.late_per_day.get(day, 0)),
                judged=judged,
                values=values,
                unscored=unscored,
            )
        )
    return days


def _notes(counts: JoinCounts, days: list[DayPerformance], checks, min_days: int, min_labels):
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
            f"fails after {min_days} judged days below it (min_days): no bound judged yet"
        )
    notes += [  # a judged bound with gaps: the reason of a not-judged one says it already
        f"{c.metric} could not be computed on {c.days_without_value} of the {judged} judged "
        f"days ({_why(days, c.metric)}); those days neither break nor extend its run"
        for c in checks
        if c.days_without_value and c.status != NOT_JUDGED
    ]
    return notes


def _why(days: list[DayPerformance], metric: str) -> str:
    return "; ".join(dict.fromkeys(d.unscored[metric] for d in days if metric in d.unscored))


def check_performance(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    bounds: dict,
    min_days: int,
    min_labels_per_day: int,
    max_label_delay_days: float,
    positive_label: str,
    label_schema: str = "",
    schemas=None,
    served: Served | None = None,
) -> PerformanceResult:
    """Score the labelled predictions per day and over the window, and hold them to bounds.

    A bound fails when its metric is below it on each of the last `min_days` judged days
    (days with at least `min_labels_per_day` labels; days with fewer, or on which the metric
    is undefined, neither break nor extend the run). Fails closed: no bound set, or a bound
    whose metric has a value on fewer than `min_days` of at least `min_days` judged days
    (one class on each day for roc_auc), means not passed. With fewer than `min_days` judged
    days, every bound is not judged yet and the gate passes, saying so.

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
        label_schema: `NAME@vN`: only labels of that version, or of an older one mapped into
            it by declared mappings, are used; the rest are counted by reason. When it
            refuses every label the result is "cannot judge" (not passed, cannot_judge).
            Empty: every label is used (several versions seen together are noted).
        schemas: NAME -> its stored schema versions (default: the S3 schema store).
        served: The version an alias serves (served.Served): only the predictions logged
            with its model_version are judged, and min_days counts its judged days; the
            other versions' rows and their labels are counted (result.served). An alias
            not set (version None) → "cannot judge" (not passed). None or alias "": every
            version is judged.

    Raises:
        ConfigError: An unknown metric, a bound outside [0, 1], a setting out of range, a
            positive_label that names no class, a label_schema not of NAME@vN.
        DataError: No predictions in the window, missing columns, labels not of the model's
            classes, no label that matches a prediction, a roc_auc bound on a log
            without a proba_<class> column for every class, a label_schema not stored, or
            an alias given for a log that records no model_version.
    """
    checked = _bounds(bounds)
    _settings(min_days, min_labels_per_day, max_label_delay_days)
    if predictions.empty:
        raise DataError("the prediction log has no rows in the window: nothing to judge")
    settings = {
        "min_days": min_days,
        "min_labels_per_day": min_labels_per_day,
        "max_label_delay_days": max_label_delay_days,
    }
    labels, label_counts = accept_labels(labels, label_schema, schemas)
    if label_counts.read and not label_counts.kept:
        return labels_refused(len(predictions), label_counts, settings)
    unserved = served is not None and served.alias and served.version is None
    if served is not None and not unserved:
        predictions, labels, served = split_served(predictions, labels, served)
    joined = join_labels(predictions, labels, max_label_delay_days)
    _require_probabilities(checked, joined, [str(c) for c in predictions.columns])
    if unserved:  # after the join: bad labels or a bad log still fail, naming the problem
        return alias_not_set(len(predictions), served, settings)
    counts = joined.counts
    # Labels only for a predecessor's rows: the served version is not judged yet, no error.
    if counts.used_labels == 0 and not (served and served.other_labels):
        raise DataError(
            f"no label matches a prediction in the window ({counts.labels} labels: "
            f"{counts.unknown_labels} unknown ids, {counts.late_labels} late, "
            f"{counts.ambiguous_labels} without row for multi-row requests, "
            f"{counts.null_labels} empty); check labels_uri and the window's days"
        )
    classes = ordered_classes(joined.classes, positive_label)
    days = _days(joined, classes, min_labels_per_day)
    window = _score(joined.rows, joined, classes)[0] if len(joined.rows) else {}
    judged = [d for d in days if d.judged]
    checks = [
        check_bound(m, b, judged, window.get(m), min_days, min_labels_per_day, _why(days, m))
        for m, b in checked.items()
    ]
    # A bound not judged fails closed once there are min_days judged days; before, none can be.
    enough = len(judged) >= min_days
    reasons = [c.reason for c in checks if c.failed or (enough and c.status == NOT_JUDGED)]
    if not checked:
        reasons.append("no performance bound set: refusing to pass (fail closed)")
    return PerformanceResult(
        passed=not reasons,
        reasons=reasons,
        notes=label_counts.lines()
        + ([served.line()] if served else [])
        + _notes(counts, days, checks, min_days, min_labels_per_day),
        days=days,
        window=window,
        checks=checks,
        counts=counts,
        classes=list(joined.classes),
        positive_class=classes[1] if len(classes) == 2 else None,
        label_counts=label_counts,
        served=served,
        **settings,
    )


def no_labels(
    labels_uri: str,
    *,
    bounds: dict,
    min_days: int,
    min_labels_per_day: int,
    max_label_delay_days: float,
) -> PerformanceResult:
    """The verdict when labels_uri holds no label file yet: cannot judge yet, not a failure.

    Raises:
        ConfigError: The settings check_performance refuses.
    """
    _bounds(bounds)
    _settings(min_days, min_labels_per_day, max_label_delay_days)
    settings = {
        "min_days": min_days,
        "min_labels_per_day": min_labels_per_day,
        "max_label_delay_days": max_label_delay_days,
    }
    return no_labels_yet(labels_uri, settings)
