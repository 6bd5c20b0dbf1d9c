"""Where `run-local training` spends its time, cold tasks against warm ones, in one run.

`python -m benchmarks.local_loop [--repeats N]` starts the embedded stack if needed, stores the
German credit data in S3 as `make demo` does, then runs the demo's `run-local training`
alternately with every task started cold (KFP_MLOPS_WARM_TASKS=0: a new interpreter per task,
as before) and warm (forked from the warm runner), N times each, with KFP_MLOPS_TASK_PROFILE
set. It prints each run's wall time and, per task, the median of: kfp.local's wall time for
the task (from the run log), the task process's own time split into interpreter start,
imports, MLflow HTTP calls, S3 HTTP calls and the rest (kfp_mlops/runs/taskprofile.py), and
what kfp.local adds around the process (shell, executor input, outputs).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_URI = "s3://kfp-mlops-data/german_credit/german_credit.csv"
COLUMNS = ("wall", "process", "start", "imports", "mlflow", "s3", "rest", "kfp.local")


def _stack_env() -> dict[str, str]:
    from components._shared.io import upload_file
    from kfp_mlops.stack import Stack

    stack = Stack.from_env()
    stack.up(log=lambda _: None)
    env = {**os.environ, **stack.env(), "MLFLOW_DISABLE_TELEMETRY": "true"}
    os.environ.update(stack.env())
    upload_file(REPO / "data" / "german_credit.csv", DATA_URI)
    return env


def _task_walls(run_dir: Path) -> dict[str, float]:
    log = re.sub(r"\x1b\[[0-9;]*m", "", (run_dir / "run.log").read_text())
    stamp = r"(\d\d:\d\d:\d\d\.\d+) - \w+ - "
    began = {m[2]: m[1] for m in re.finditer(stamp + r"Executing task '([^']+)'", log)}
    walls = {}
    for m in re.finditer(stamp + r"Task '([^']+)' finished", log):
        start, end = (datetime.strptime(t, "%H:%M:%S.%f") for t in (began[m[2]], m[1]))
        walls[m[2].replace("-", "_")] = (end - start).total_seconds()
    return walls


def run_local(
    args: list[str], env: dict[str, str], checkout: Path = REPO
) -> tuple[float, float, dict]:
    """`kfp-mlops run-local ARGS --output json` from CHECKOUT's .venv: (began, ended, summary).

    Began and ended are epoch seconds. Exits, with the end of the CLI's stderr, when it printed
    no summary or the run did not succeed: a benchmark of a failed run measures nothing.
    """
    cmd = [str(checkout / ".venv" / "bin" / "kfp-mlops"), "run-local", *args, "--output", "json"]
    began = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=checkout)
    ended = time.time()
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"run-local printed no summary (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    if summary["status"] != "succeeded":
        sys.exit(f"{args[0]} run failed: {summary.get('error')}\n{proc.stderr[-2000:]}")
    return began, ended, summary


def run_once(env: dict[str, str], warm: bool, profile_dir: Path) -> tuple[float, dict]:
    """One demo run; returns (wall seconds, {task: figures})."""
    env = env | {"KFP_MLOPS_WARM_TASKS": "1" if warm else "0"}
    env["KFP_MLOPS_TASK_PROFILE"] = str(profile_dir)
    args = ["training", "--params", "examples/training-german-credit.yaml"]
    args += ["-p", f"data_uri={DATA_URI}", "-p", "model_name=bench-german-credit"]
    began, ended, summary = run_local(args, env)
    wall = ended - began
    walls = _task_walls(Path(summary["run_dir"]))
    tasks = {}
    for path in profile_dir.glob("*.json"):
        rec = json.loads(path.read_text())
        task = rec["task"]
        known = rec["start_s"] + rec["imports_s"] + rec["mlflow_s"] + rec["s3_s"]
        tasks[task] = {
            "wall": walls.get(task, float("nan")),
            "process": rec["total_s"],
            "start": rec["start_s"],
            "imports": rec["imports_s"],
            "mlflow": rec["mlflow_s"],
            "s3": rec["s3_s"],
            "rest": rec["total_s"] - known,
            "kfp.local": walls.get(task, float("nan")) - rec["total_s"],
            "calls": f"{rec['mlflow_n']} MLflow, {rec['s3_n']} S3",
        }
    return wall, tasks


def _table(title: str, runs: list[dict]) -> None:
    print(f"\n{title} — median over {len(runs)} run(s), seconds")
    print(f"| task | {' | '.join(COLUMNS)} | HTTP calls |")
    print("|---|" + "---:|" * len(COLUMNS) + "---|")
    for task in runs[0]:
        cells = [statistics.median(r[task][c] for r in runs) for c in COLUMNS]
        print(
            f"| {task} | "
            + " | ".join(f"{v:.2f}" for v in cells)
            + f" | {runs[-1][task]['calls']} |"
        )
    totals = [statistics.median(sum(r[t][c] for t in r) for r in runs) for c in COLUMNS]
    print("| **all tasks** | " + " | ".join(f"{v:.2f}" for v in totals) + " | |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode (default 2)")
    args = parser.parse_args(argv)
    env = _stack_env()
    print(f"load average at start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    results = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for mode in ("cold", "warm"):
                wall, tasks = run_once(env, mode == "warm", Path(tmp) / f"{mode}-{i}")
                results[mode].append((wall, tasks))
                print(f"run-local training, {mode} tasks, run {i + 1}: {wall:.1f} s")
    for mode, runs in results.items():
        walls = [w for w, _ in runs]
        each = ", ".join(f"{w:.1f}" for w in walls)
        print(f"\n{mode}: wall {statistics.median(walls):.1f} s median ({each})")
        _table(f"{mode} tasks", [t for _, t in runs])
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
