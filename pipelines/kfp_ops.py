"""KFP operations over kfp.Client: upload a compiled spec, run it, schedule it, list runs.

A pipeline `NAME` from pipelines/registry.py is uploaded as `kfp-mlops-NAME`; each version
carries the sha256 of `compiled/NAME.yaml` in its description (and later versions are named
`<package version>-<first 12 hex of it>`; the server names a pipeline's first version after
the pipeline), so upload, run and schedule all find "the uploaded version that is exactly
this local spec" and never upload the same spec twice.
"""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from components._shared.errors import KfpMlopsError
from components._shared.image import package_version
from pipelines.kfp_connect import Kfp
from pipelines.params import UsageError
from pipelines.registry import compiled_path, pipelines
from pipelines.summary import EXIT_BLESSED, EXIT_FAILED, EXIT_REJECTED, GATE_TASKS

PREFIX = "kfp-mlops-"
REGISTER_TASK = "register-model"
FINISHED = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")


class RunTimeout(KfpMlopsError):
    """`--wait` gave up before the run finished (the run goes on)."""


@dataclass(frozen=True)
class LocalSpec:
    """A compiled pipeline spec in compiled/ and the names it gets on the server."""

    name: str
    path: str
    sha256: str

    @property
    def pipeline_name(self) -> str:
        """The pipeline's display name on the server."""
        return PREFIX + self.name

    @property
    def version_name(self) -> str:
        """The name a new version of this spec gets."""
        return f"{package_version()}-{self.sha256[:12]}"

    @property
    def description(self) -> str:
        """What a version's description says; its sha256 is what matching looks for."""
        return f"kfp-mlops {package_version()}: compiled/{self.name}.yaml sha256 {self.sha256}"


def local_spec(name: str) -> LocalSpec:
    """The compiled spec of a registered pipeline, or a UsageError listing the known ones."""
    known = sorted(pipelines())
    if name not in known:
        raise UsageError(f"unknown pipeline {name!r}; expected one of {known}")
    path = compiled_path(name)
    if not path.is_file():
        raise UsageError(f"{path.name} is missing from compiled/; run `kfp-mlops compile`")
    return LocalSpec(name, str(path), hashlib.sha256(path.read_bytes()).hexdigest())


def _name_filter(name: str) -> str:
    predicate = {"operation": "EQUALS", "key": "display_name", "string_value": name}
    return json.dumps({"predicates": [predicate]})


def find_pipeline(kfp: Kfp, name: str):
    """The server's pipeline with this display name, or None."""
    with kfp.call(f"looking up pipeline {name!r}"):
        found = kfp.client.list_pipelines(
            filter=_name_filter(name), namespace=kfp.namespace, page_size=10
        ).pipelines
    return found[0] if found else None


def versions(kfp: Kfp, pipeline_id: str) -> list:
    """Every version of a pipeline (all pages)."""
    found, token = [], ""
    while True:
        with kfp.call("listing pipeline versions"):
            page = kfp.client.list_pipeline_versions(pipeline_id, page_token=token, page_size=100)
        found += page.pipeline_versions or []
        token = page.next_page_token
        if not token:
            return found


def matching_version(kfp: Kfp, pipeline_id: str, spec: LocalSpec):
    """The uploaded version that is exactly this local spec, or None."""
    for version in versions(kfp, pipeline_id):
        if spec.sha256 in (version.description or "") or version.display_name == spec.version_name:
            return version
    return None


def upload(kfp: Kfp, spec: LocalSpec) -> dict:
    """Create the pipeline, or a new version of it; nothing when this spec is already there."""
    pipeline = find_pipeline(kfp, spec.pipeline_name)
    if pipeline is None:
        with kfp.call(f"uploading pipeline {spec.pipeline_name!r}"):
            pipeline = kfp.client.upload_pipeline(
                spec.path, spec.pipeline_name, spec.description, namespace=kfp.namespace
            )
        version = matching_version(kfp, pipeline.pipeline_id, spec)
        created = "pipeline"
    else:
        version = matching_version(kfp, pipeline.pipeline_id, spec)
        created = None
        if version is None:
            with kfp.call(f"uploading version {spec.version_name!r}"):
                version = kfp.client.upload_pipeline_version(
                    spec.path,
                    spec.version_name,
                    pipeline_id=pipeline.pipeline_id,
                    description=spec.description,
                )
            created = "version"
    return {
        "created": created,
        "pipeline": spec.pipeline_name,
        "pipeline_id": pipeline.pipeline_id,
        "version": version.display_name if version else None,
        "version_id": version.pipeline_version_id if version else None,
        "sha256": spec.sha256,
        "url": f"{kfp.where.ui}/#/pipelines/details/{pipeline.pipeline_id}",
    }


