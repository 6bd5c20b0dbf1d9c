"""The deploy gate's figures for the Pushgateway and its one-line verdict record.

passed = promoted (the version serves all traffic). A canary that was judged pushes its
request count, error rate and p95 latency (seconds) with the bounds it was held to; a canary
rolled back pushes `rolled_back` 1.
"""

from components._shared.verdicts.gate_records import GateRecord
from components._shared.verdicts.pushgateway import GateFigures
from components.deploy_model.core import Outcome
from components.deploy_model.judge import Thresholds

GATE = "deploy"


def figures_of(
    outcome: Outcome, limits: Thresholds, duration_seconds: float | None = None
) -> GateFigures:
    """Promoted or rolled back, the version, and the canary's numbers against its bounds."""
    metrics = {
        "promoted": 1.0 if outcome.promoted else 0.0,
        "deployed": 1.0 if outcome.deployed else 0.0,
        "rolled_back": 1.0 if outcome.canary and not outcome.promoted else 0.0,
        "version": float(outcome.version),
        "previous_version": float(outcome.previous or 0),
        "shadow_version": float(outcome.shadow or 0),
    }
    bounds: dict[str, tuple[float, str]] = {}
    numbers = outcome.verdict.numbers if outcome.verdict else {}
    if numbers:
        for name, value in (
            ("canary_requests", numbers.get("requests")),
            ("canary_error_rate", numbers.get("error_rate")),
            ("canary_p95_latency_seconds", _seconds(numbers.get("p95_latency_ms"))),
        ):
            if value is not None:
                metrics[name] = float(value)
        bounds["canary_requests"] = (float(max(1, limits.min_requests)), "min")
        if limits.max_error_rate >= 0:
            bounds["canary_error_rate"] = (limits.max_error_rate, "max")
        if limits.max_p95_latency_ms >= 0:
            bounds["canary_p95_latency_seconds"] = (limits.max_p95_latency_ms / 1000.0, "max")
    return GateFigures(
        gate=GATE,
        model=outcome.model_name,
        passed=outcome.promoted,
        metrics=metrics,
        thresholds=bounds,
        duration_seconds=duration_seconds,
    )


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


def _canary_numbers(outcome: Outcome, limits: Thresholds) -> str:
    numbers = outcome.verdict.numbers if outcome.verdict else {}
    if not numbers:
        return ""
    rate, p95 = numbers.get("error_rate"), numbers.get("p95_latency_ms")
    parts = [f"{numbers.get('requests') or 0:.0f} requests (min {max(1, limits.min_requests)})"]
    if rate is not None:
        parts.append(f"error rate {rate:.4f} (max {_bound(limits.max_error_rate)})")
    if p95 is not None:
        parts.append(f"p95 {p95:.1f} ms (max {_bound(limits.max_p95_latency_ms)})")
    return "canary " + ", ".join(parts)


def _bound(value: float) -> str:
    return "not set" if value < 0 else f"{value:g}"


def line_of(outcome: Outcome, limits: Thresholds) -> str:
    """One sentence: what serves now, the canary's numbers against its bounds, and why."""
    if outcome.shadow is not None:
        head = f"v{outcome.version} keeps all traffic, v{outcome.shadow} shadows it"
    elif outcome.promoted:
        head = f"v{outcome.version} promoted to all traffic"
    elif outcome.canary:
        head = f"v{outcome.version} rolled back to v{outcome.previous}"
    else:
        head = f"v{outcome.version} not promoted"
    parts = [head, _canary_numbers(outcome, limits), *outcome.reasons]
    return "; ".join(p for p in parts if p)


def record_of(outcome: Outcome, limits: Thresholds, pipeline: str = "") -> GateRecord:
    """The verdict record the run's notification reads."""
    return GateRecord(
        gate=GATE,
        passed=outcome.promoted,
        line=line_of(outcome, limits),
        model=outcome.model_name,
        pipeline=pipeline,
    )
