"""The fleet run's summary (the `--output json` object of `run-local monitoring-fleet`)."""

import json
from pathlib import Path

from kfp_mlops.runs.outputs import failure, task_outputs
from pipelines.descriptors import Pipeline


def summarize_fleet(pipeline: Pipeline, run_dir: Path, log: str, returncode: int) -> dict:
    """The fleet run summary: the fleet report's rows (its `table` artifact) and its line."""
    outputs = task_outputs(run_dir)
    failure_fields = failure(log, returncode)
    report = outputs.get("fleet-report", {})
    table = report.get("artifacts", {}).get("table", {}).get("uri", "")
    rows = json.loads(Path(table).read_text()) if table and Path(table).is_file() else None
    return {
        "pipeline": pipeline.name,
        "status": "failed" if failure_fields else "succeeded",
        "line": report.get("parameters", {}).get("Output"),
        "outcome": report.get("parameters", {}).get("Output"),  # the text summary's headline
        "models": rows,
        # The keys every summary has; the fleet's gates and models are in `models`.
        "gates": {},
        "blessed": None,
        "model": None,
        "report": report.get("artifacts", {}).get("report_html", {}).get("uri"),
        **(failure_fields or {"error": None, "failed_task": None}),
        "run_dir": str(run_dir),
    }
