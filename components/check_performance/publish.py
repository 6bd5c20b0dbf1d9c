"""The live-performance verdict beyond the run: Pushgateway figures and the run's gate record."""

from components._shared.verdicts.gate_records import GateRecord
from components._shared.verdicts.publish import publish_verdict
from components._shared.verdicts.pushgateway import GateFigures, Series
from components.check_performance.core import PerformanceResult
from components.check_performance.report import summary_line

GATE = "live_performance"
DAYS_BELOW = "kfp_mlops_live_performance_consecutive_days_below_bound"
MIN_DAYS = "kfp_mlops_live_performance_min_days"


def figures_of(
    result: PerformanceResult, model: str, duration_seconds: float | None = None
) -> GateFigures:
    """What the gate pushes: per bound, its last day, window, bound and run of days below.

    The run of days below, against the min_days the gate was given, is what
    KfpMlopsLivePerformanceLow watches.
    No series carries a `day` label: one per day would grow without bound in Prometheus.
    """
    metrics: dict[str, float] = {}
    for c in result.checks:
        if c.last_day_value is not None:
            metrics[f"{c.metric}_last_day"] = c.last_day_value
        if c.window_value is not None:
            metrics[f"{c.metric}_window"] = c.window_value
    counts = result.counts
    metrics |= {
        "labels_used": float(counts.used_labels),
        "labels_unknown": float(counts.unknown_labels),
        "labels_late": float(counts.late_labels),
        "labels_duplicate": float(counts.duplicate_labels),
        "predictions_unlabelled": float(counts.unlabelled),
    }
    if result.served is not None and result.served.alias:  # left out: another version's
        metrics["predictions_other_versions"] = float(result.served.not_judged)
    if result.label_counts is not None:  # refused by label_schema, every reason together
        metrics["labels_refused_by_schema"] = float(result.label_counts.refused)
    series = []
    for c in result.checks:
        series += [
            Series(
                DAYS_BELOW,
                "Consecutive judged days (with enough labels) a live metric stayed below its bound",
                {"metric": c.metric},
                float(c.days_below),
            ),
            Series(
                MIN_DAYS,
                "Days below its bound after which the gate fails (its min_days setting)",
                {"metric": c.metric},
                float(result.min_days),
            ),
        ]
    return GateFigures(
        gate=GATE,
        model=model,
        passed=result.passed,
        metrics=metrics,
        thresholds={c.metric: (c.bound, "min") for c in result.checks},
        series=series,
        duration_seconds=duration_seconds,
    )


def publish(
    result: PerformanceResult, model: str, kfp_run_id: str, duration_seconds: float
) -> None:
    """Push the figures (when a Pushgateway is configured) and record the verdict for notify.

    Neither can fail the gate: both warn on stderr and go on.
    """
    publish_verdict(
        kfp_run_id,
        figures_of(result, model, duration_seconds),
        lambda pipeline: GateRecord(
            gate=GATE,
            passed=result.passed,
            line=summary_line(result),
            model=model,
            pipeline=pipeline,
            # Not passed, yet no reason to retrain: the fleet report tells the two apart.
            metrics={"cannot_judge": 1.0 if result.cannot_judge else 0.0},
        ),
    )
