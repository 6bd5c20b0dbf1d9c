"""Join late-arriving labels with the prediction log, counting every label it cannot use.

The log keys a request's rows by `request_id` (one per request) and keeps them in the
request's order, one row per instance; it has no row index column. A row's index is its
position within its request (the first instance is row 0). Labels name a row with
`request_id`, and `row` when a request carried several instances.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from components._shared.errors import DataError
from components._shared.labels.read import LABEL_FORMAT, VERSION_COLUMN
from components._shared.labels.rowkeys import latest_labels, prepare_labels, utc
from components._shared.logformat import JOIN_COLUMNS, PROBA_PREFIX, primary_only

LABEL_COLUMNS = ("request_id", "label")


@dataclass(frozen=True)
class JoinCounts:
    """What happened to every prediction and every label.

    Attributes:
        predictions: Prediction rows in the window (after duplicates).
        duplicate_predictions: Rows logged twice under one request id and row (the earliest
            is kept).
        labels: Label rows read.
        null_labels: Labels with an empty `label` (not used).
        duplicate_labels: Labels for a row already labelled: the latest `time` wins (the last
            in file order without a time column); the others are not used.
        unknown_labels: Labels whose request id (and row) matches no prediction in the window.
        ambiguous_labels: Labels without `row` for a request that carried several rows.
        late_labels: Labels that arrived more than max_label_delay_days after the prediction
            (not used, so a day judged once is not judged again differently).
        used_labels: Labels joined with a prediction and scored.
        unlabelled: Predictions in the window that no label (late ones aside) names.
    """

    predictions: int
    duplicate_predictions: int
    labels: int
    null_labels: int
    duplicate_labels: int
    unknown_labels: int
    ambiguous_labels: int
    late_labels: int
    used_labels: int
    unlabelled: int


@dataclass(frozen=True)
class Joined:
    """Labelled predictions ready to score, and the per-day prediction counts."""

    rows: pd.DataFrame  # day, y_true, y_pred, then one probability column per class
    proba_columns: list[str] | None  # in `classes` order; None: no scores were logged
    classes: list
    predictions_per_day: pd.Series  # day (Timestamp at midnight UTC) -> prediction rows
    late_per_day: pd.Series
    counts: JoinCounts


def _require(frame: pd.DataFrame, columns, what: str, hint: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}; {hint}")


def _classes(predictions: pd.DataFrame, numeric: bool) -> tuple[list, dict]:
    """The model's classes from its probability columns (sklearn order), and their columns."""
    by_class = {}
    for column in predictions.columns:
        if not column.startswith(PROBA_PREFIX):
            continue
        name = column.removeprefix(PROBA_PREFIX)
        if numeric:
            value = pd.to_numeric(name, errors="coerce")
            if pd.isna(value):
                continue  # not one of this model's numeric classes
            name = int(value) if float(value).is_integer() else float(value)
        by_class[name] = column
    return sorted(by_class), by_class


def _typed_labels(labels: pd.Series, numeric: bool, classes: list) -> pd.Series:
    if numeric:
        converted = pd.to_numeric(labels, errors="coerce")
        bad = labels[converted.isna()].unique()[:5]
        if len(bad):
            raise DataError(
                f"labels hold non-numeric values {[str(b) for b in bad]} but the model predicts "
                f"numeric classes {classes or '(numbers)'}; write each label as the class the "
                "model predicts (e.g. 0/1, not good/bad)"
            )
        whole = converted.dropna()
        if (whole == whole.round()).all():
            return converted.astype("int64")
        return converted
    if pd.api.types.is_float_dtype(labels) and (labels == labels.round()).all():
        labels = labels.astype("int64")  # "1.0" in a CSV is the class "1"
    return labels.astype(str)


def _check_known(labels: pd.Series, classes: list) -> None:
    known = set(classes)
    unknown = sorted({v for v in labels.unique().tolist() if v not in known}, key=str)
    if unknown:
        raise DataError(
            f"labels hold values {unknown[:5]} that are none of the model's classes "
            f"{classes}; fix those labels (or the positive/negative coding) and run again"
        )


