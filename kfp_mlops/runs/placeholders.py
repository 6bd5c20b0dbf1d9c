"""Placeholders a KFP backend resolves and kfp.local does not: resolved here, before it loads.

`dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER` makes kfp.local 2.17.3 fail (IndexError: it
resolves only the job name and id, task name and id, and the pipeline root). The KFP
backend's driver resolves it to the run's creation time in RFC 3339, e.g.
"2026-01-09T12:34:56Z" (kubeflow/pipelines backend/src/v2/driver, its resolve tests). The
compiled spec keeps the placeholder for the cluster; a local run writes a copy with the value
filled in, as the backend would, and hands kfp.local that copy.
"""

from datetime import UTC, datetime
from pathlib import Path

CREATE_TIME = "{{$.pipeline_job_create_time_utc}}"


def rfc3339(when: datetime) -> str:
    """A UTC time as the backend writes it: seconds, "Z"."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolved_spec(spec_path: str | Path, run_dir: Path, created: datetime) -> Path:
    """A copy of the compiled spec in `run_dir` with the creation-time placeholder filled in."""
    text = Path(spec_path).read_text()
    out = Path(run_dir) / "pipeline.yaml"
    out.write_text(text.replace(CREATE_TIME, rfc3339(created)))
    return out
