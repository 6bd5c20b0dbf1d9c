"""Drift core: per-column tests (Evidently 0.7 auto rules or named methods) and the verdict.

Datasets are read column-wise through `scan`: exactly while they are small enough, streamed
in bounded memory beyond (see scan.py for the modes and pairs.GridPair for the error bounds).
"""

import sys
from dataclasses import dataclass

import pyarrow as pa

from components._shared.errors import ConfigError, DataError
from components._shared.io.sources import TableSource
from components.detect_drift import scan
from components.detect_drift.pairs import CATEGORICAL, GridPair
from components.detect_drift.prediction import PREDICTION, PredictedSource
from components.detect_drift.stattests import (
    AUTO,
    StatTest,
    auto_test,
    ensure_applicable,
    get_test,
)

DEFAULT_DRIFT_SHARE = 0.5
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
    # 0 for an exact score; else the largest possible |score - exact score| (None: unknown).
    error_bound: float | None = 0.0


@dataclass(frozen=True)
class DriftResult:
    """The dataset verdict and the per-column results behind it."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float  # drifted ÷ compared columns
    drift_share_threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    mode: str = scan.EXACT  # how the data was read: scan.EXACT or scan.STREAMING
    prediction: ColumnDrift | None = None  # the model's output, when a model was given

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


def _unseen(pair) -> tuple[tuple[str, ...], int]:
    keys, ref, cur = pair.counts()
    new = keys[(ref == 0) & (cur > 0)]
    return tuple(str(v) for v in new[:MAX_UNSEEN_LISTED]), len(new)


def _test_for(name: str, method: str, column_type: str, n_ref: int, n_values: int) -> StatTest:
    if method == AUTO:
        return auto_test(n_ref, column_type, n_values)
    test = get_test(method)
    ensure_applicable(test, name, column_type)
    return test


def _facts(name: str, ref: scan.Side, cur: scan.Side) -> dict:
    return {
        "column": name,
        "reference_null_share": ref.null_share(),
        "current_null_share": cur.null_share(),
        "reference_non_finite_share": ref.non_finite_share(),
        "current_non_finite_share": cur.non_finite_share(),
    }


def _untested(name: str, ref: scan.Side, cur: scan.Side) -> ColumnDrift | None:
    """The result of a column that gets no test (skipped or a schema change), else None."""
    facts = _facts(name, ref, cur)
    empty = [label for label, s in (("reference", ref), ("current", cur)) if s.n_kept() == 0]
    if empty:
        why = f"no non-null finite values in the {' and '.join(empty)} data: nothing to compare"
        return ColumnDrift(**facts, status=SKIPPED, drifted=False, reason=why)
    if ref.family != cur.family:
        why = f"type changed: {ref.family} in the reference, {cur.family} in the current data"
        return ColumnDrift(
            **facts, status=SCHEMA_CHANGE, drifted=True, method=SCHEMA_CHANGE, reason=why
        )
    if scan.column_type(cur) is None:
        why = f"unsupported type {cur.family}: only numbers, text and booleans are tested"
        return ColumnDrift(**facts, status=SKIPPED, drifted=False, reason=why)
    if (ref.overflow and not ref.numeric) or (cur.overflow and not cur.numeric):
        why = (
            f"more than {scan.MAX_CATEGORIES:,} distinct values: an identifier, not a "
            "category; leave it out with columns=[...] (--columns)"
        )
        return ColumnDrift(**facts, status=SKIPPED, drifted=False, reason=why)
    return None


def _tested(name, ref, cur, pair, test: StatTest, threshold) -> ColumnDrift:
    limit = test.default_threshold if threshold is None else test.check_threshold(threshold, name)
    score, bound = test.compute(pair)
    if isinstance(pair, GridPair) and test.name == "hellinger":
        bound = None  # bins from the row count, not the distinct values (scan.grid_plan)
    unseen, unseen_count = _unseen(pair) if pair.column_type == CATEGORICAL else ((), 0)
    reason = None
    if bound and abs(score - limit) <= bound:
        reason = (
            f"approximate score {score:.4g} is within its error bound {bound:.2g} of the threshold"
        )
    return ColumnDrift(
        **_facts(name, ref, cur),
        status=TESTED,
        drifted=test.drifted(score, limit),
        column_type=pair.column_type,
        method=test.name,
        score=score,
        threshold=limit,
        unseen_categories=unseen,
        unseen_count=unseen_count,
        reason=reason,
        error_bound=bound,
    )


def _selected(reference: list[str], current: list[str], columns) -> list[str]:
    wanted = list(columns) if columns else list(dict.fromkeys([*reference, *current]))
    for name in wanted:
        for label, names in (("reference", reference), ("current", current)):
            if name not in names:
                raise DataError(
                    f"column {name!r} is missing from the {label} data, which has columns "
                    f"{names}; compare a subset with columns=[...] (--columns)"
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


def _arrow(frame) -> pa.Table:
    """A DataFrame as Arrow; a column Arrow cannot type (mixed objects) becomes text."""
    arrays = {}
    for name in frame.columns:
        try:
            arrays[str(name)] = pa.Array.from_pandas(frame[name])
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            arrays[str(name)] = pa.array([None] * len(frame), pa.null())
    return pa.table(arrays) if arrays else pa.table({"": pa.array([], pa.null())}).slice(0, 0)


def as_source(data, label: str):
    """A source for a DataFrame or table (TableSource); a source from open_source as it is."""
    # pandas is not imported here (seconds of start-up the streaming path does not need).
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return TableSource(_arrow(data), f"<{label} DataFrame>")
    if isinstance(data, pa.Table):
        return TableSource(data, f"<{label} table>")
    return data


def detect_drift(
    reference,
    current,
    columns: list[str] | None = None,
    method: str = AUTO,
    thresholds: dict[str, float] | None = None,
    per_column_methods: dict[str, str] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    mode: str = scan.AUTO_MODE,
    model=None,
) -> DriftResult:
    """Compare each column's distribution in `current` with `reference`, then the dataset.

    Args:
        reference: The data the model was trained or last validated on: a DataFrame, an
            Arrow table, or a source from `reader.open_source` (read in batches).
        current: The data to check, in the same forms.
        columns: Columns to compare; empty/None means every column (they must be in both).
        method: "auto" (Evidently 0.7's default choice per column) or a registered test.
        thresholds: Per-column thresholds; others use their test's default.
        per_column_methods: Per-column test names overriding `method`.
        drift_share: Dataset drift when drifted ÷ compared columns is at least this.
        mode: "exact", "streaming" (bounded memory, approximate Wasserstein/KS with a stated
            bound) or "auto" (exact up to scan.EXACT_MAX_CELLS values, streaming beyond).
        model: A fitted scikit-learn model: its predictions on both datasets are compared
            too (prediction drift, reported apart; not counted in the drift share). A
            threshold or method for the column "prediction" applies to it.

    Returns:
        The per-column results and the dataset verdict.

    Raises:
        DataError: Either dataset has no rows, a column is missing, or nothing is comparable.
        ConfigError: Unknown method or mode, threshold out of range, or an inapplicable method.
    """
    thresholds, per_column_methods = dict(thresholds or {}), dict(per_column_methods or {})
    if mode not in scan.MODES:
        raise ConfigError(f"unknown drift mode {mode!r}; expected one of {list(scan.MODES)}")
    ref_src, cur_src = as_source(reference, "reference"), as_source(current, "current")
    for label, src in (("reference", ref_src), ("current", cur_src)):
        if src.num_rows == 0:
            raise DataError(f"the {label} dataset has no rows ({src.uri}): nothing to compare")
    names = _selected(ref_src.schema.names, cur_src.schema.names, columns)
    if model is not None:
        ref_src = PredictedSource(ref_src, model, "reference")
        cur_src = PredictedSource(cur_src, model, "current")
        names = [*names, PREDICTION]
    _check_config(names, method, thresholds, per_column_methods, drift_share)
    known = ref_src.num_rows is not None and cur_src.num_rows is not None  # a large CSV: not
    cells = (ref_src.num_rows + cur_src.num_rows) * len(names) if known else None
    chosen = scan.choose_mode(mode, cells)
    ref_sides = scan.new_sides(ref_src.schema, names)
    cur_sides = scan.new_sides(cur_src.schema, names)
    if chosen == scan.EXACT:
        scan.read_exact(ref_src.table(names), ref_sides)
        scan.read_exact(cur_src.table(names), cur_sides)
    else:
        scan.read_pass1(ref_src.batches(names), ref_sides)
        scan.read_pass1(cur_src.batches(names), cur_sides)
    rows = {}
    for label, sides in (("reference", ref_sides), ("current", cur_sides)):
        rows[label] = next(iter(sides.values())).rows
        if rows[label] == 0:  # a source that could not say its row count before reading
            raise DataError(f"the {label} dataset has no rows: nothing to compare")
    results, pending = {}, {}
    for name in names:
        ref, cur = ref_sides[name], cur_sides[name]
        untested = _untested(name, ref, cur)
        if untested is not None:
            results[name] = untested
            continue
        kind = scan.column_type(cur)
        column_method = per_column_methods.get(name, method)
        if scan.needs_grid(ref, cur):
            many = scan.MAX_TRACKED_NUMBERS + 1
            test = _test_for(name, column_method, kind, ref.n, many)
            pending[name] = (kind, test, scan.grid_plan(ref, cur, test.name))
            continue
        pair = scan.pair_of(ref, cur, kind)
        test = _test_for(name, column_method, kind, pair.n_ref, pair.n_values())
        results[name] = _tested(name, ref, cur, pair, test, thresholds.get(name))
    if pending:
        plans = {name: plan for name, (_, _, plan) in pending.items()}
        scan.read_pass2(ref_src.batches(list(plans)), ref_sides, plans)
        scan.read_pass2(cur_src.batches(list(plans)), cur_sides, plans)
        for name, (kind, test, plan) in pending.items():
            ref, cur = ref_sides[name], cur_sides[name]
            pair = scan.pair_of(ref, cur, kind, plan)
            results[name] = _tested(name, ref, cur, pair, test, thresholds.get(name))
    prediction = results.pop(PREDICTION) if model is not None else None
    ordered = tuple(results[name] for name in names if name != PREDICTION)
    compared = [r for r in ordered if r.status != SKIPPED]
    if not compared:
        raise DataError(
            f"none of the {len(ordered)} columns could be compared: "
            + "; ".join(f"{r.column!r}: {r.reason}" for r in ordered)
        )
    share = sum(r.drifted for r in compared) / len(compared)
    return DriftResult(
        columns=ordered,
        drift_share=share,
        drift_share_threshold=float(drift_share),
        drifted=share >= drift_share,
        reference_rows=rows["reference"],
        current_rows=rows["current"],
        mode=chosen,
        prediction=prediction,
    )
