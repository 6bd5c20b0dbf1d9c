"""Suggest a starter GX 1.x suite from a reference table (GX 1.x has no profiler any more)."""

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pandas as pd

from components._shared.errors import ConfigError, DataError

DEFAULT_NAME = "suggested"
NOT_NULL = "expect_column_values_to_not_be_null"
# Upper row bound = rows x this: room for a growing daily extract, yet a join that explodes
# or a file appended to itself many times is still caught.
MAX_ROW_GROWTH = 10
# Float bounds are rounded outwards to this many significant digits so the JSON diffs well.
SIGNIFICANT_DIGITS = 6


def _expect(type_: str, description: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "description": description}


def _check_args(frame: pd.DataFrame, target: str | None, margin: float, max_categories: int):
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 1:
        raise ConfigError(f"margin must be a number in [0, 1), got {margin!r}")
    if (
        isinstance(max_categories, bool)
        or not isinstance(max_categories, int)
        or max_categories < 1
    ):
        raise ConfigError(f"max_categories must be an integer >= 1, got {max_categories!r}")
    if frame.empty:
        raise DataError("the reference table has no rows; suggest a suite from real data")
    names = [c for c in frame.columns if not isinstance(c, str)]
    if names:
        raise DataError(f"column names must be text, got {names}; rename them before suggesting")
    if target is not None and target not in frame.columns:
        raise DataError(
            f"target column {target!r} is not in the data; available columns: "
            f"{list(frame.columns)}; pass one of them (or no target)"
        )
    if target is not None and frame[target].isna().any():
        raise DataError(
            f"target column {target!r} has {int(frame[target].isna().sum())} nulls in the "
            "reference; every training row needs a label, so fix the data before suggesting"
        )


def _json_value(value: Any) -> Any:
    """A plain JSON scalar from a numpy/pandas scalar; whole floats become ints."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_integral(values: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(values):
        return True
    return bool(pd.api.types.is_float_dtype(values) and (values % 1 == 0).all())


def _round_out(value: float, down: bool) -> float:
    """Round away from the data, to SIGNIFICANT_DIGITS, so the bound never cuts a value off."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    exponent = math.floor(math.log10(abs(value))) - SIGNIFICANT_DIGITS + 1
    rounded = Decimal(repr(value)).quantize(
        Decimal(1).scaleb(exponent), rounding=ROUND_FLOOR if down else ROUND_CEILING
    )
    return float(rounded)


def _range(values: pd.Series, margin: float) -> tuple[Any, Any]:
    """[min, max] widened by margin x span; never below 0 for a column that never was."""
    low, high = float(values.min()), float(values.max())
    pad = margin * ((high - low) or max(abs(low), abs(high)) or 1.0)
    lower, upper = low - pad, high + pad
    if low >= 0:
        lower = max(lower, 0.0)
    if _is_integral(values):
        return math.floor(lower), math.ceil(upper)
    return _round_out(lower, down=True), _round_out(upper, down=False)


def _type_list(series: pd.Series) -> list[str] | None:
    """Dtype names GX 1.24 accepts for this pandas column, or None when it cannot name it."""
    if pd.api.types.is_bool_dtype(series):
        return ["bool"]
    if pd.api.types.is_integer_dtype(series):
        return [str(series.dtype)]
    if pd.api.types.is_float_dtype(series):
        # A whole-number column with nulls is read as float; without them tomorrow, as int.
        return ["float64", "int64"] if _is_integral(series.dropna()) else [str(series.dtype)]
    # GX 1.24 compares a pandas column's dtype with dtypes built from the names given; no
    # name builds pandas 3's `str` dtype (StringDtype with NaN as missing value), so text
    # columns get no type check (value sets cover the categorical ones).
    return None


def _mostly(null_fraction: float, margin: float) -> float:
    """The share of non-null values to require: the nulls may grow by the margin, 2 decimals."""
    allowed = 1 - null_fraction * (1 + margin)
    return math.floor(round(allowed * 100, 6)) / 100


def _nullability(column: str, series: pd.Series, margin: float) -> list[dict[str, Any]]:
    nulls = int(series.isna().sum())
    if nulls == 0:
        return [_expect(NOT_NULL, f"{column!r} is never null", column=column)]
    mostly = _mostly(nulls / len(series), margin)
    if mostly <= 0:  # entirely (or almost entirely) null: nothing to require
        return []
    return [
        _expect(
            NOT_NULL,
            f"{column!r} is null in {nulls} of {len(series)} reference rows; at least "
            f"{mostly:.0%} must have a value",
            column=column,
            mostly=mostly,
        )
    ]


