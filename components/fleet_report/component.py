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
    import json
    import os
    from dataclasses import asdict

    from components._shared.registry.fleet import versions_of_run
    from components._shared.reports.markdown import write_text
    from components._shared.verdicts.gate_records import (
        GateRecord,
        gates_prefix,
        read_gate_records,
        write_gate_record,
    )
    from components._shared.verdicts.pushgateway import push_pipeline_end
    from components.fleet_report.core import (
        FAILED,
        MONITORING,
        blessed_of,
        model_metrics,
        model_row,
        summary_line,
    )
    from components.fleet_report.render import render_html, render_markdown

    rows = [
        model_row(
            m["model_name"],
            read_gate_records(kfp_run_id, m["model_name"]),
            versions_of_run(m["model_name"], kfp_run_id),
            labels_expected=bool(m.get("labels_uri")),
        )
        for m in models
    ]
    ui = os.environ.get("KFP_MLOPS_UI_URL", "").strip().rstrip("/")
    run_url = f"{ui}/#/runs/details/{kfp_run_id}" if ui else ""
    run_ref = run_url or f"run {kfp_run_id}"
    records = gates_prefix(kfp_run_id, "MODEL").removesuffix("MODEL/gates/")
    write_text(report.path, render_markdown(rows, run_ref, records))
    write_text(report_html.path, render_html(rows, run_ref, run_url))
    write_text(table.path, json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    for name, value in model_metrics(rows).items():
        metrics.log_metric(name, value)
    for r in rows:
        push_pipeline_end(
            MONITORING,
            r.model,
            succeeded=not r.failed,
            blessed=blessed_of(r),
            duration_seconds=None,
        )
    line = summary_line(rows) if rows else "no model was listed (list models failed)"
    print(line)
    passed = bool(rows) and not any(r.outcome == FAILED for r in rows)
    write_gate_record(kfp_run_id, GateRecord(gate="fleet", passed=passed, line=line))
    return line
