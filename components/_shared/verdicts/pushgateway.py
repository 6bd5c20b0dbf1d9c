"""Figures from batch work, pushed to a Prometheus Pushgateway when one is configured.

Batch steps end before Prometheus could scrape them, so they push (Prometheus's own advice
for batch jobs: https://prometheus.io/docs/practices/pushing/). Names follow Prometheus
conventions: `kfp_mlops_` prefix, base units (seconds, ratios), no colons.

Grouping keys decide what a push replaces. Each gate pushes with PUT under
{job, pipeline, model, gate}: a rerun replaces that gate's series (all its columns, too),
it never adds a second copy, and a column that disappeared disappears. A pipeline's end
pushes its run status under {job="kfp_mlops_pipeline", pipeline, model}, and only a success
also pushes under {job="kfp_mlops_pipeline_success", pipeline, model}, so a failed run never
erases the last success time a dead man's switch watches.

In a fleet run (KFP_MLOPS_FLEET=1 on the per-model tasks) a gate pushes its verdict, its
headline numbers and their bounds, and nothing else: no per-column, per-feature or per-group
series (labels in DETAIL_LABELS), no counts behind the numbers (DETAIL_METRICS), no duration.
With hundreds of models the detail would be most of Prometheus's series; it is in the fleet
report and the gates' own reports.

No address configured (KFP_MLOPS_PUSHGATEWAY_URL empty or unset): nothing is pushed and
nothing fails. A push that fails or times out is a warning on stderr, never a failed gate.
"""

import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlparse

from components._shared.redact import redact

PUSHGATEWAY_ENV = "KFP_MLOPS_PUSHGATEWAY_URL"
# The pipeline a task belongs to: the task's env, set by pipelines/task_settings.step.
PIPELINE_ENV = "KFP_MLOPS_PIPELINE"
PUSH_TIMEOUT_S = 5.0

GATE_JOB = "kfp_mlops_gate"
PIPELINE_JOB = "kfp_mlops_pipeline"
SUCCESS_JOB = "kfp_mlops_pipeline_success"
PREFIX = "kfp_mlops_"
# Left out in a fleet run: series with one of these labels (one per column, feature, group)…
DETAIL_LABELS = frozenset({"column", "feature", "group"})
# …and the counts behind a verdict (kfp_mlops_gate_metric{metric=…}), which its report gives.
DETAIL_METRICS = frozenset({
    "columns_compared", "columns_skipped", "reference_rows", "current_rows",  # drift
    "labels_used", "labels_unknown", "labels_late", "labels_duplicate",  # live performance
    "predictions_unlabelled", "predictions_other_versions", "labels_refused_by_schema",
    "differences",  # novelty
    "expectations_evaluated", "expectations_failed", "rows",  # validation
})  # fmt: skip


@dataclass(frozen=True)
class Series:
    """One sample of a gauge beyond the gate's own labels (e.g. a column's drift score)."""

    name: str  # full metric name, kfp_mlops_ prefixed
    help: str
    labels: Mapping[str, str]
    value: float


@dataclass
class GateFigures:
    """What one gate pushes: its verdict, the numbers behind it, and their bounds.

    Attributes:
        gate: validation, evaluation, fairness, drift or live_performance.
        model: The registered model's name ("" when the gate has none).
        passed: The verdict: True blessed / no drift / within bounds.
        metrics: Number name → value (accuracy, demographic_parity_difference, drift_share…),
            as `kfp_mlops_gate_metric{metric=…}`.
        thresholds: Number name → (bound, "min" | "max"), as `kfp_mlops_gate_threshold`.
        series: Further samples (per-column scores, per-day figures).
        duration_seconds: How long the gate took.
    """

    gate: str
    model: str
    passed: bool
    metrics: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, tuple[float, str]] = field(default_factory=dict)
    series: list[Series] = field(default_factory=list)
    duration_seconds: float | None = None


def pushgateway_url() -> str:
    """The configured Pushgateway address, or "" (none: nothing is pushed)."""
    return os.environ.get(PUSHGATEWAY_ENV, "").strip()


def pipeline_name() -> str:
    """The pipeline this task belongs to, from the task's env ("unknown" outside a pipeline)."""
    return os.environ.get(PIPELINE_ENV, "").strip() or "unknown"


