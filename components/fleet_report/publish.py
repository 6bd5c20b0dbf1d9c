"""The fleet report's reads and writes: gate records and versions in, files and pushes out."""

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
from components._shared.verdicts.pushgateway import push_pipeline_end, pushgateway_url
from components.fleet_report.core import (
    FAILED,
    MONITORING,
    ModelRow,
    blessed_of,
    model_metrics,
    model_row,
    summary_line,
)
from components.fleet_report.render import render_html, render_markdown

UI_URL_ENV = "KFP_MLOPS_UI_URL"  # the Kubeflow UI's address, as notify reads it


def rows_of(models: list[dict], kfp_run_id: str) -> list[ModelRow]:
    """Each listed model's row, from its gate records and the versions this run registered."""
    return [
        model_row(
            m["model_name"],
            read_gate_records(kfp_run_id, m["model_name"]),
            versions_of_run(m["model_name"], kfp_run_id),
            labels_expected=bool(m.get("labels_uri")),
        )
        for m in models
    ]


def write_report(
    models: list[dict], kfp_run_id: str, markdown_path: str, html_path: str, table_path: str
) -> tuple[str, dict[str, float]]:
    """Write the report's three files, record the fleet's line, push each model's run end.

    Returns:
        The summary line and the per-model metrics.
    """
    rows = rows_of(models, kfp_run_id)
    ui = os.environ.get(UI_URL_ENV, "").strip().rstrip("/")
    run_url = f"{ui}/#/runs/details/{kfp_run_id}" if ui else ""
    run_ref = run_url or f"run {kfp_run_id}"
    records = gates_prefix(kfp_run_id, "MODEL").removesuffix("MODEL/gates/")
    write_text(markdown_path, render_markdown(rows, run_ref, records))
    write_text(html_path, render_html(rows, run_ref, run_url))
    write_text(table_path, json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    line = summary_line(rows) if rows else "no model was listed (list models failed)"
    print(line)
    passed = bool(rows) and not any(r.outcome == FAILED for r in rows)
    # The record the notification reads first: pushes to a hung Pushgateway must not delay it.
    write_gate_record(kfp_run_id, GateRecord(gate="fleet", passed=passed, line=line))
    # What the per-model alerts watch, as a monitoring run of the model pushes it.
    for r in rows if pushgateway_url() else []:
        pushed = push_pipeline_end(
            MONITORING,
            r.model,
            succeeded=not r.failed,
            blessed=blessed_of(r),
            duration_seconds=None,
        )
        if pushed is False:  # warned once by the push; the rest would wait as long each
            print(f"fleet report: run ends of {len(rows)} models not pushed past {r.model}")
            break
    return line, model_metrics(rows)
