"""The evaluation gate's figures for the Pushgateway and its one-line verdict record.

Latencies go out in seconds (Prometheus base units); the Metrics artifact keeps milliseconds.
The champion comparison is pushed as `delta_<primary>` (challenger - champion) with the
bound it is held to, -max_regression as a minimum.
"""

from components._shared.verdicts.gate_records import GateRecord
from components._shared.verdicts.pushgateway import GateFigures
from components.evaluate_model.core import Evaluation, Thresholds

GATE = "evaluation"
_MS = 1000.0
# Metric name in the Metrics artifact → (name pushed, divisor to base units).
_PUSHED = {
    "accuracy": ("accuracy", 1.0),
    "f1": ("f1", 1.0),
    "roc_auc": ("roc_auc", 1.0),
    "latency_p50_ms": ("latency_p50_seconds", _MS),
    "latency_p95_ms": ("latency_p95_seconds", _MS),
}


def figures_of(
    result: Evaluation,
    thresholds: Thresholds,
    model: str,
    duration_seconds: float | None = None,
) -> GateFigures:
    """Scores, latency and the champion comparison, each with its bound when one is set."""
    metrics = {
        pushed: result.values[name] / scale
        for name, (pushed, scale) in _PUSHED.items()
        if name in result.values
    }
    bounds: dict[str, tuple[float, str]] = {}
    for check in result.checks:
        pushed, scale = _PUSHED[check.metric]
        kind = "min" if check.bound.startswith("min_") else "max"
        bounds[pushed] = (check.limit / scale, kind)
    metrics["champion_version"] = float(result.champion_version or 0)
    if result.delta is not None and result.champion_value is not None:
        primary = result.primary_metric
        metrics[f"champion_{primary}"] = result.champion_value
        metrics[f"delta_{primary}"] = result.delta
        if thresholds.is_set("max_regression"):
            bounds[f"delta_{primary}"] = (-thresholds.max_regression, "min")
    return GateFigures(
        gate=GATE,
        model=model,
        passed=result.passed,
        metrics=metrics,
        thresholds=bounds,
        duration_seconds=duration_seconds,
    )


def line_of(result: Evaluation) -> str:
    """One sentence: each bound with its number, then the champion comparison."""
    return "; ".join(result.reasons)


def record_of(result: Evaluation, model: str, pipeline: str = "") -> GateRecord:
    """The verdict record the run's notification reads."""
    return GateRecord(
        gate=GATE, passed=result.passed, line=line_of(result), model=model, pipeline=pipeline
    )