def push_gate(figures: GateFigures, *, now: float | None = None) -> bool:
    """Push one gate's figures (replacing its previous push); True when pushed."""
    from prometheus_client import CollectorRegistry

    url = pushgateway_url()
    if not url:
        return False
    figures = as_pushed(figures)
    pipeline = pipeline_name()
    registry = CollectorRegistry()
    base = ["pipeline", "model", "gate"]
    values = [pipeline, figures.model, figures.gate]
    _gauge(registry, "gate_passed", "1 when the gate's last verdict passed, else 0", base).labels(
        *values
    ).set(1.0 if figures.passed else 0.0)
    _gauge(registry, "gate_last_run_timestamp_seconds", "When the gate last ran", base).labels(
        *values
    ).set(time.time() if now is None else now)
    if figures.duration_seconds is not None:
        _gauge(registry, "gate_duration_seconds", "How long the gate took", base).labels(
            *values
        ).set(figures.duration_seconds)
    if figures.metrics:
        gauge = _gauge(registry, "gate_metric", "A number behind the verdict", [*base, "metric"])
        for name, value in figures.metrics.items():
            gauge.labels(*values, name).set(float(value))
    if figures.thresholds:
        gauge = _gauge(
            registry, "gate_threshold", "The bound a number is held to", [*base, "metric", "bound"]
        )
        for name, (value, bound) in figures.thresholds.items():
            gauge.labels(*values, name, bound).set(float(value))
    _add_series(registry, figures.series, dict(zip(base, values, strict=True)))
    return _push(
        url, registry, {"pipeline": pipeline, "model": figures.model, "gate": figures.gate}
    )


def as_pushed(figures: GateFigures) -> GateFigures:
    """The figures as pushed: all of them, or in a fleet run only the verdict's headline."""
    from components._shared.verdicts.gate_records import in_fleet

    if not in_fleet():
        return figures
    return replace(
        figures,
        metrics={k: v for k, v in figures.metrics.items() if k not in DETAIL_METRICS},
        series=[s for s in figures.series if not DETAIL_LABELS & set(s.labels)],
        duration_seconds=None,
    )


def push_pipeline_end(
    pipeline: str,
    model: str,
    *,
    succeeded: bool,
    blessed: bool | None,
    duration_seconds: float | None,
    now: float | None = None,
) -> bool:
    """Push a pipeline run's end (status, duration; the success time only on success)."""
    from prometheus_client import CollectorRegistry

    url = pushgateway_url()
    if not url:
        return False
    stamp = time.time() if now is None else now
    labels = ["pipeline", "model"]
    registry = CollectorRegistry()
    _gauge(registry, "pipeline_last_run_succeeded", "1 when the last run succeeded", labels).labels(
        pipeline, model
    ).set(1.0 if succeeded else 0.0)
    _gauge(
        registry, "pipeline_last_run_timestamp_seconds", "When the last run ended", labels
    ).labels(pipeline, model).set(stamp)
    if blessed is not None:
        _gauge(
            registry, "pipeline_last_run_blessed", "1 when the last run blessed a model", labels
        ).labels(pipeline, model).set(1.0 if blessed else 0.0)
    if duration_seconds is not None:
        _gauge(
            registry, "pipeline_run_duration_seconds", "How long the last run took", labels
        ).labels(pipeline, model).set(duration_seconds)
    pushed = _push(url, registry, {"pipeline": pipeline, "model": model}, job=PIPELINE_JOB)
    if succeeded:
        registry = CollectorRegistry()
        _gauge(
            registry, "pipeline_last_success_timestamp_seconds", "When a run last succeeded", labels
        ).labels(pipeline, model).set(stamp)
        pushed = (
            _push(url, registry, {"pipeline": pipeline, "model": model}, job=SUCCESS_JOB) and pushed
        )
    return pushed


def _gauge(registry, name: str, doc: str, labels: Iterable[str]):
    from prometheus_client import Gauge

    return Gauge(PREFIX + name, doc, list(labels), registry=registry)


def _add_series(registry, series: list[Series], base: dict[str, str]) -> None:
    from prometheus_client import Gauge

    gauges: dict[str, Gauge] = {}
    for sample in series:
        if not sample.name.startswith(PREFIX) or ":" in sample.name:
            raise ValueError(f"metric name {sample.name!r}: expected {PREFIX}… without colons")
        names = [*base, *sample.labels]
        if sample.name not in gauges:
            gauges[sample.name] = Gauge(sample.name, sample.help, names, registry=registry)
        gauges[sample.name].labels(*base.values(), *sample.labels.values()).set(sample.value)


def _push(url: str, registry, grouping: dict[str, str], job: str = GATE_JOB) -> bool:
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(
            _address(url), job=job, registry=registry, grouping_key=grouping, timeout=PUSH_TIMEOUT_S
        )
    except Exception as exc:  # never a failed gate: URLError, timeouts, HTTP errors
        where = redact(url)
        print(f"warning: metrics not pushed to {where}: {redact(str(exc))}", file=sys.stderr)
        return False
    return True


def _address(url: str) -> str:
    parsed = urlparse(url if "://" in url else f"http://{url}")
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}"
