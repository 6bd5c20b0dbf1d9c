"""Run a compiled pipeline spec with kfp.local against the embedded stack, with progress.

The spec from compiled/ runs (not the Python function), so what is committed is what runs.
kfp.local runs in a child process whose output goes to the run's log file; this process
follows that log and shows one line per task.
"""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components._shared.settings import GIT_COMMIT_ENV, IMAGE_ENV
from kfp_mlops.runs import checks
from kfp_mlops.runs.checks import Problems
from kfp_mlops.runs.outputs import redacted
from kfp_mlops.runs.placeholders import resolved_spec
from kfp_mlops.runs.reports import store_reports
from kfp_mlops.runs.retries import RETRY_LINE, without_retries
from kfp_mlops.runs.summaries import summarize
from kfp_mlops.runs.tasks import ShimExecutable, WarmRunner, warm_enabled
from kfp_mlops.runs.threads import task_env
from kfp_mlops.runs.warm import SOCKET_ENV
from pipelines.descriptors import Pipeline, compiled_spec, pipeline

WAIT_FLAG = "--wait-for-order"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXECUTING = re.compile(r"Executing task '([^']+)'")
_FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
_SKIPPED = re.compile(r"Skipping (?:conditional )?task '?([\w-]+)'?")
_RETRYING = re.compile(rf"{RETRY_LINE}: (\w+), .*(retrying in [\d.]+ s \(attempt \d+ of \d+\))")


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _absolute_local_uris(params: dict[str, Any]) -> dict[str, Any]:
    """Tasks may run elsewhere: make a relative local data path absolute."""
    fixed = dict(params)
    for key, value in params.items():
        if key.endswith("_uri") and isinstance(value, str) and value and "://" not in value:
            fixed[key] = str(Path(value).resolve())
    return fixed


class _Progress:
    """Turns kfp.local's log lines into one line per task event, named as the spec names them."""

    def __init__(self, described: Pipeline, out: Callable[[str], None]):
        self.pipeline, self.names = described, described.log_names()
        self.out, self.started = out, {}

    def feed(self, line: str) -> None:
        line = _ANSI.sub("", line)
        if m := _EXECUTING.search(line):
            self.started[m[1]] = time.monotonic()
            self.out(f"  ▶ {self.names.get(m[1], m[1])} ...")
        elif m := _FINISHED.search(line):
            took = time.monotonic() - self.started.get(m[1], time.monotonic())
            mark = "✓" if m[2] == "SUCCESS" else "✗"
            self.out(f"  {mark} {self.names.get(m[1], m[1])} {m[2].lower()} ({took:.1f} s)")
        elif m := _RETRYING.search(line):
            self.out(f"  ↻ {m[1]} can pass on retry: {m[2]}")
        elif (m := _SKIPPED.search(line)) and m[1].startswith("condition"):
            self.out(f"  - {self._skipped(m[1])}")

    def _skipped(self, condition: str) -> str:
        name = self.names.get(condition, condition)
        retrain = self.pipeline.retrain_condition
        if name == retrain and self.pipeline.train_task in self.started:
            # A sub-pipeline's condition keys repeat the parent's (condition-1 is `drifted` at
            # the root, `evaluation-blessed` inside retrain): once training ran, it is the inner.
            name = next(n for n in self.pipeline.skipped if n != retrain)
        return self.pipeline.skipped.get(name, f"{name} skipped")


def _follow(proc: subprocess.Popen, log_path: Path, progress: _Progress) -> None:
    with log_path.open("r", errors="replace") as log:
        while True:
            line = log.readline()
            if line:
                progress.feed(line)
                continue
            if proc.poll() is not None:
                for rest in log:
                    progress.feed(rest)
                return
            time.sleep(0.2)


