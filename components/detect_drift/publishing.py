"""A drift result's outputs, the same from the one-pod gate and a sharded run's reduce.

Metrics logged, the Markdown and HTML reports written, the report's metadata set, the figures
pushed and the gate record stored (components/_shared/verdicts/).
"""

from components._shared.reports.markdown import write_text
from components._shared.verdicts.publish import publish_verdict
from components.detect_drift.report import metadata_of, metrics_of, render_html, render_markdown
from components.detect_drift.results import DriftResult
from components.detect_drift.signals import figures_of, record_of


def publish_result(
    result: DriftResult,
    metrics,
    report,
    report_html,
    kfp_run_id: str,
    model_name: str,
    seconds: float,
) -> None:
    """Write `result` to the gate's output artifacts, push its figures, store its record."""
    for name, value in metrics_of(result).items():
        metrics.log_metric(name, value)
    write_text(report_html.path, render_html(result))
    write_text(report.path, render_markdown(result))
    report.metadata.update(metadata_of(result))
    publish_verdict(
        kfp_run_id,
        figures_of(result, model_name, seconds),
        lambda pipeline: record_of(result, model_name, pipeline),
    )
