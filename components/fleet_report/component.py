"""KFP wrapper of fleet_report: one report of a fleet run, a row per model."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Markdown, Metrics, Output

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def fleet_report(
    kfp_run_id: str,
    report: Output[Markdown],
    report_html: Output[HTML],
    table: Output[Dataset],
    metrics: Output[Metrics],
    models: list = [],
) -> str:
    """Write the fleet run's report from each model's gate records; runs even if bodies failed.

    A row per model: drift verdict and share, live performance, what happened to the retrain
    (not needed, skipped and why, retrained and blessed, not blessed by a gate), the version
    registered, or "failed" and where (a gate record missing where one was due). Also one
    record `fleet` for the run's notification (its line counts the outcomes), and, when a
    Pushgateway is configured, each model's run end as a monitoring run's
    (kfp_mlops_pipeline_last_run_* and, unless it failed, last_success_timestamp_seconds,
    labelled pipeline="monitoring", model=<model>), so the per-model alerts watch fleet
    models too.

    Args:
        kfp_run_id: The run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): whose records to read.
        report: Output Markdown: the summary, the table, each model's gate lines.
        report_html: Output HTML: the same table as a page.
        table: Output JSON: one object per model (the table's columns and gate lines).
        metrics: Output metrics: per model, `<model>.drifted|drift_share|below_bounds|
            retrained|failed`.
        models: list_models's output (model_name, predictions_uri, labels_uri per model).

    Returns:
        The summary line ("3 models, 1 drifted, …").

    Raises:
        ServiceError: S3 or MLflow does not answer.
    """
    from components.fleet_report.publish import write_report

    line, numbers = write_report(models, kfp_run_id, report.path, report_html.path, table.path)
    for name, value in numbers.items():
        metrics.log_metric(name, value)
    return line
