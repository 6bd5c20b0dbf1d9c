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


def cold_imports(repeats: int = 3) -> list[tuple[str, float]]:
    """Best-of-N wall time of a fresh interpreter importing each component's module and core."""
    rows = []
    baseline = min(_timed([PY, "-c", "pass"])[0] for _ in range(repeats))
    for name in COMPONENTS:
        for module in (f"components.{name}.component", f"components.{name}.core"):
            code = f"import {module}"
            if module.endswith(
                ".core"
            ):  # the core's heavy libraries are imported lazily: include them
                code += f"; import components.{name}.core as c; [getattr(c, n) for n in dir(c)]"
            best = min(_timed([PY, "-c", code])[0] for _ in range(repeats))
            rows.append((f"import {module} (cold, minus bare interpreter)", best - baseline))
    return rows


def _stack_env() -> dict:
    from pipelines.stack import Stack

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
    local_rows, run_dir = run_local(args.repeats)
    show(local_rows)
    show(register(run_dir, args.repeats))
    if not args.skip_demo:
        show(demo(fresh=False))
        show(demo(fresh=True))


if __name__ == "__main__":
    main()
