"""Runs on a KFP server: start one, follow it, judge its outcome, list recent ones."""

import time
from collections.abc import Callable
from datetime import UTC, datetime

from kfp_mlops.errors import EXIT_BLESSED, EXIT_FAILED, EXIT_REJECTED, RunTimeout
from kfp_mlops.kfp.client import Kfp
from kfp_mlops.kfp.specs import PREFIX, LocalSpec
from kfp_mlops.kfp.uploads import experiment_id, find_pipeline, uploaded_version, versions
from pipelines.descriptors import PIPELINES, Pipeline

FINISHED = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")


def start_run(kfp: Kfp, spec: LocalSpec, params: dict, experiment: str) -> dict:
    """Start a run of the uploaded version of this spec; returns its id, name and UI URL."""
    pipeline, version = uploaded_version(kfp, spec)
    experiment_key = experiment_id(kfp, experiment)
    name = f"{spec.name} {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC"
    with kfp.call(f"starting a run of {spec.pipeline_name!r}"):
        run = kfp.client.run_pipeline(
            experiment_id=experiment_key,
            job_name=name,
            params=params,
            pipeline_id=pipeline.pipeline_id,
            version_id=version.pipeline_version_id,
        )
    return {
        "run_id": run.run_id,
        "name": name,
        "version": version.display_name,
        "url": f"{kfp.where.ui}/#/runs/details/{run.run_id}",
    }


def _tasks(run) -> dict[str, str]:
    details = (run.run_details.task_details if run.run_details else None) or []
    return {t.display_name: t.state for t in details if t.display_name}


def _is_exit_group(display_name: str) -> bool:
    """The dsl.ExitHandler group every pipeline's body runs in (pipelines/exit_handler.py)."""
    return display_name.startswith("exit-handler-")


def wait_run(kfp: Kfp, run_id: str, timeout_s: float, poll_s: float, out: Callable) -> object:
    """Poll a run until it finishes, printing state changes and per-task states."""
    seen_state, seen_tasks = None, {}
    deadline = time.monotonic() + timeout_s
    while True:
        with kfp.call(f"reading run {run_id}"):
            run = kfp.client.get_run(run_id)
        if run.state != seen_state:
            out(f"run {run.state}")
            seen_state = run.state
        for task, state in _tasks(run).items():
            if seen_tasks.get(task) != state:
                out(f"  {task:<28} {state}")
                seen_tasks[task] = state
        if run.state in FINISHED:
            return run
        if time.monotonic() >= deadline:
            raise RunTimeout(
                f"run {run_id} is still {run.state} after {timeout_s:g} s; it goes on: follow it "
                f"at {kfp.where.ui}/#/runs/details/{run_id} or raise --timeout"
            )
        time.sleep(poll_s)


def outcome(run, pipeline: Pipeline) -> tuple[int, str]:
    """The exit code and verdict of a finished run (the same codes as `run-local`).

    The server reports each task by its display name (`taskInfo.name` in the spec), so the
    register and train tasks are looked up by the names the descriptor reads from the spec.
    """
    tasks = _tasks(run)
    if run.state != "SUCCEEDED":
        # The exit handler's group fails with the task inside it: name the task, not both.
        failed = [t for t, s in tasks.items() if s == "FAILED" and not _is_exit_group(t)]
        error = run.error.message if run.error and run.error.message else None
        where = f" at {', '.join(failed)}" if failed else ""
        return EXIT_FAILED, f"{run.state}{where}" + (f": {error}" if error else "")
    register_name = pipeline.display_name(pipeline.register_task)
    register = tasks.get(register_name)
    if register == "SUCCEEDED":
        return EXIT_BLESSED, f"SUCCEEDED: every gate blessed the model; {register_name} ran"
    if pipeline.trains_always or pipeline.display_name(pipeline.train_task) in tasks:
        return EXIT_REJECTED, (
            f"SUCCEEDED, but a gate rejected the model ({register_name} "
            f"{register or 'not run'}); nothing registered"
        )
    return EXIT_BLESSED, "SUCCEEDED (no model to gate in this run)"


def recent_runs(kfp: Kfp, limit: int, pipeline: str | None = None) -> list[dict]:
    """The newest runs (of one kfp-mlops pipeline, or all), with state and version names."""
    names = [pipeline] if pipeline else sorted(PIPELINES)
    known = {}  # pipeline id -> (local name, {version id: version name})
    for name in names:
        found = find_pipeline(kfp, PREFIX + name)
        if found:
            vs = {v.pipeline_version_id: v.display_name for v in versions(kfp, found.pipeline_id)}
            known[found.pipeline_id] = (name, vs)
    if pipeline and not known:
        return []
    rows, token = [], ""
    while len(rows) < limit:
        with kfp.call("listing runs"):
            page = kfp.client.list_runs(
                page_token=token, page_size=100, sort_by="created_at desc", namespace=kfp.namespace
            )
        for run in page.runs or []:
            ref = run.pipeline_version_reference
            pid, vid = (ref.pipeline_id, ref.pipeline_version_id) if ref else (None, None)
            if pipeline and pid not in known:
                continue
            local, vs = known.get(pid, (pid, {}))
            rows.append(
                {
                    "run_id": run.run_id,
                    "name": run.display_name,
                    "state": run.state,
                    "created_at": run.created_at.isoformat() if run.created_at else None,
                    "pipeline": local,
                    "version": vs.get(vid, vid),
                }
            )
        token = page.next_page_token
        if not token:
            break
    return rows[:limit]
