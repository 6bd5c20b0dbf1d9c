"""The training set from labelled log rows: target typed, champion data unioned, checked, canonical.

Pure: frames in, a frame out. The same rows in any order give the same frame (sorted rows,
columns in a fixed order), so the same inputs always write the same bytes.
"""

import pandas as pd

from components._shared.errors import DataError

WAY_OUT = (
    "the log no longer carries the inputs the champion was trained on; retrain on a fixed "
    "dataset (retrain_data_uri) built for the new inputs, or build from a window whose "
    "predictions were served with the current inputs (start_date/end_date)"
)


def kind(values: pd.Series) -> str:
    """A column's kind: boolean, integer, double or string (text and mixed values)."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_float_dtype(values):
        return "double"
    return "string"


def typed_target(labels: pd.Series, like: pd.Series | None) -> pd.Series:
    """Label values as the target column: the champion data's type when known.

    Without champion data, numbers stay numbers (whole numbers as integers) and anything else
    is text, as a CSV of the same values would read.

    Raises:
        DataError: Labels that are not numbers for a numeric target.
    """
    numeric = pd.to_numeric(labels, errors="coerce")
    numbers = bool(numeric.notna().all())
    whole = numbers and bool((numeric == numeric.round()).all())
    if like is None or kind(like) == "string":
        if like is None and numbers:
            return numeric.astype("int64") if whole else numeric
        return numeric.astype("int64").astype(str) if whole else labels.astype(str)
    if not numbers:
        bad = labels[numeric.isna()].unique()[:5]
        raise DataError(
            f"labels hold non-numeric values {[str(b) for b in bad]} but the champion's "
            f"target is numeric ({like.dtype}); write each label as the class the model "
            "predicts (e.g. 0/1, not good/bad)"
        )
    return numeric.astype("int64") if whole else numeric


def check_inputs(frame: pd.DataFrame, inputs: dict[str, str], target: str) -> list[str]:
    """Check the set's columns against the model's inputs (name -> kind); return the extras.

    An integer column meets a double input (a whole number is a double); nothing else mixes.

    Raises:
        DataError: An input the set lacks, or a column of another kind (names them all).
    """
    missing = [c for c in inputs if c not in frame.columns]
    other = {
        c: f"{kind(frame[c])}, model: {k}"
        for c, k in inputs.items()
        if c in frame.columns
        and kind(frame[c]) != k
        and not (k == "double" and kind(frame[c]) == "integer")
        and frame[c].notna().any()
    }
    if missing or other:
        found = "; ".join(
            ([f"missing {missing}"] if missing else [])
            + ([f"of another kind {other}"] if other else [])
        )
        raise DataError(
            f"the training set's columns no longer match the model's inputs: {found}; {WAY_OUT}"
        )
    return [c for c in frame.columns if c not in inputs and c != target]


def union(labelled: pd.DataFrame, champion: pd.DataFrame, target: str) -> pd.DataFrame:
    """The labelled rows and the champion's training rows in one frame (the log's column order).

    Raises:
        DataError: The two have different columns (names the difference).
    """
    mine, theirs = set(labelled.columns), set(champion.columns)
    if mine != theirs:
        raise DataError(
            f"the champion's training data and the log's labelled rows have different columns: "
            f"only in the log {sorted(mine - theirs)}, only in the champion's data "
            f"{sorted(theirs - mine)} (target {target!r}); build without the champion's data "
            "(include_champion_data=False / --no-champion-data), or from a window whose "
            "inputs match it"
        )
    theirs_typed = champion[list(labelled.columns)].astype(
        labelled.dtypes.to_dict(), errors="ignore"
    )
    return pd.concat([labelled, theirs_typed], ignore_index=True)


def canonical(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Identical rows once, rows sorted by every column: the same rows always, the same frame.

    Returns:
        The frame, and how many identical rows were dropped.
    """
    unique = frame.drop_duplicates(ignore_index=True)
    # Sort on a text form of each value: mixed types and nulls order the same every time.
    keys = unique.astype(str)
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return unique.loc[order].reset_index(drop=True), len(frame) - len(unique)