def _sorted_values(values: pd.Series) -> list[Any]:
    found = {_json_value(v) for v in values.unique()}
    return sorted(found, key=lambda v: (type(v).__name__, v))


def _column(
    column: str, series: pd.Series, is_target: bool, margin: float, max_categories: int
) -> list[dict[str, Any]]:
    """The expectations of one column: type, nulls, then a value set or a range."""
    expectations = []
    types = _type_list(series)
    if types:
        expectations.append(
            _expect(
                "expect_column_values_to_be_in_type_list",
                f"{column!r} is {' or '.join(types)}",
                column=column,
                type_list=types,
            )
        )
    expectations += _nullability(column, series, margin)
    values = series.dropna()
    if values.empty:
        return expectations
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    distinct = values.nunique()
    # Fractional numbers are measurements, not codes: a range suits them even when few.
    categorical = distinct <= max_categories and (not numeric or _is_integral(values))
    if is_target or categorical:
        value_set = _sorted_values(values)
        role = "target classes" if is_target else f"{distinct} distinct values"
        expectations.append(
            _expect(
                "expect_column_values_to_be_in_set",
                f"{column!r} takes the {role} seen in the reference",
                column=column,
                value_set=value_set,
            )
        )
    elif numeric:
        low, high = _range(values, margin)
        seen = f"{_json_value(values.min())}..{_json_value(values.max())}"
        expectations.append(
            _expect(
                "expect_column_values_to_be_between",
                f"{column!r} in the reference range {seen} widened by {margin:.0%}",
                column=column,
                min_value=low,
                max_value=high,
            )
        )
    if is_target and distinct >= 2:
        expectations.append(
            _expect(
                "expect_column_unique_value_count_to_be_between",
                f"the target {column!r} needs at least 2 classes to train a classifier",
                column=column,
                min_value=2,
            )
        )
    return expectations


def _table(frame: pd.DataFrame, margin: float) -> list[dict[str, Any]]:
    rows = len(frame)
    low = max(1, math.floor(rows * (1 - margin)))
    return [
        _expect(
            "expect_table_row_count_to_be_between",
            f"the reference has {rows} rows: at least {low} (a truncated extract fails), at "
            f"most {MAX_ROW_GROWTH}x as many (room to grow; a runaway join fails)",
            min_value=low,
            max_value=rows * MAX_ROW_GROWTH,
        ),
        _expect(
            "expect_table_columns_to_match_set",
            "exactly the reference columns, in any order (every non-target column is a feature)",
            column_set=sorted(frame.columns),
            exact_match=True,
        ),
    ]


def suggest_suite(
    frame: pd.DataFrame,
    target_column: str | None = None,
    name: str = DEFAULT_NAME,
    margin: float = 0.1,
    max_categories: int = 20,
) -> dict[str, Any]:
    """Suggest a starter GX 1.x suite that the reference table passes with zero failures.

    Expectations, table first, then per column in name order: row count (at least
    rows x (1 - margin), at most rows x MAX_ROW_GROWTH); the exact column set; per column
    its dtype family, not null (`mostly` when the reference has nulls: nulls may grow by the
    margin, rounded down to 2 decimals), then a value set for text/bool/whole-number columns
    with at most `max_categories` distinct values (always for the target), else a numeric
    range widened by margin x span (never below 0 for a non-negative column; whole numbers
    stay whole). The target also needs at least 2 classes.

    Args:
        frame: The reference table, loaded the way the pipeline loads it (`read_table`).
        target_column: The label column, or None for a table without one.
        name: The suite name.
        margin: Relative slack in [0, 1) for row counts, ranges and null shares.
        max_categories: Most distinct values for a column to get a value set.

    Returns:
        The suite in GX JSON form (`{"name", "expectations", "meta"}`), deterministic for the
        same table and arguments; numbers are plain JSON numbers (whole numbers as ints).

    Raises:
        ConfigError: margin or max_categories is out of range.
        DataError: The table is empty, has non-text column names, lacks the target, or the
            target has nulls.
    """
    _check_args(frame, target_column, margin, max_categories)
    expectations = _table(frame, margin)
    for column in sorted(frame.columns):
        expectations += _column(
            column, frame[column], column == target_column, margin, max_categories
        )
    return {
        "name": name,
        "expectations": expectations,
        "meta": {
            "generated_by": "kfp-mlops suggest-suite",
            "reference_rows": len(frame),
            "target_column": target_column,
            "margin": margin,
            "max_categories": max_categories,
        },
    }
