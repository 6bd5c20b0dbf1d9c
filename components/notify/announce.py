"""The exit handler's work: gather the run's end, tell the webhook and the Pushgateway.

Everything here is caught: a notification is a report on the run, never a reason for it to
fail. What could not be done is a warning in the task's log.
"""

import json
import os
import sys
from datetime import UTC, datetime

from components._shared.redact import redact
from components.notify.core import (
    Notification,
    Verdict,
    build_notification,
    payload,
    text_lines,
)
from components.notify.failed import failed_from_status, local_failed_tasks
from components.notify.send import SendResult, post_json, warn

WEBHOOK_ENV = "KFP_MLOPS_WEBHOOK_URL"
UI_URL_ENV = "KFP_MLOPS_UI_URL"


def gate_verdicts(kfp_run_id: str) -> list[Verdict]:
    """The run's gate records as verdicts ([] with a warning when they cannot be read)."""
    from components._shared.verdicts.gate_records import read_gate_records

    if not kfp_run_id:
        return []
    try:
        records = read_gate_records(kfp_run_id)
    except Exception as exc:  # S3 down or no bucket: the message still goes out
        warn(f"gate records of run {kfp_run_id} not read: {exc}")
        return []
    return [Verdict(r.gate, bool(r.passed), r.line) for r in records]


def failed_task(
    pipeline: str, state: str, error_message: str, group_task: str, root: str, job_name: str
) -> str:
    """Display name(s) of the failed task, or "" when nobody can tell."""
    if state.upper() == "SUCCEEDED":
        return ""
    named = failed_from_status(error_message, group_task)
    if named:
        return named
    try:
        from components._shared.compiled import compiled_spec

        found = local_failed_tasks(compiled_spec(pipeline), root, job_name, "notify")
    except Exception as exc:  # no compiled spec beside the image, an unreadable folder
        warn(f"failed task not found in the run folder: {exc}")
        return ""
    return " or ".join(found)


def announce(
    *,
    state: str,
    error_message: str,
    group_task: str,
    pipeline: str,
    model_name: str,
    kfp_run_id: str,
    message_format: str,
    pipeline_root: str = "",
    job_name: str = "",
    run_created: str = "",
) -> dict:
    """Build the end-of-run message, print it, post it, push the pipeline-end metrics.

    Returns:
        What happened: status, sent (bool or None when no webhook), detail, pushed.
    """
    if message_format not in ("slack", "json"):
        warn(f"unknown message_format {message_format!r}; expected 'slack' or 'json': using json")
        message_format = "json"
    note = build_notification(
        state=state,
        pipeline=pipeline,
        model=model_name,
        run_id=kfp_run_id,
        gates=gate_verdicts(kfp_run_id),
        ui_url=os.environ.get(UI_URL_ENV, ""),
        local=bool(pipeline_root) and "://" not in pipeline_root,  # kfp.local: a folder
        failed_task=failed_task(
            pipeline, state, error_message, group_task, pipeline_root, job_name
        ),
        error=_error(error_message, group_task),
    )
    print(redact("\n".join(text_lines(note))))
    result = _send(note, message_format)
    pushed = _push_end(note, run_seconds(run_created))
    return {
        "status": note.status,
        "blessed": note.blessed,
        "sent": None if result is None else result.sent,
        "detail": "no webhook configured" if result is None else result.detail,
        "pushed": pushed,
    }


def _error(error_message: str, group_task: str) -> str:
    """The status message, unless it says no more than "the group failed"."""
    if not error_message or error_message.strip() == f"Task {group_task} failed.":
        return ""
    return error_message.strip()


def _send(note: Notification, message_format: str) -> SendResult | None:
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        print(f"no webhook configured ({WEBHOOK_ENV} unset): message above, not sent")
        return None
    result = post_json(url, payload(note, message_format))  # post_json redacts the body
    if result.sent:
        print(f"notification ({message_format}) {result.detail} after {result.attempts} attempt(s)")
    else:
        warn(f"notification {result.detail}")  # "notification not delivered (...): ..."
    return result


def run_seconds(run_created: str, now: datetime | None = None) -> float | None:
    """Seconds since the run was created, or None (missing, unresolved or not a time).

    Args:
        run_created: RFC 3339, as KFP resolves PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER.
        now: The time to measure to (default: now).
    """
    try:
        created = datetime.fromisoformat(run_created.strip())
    except ValueError:
        return None
    if created.tzinfo is None:
        return None
    elapsed = ((now or datetime.now(UTC)) - created).total_seconds()
    return elapsed if elapsed >= 0 else None


def _push_end(note: Notification, duration_seconds: float | None) -> bool:
    from components._shared.verdicts.pushgateway import push_pipeline_end

    try:
        return push_pipeline_end(
            note.pipeline,
            note.model,
            succeeded=note.succeeded,
            blessed=note.blessed,
            duration_seconds=duration_seconds,
        )
    except Exception as exc:  # push_pipeline_end warns itself; this is a last guard
        warn(f"pipeline-end metrics not pushed: {exc}")
        return False


def main_guarded(**kwargs) -> dict:
    """`announce`, with any unexpected error turned into a warning (the run is never failed)."""
    try:
        outcome = announce(**kwargs)
    except Exception as exc:
        warn(f"notify could not finish: {type(exc).__name__}: {exc}")
        outcome = {"status": "unknown", "sent": False, "detail": redact(exc), "pushed": False}
    print(redact(json.dumps(outcome)), file=sys.stderr)
    return outcome
