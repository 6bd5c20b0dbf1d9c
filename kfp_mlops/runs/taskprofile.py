"""Where a local task's seconds go: interpreter start, imports, MLflow calls, S3 calls, the rest.

Set KFP_MLOPS_TASK_PROFILE=DIR for `run-local` and every task process writes DIR/<task>-<pid>.json
when it exits (benchmarks/local_loop.py reads them). Imports are timed at the outermost
`_find_and_load` (what `import` and `importlib.import_module` call for a module not yet loaded),
HTTP at the outermost urllib3 `urlopen` (minio and MLflow's requests both go through it),
split by port: MLflow's tracking port, or S3. Only local runs ever set the variable.
"""

import atexit
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

PROFILE_ENV = "KFP_MLOPS_TASK_PROFILE"


class TaskProfile:
    """Seconds and counts of a task process's imports and HTTP calls; written at exit."""

    def __init__(self, started: float, mode: str = "warm"):
        self.started, self.mode = started, mode
        self.hooked = time.time()
        self.seconds = {"imports": 0.0, "mlflow": 0.0, "s3": 0.0}
        self.counts = {"imports": 0, "mlflow": 0, "s3": 0}
        self._depth = {"imports": 0, "http": 0}
        port = urlsplit(os.environ.get("MLFLOW_TRACKING_URI", "")).port
        self._mlflow_port = port

    def _timed(self, kind: str, depth_key: str, call, *args, **kwargs):
        if self._depth[depth_key]:
            return call(*args, **kwargs)
        self._depth[depth_key] += 1
        began = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.seconds[kind] += time.perf_counter() - began
            self.counts[kind] += 1
            self._depth[depth_key] -= 1

    def install(self) -> "TaskProfile":
        """Wrap imports and urllib3 calls with timers; write the record at exit."""
        import importlib._bootstrap as bootstrap

        find_and_load = bootstrap._find_and_load

        def timed_find_and_load(name, import_):
            return self._timed("imports", "imports", find_and_load, name, import_)

        bootstrap._find_and_load = timed_find_and_load

        import urllib3.connectionpool as pool

        urlopen = pool.HTTPConnectionPool.urlopen
        profile = self

        def timed_urlopen(conn_pool, *args, **kwargs):
            kind = "mlflow" if conn_pool.port == profile._mlflow_port else "s3"
            return profile._timed(kind, "http", urlopen, conn_pool, *args, **kwargs)

        pool.HTTPConnectionPool.urlopen = timed_urlopen
        atexit.register(self.write)
        return self

    def write(self) -> None:
        """DIR/<task>-<pid>.json: total, start, imports, mlflow, s3 (seconds and counts)."""
        ended = time.time()
        task = next(
            (sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--function_to_execute"),
            "unknown",
        )
        record = {
            "task": task,
            "mode": self.mode,
            "pid": os.getpid(),
            "total_s": ended - self.started,
            "start_s": self.hooked - self.started,
            **{f"{k}_s": v for k, v in self.seconds.items()},
            **{f"{k}_n": v for k, v in self.counts.items()},
        }
        out = Path(os.environ[PROFILE_ENV])
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{task}-{os.getpid()}.json").write_text(json.dumps(record))


def main(argv: list[str]) -> int:
    """Cold, profiled: `python -m kfp_mlops.runs.taskprofile STARTED -m kfp.dsl.executor_main`."""
    from kfp_mlops.runs.executor import run_task

    TaskProfile(float(argv[0]), mode="cold").install()
    return run_task(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
