"""Drift core: per-column tests (Evidently 0.7 auto rules or named methods) and the verdict."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from components._shared.errors import ConfigError, DataError
from components.detect_drift.stattests import (
    AUTO,
    CATEGORICAL,
    NUMERICAL,
    StatTest,
    auto_test,
    ensure_applicable,
    get_test,
)

DEFAULT_DRIFT_SHARE = 0.5
# Evidently: integer columns with more distinct current values than this are numerical.
MAX_CATEGORICAL_INTEGERS = 10
# Unseen categories kept per column (the count is always exact); keeps reports bounded.
MAX_UNSEEN_LISTED = 20
TESTED, SKIPPED, SCHEMA_CHANGE = "tested", "skipped", "schema_change"


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test, score and verdict, with the data-quality facts beside it."""

    column: str
    status: str  # TESTED, SKIPPED (no verdict) or SCHEMA_CHANGE (counts as drifted)
    drifted: bool
    reference_null_share: float  # nulls and non-finite numbers, dropped before the test
    current_null_share: float
    reference_non_finite_share: float  # ±inf in numeric columns (part of the above; NaN is null)
    current_non_finite_share: float
    column_type: str | None = None  # NUMERICAL or CATEGORICAL, from the current data
    method: str | None = None
    score: float | None = None
    threshold: float | None = None
    unseen_categories: tuple[str, ...] = ()  # current values absent from the reference
    unseen_count: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class DriftResult:
    """The dataset verdict and the per-column results behind it."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float  # drifted ÷ compared columns
    drift_share_threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int

    @property
    def compared(self) -> tuple[ColumnDrift, ...]:
        """Columns with a verdict (tested or schema change)."""
        return tuple(c for c in self.columns if c.status != SKIPPED)

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns."""
        return [c.column for c in self.columns if c.drifted]

    @property
    def reasons(self) -> list[str]:
        """Why the dataset did (or did not) drift, in words."""
        share = (
            f"{len(self.drifted_columns)} of {len(self.compared)} columns drifted "
            f"(share {self.drift_share:.2f}, dataset drift at ≥ {self.drift_share_threshold:g})"
        )
        details = [f"{c.column!r}: {c.reason}" for c in self.columns if c.reason]
        return [share, *details]


