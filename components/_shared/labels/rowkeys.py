"""How a label names a logged row: (request_id, row index in its request), latest label wins.

The prediction log keys a request's rows by `request_id` and keeps them in the request's
order, one row per instance, without a row index column: a row's index is its position
within its request (the first instance is row 0). A label names a row with `request_id`,
and `row` when the request carried several instances. The live-performance gate and the
training-set builder share these rules, so a label counts the same way in both.
"""

import pandas as pd

from components._shared.errors import DataError
from components._shared.labels.read import LABEL_FORMAT

NO_ROW = -1  # a label without `row`: it names a request of one row


def utc(values: pd.Series, what: str) -> pd.Series:
    """Times as UTC timestamps (naive times are UTC), or the error naming the source."""
    try:
        try:  # ISO 8601 first (fast); else each value's own format
            return pd.to_datetime(values, utc=True, format="ISO8601")
        except ValueError:
            return pd.to_datetime(values, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what}: `time` holds values that are not times: {exc}") from None


def number_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The log rows with `row` (index in the request) and `rows_in_request`, in log order.

    A row logged twice under one request id keeps both numbers (the caller decides which to
    keep): the numbering counts rows per (request_id, time), as the server writes a request's
    rows with one time.
    """
    rows = frame.copy()
    rows["request_id"] = rows["request_id"].astype(str)
    if rows["request_id"].is_unique:  # one row per request (the usual log): nothing to number
        rows["row"], rows["rows_in_request"] = 0, 1
        return rows
    rows["row"] = rows.groupby(["request_id", "time"], sort=False).cumcount()
    rows["rows_in_request"] = rows.groupby(["request_id", "time"], sort=False)["row"].transform(
        "size"
    )
    return rows


def prepare_labels(frame: pd.DataFrame, what: str = "the labels") -> tuple[pd.DataFrame, int]:
    """request_id (text), label, time (UTC, when given) and row (NO_ROW when not given).

    Returns:
        The labels with a value, and how many had none (null labels, not used).

    Raises:
        DataError: No request_id or label column, a `row` that is not a whole number >= 0,
            or a time that cannot be read.
    """
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} lack column(s) {missing}; they have {list(frame.columns)}; a labels file "
            f"holds {LABEL_FORMAT}"
        )
    keep = [c for c in ("request_id", "label", "time", "row") if c in frame.columns]
    labels = frame[keep].copy()
    labels["request_id"] = labels["request_id"].astype(str)
    nulls = labels["label"].isna()
    labels = labels[~nulls]
    if "time" in labels.columns:
        labels["time"] = utc(labels["time"], what)
    if "row" in labels.columns:
        rows = pd.to_numeric(labels["row"], errors="coerce")
        if rows.isna().any() or (rows < 0).any() or (rows != rows.round()).any():
            raise DataError(f"{what}: `row` must be a whole number >= 0 (the instance's index)")
        labels["row"] = rows.astype("int64")
    else:
        labels["row"] = NO_ROW
    return labels, int(nulls.sum())


def latest_labels(labels: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One label per (request_id, row): the latest `time` (the last in file order without).

    Returns:
        The labels kept, and how many repeated a row already labelled (not used).
    """
    if "time" in labels.columns:
        labels = labels.sort_values("time", kind="stable")
    repeated = labels.duplicated(["request_id", "row"], keep="last")
    return labels[~repeated], int(repeated.sum())
