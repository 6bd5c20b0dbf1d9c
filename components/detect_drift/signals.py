"""The drift gate's figures for the Pushgateway and its one-line verdict record.

Per compared column: `kfp_mlops_drift_column_score{column, method}` (when the score is a
finite number), `kfp_mlops_drift_column_threshold{column, method}` and
`kfp_mlops_drift_column_drifted{column, method}` (1/0). Skipped columns have no verdict and
push nothing. A score's direction depends on its method (a p-value drifts below its
threshold, a distance above it), so per-column thresholds are series, not `bound`s; the
dataset's drift share is held to a max.
"""

import math

from components._shared.verdicts.gate_records import GateRecord
from components._shared.verdicts.pushgateway import GateFigures, Series
from components.detect_drift.results import SCHEMA_CHANGE, SKIPPED, ColumnDrift, DriftResult

GATE = "drift"
# Drifted columns named in the record's line; the report lists them all.
MAX_COLUMNS_IN_LINE = 10


def figures_of(
    result: DriftResult, model: str, duration_seconds: float | None = None
) -> GateFigures:
    """The dataset's share against its threshold, the counts, and every compared column."""
    metrics = {
        "drift_share": result.drift_share,
        "columns_compared": float(len(result.compared)),
        "columns_drifted": float(len(result.drifted_columns)),
        "columns_skipped": float(sum(c.status == SKIPPED for c in result.columns)),
        "reference_rows": float(result.reference_rows),
        "current_rows": float(result.current_rows),
    }
    p = result.prediction
    if p is not None and p.status != SKIPPED:
        metrics["prediction_drifted"] = 1.0 if p.drifted else 0.0
        if p.score is not None and math.isfinite(p.score):
            metrics["prediction_score"] = p.score
        if p.threshold is not None:
            metrics["prediction_threshold"] = p.threshold
    series = [s for c in result.columns if c.status != SKIPPED for s in _column_series(c)]
    return GateFigures(
        gate=GATE,
        model=model,
        passed=not result.drifted,
        metrics=metrics,
        thresholds={"drift_share": (result.drift_share_threshold, "max")},
        series=series,
        duration_seconds=duration_seconds,
    )


def _column_series(c: ColumnDrift) -> list[Series]:
    labels = {"column": c.column, "method": c.method or SCHEMA_CHANGE}
    found = [
        Series(
            "kfp_mlops_drift_column_drifted",
            "1 when the column drifted from its reference, else 0",
            labels,
            1.0 if c.drifted else 0.0,
        )
    ]
    if c.score is not None and math.isfinite(c.score):
        found.append(
            Series(
                "kfp_mlops_drift_column_score",
                "The column's drift score (a p-value or a distance, by method)",
                labels,
                c.score,
            )
        )
    if c.threshold is not None:
        found.append(
            Series(
                "kfp_mlops_drift_column_threshold",
                "The threshold the column's score is compared with",
                labels,
                c.threshold,
            )
        )
    return found


def line_of(result: DriftResult) -> str:
    """One sentence: the share against its threshold, the drifted columns, prediction drift."""
    line = result.reasons[0]
    drifted = result.drifted_columns
    if drifted:
        shown = ", ".join(drifted[:MAX_COLUMNS_IN_LINE])
        more = len(drifted) - MAX_COLUMNS_IN_LINE
        line += f": {shown}" + (f" and {more} more" if more > 0 else "")
    p = result.prediction
    if p is not None and p.status != SKIPPED:
        verdict = "drifted" if p.drifted else "no drift"
        score = "—" if p.score is None else f"{p.score:.4g}"
        bound = "—" if p.threshold is None else f"{p.threshold:g}"
        line += f"; prediction {verdict} ({p.method} {score}, threshold {bound})"
    return line


def record_of(result: DriftResult, model: str, pipeline: str = "") -> GateRecord:
    """The verdict record the run's notification reads (passed = no dataset drift)."""
    return GateRecord(
        gate=GATE, passed=not result.drifted, line=line_of(result), model=model, pipeline=pipeline,
        metrics={"drift_share": result.drift_share},  # the fleet report's column
    )  # fmt: skip
