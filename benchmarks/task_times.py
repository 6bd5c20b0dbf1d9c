"""How stable `run-local training` task times are on a busy machine: spread over N runs.

`python -m benchmarks.task_times [--runs N] [--hogs K] [--cold]` starts the embedded stack if
needed and stores the German credit data in S3 as `make demo` does, then starts K busy loops
(`while True: pass`, one core each) and runs the demo's `run-local training` N times for
each setting, alternating, warm tasks unless --cold:

- `libgomp default`: GOMP_SPINCOUNT=300000, what libgomp does when nothing is set (an idle
  OpenMP thread spins 300,000 rounds before it sleeps); the run then adds nothing.
- `run-local default`: the run's own environment (kfp_mlops/runs/threads.py:
  OMP_WAIT_POLICY=PASSIVE when nothing says how OpenMP threads wait).

Per task it prints min, median, p90 and max of kfp.local's wall time for the task (from the
run log), and the same for the whole run.

`--fits N` instead times the training task's own work alone, N times per setting beside the
busy loops: `train()` of components/train_model/core.py on the German credit data with the
demo's hyperparameters, each in a new interpreter, for the two settings above and
OMP_NUM_THREADS=1; wall and CPU seconds of the fit (CPU well above wall/threads is spinning).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.local_loop import DATA_URI, REPO, _stack_env, _task_walls, run_local

SETTINGS = {
    "libgomp default": {"GOMP_SPINCOUNT": "300000"},
    "run-local default": {},
}


FIT_SETTINGS = SETTINGS | {"one OpenMP thread": {"OMP_NUM_THREADS": "1"}}
FIT = """
import json, os, time
import pandas as pd
from components.train_model.core import train
frame = pd.read_csv("data/german_credit.csv")
began, cpu = time.perf_counter(), os.times()
train(frame, "risk", "hist_gradient_boosting", {"max_iter": 200, "learning_rate": 0.05}, 0.25, 42)
ended = os.times()
print(json.dumps([time.perf_counter() - began, ended.user + ended.system - cpu.user - cpu.system]))
"""


def fit_once(env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of the demo's fit in a new interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", FIT], capture_output=True, text=True, env=env, cwd=REPO
    )
    if proc.returncode:
        sys.exit(f"the fit failed:\n{proc.stderr[-2000:]}")
    wall, cpu = json.loads(proc.stdout.splitlines()[-1])
    return wall, cpu


def run_once(env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """One demo run; returns (wall seconds, {task: kfp.local's seconds for it})."""
    args = ["training", "--params", "examples/training-german-credit.yaml"]
    args += ["-p", f"data_uri={DATA_URI}", "-p", "model_name=bench-task-times"]
    began, ended, summary = run_local(args, env)
    wall = ended - began
    run_dir = Path(summary["run_dir"])
    if env.get("KFP_MLOPS_WARM_TASKS") != "0":
        warm_log = (run_dir / "warm.log").read_text()
        if "runs cold" in warm_log or "started:" not in warm_log:
            sys.exit(f"warm tasks were asked for, but some ran cold:\n{warm_log[-2000:]}")
    return wall, _task_walls(run_dir)


def spread(values: list[float]) -> tuple[float, float, float, float]:
    """(min, median, p90, max); p90 by linear interpolation between the runs."""
    p90 = (
        statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]
    )
    return min(values), statistics.median(values), p90, max(values)


def _table(title: str, walls: list[float], runs: list[dict[str, float]]) -> None:
    print(f"\n{title}: {len(runs)} runs, seconds")
    print("| task | min | median | p90 | max |")
    print("|---|---:|---:|---:|---:|")
    for task in runs[0]:
        cells = spread([r[task] for r in runs if task in r])
        print(f"| {task} | " + " | ".join(f"{v:.2f}" for v in cells) + " |")
    print("| **run-local wall** | " + " | ".join(f"{v:.1f}" for v in spread(walls)) + " |")


def _hogs(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _fits(env: dict[str, str], count: int, hogs: int) -> int:
    settings = {
        # The fit runs outside run-local, so the run's default is written out here.
        name: extra or {"OMP_WAIT_POLICY": "PASSIVE"}
        for name, extra in FIT_SETTINGS.items()
    }
    results: dict[str, list] = {name: [] for name in settings}
    started = _hogs(hogs)
    try:
        print(f"load average at start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, ", end="")
        print(f"{hogs} busy loop(s); the demo's fit alone, a new interpreter each")
        for _ in range(count):
            for name, extra in settings.items():
                results[name].append(fit_once(env | extra))
    finally:
        for hog in started:
            hog.kill()
            hog.wait()
    print(f"\nfit seconds over {count} fits per setting")
    print("| setting | min | median | p90 | max | CPU s, median |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, fits in results.items():
        cells = spread([wall for wall, _ in fits])
        cpu = statistics.median(c for _, c in fits)
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in cells) + f" | {cpu:.2f} |")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per setting (default 10)")
    parser.add_argument("--hogs", type=int, default=1, help="busy loops beside (default 1)")
    parser.add_argument("--cold", action="store_true", help="every task in a new interpreter")
    parser.add_argument("--only", choices=sorted(SETTINGS), help="one setting only")
    parser.add_argument("--fits", type=int, default=0, help="time N fits alone per setting")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.hogs < 0 or args.fits < 0:
        parser.error("--runs must be at least 1, --hogs and --fits at least 0")
    env = dict(os.environ) if args.fits else _stack_env()
    env["KFP_MLOPS_WARM_TASKS"] = "0" if args.cold else "1"
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS"):
        if env.pop(name, None) is not None:
            print(f"(unset {name} from this shell for the runs)")
    if args.fits:
        return _fits(env, args.fits, args.hogs)
    settings = {args.only: SETTINGS[args.only]} if args.only else SETTINGS
    hogs = _hogs(args.hogs)
    results: dict[str, list] = {name: [] for name in settings}
    try:
        print(f"load average at start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, ", end="")
        print(f"{args.hogs} busy loop(s), {'cold' if args.cold else 'warm'} tasks")
        for i in range(args.runs):
            for name, extra in settings.items():
                wall, tasks = run_once(env | extra)
                results[name].append((wall, tasks))
                train = tasks.get("train_model", float("nan"))
                print(f"run {i + 1}, {name}: {wall:.1f} s, train_model {train:.2f} s", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    for name, runs in results.items():
        _table(name, [w for w, _ in runs], [t for _, t in runs])
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
