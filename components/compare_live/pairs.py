"""Pair each shadow row with the primary row of the same request and row, and their labels.

The log writes a request's rows in the request's order, one row per instance, keyed by
`request_id`; the shadow's rows of a request repeat its `request_id` and row order with
`endpoint` = "shadow" and the shadow's `model_version` (components/_shared/logformat.py).
A row's index is its position within its request (components/_shared/labels/rowkeys.py).
Files written before the `endpoint` column existed hold primary rows only.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from components._shared.errors import DataError
from components._shared.labels.rowkeys import NO_ROW, latest_labels, number_rows, prepare_labels
from components._shared.logformat import (
    ENDPOINT,
    PREDICTION,
    SHADOW,
    primary_only,
    proba_column,
)

VERSION = "model_version"
KEYS = ["request_id", "row"]


@dataclass(frozen=True)
class PairCounts:
    """What happened to every log row and every label of the window.

    Attributes:
        primary_rows / shadow_rows: Rows of each endpoint read (shadow: of the challenger
            version judged, when one is named).
        duplicate_rows: Rows logged twice under one request id and row (the first is kept).
        paired_rows: Shadow rows with the primary row of the same request and row.
        unpaired_shadow_rows: Shadow rows whose primary row is not in the window.
        requests: Distinct requests among the paired rows.
        labels / null_labels / duplicate_labels: Label rows read, empty, repeated (latest wins).
        ambiguous_labels: Labels without `row` for a request of several rows.
        unmatched_labels: Labels naming no paired row (other requests, unshadowed ones).
        labelled_rows: Paired rows with a label.
    """

    primary_rows: int
    shadow_rows: int
    duplicate_rows: int
    paired_rows: int
    unpaired_shadow_rows: int
    requests: int
    labels: int = 0
    null_labels: int = 0
    duplicate_labels: int = 0
    ambiguous_labels: int = 0
    unmatched_labels: int = 0
    labelled_rows: int = 0


def split_endpoints(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(primary rows, shadow rows), primary as every reader of the log has it (primary_only)."""
    if ENDPOINT not in frame.columns:
        return frame, frame.iloc[0:0]
    return primary_only(frame), frame[(frame[ENDPOINT] == SHADOW).to_numpy()]


def _numbered(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    numbered = number_rows(rows)
    repeated = numbered.duplicated(KEYS, keep="first")
    return numbered[~repeated], int(repeated.sum())


def _proba(rows: pd.DataFrame, positive) -> np.ndarray | None:
    column = proba_column(positive) if positive is not None else None
    if column is None or column not in rows.columns:
        return None
    return rows[column].to_numpy(dtype=float)


def pair_rows(
    primary: pd.DataFrame, shadow: pd.DataFrame, extra: list[str], positive=None
) -> tuple[pd.DataFrame, dict]:
    """The paired rows and their counts.

    Returns:
        request_id, row, rows_in_request, champion_version, challenger_version, champion,
        challenger (the predictions), champion_proba and challenger_proba (of `positive`;
        NaN when not logged), and the `extra` columns (from the primary row); and counts.
    """
    first, dup_p = _numbered(primary)
    second, dup_s = _numbered(shadow)
    left = pd.DataFrame(
        {
            "request_id": first["request_id"].to_numpy(),
            "row": first["row"].to_numpy(),
            "rows_in_request": first["rows_in_request"].to_numpy(),
            "champion_version": first[VERSION].astype(str).to_numpy(),
            "champion": first[PREDICTION].to_numpy(),
            "champion_proba": _proba(first, positive),
            **{c: first[c].to_numpy() for c in extra},
        }
    )
    right = pd.DataFrame(
        {
            "request_id": second["request_id"].to_numpy(),
            "row": second["row"].to_numpy(),
            "challenger_version": second[VERSION].astype(str).to_numpy(),
            "challenger": second[PREDICTION].to_numpy(),
            "challenger_proba": _proba(second, positive),
        }
    )
    paired = right.merge(left, on=KEYS, how="inner", validate="one_to_one")
    counts = {
        "primary_rows": len(primary),
        "shadow_rows": len(shadow),
        "duplicate_rows": dup_p + dup_s,
        "paired_rows": len(paired),
        "unpaired_shadow_rows": len(second) - len(paired),
        "requests": int(paired["request_id"].nunique()),
    }
    return paired, counts


def typed_labels(labels: pd.Series, numeric: bool) -> pd.Series:
    """Labels as the model's classes: numbers for a numeric target, else text."""
    if not numeric:
        if pd.api.types.is_float_dtype(labels) and (labels == labels.round()).all():
            labels = labels.astype("int64")  # "1.0" in a CSV is the class "1"
        return labels.astype(str)
    converted = pd.to_numeric(labels, errors="coerce")
    bad = labels[converted.isna()].unique()[:5]
    if len(bad):
        raise DataError(
            f"labels hold non-numeric values {[str(b) for b in bad]} but the models predict "
            "numeric classes; write each label as the class the model predicts (e.g. 0/1)"
        )
    return converted.astype("int64") if (converted == converted.round()).all() else converted


def attach_labels(paired: pd.DataFrame, labels: pd.DataFrame, numeric: bool) -> tuple:
    """The paired rows with `label` (NaN where none arrived), and the label counts.

    A label names a row by (request_id, row); one without `row` names a request of one row.
    The latest label of a row wins (rowkeys.latest_labels).

    Raises:
        DataError: No request_id or label column, a bad `row` or time, non-numeric labels
            for numeric classes.
    """
    prepared, nulls = prepare_labels(labels)
    prepared["label"] = typed_labels(prepared["label"], numeric)
    kept, repeated = latest_labels(prepared)
    single = paired.loc[paired["rows_in_request"] == 1, "request_id"]
    multi = paired.loc[paired["rows_in_request"] > 1, "request_id"]
    no_row = (kept["row"] == NO_ROW).to_numpy()
    ambiguous = no_row & kept["request_id"].isin(multi).to_numpy()
    usable = kept[~no_row | kept["request_id"].isin(single).to_numpy()].copy()
    usable.loc[usable["row"] == NO_ROW, "row"] = 0
    usable = usable.drop_duplicates(KEYS, keep="last")[[*KEYS, "label"]]
    out = paired.merge(usable, on=KEYS, how="left")
    labelled = int(out["label"].notna().sum())
    counts = {
        "labels": len(labels),
        "null_labels": nulls,
        "duplicate_labels": repeated,
        "ambiguous_labels": int(ambiguous.sum()),
        "unmatched_labels": len(kept) - int(ambiguous.sum()) - labelled,
        "labelled_rows": labelled,
    }
    return out, counts
