"""Where one `kfp-mlops run-local` spends its time before, between and after its tasks.

`python -m benchmarks.fixed_cost [--repeats N] [--before CHECKOUT]` starts the embedded stack
if needed, stores the German credit data in S3 as `make demo` does, then runs N times each:
the demo's `run-local training`, and `run-local monitoring` on the same data as current and
reference (no drift, no retrain; as tests/test_pipeline_monitoring.py does). With --before, a
second checkout with its own `.venv` (e.g. main's) runs the same commands, alternating with
this one, so both are measured under the same load.

The phases come from what every version of `run-local` leaves in its run folder, so the two
checkouts are timed the same way:

| phase | from → to |
|---|---|
| cli start | command started → run folder created (interpreter, CLI imports) |
| checks + stack | run folder → params.json (parameter checks, stack up) |
| spec | params.json → retries.json (placeholders filled, retries taken out) |
| kfp.local start | retries.json → kfp.local's "Running pipeline" line |
| to first task | "Running pipeline" → the first "Executing task" |
| tasks | first "Executing task" → last "finished" (tasks and kfp.local between them) |
| summary | last "finished" → summary.json (worker exit, summary, reports) |
| exit | summary.json → the command's exit (text, warm runner stop, interpreter exit) |
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.local_loop import DATA_URI, REPO, _stack_env, run_local

PHASES = (
    "cli start",
    "checks + stack",
    "spec",
    "kfp.local start",
    "to first task",
    "tasks",
    "summary",
    "exit",
)
_STAMP = r"(\d\d:\d\d:\d\d\.\d+) - \w+ - "


def commands() -> dict[str, list[str]]:
    """The two runs timed: the demo's training, and monitoring with nothing drifted."""
    local = str(REPO / "data" / "german_credit.csv")
    return {
        "training": [
            "training",
            "--params",
            str(REPO / "examples" / "training-german-credit.yaml"),
            "-p",
            f"data_uri={DATA_URI}",
            "-p",
            "model_name=bench-fixed-cost",
        ],
        "monitoring": [
            "monitoring",
            "-p",
            f"current_uri={local}",
            "-p",
            f"reference_uri={local}",
            "-p",
            "model_name=bench-fixed-cost-monitoring",
        ],
    }


def _log_time(day: datetime, clock: str) -> float:
    """A run log's HH:MM:SS.mmm (local time, the run's day) as epoch seconds."""
    parsed = datetime.strptime(clock, "%H:%M:%S.%f").time()
    return datetime.combine(day.astimezone().date(), parsed).astimezone().timestamp()


def phases(run_dir: Path, began: float, ended: float) -> dict[str, float]:
    """Seconds per phase of one run, from its folder (see the module's docstring)."""
    created = datetime.strptime(run_dir.name.split("-", 1)[1], "%Y%m%d-%H%M%S-%f")
    created = created.replace(tzinfo=UTC)
    log = re.sub(r"\x1b\[[0-9;]*m", "", (run_dir / "run.log").read_text())
    day = created

    def first(pattern: str) -> float:
        return _log_time(day, re.search(_STAMP + pattern, log)[1])

    finished = [_log_time(day, m[1]) for m in re.finditer(_STAMP + r"Task '[^']+' finished", log)]
    marks = [
        began,
        created.timestamp(),
        (run_dir / "params.json").stat().st_mtime,
        (run_dir / "retries.json").stat().st_mtime,
        first(r"Running pipeline"),
        first(r"Executing task"),
        max(finished),
        (run_dir / "summary.json").stat().st_mtime,
        ended,
    ]
    return {name: marks[i + 1] - marks[i] for i, name in enumerate(PHASES)}


def run_once(checkout: Path, args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """One `run-local`; returns (wall seconds, seconds per phase)."""
    began, ended, summary = run_local(args, env, checkout)
    return ended - began, phases(Path(summary["run_dir"]), began, ended)


def _table(results: dict[str, list[tuple[float, dict]]]) -> None:
    names = list(results)
    print("\nmedian seconds per phase")
    print("| phase | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for phase in PHASES:
        cells = [statistics.median(p[phase] for _, p in results[n]) for n in names]
        print(f"| {phase} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    fixed = [statistics.median(w - p["tasks"] for w, p in results[n]) for n in names]
    print("| **wall minus tasks** | " + " | ".join(f"**{c:.2f}**" for c in fixed) + " |")
    walls = [", ".join(f"{w:.1f}" for w, _ in results[n]) for n in names]
    print("| wall (each run) | " + " | ".join(walls) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per command (default 3)")
    parser.add_argument(
        "--before", type=Path, help="another checkout with its .venv (e.g. main) to compare"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    checkouts = {"this checkout": REPO}
    if args.before:
        if not (args.before / ".venv" / "bin" / "kfp-mlops").exists():
            parser.error(f"{args.before} has no .venv/bin/kfp-mlops; run `make install` there")
        checkouts = {"before": args.before.resolve(), "after": REPO}
    for name, checkout in checkouts.items():
        head = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(f"{name}: {head or 'not a git checkout'}")
    env = _stack_env()
    print(f"load average at start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    results = {f"{c} {run}": [] for run in commands() for c in checkouts}
    for i in range(args.repeats):
        for run, cmd in commands().items():
            for name, checkout in checkouts.items():
                wall, split = run_once(checkout, cmd, env)
                results[f"{name} {run}"].append((wall, split))
                print(f"{run}, {name}, run {i + 1}: {wall:.1f} s", flush=True)
    _table(results)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
