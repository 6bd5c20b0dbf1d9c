"""Drift core: per-column tests (Evidently 0.7 auto rules or named methods) and the verdict.

Datasets are read column-wise through `scan`: exactly while they are small enough, streamed
in bounded memory beyond (see scan.py for the modes and grid.GridPair for the error bounds).
Each column's verdict is made in verdicts.py; the results it returns are in results.py.
"""

import sys

import pyarrow as pa

from components._shared.errors import ConfigError, DataError
from components._shared.io.sources import TableSource
from components.detect_drift import scan, verdicts
from components.detect_drift.prediction import PREDICTION, PredictedSource, features_of
from components.detect_drift.results import SKIPPED, DriftResult
from components.detect_drift.sides import MAX_TRACKED_NUMBERS
from components.detect_drift.stattests import AUTO, get_test

DEFAULT_DRIFT_SHARE = 0.5


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
        columns: Columns to compare; empty/None means the model's input columns when a model
            is given (a training snapshot's target, a prediction log's request ids and
            outputs are not inputs), else every column; either way they must be in both.
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
    if not columns and model is not None:
        columns = features_of(model)
    names = _selected(ref_src.schema.names, cur_src.schema.names, columns)
    if model is not None and PREDICTION in names:
        raise ConfigError(
            f"column {PREDICTION!r} is both a data column to compare and the model's output "
            "(prediction drift); leave it out of the columns, or leave the model out"
        )
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
        untested = verdicts.untested(name, ref, cur)
        if untested is not None:
            results[name] = untested
            continue
        kind = scan.column_type(cur)
        column_method = per_column_methods.get(name, method)
        if scan.needs_grid(ref, cur):
            many = MAX_TRACKED_NUMBERS + 1
            test = verdicts.test_for(name, column_method, kind, ref.n, many)
            pending[name] = (kind, test, scan.grid_plan(ref, cur, test.name))
            continue
        pair = scan.pair_of(ref, cur, kind)
        test = verdicts.test_for(name, column_method, kind, pair.n_ref, pair.n_values())
        results[name] = verdicts.tested(name, ref, cur, pair, test, thresholds.get(name))
    if pending:
        plans = {name: plan for name, (_, _, plan) in pending.items()}
        scan.read_pass2(ref_src.batches(list(plans)), ref_sides, plans)
        scan.read_pass2(cur_src.batches(list(plans)), cur_sides, plans)
        for name, (kind, test, plan) in pending.items():
            ref, cur = ref_sides[name], cur_sides[name]
            pair = scan.pair_of(ref, cur, kind, plan)
            results[name] = verdicts.tested(name, ref, cur, pair, test, thresholds.get(name))
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
