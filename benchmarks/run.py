"""`make bench`: cold-start imports, log + register, run-local training, make demo (warm/fresh).

Prints a table of figures measured on this machine now. Figures vary with the machine and
its load; each row says what was timed so it can be rerun alone.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
COMPONENTS = [
    "load_data",
    "validate_data",
    "train_model",
    "evaluate_model",
    "check_fairness",
    "register_model",
]


def _timed(
    cmd: list[str], env: dict | None = None, cwd: Path = REPO
) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    return time.perf_counter() - start, proc


# What each component's body imports when it runs, lazy imports of its core included.
RUNTIME_IMPORTS = {
    "load_data": ["components.load_data.component", "components.load_data.core", "minio"],
    "validate_data": [
        "components.validate_data.component",
        "components.validate_data.core",
        "great_expectations",
    ],
    "train_model": ["components.train_model.component", "components.train_model.core", "skops.io"],
    "evaluate_model": [
        "components.evaluate_model.component",
        "components.evaluate_model.core",
        "mlflow",
        "mlflow.artifacts",
        "skops.io",
    ],
    "check_fairness": [
        "components.check_fairness.component",
        "components.check_fairness.core",
        "fairlearn.metrics",
    ],
    "register_model": [
        "components.register_model.component",
        "components.register_model.core",
        "mlflow",
        "mlflow.sklearn",
        "skops.io",
    ],
}


def cold_imports(repeats: int = 3) -> list[tuple[str, float]]:
    """Best-of-N wall time of a fresh interpreter importing what a component needs to run."""
    baseline = min(_timed([PY, "-c", "pass"])[0] for _ in range(repeats))
    rows = []
    for name, modules in RUNTIME_IMPORTS.items():
        code = "; ".join(f"import {m}" for m in modules)
        best = min(_timed([PY, "-c", code])[0] for _ in range(repeats))
        rows.append(
            (
                f"cold start of {name}: imports ({', '.join(modules[2:])}), best of {repeats}",
                best - baseline,
            )
        )
    return rows


def _stack_env() -> dict:
    from kfp_mlops.stack import Stack

    stack = Stack.from_env()
    stack.up(log=lambda _: None)
    return {**os.environ, **stack.env()}


def run_local(repeats: int) -> tuple[list[tuple[str, float]], str | None]:
    """`kfp-mlops run-local training` on the local German credit file (stack already up)."""
    env = _stack_env()
    rows, run_dir = [], None
    for i in range(repeats):
        took, proc = _timed(
            [
                str(REPO / ".venv/bin/kfp-mlops"),
                "run-local",
                "training",
                "--params",
                "examples/training-german-credit.yaml",
                "-p",
                "data_uri=data/german_credit.csv",
                "-p",
                "model_name=bench-german-credit",
                "--output",
                "json",
            ],
            env=env,
        )
        summary = json.loads(proc.stdout) if proc.stdout.startswith("{") else {}
        run_dir = summary.get("run_dir", run_dir)
        status = summary.get("status", f"exit {proc.returncode}")
        rows.append((f"run-local training, run {i + 1} ({status})", took))
    return rows, run_dir


def task_times(run_dir: str | None) -> list[tuple[str, float]]:
    """Each task's wall time inside the last run-local run (cold start + work), from its log."""
    import re
    from datetime import datetime

    if run_dir is None:
        return []
    log = re.sub(r"\x1b\[[0-9;]*m", "", (Path(run_dir) / "run.log").read_text())
    stamp = r"(\d\d:\d\d:\d\d\.\d+) - \w+ - "
    started = {m[2]: m[1] for m in re.finditer(stamp + r"Executing task '([^']+)'", log)}
    rows = []
    for m in re.finditer(stamp + r"Task '([^']+)' finished", log):
        begin = datetime.strptime(started[m[2]], "%H:%M:%S.%f")
        end = datetime.strptime(m[1], "%H:%M:%S.%f")
        rows.append(
            (
                f"task {m[2]} in run-local (subprocess start + imports + work)",
                (end - begin).total_seconds(),
            )
        )
    return rows


def register(run_dir: str | None, repeats: int) -> list[tuple[str, float]]:
    """Log + register alone (register_model core) on a finished run's artifacts."""
    if run_dir is None:
        return [("log + register model (skipped: no finished run)", float("nan"))]
    took, proc = _timed([PY, "-m", "benchmarks.register", run_dir, str(repeats)], env=_stack_env())
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1][:80]
        return [(f"log + register model (failed: {last})", took)]
    times = [
        float(line.split("=", 1)[1])
        for line in proc.stdout.splitlines()
        if line.startswith("seconds=")
    ]
    return [(f"log + register model, call {i + 1}", t) for i, t in enumerate(times)]


def demo(fresh: bool) -> list[tuple[str, float]]:
    """`make demo` in a clean clone: warm uses the uv cache; fresh starts with an empty one."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "kfp-mlops"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        shutil.copytree(REPO / "compiled", clone / "compiled", dirs_exist_ok=True)
        from tests.conftest import free_port

        env = {
            **os.environ,
            "KFP_MLOPS_S3_PORT": str(free_port()),
            "KFP_MLOPS_MLFLOW_PORT": str(free_port()),
        }
        env.pop("VIRTUAL_ENV", None)
        label = "warm uv cache"
        if fresh:
            env["UV_CACHE_DIR"] = str(Path(tmp) / "uv-cache")
            label = "empty uv cache (fresh machine)"
        try:
            took, proc = _timed(["make", "demo"], env=env, cwd=clone)
            rows.append((f"make demo in a new clone, {label} (exit {proc.returncode})", took))
            took, proc = _timed(["make", "demo"], env=env, cwd=clone)
            rows.append((f"make demo again in that clone, stack up (exit {proc.returncode})", took))
        finally:
            subprocess.run(
                [str(clone / ".venv/bin/kfp-mlops"), "stack", "down"],
                env=env,
                cwd=clone,
                capture_output=True,
            )
    return rows


def main() -> None:
    """Measure and print the table."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--skip-demo", action="store_true", help="skip the two make demo measurements")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--imports-only", action="store_true", help="only the cold-start imports")
    args = p.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    def show(rows: list[tuple[str, float]]) -> None:  # as measured: a late failure loses nothing
        for label, seconds in rows:
            print(f"  {label:<72}  {seconds:8.2f} s", flush=True)

    show(cold_imports())
    if args.imports_only:
        return
    local_rows, run_dir = run_local(args.repeats)
    show(local_rows)
    show(task_times(run_dir))
    show(register(run_dir, args.repeats))
    if not args.skip_demo:
        show(demo(fresh=False))
        show(demo(fresh=True))


if __name__ == "__main__":
    main()