def _dtype_family(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_string_dtype(values):
        return "text"
    return str(values.dtype)


def _usable(values: pd.Series) -> tuple[np.ndarray, float, float]:
    """Non-null finite values, the share dropped, and the share of those that were ±inf.

    Evidently's get_one_column_drift (legacy/calculations/data_drift.py) likewise turns ±inf
    into NaN and drops it before choosing and running the test.
    """
    n = len(values)
    present = values.dropna()
    if pd.api.types.is_integer_dtype(values):
        # Integers are finite; keeping them integral keeps category labels like "3", not "3.0".
        return present.to_numpy(dtype=np.int64), (n - len(present)) / n if n else 0.0, 0.0
    if _dtype_family(values) == "numeric":
        numbers = present.to_numpy(dtype=float)
        finite = numbers[np.isfinite(numbers)]
        # pandas counts NaN in a float column as null; non-finite here means ±inf only.
        non_finite = (len(numbers) - len(finite)) / n if n else 0.0
        return finite, (n - len(finite)) / n if n else 0.0, non_finite
    kept = present.to_numpy()
    if _dtype_family(values) == "text":
        kept = kept.astype(str)
    return kept, (n - len(kept)) / n if n else 0.0, 0.0


def _column_type(current: pd.Series, values: np.ndarray) -> str | None:
    family = _dtype_family(current)
    if family in ("bool", "text"):
        return CATEGORICAL
    if family != "numeric":
        return None
    if pd.api.types.is_float_dtype(current):
        return NUMERICAL
    return NUMERICAL if len(np.unique(values)) > MAX_CATEGORICAL_INTEGERS else CATEGORICAL


def _unseen(ref: np.ndarray, cur: np.ndarray) -> tuple[tuple[str, ...], int]:
    new = np.setdiff1d(np.unique(cur), np.unique(ref))
    return tuple(str(v) for v in new[:MAX_UNSEEN_LISTED]), len(new)


def _test_for(name: str, method: str, column_type: str, ref, cur) -> StatTest:
    if method == AUTO:
        return auto_test(len(ref), column_type, len(np.unique(np.concatenate([ref, cur]))))
    test = get_test(method)
    ensure_applicable(test, name, column_type)
    return test


def _column_drift(name: str, reference: pd.Series, current: pd.Series, method, threshold):
    ref, ref_null, ref_inf = _usable(reference)
    cur, cur_null, cur_inf = _usable(current)
    facts = {
        "column": name,
        "reference_null_share": ref_null,
        "current_null_share": cur_null,
        "reference_non_finite_share": ref_inf,
        "current_non_finite_share": cur_inf,
    }
    empty = [label for label, v in (("reference", ref), ("current", cur)) if len(v) == 0]
    if empty:
        why = f"no non-null finite values in the {' and '.join(empty)} data: nothing to compare"
        return ColumnDrift(**facts, status=SKIPPED, drifted=False, reason=why)
    ref_family, cur_family = _dtype_family(reference), _dtype_family(current)
    if ref_family != cur_family:
        why = f"type changed: {ref_family} in the reference, {cur_family} in the current data"
        return ColumnDrift(
            **facts, status=SCHEMA_CHANGE, drifted=True, method=SCHEMA_CHANGE, reason=why
        )
    column_type = _column_type(current, cur)
    if column_type is None:
        why = f"unsupported type {current.dtype}: only numbers, text and booleans are tested"
        return ColumnDrift(**facts, status=SKIPPED, drifted=False, reason=why)
    test = _test_for(name, method, column_type, ref, cur)
    limit = test.default_threshold if threshold is None else test.check_threshold(threshold, name)
    score = test.score(ref, cur, column_type)
    unseen, unseen_count = _unseen(ref, cur) if column_type == CATEGORICAL else ((), 0)
    return ColumnDrift(
        **facts,
        status=TESTED,
        drifted=test.drifted(score, limit),
        column_type=column_type,
        method=test.name,
        score=score,
        threshold=limit,
        unseen_categories=unseen,
        unseen_count=unseen_count,
    )


def _selected(reference: pd.DataFrame, current: pd.DataFrame, columns) -> list[str]:
    wanted = list(columns) if columns else list(dict.fromkeys([*reference, *current]))
    for name in wanted:
        for label, frame in (("reference", reference), ("current", current)):
            if name not in frame.columns:
                raise DataError(
                    f"column {name!r} is missing from the {label} data, which has columns "
                    f"{list(frame.columns)}; compare a subset with columns=[...] (--columns)"
                )
    return wanted


def _check_config(names: list[str], method: str, thresholds: dict, methods: dict, share) -> None:
    if method != AUTO:
        get_test(method)
    for column_method in methods.values():
        if column_method != AUTO:
            get_test(column_method)
    unknown = sorted(set(thresholds) - set(names)) + sorted(set(methods) - set(names))
    if unknown:
        raise ConfigError(f"thresholds or methods name columns {unknown} not compared: {names}")
    if not 0 < float(share) <= 1:
        raise ConfigError(f"drift_share {share!r} is out of range; expected a value in (0, 1]")


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str] | None = None,
    method: str = AUTO,
    thresholds: dict[str, float] | None = None,
    per_column_methods: dict[str, str] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
) -> DriftResult:
    """Compare each column's distribution in `current` with `reference`, then the dataset.

    Args:
        reference: The data the model was trained or last validated on.
        current: The data to check.
        columns: Columns to compare; empty/None means every column (they must be in both).
        method: "auto" (Evidently 0.7's default choice per column) or a registered test.
        thresholds: Per-column thresholds; others use their test's default.
        per_column_methods: Per-column test names overriding `method`.
        drift_share: Dataset drift when drifted ÷ compared columns is at least this.

    Returns:
        The per-column results and the dataset verdict.

    Raises:
        DataError: Either dataset has no rows, a column is missing, or nothing is comparable.
        ConfigError: Unknown method, threshold out of range, or an inapplicable method.
    """
    thresholds, per_column_methods = dict(thresholds or {}), dict(per_column_methods or {})
    for label, frame in (("reference", reference), ("current", current)):
        if frame.empty:
            raise DataError(f"the {label} dataset has no rows: nothing to compare")
    names = _selected(reference, current, columns)
    _check_config(names, method, thresholds, per_column_methods, drift_share)
    results = tuple(
        _column_drift(
            name,
            reference[name],
            current[name],
            per_column_methods.get(name, method),
            thresholds.get(name),
        )
        for name in names
    )
    compared = [r for r in results if r.status != SKIPPED]
    if not compared:
        raise DataError(
            f"none of the {len(results)} columns could be compared: "
            + "; ".join(f"{r.column!r}: {r.reason}" for r in results)
        )
    share = sum(r.drifted for r in compared) / len(compared)
    return DriftResult(
        columns=results,
        drift_share=share,
        drift_share_threshold=float(drift_share),
        drifted=share >= drift_share,
        reference_rows=len(reference),
        current_rows=len(current),
    )
