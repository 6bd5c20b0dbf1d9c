"""The comparison's verdict beyond the run: Pushgateway figures, gate record, version tag."""

import sys

from components._shared.redact import redact
from components._shared.verdicts.gate_records import GateRecord
from components._shared.verdicts.publish import publish_verdict
from components._shared.verdicts.pushgateway import GateFigures
from components.compare_live.report import metrics_of, summary_line
from components.compare_live.result import ComparisonResult

GATE = "live_comparison"


def figures_of(r: ComparisonResult, model: str, duration_seconds: float | None) -> GateFigures:
    """What the gate pushes: its numbers, and the bounds they are held to."""
    s = r.settings
    thresholds = {f"{r.metric}_difference_low": (-float(s["max_metric_drop"]), "min")}
    if s["min_agreement"] > 0:
        thresholds["agreement"] = (float(s["min_agreement"]), "min")
    for f in r.fairness:
        if s["max_fairness_gap"] >= 0:
            name = f"{f['feature']}_{f['measure']}_challenger"
            thresholds[name] = (float(s["max_fairness_gap"]), "max")
    metrics = metrics_of(r) | {"cannot_judge": float(r.cannot_judge)}
    return GateFigures(
        gate=GATE,
        model=model,
        passed=r.passed,
        metrics=metrics,
        thresholds=thresholds,
        duration_seconds=duration_seconds,
    )


def publish(r: ComparisonResult, model: str, kfp_run_id: str, duration_seconds: float) -> None:
    """Push the figures and record the verdict for notify (both warn, never fail)."""
    publish_verdict(
        kfp_run_id,
        figures_of(r, model, duration_seconds),
        lambda pipeline: GateRecord(
            gate=GATE, passed=r.passed, line=summary_line(r), model=model, pipeline=pipeline
        ),
    )


def tag_challenger(r: ComparisonResult, model: str, kfp_run_id: str) -> bool:
    """Leave the verdict on the challenger version (LIVE_COMPARISON_TAG); False when unknown.

    Raises:
        ServiceError: MLflow does not answer or has no such version (the step is retried:
            a verdict an approver cannot see is not kept silently).
    """
    from components._shared.registry.comparisons import tag_live_comparison

    version = r.challenger_version
    if not version.isdigit():
        print(f"no challenger version to tag ({redact(version) or 'none'})", file=sys.stderr)
        return False
    tag_live_comparison(model, int(version), r.tag(kfp_run_id))
    return True
