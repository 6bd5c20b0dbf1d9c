"""Run a compiled spec with kfp.local.DockerRunner: every task in the project image.

`run_in_containers` starts a child process (kfp.local keeps process-wide state) whose log
goes to RUN_DIR/run.log, shows one line per task as it goes, and returns the same summary
`kfp-mlops run-local` gives, read from the tasks' executor outputs.

Containers share the host's network, so the embedded stack on 127.0.0.1 is reachable; the
service settings reach them as environment variables, as a Secret and ConfigMap do on a
cluster. The image's own environment supplies the lineage (image reference, git commit).
"""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components._shared.settings import (
    MLFLOW_URI_ENV,
    S3_ACCESS_KEY_ENV,
    S3_ENDPOINT_ENV,
    S3_REGION_ENV,
    S3_SECRET_KEY_ENV,
)
from kfp_mlops.runs.local import _follow, _Progress
from kfp_mlops.runs.placeholders import resolved_spec
from kfp_mlops.runs.summaries import summarize
from pipelines.descriptors import pipeline

FORWARDED = (S3_ENDPOINT_ENV, S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV, S3_REGION_ENV, MLFLOW_URI_ENV)


def run_in_containers(name: str, spec: Path, params: dict[str, Any], run_dir: Path) -> dict:
    """Run `spec` with these parameters, every task in a container; return the run summary."""
    run_dir.mkdir(parents=True)
    (run_dir / "params.json").write_text(json.dumps(params))
    log_path = run_dir / "run.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.docker_run", str(spec), str(run_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    _follow(proc, log_path, _Progress(pipeline(name), print))
    summary = summarize(name, run_dir, log_path.read_text(errors="replace"), proc.returncode)
    summary["duration_s"] = round(time.monotonic() - started, 1)
    return summary


def _merge_runner_environment() -> None:
    """Give each container the runner's environment AND the task's own `env:` entries.

    kfp.local 2.17.3 (docker_task_handler.DockerTaskHandler.run) replaces the runner's
    `environment` with the task's env from the spec as soon as the task has one (every task
    here sets MLFLOW_DISABLE_TELEMETRY), so the service settings would never arrive. On a
    cluster both arrive (the spec's env plus the Secret/ConfigMap); this does the same here.
    """
    from kfp.local import docker_task_handler

    original = docker_task_handler.DockerTaskHandler.__init__

    def init(self, *, image, full_command, pipeline_root, runner, env_vars=None):
        merged = {**runner.container_run_args.get("environment", {}), **(env_vars or {})}
        original(
            self,
            image=image,
            full_command=full_command,
            pipeline_root=pipeline_root,
            runner=runner,
            env_vars=merged,
        )

    docker_task_handler.DockerTaskHandler.__init__ = init


def _worker(spec: str, run_dir: str) -> int:
    """Child process: run the spec under kfp.local with DockerRunner."""
    from kfp import components, local

    # The containers run as a non-root user and write into the pipeline root (mounted from
    # here), so it must exist and be writable to them before the first task starts.
    os.umask(0)
    run = Path(run_dir)
    (run / "outputs").mkdir(mode=0o777)
    _merge_runner_environment()
    local.init(
        local.DockerRunner(
            network_mode="host",
            environment={k: os.environ[k] for k in FORWARDED if os.environ.get(k)},
        ),
        pipeline_root=str(run / "outputs"),
        raise_on_error=False,
    )
    params = json.loads((run / "params.json").read_text())
    resolved = resolved_spec(spec, run, datetime.now(UTC))  # as the backend would
    components.load_component_from_file(str(resolved))(**params)
    return 0


if __name__ == "__main__":
    sys.exit(_worker(*sys.argv[1:]))