def uploaded_version(kfp: Kfp, spec: LocalSpec):
    """(pipeline, version) on the server for this exact spec, or a UsageError saying to upload."""
    pipeline = find_pipeline(kfp, spec.pipeline_name)
    if pipeline is None:
        raise UsageError(
            f"pipeline {spec.pipeline_name!r} is not on {kfp.where.host}; "
            f"run `kfp-mlops upload {spec.name}` first"
        )
    version = matching_version(kfp, pipeline.pipeline_id, spec)
    if version is None:
        raise UsageError(
            f"compiled/{spec.name}.yaml (sha256 {spec.sha256[:12]}) is not uploaded to "
            f"{spec.pipeline_name!r} yet; run `kfp-mlops upload {spec.name}` first"
        )
    return pipeline, version


def _experiment_id(kfp: Kfp, name: str) -> str:
    with kfp.call(f"getting or creating experiment {name!r}"):
        return kfp.client.create_experiment(name, namespace=kfp.namespace).experiment_id


def start_run(kfp: Kfp, spec: LocalSpec, params: dict, experiment: str) -> dict:
    """Start a run of the uploaded version of this spec; returns its id, name and UI URL."""
    pipeline, version = uploaded_version(kfp, spec)
    experiment_id = _experiment_id(kfp, experiment)
    name = f"{spec.name} {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC"
    with kfp.call(f"starting a run of {spec.pipeline_name!r}"):
        run = kfp.client.run_pipeline(
            experiment_id=experiment_id,
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


def outcome(run, pipeline: str) -> tuple[int, str]:
    """The exit code and verdict of a finished run (the same codes as `run-local`)."""
    tasks = _tasks(run)
    if run.state != "SUCCEEDED":
        failed = [t for t, s in tasks.items() if s == "FAILED"]
        error = run.error.message if run.error and run.error.message else None
        where = f" at {', '.join(failed)}" if failed else ""
        return EXIT_FAILED, f"{run.state}{where}" + (f": {error}" if error else "")
    register = tasks.get(REGISTER_TASK)
    if register == "SUCCEEDED":
        return EXIT_BLESSED, "SUCCEEDED: every gate blessed the model; register-model ran"
    gated = pipeline == "training" or any(t in tasks for t in GATE_TASKS.values())
    if gated:
        return EXIT_REJECTED, (
            f"SUCCEEDED, but a gate rejected the model (register-model {register or 'not run'}); "
            "nothing registered"
        )
    return EXIT_BLESSED, "SUCCEEDED (no model to gate in this run)"


def schedule(
    kfp: Kfp,
    spec: LocalSpec,
    params: dict,
    *,
    cron: str,
    name: str,
    experiment: str,
    replace: bool,
    catchup: bool,
) -> dict:
    """Create a recurring run (cron already validated); replace a same-named one if asked."""
    pipeline, version = uploaded_version(kfp, spec)
    with kfp.call(f"looking for recurring run {name!r}"):
        existing = (
            kfp.client.list_recurring_runs(
                filter=_name_filter(name), namespace=kfp.namespace, page_size=100
            ).recurring_runs
            or []
        )
    if existing and not replace:
        ids = [r.recurring_run_id for r in existing]
        raise UsageError(
            f"a recurring run named {name!r} already exists ({ids}); pass --replace to "
            "replace it, or --name to choose another name"
        )
    experiment_id = _experiment_id(kfp, experiment)
    with kfp.call(f"creating recurring run {name!r}"):
        created = kfp.client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=name,
            description=f"kfp-mlops {spec.name} on cron {cron!r}",
            cron_expression=cron,
            max_concurrency=1,
            no_catchup=not catchup,
            params=params,
            pipeline_id=pipeline.pipeline_id,
            version_id=version.pipeline_version_id,
        )
    # Created first, deleted after: a failed create never leaves the schedule missing.
    for old in existing:
        with kfp.call(f"deleting the replaced recurring run {old.recurring_run_id}"):
            kfp.client.delete_recurring_run(old.recurring_run_id)
    return {
        "recurring_run_id": created.recurring_run_id,
        "name": name,
        "cron": cron,
        "catchup": catchup,
        "version": version.display_name,
        "replaced": [r.recurring_run_id for r in existing],
        "url": f"{kfp.where.ui}/#/recurringrun/details/{created.recurring_run_id}",
    }


def recent_runs(kfp: Kfp, limit: int, pipeline: str | None = None) -> list[dict]:
    """The newest runs (of one kfp-mlops pipeline, or all), with state and version names."""
    names = [pipeline] if pipeline else sorted(pipelines())
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
