"""How a local run's tasks start: warm (forked by kfp_mlops/runs/warm.py) or cold.

`run-local` starts the warm runner before kfp.local, so the runner imports the libraries while
kfp.local loads the spec; kfp.local's process then points `sys.executable` at the shim, which
hands each task to the runner. Only local runs: on a cluster the KFP backend starts each task
from the image as the spec says. KFP_MLOPS_WARM_TASKS=0 starts every task cold.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kfp_mlops.runs.taskprofile import PROFILE_ENV
from kfp_mlops.runs.warm import SOCKET_ENV

WARM_ENV = "KFP_MLOPS_WARM_TASKS"


def warm_enabled() -> bool:
    """Warm tasks unless KFP_MLOPS_WARM_TASKS is 0/false/no/off."""
    return os.environ.get(WARM_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


class WarmRunner:
    """In `run-local`'s process: the warm runner for one run; stopped (after its tasks) at exit.

    `env` is what the kfp.local process needs to reach it; empty when the runner did not come
    up, and then every task starts cold.
    """

    def __init__(self, run_dir: Path, env: dict[str, str], spec: Path | None = None):
        self.private = Path(tempfile.mkdtemp(prefix="kfp-mlops-warm-"))  # mode 0700
        self.path = self.private / "tasks.sock"
        self.log = (run_dir / "warm.log").open("w")
        self.proc = subprocess.Popen(
            # With the spec, the runner imports what its first tasks need first.
            [sys.executable, "-m", "kfp_mlops.runs.warm", str(self.path)]
            + ([str(spec)] if spec else []),
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def __enter__(self) -> "WarmRunner":
        return self

    @property
    def env(self) -> dict[str, str]:
        """What kfp.local's process needs to reach the runner (waits for it to listen)."""
        deadline = time.monotonic() + 10
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.path.exists():
                return {SOCKET_ENV: str(self.path)}
            time.sleep(0.01)
        return {}

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, finish_tasks: bool = True) -> None:
        """Let the runner finish its tasks and exit; or, when no task ever ran, just kill it."""
        if not finish_tasks:
            self.proc.kill()
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        self.path.unlink(missing_ok=True)
        self.private.rmdir()


def write_shim(run_dir: Path) -> Path:
    """RUN_DIR/bin/python: runs shim.py with this interpreter, isolated (-I) and without site."""
    shim = run_dir / "bin" / "python"
    shim.parent.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).with_name("shim.py")
    shim.write_text(f"#!/bin/sh\nexec '{sys.executable}' -I -S '{source}' \"$@\"\n")
    shim.chmod(0o755)
    return shim


class ShimExecutable:
    """In kfp.local's process: `sys.executable` is the shim while tasks run.

    Only when a warm runner is reachable or tasks are profiled; otherwise nothing changes.
    """

    def __init__(self, run_dir: Path):
        self.run_dir, self.real = run_dir, None

    def __enter__(self) -> "ShimExecutable":
        if not (os.environ.get(SOCKET_ENV) or os.environ.get(PROFILE_ENV)):
            return self
        self.real, sys.executable = sys.executable, str(write_shim(self.run_dir))
        return self

    def __exit__(self, *exc) -> None:
        if self.real:
            sys.executable = self.real
