"""Drift core: per-column tests (Evidently 0.7 auto rules or named methods) and the verdict.

Datasets are read column-wise through `scan`: exactly while they are small enough, streamed
in bounded memory beyond (see scan.py for the modes and grid.GridPair for the error bounds).
Each column's verdict is made in verdicts.py; the results it returns are in results.py.
"""

import sys
from dataclasses import replace

import pyarrow as pa

from components._shared.errors import ConfigError, DataError
from components._shared.io.sources import TableSource
from components.detect_drift import scan, state
from components.detect_drift.finalize import Outcome, Rules, finalize
from components.detect_drift.parallel import both_sides, stoppable
from components.detect_drift.prediction import PREDICTION, PredictedSource, features_of
from components.detect_drift.results import SKIPPED, DriftResult
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


def with_model(ref_src, cur_src, columns, model):
    """Both sources and the compared names, with the model's output as one more column.

    No model: the sources as they are and the selected columns. With one, empty `columns`
    means the model's inputs, and `prediction` (computed batch by batch) is compared last.
    A sharded run's plan selects its columns with this too, so both paths compare alike.
    """
    if not columns and model is not None:
        columns = features_of(model)
    names = _selected(ref_src.schema.names, cur_src.schema.names, columns)
    if model is None:
        return ref_src, cur_src, names
    if PREDICTION in names:
        raise ConfigError(
            f"column {PREDICTION!r} is both a data column to compare and the model's output "
            "(prediction drift); leave it out of the columns, or leave the model out"
        )
    ref_src = PredictedSource(ref_src, model, "reference")
    cur_src = PredictedSource(cur_src, model, "current")
    return ref_src, cur_src, [*names, PREDICTION]


def _exact_state(source, plan: state.Plan, side: str) -> state.ColumnStates:
    """Exact mode's state: every finite number kept (sorted), every category counted."""
    names = list(plan.columns)
    counted = state.empty(plan, side)
    scan.read_exact(source.table(names), counted.sides)
    return counted


def exact_states(ref_src, cur_src, plan: state.Plan):
    """Both sides' exact states (read and sorted at once where two CPUs are usable)."""
    return both_sides(
        lambda stop: _exact_state(ref_src, plan, state.REFERENCE),
        lambda stop: _exact_state(cur_src, plan, state.CURRENT),
    )


def streamed_states(ref_src, cur_src, plan: state.Plan):
    """Both sides' streamed states under `plan` (counted at once where two CPUs are usable)."""
    names = list(plan.columns)
    return both_sides(
        lambda stop: state.partial(stoppable(ref_src.batches(names), stop), plan, state.REFERENCE),
        lambda stop: state.partial(stoppable(cur_src.batches(names), stop), plan, state.CURRENT),
    )


def finish(ref_src, cur_src, ref_state, cur_state, rules: Rules) -> Outcome:
    """Finalize both states, with the grid pass the first pass asks for (one pod, 2 passes)."""
    outcome = finalize(ref_state, cur_state, rules)
    if outcome.grid_ranges:
        plan = state.with_ranges(ref_state.plan, outcome.grid_ranges)
        ref_grids, cur_grids = streamed_states(ref_src, cur_src, state.grid_only(plan))
        ref_state = state.attach_grids(ref_state, ref_grids)
        cur_state = state.attach_grids(cur_state, cur_grids)
        graded = finalize(ref_state, cur_state, rules, list(outcome.grid_ranges))
        outcome = Outcome(
            {**outcome.results, **graded.results},
            graded.grid_ranges,
            [*outcome.needs_refinement, *graded.needs_refinement],
        )
    todo = outcome.needs_refinement
    if todo and (ref_state.rows + cur_state.rows) * len(todo) <= scan.EXACT_MAX_CELLS:
        # Scores within their bound of the threshold: exact values for those columns, so no
        # verdict inside the bound is a guess (beyond exact mode's memory: said in `reason`).
        plan = state.Plan({n: replace(ref_state.plan.columns[n], grid=None) for n in todo})
        refined = finalize(*exact_states(ref_src, cur_src, plan), rules)
        outcome = Outcome({**outcome.results, **refined.results}, {}, [])
    return outcome


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
    ref_src, cur_src, names = with_model(ref_src, cur_src, columns, model)
    _check_config(names, method, thresholds, per_column_methods, drift_share)
    known = ref_src.num_rows is not None and cur_src.num_rows is not None  # a large CSV: not
    cells = (ref_src.num_rows + cur_src.num_rows) * len(names) if known else None
    chosen = scan.choose_mode(mode, cells)
    rules = Rules(method, thresholds, per_column_methods)
    plan = state.facts_plan(ref_src.schema, cur_src.schema, names)
    if chosen == scan.EXACT:
        ref_state, cur_state = exact_states(ref_src, cur_src, plan)
    else:
        ref_state, cur_state = streamed_states(ref_src, cur_src, plan)
    for label, counted in (("reference", ref_state), ("current", cur_state)):
        if counted.rows == 0:  # a source that could not say its row count before reading
            raise DataError(f"the {label} dataset has no rows: nothing to compare")
    outcome = finish(ref_src, cur_src, ref_state, cur_state, rules)
    rows = (ref_state.rows, cur_state.rows)
    return assemble(names, outcome.results, drift_share, rows, chosen, model is not None)


def assemble(names, results: dict, drift_share: float, rows, mode: str, prediction: bool):
    """The dataset verdict from each column's result (`finalize.Outcome.results`).

    `rows`: reference and current row counts; `prediction`: whether the column PREDICTION is
    the model's output (reported apart, not counted in the share). A sharded run's reduce
    builds its result with this too, so both paths decide alike.
    """
    results = dict(results)
    predicted = results.pop(PREDICTION) if prediction else None
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
        reference_rows=rows[0],
        current_rows=rows[1],
        mode=mode,
        prediction=predicted,
    )