class LocalRun:
    """One local run: its folder, and what starts while parameters are checked.

    Entering it starts the warm runner (it imports the task libraries) and kfp.local's process
    (it imports kfp and waits for the spec, the parameters and the service settings), so
    both are ready when the checks and the stack are. Enter it before checking parameters and
    starting the stack; a run that never started (a usage error, a stack that did not come up)
    leaves no folder and no process behind.
    """

    def __init__(self, name: str, home: Path):
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        self.name, self.run_dir = name, (home / "runs" / f"{name}-{stamp}").resolve()
        (self.run_dir / "tmp").mkdir(parents=True)
        env = task_env(os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"})
        spec = compiled_spec(name)
        spec = spec if spec.is_file() else None
        self.runner = WarmRunner(self.run_dir, env, spec) if warm_enabled() else None
        self.started = False
        self.worker = _Worker(self.run_dir, env | {"TMPDIR": str(self.run_dir / "tmp")})

    def __enter__(self) -> "LocalRun":
        if self.runner:
            self.runner.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.worker.stop(ran=self.started)
        if self.runner:
            self.runner.stop(finish_tasks=self.started)
        if not self.started:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def check(self) -> Problems:
        """How this run's parameters are checked: in a process forked from the warm runner."""
        return checks.by_runner(self.runner.env.get(SOCKET_ENV) if self.runner else None)

    def run(
        self,
        spec_path: Path,
        params: dict[str, Any],
        service_env: dict[str, str],
        out: Callable[[str], None] = print,
    ) -> dict[str, Any]:
        """Run a compiled spec with kfp.local.SubprocessRunner; return the run summary."""
        run_dir = self.run_dir
        self.started = True
        params = _absolute_local_uris(params)
        (run_dir / "params.json").write_text(json.dumps(params, indent=2))
        # What the backend would fill in (the run's creation time), which kfp.local cannot.
        spec_path = resolved_spec(spec_path, run_dir, datetime.now(UTC))
        hand_retries_to_worker(spec_path, run_dir)
        env = {
            **task_env(os.environ),
            **service_env,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "TMPDIR": str(run_dir / "tmp"),
            GIT_COMMIT_ENV: os.environ.get(GIT_COMMIT_ENV) or _git_commit(),
            IMAGE_ENV: os.environ.get(IMAGE_ENV) or "none (kfp.local SubprocessRunner)",
            "PYTHONUNBUFFERED": "1",
            **(self.runner.env if self.runner else {}),
        }
        started = time.monotonic()
        proc = self.worker.go(spec_path, env)
        try:
            _follow(proc, self.worker.log_path, _Progress(pipeline(self.name), out))
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        log_text = self.worker.log_path.read_text(errors="replace")
        summary = summarize(self.name, run_dir, log_text, proc.returncode)
        # The tasks held the service credentials, this process may not: mask theirs as well.
        summary = redacted(summary, service_env)
        summary["duration_s"] = round(time.monotonic() - started, 1)
        summary["reports"] = store_reports(spec_path, run_dir)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        return summary


class _Worker:
    """kfp.local's process, started early: it imports kfp, then waits for `go`.

    Its output is the run's log. `go` sends the spec and the full environment the tasks get
    (service settings, the warm runner's socket); a worker never told to go exits quietly
    when its stdin closes.
    """

    def __init__(self, run_dir: Path, env: dict[str, str]):
        self.log_path = run_dir / "run.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kfp_mlops.runs.local", WAIT_FLAG, str(run_dir)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def go(self, spec_path: Path, env: dict[str, str]) -> subprocess.Popen:
        """Start the run: the worker takes ENV as its whole environment, then runs the spec."""
        order = json.dumps({"spec": str(spec_path), "env": env}) + "\n"
        try:
            self.proc.stdin.write(order.encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # it died before the run: its log says why, the summary reports it failed
        return self.proc

    def stop(self, ran: bool) -> None:
        """After the run, or instead of it (then at once): no worker outlives the run."""
        if not ran:
            self.proc.kill()
        if not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_local(
    name: str,
    spec_path: Path,
    params: dict[str, Any],
    service_env: dict[str, str],
    home: Path,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run a compiled spec with kfp.local.SubprocessRunner; return the run summary."""
    with LocalRun(name, home) as run:
        return run.run(spec_path, params, service_env, out)


def hand_retries_to_worker(spec_path: Path, run_dir: Path) -> None:
    """Take the retry policies out of the spec for the worker, which applies them itself.

    The worker retries service errors only (kfp_mlops/runs/retries.py); it reads them from
    `run_dir/retries.json`.
    """
    policies = {name: vars(p) for name, p in without_retries(spec_path).items()}
    (run_dir / "retries.json").write_text(json.dumps(policies, indent=2))


def _worker(spec_path: str, run_dir: str) -> int:
    """Child process: run the spec under kfp.local; exit 1 when the pipeline fails."""
    from kfp import components, local

    from kfp_mlops.runs import retries

    run = Path(run_dir)
    params = json.loads((run / "params.json").read_text())
    policies = json.loads((run / "retries.json").read_text())
    retries.install({name: retries.Policy(**p) for name, p in policies.items()})
    local.init(
        local.SubprocessRunner(use_venv=False),
        pipeline_root=str(run / "outputs"),
        workspace_root=str(run / "workspace"),
        raise_on_error=False,
    )
    pipeline = components.load_component_from_file(spec_path)
    with ShimExecutable(run):
        pipeline(**params)
    return 0


def _waiting_worker(run_dir: str) -> int:
    """Child process started early: import kfp.local, wait for the order, then run as _worker."""
    from kfp import components, local  # noqa: F401  (the slow part, done while checks run)

    order = sys.stdin.readline()
    if not order:
        return 0  # the run never started
    order = json.loads(order)
    os.environ.clear()
    os.environ.update(order["env"])
    return _worker(order["spec"], run_dir)


if __name__ == "__main__":
    if sys.argv[1] == WAIT_FLAG:
        sys.exit(_waiting_worker(sys.argv[2]))
    sys.exit(_worker(*sys.argv[1:]))