def _predictions(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The log rows with their time (UTC), day and row index; repeated rows dropped.

    Rows are numbered per (request_id, time) as rowkeys.number_rows does, but over the whole
    window at once, so `rows_in_request` counts the distinct rows of a request id across
    every logging of it: a label without `row` is ambiguous when any logging had several.
    (The training-set builder reads one part at a time and counts per logging instead.)
    """
    preds = frame.copy()
    preds["request_id"] = preds["request_id"].astype(str)
    preds["time"] = utc(preds["time"], "the prediction log")
    preds["day"] = preds["time"].dt.floor("D")
    if preds["request_id"].is_unique:  # one row per request (the usual log): nothing to number
        preds["row"], preds["rows_in_request"] = 0, 1
        return preds, 0
    preds = preds.sort_values("time", kind="stable")
    preds["row"] = preds.groupby(["request_id", "time"], sort=False).cumcount()
    repeated = preds.duplicated(["request_id", "row"], keep="first")
    preds = preds[~repeated]
    preds["rows_in_request"] = preds.groupby("request_id")["row"].transform("size")
    return preds, int(repeated.sum())


def _labels(frame: pd.DataFrame, numeric: bool, classes: list) -> tuple[pd.DataFrame, int]:
    """The labels with a value (rowkeys.prepare_labels), typed as the model's classes."""
    labels, nulls = prepare_labels(frame)
    labels["label"] = _typed_labels(labels["label"], numeric, classes)
    return labels, nulls


def join_labels(
    predictions: pd.DataFrame, labels: pd.DataFrame, max_label_delay_days: float
) -> Joined:
    """Match each label with its logged prediction, and count the ones that do not match.

    Args:
        predictions: Prediction-log rows: request_id, time, prediction, proba_<class>...
        labels: Ground truth: request_id, label, and optionally time (when the label was
            known) and row (the instance within a multi-row request).
        max_label_delay_days: Labels known later than this after their prediction are late
            and not used; below 0: no cutoff. Labels without time are never late.

    Raises:
        DataError: A required column is missing, labels are not of the model's classes (or
            not numeric for a numeric target), or a time is unreadable.
    """
    _require(predictions, JOIN_COLUMNS, "the prediction log", "is it a prediction log?")
    predictions = primary_only(predictions)  # a shadow's rows were never answered with
    # schema_version is the reader's (components/_shared/labels/read.py): name the file's own.
    own = labels.drop(columns=[VERSION_COLUMN], errors="ignore")
    _require(own, LABEL_COLUMNS, "the labels file", f"a labels file holds {LABEL_FORMAT}")
    pred_kind = predictions["prediction"].dtype
    numeric = pd.api.types.is_numeric_dtype(pred_kind) and not pd.api.types.is_bool_dtype(pred_kind)
    classes, by_class = _classes(predictions, numeric)
    preds, repeated_preds = _predictions(predictions)
    labelled, nulls = _labels(labels, numeric, classes)
    if not numeric:
        preds["prediction"] = preds["prediction"].astype(str)
    # A class predicted without a score column leaves the scores partial (proba None below).
    seen = set(preds["prediction"].dropna().unique().tolist())
    if not classes:  # no scores logged: the classes seen
        seen |= set(labelled["label"].unique().tolist())
    classes = sorted(set(classes) | seen)
    _check_known(labelled["label"], classes)
    labelled, repeated_labels = latest_labels(labelled)
    keys = ["request_id", "row"]
    if "row" not in labels.columns:  # every label has rowkeys' NO_ROW: join on the request id
        keys, labelled = ["request_id"], labelled.drop(columns="row")
    targets = preds if len(keys) == 2 else preds[preds["rows_in_request"] == 1]
    merged = labelled.merge(
        targets.drop(columns=[c for c in ("row",) if len(keys) == 1]),
        on=keys,
        how="left",
        suffixes=("_label", ""),
        indicator=True,
    )
    found = (merged["_merge"] == "both").to_numpy()
    ambiguous = np.zeros(len(merged), dtype=bool)
    if len(keys) == 1:
        multi = preds.loc[preds["rows_in_request"] > 1, "request_id"].unique()
        ambiguous = ~found & merged["request_id"].isin(multi).to_numpy()
    late = np.zeros(len(merged), dtype=bool)
    if "time_label" in merged.columns and max_label_delay_days >= 0:
        delay = merged["time_label"] - merged["time"]
        late = found & (delay > pd.Timedelta(days=max_label_delay_days)).to_numpy()
    used = merged[found & ~late]
    proba = [by_class[c] for c in classes] if by_class and set(classes) <= set(by_class) else None
    rows = used[["day", "label", "prediction", *(proba or [])]].rename(
        columns={"label": "y_true", "prediction": "y_pred"}
    )
    counts = JoinCounts(
        predictions=len(preds),
        duplicate_predictions=repeated_preds,
        labels=len(labels),
        null_labels=nulls,
        duplicate_labels=repeated_labels,
        unknown_labels=int((~found & ~ambiguous).sum()),
        ambiguous_labels=int(ambiguous.sum()),
        late_labels=int(late.sum()),
        used_labels=len(used),
        unlabelled=len(preds) - int(found.sum()),
    )
    return Joined(
        rows=rows.reset_index(drop=True),
        proba_columns=proba,
        classes=classes,
        predictions_per_day=preds.groupby("day").size(),
        late_per_day=merged.loc[late, "day"].value_counts(),
        counts=counts,
    )
