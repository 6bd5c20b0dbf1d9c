"""`make bench` data path rows: peak RSS of the monitoring pipeline's data tasks, per task.

Runs what the monitoring pipeline runs on its data, each task in a new interpreter as in its
own pod: load_data (the component, through python_func) on a reference and on a current
prefix of Parquet parts, then detect_drift on the two snapshots (its core through the shared
reader, as the wrapper calls it; no model, so no prediction drift). Each task reports its
wall time and its peak RSS (VmHWM: ru_maxrss is inherited through fork and exec), printed
against the task's memory limit read from compiled/monitoring.yaml. The data comes from
benchmarks/drift_data.py: 10 columns (5 shifted in current), row groups of 1e6 rows, 10 parts
per side, on local disk (load_data reads a local folder in place), or with --s3-prefix
uploaded under that prefix of the S3 store configured in the environment (load_data then
spools each part to local disk by one GET while hashing it, and reads it from there).
Usage: python -m benchmarks.datapath [--rows 1000000 100000000] [--folder DIR]
       [--s3-prefix s3://BUCKET/PATH/]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.drift_data import write_parts

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "compiled" / "monitoring.yaml"
TASKS = ("snapshot reference", "snapshot current", "detect drift")
UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "K": 10**3, "M": 10**6, "G": 10**9}

TASK_SCRIPT = """
import json, re, sys, time
start = time.perf_counter()
def peak():
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
kind, args = sys.argv[1], sys.argv[2:]
if kind == "load":
    from kfp import dsl
    from components.load_data import component
    dataset = dsl.Dataset(uri=args[1])
    component.load_data.python_func(
        data_uri=args[0], expected_sha256="", start_date="", end_date="", last_days=0,
        dataset_name="",
        dataset=dataset,
    )
    facts = {"rows": dataset.metadata["rows"]}
else:
    from components._shared.io.sources import open_source
    from components.detect_drift.core import detect_drift
    result = detect_drift(open_source(args[0], "reference"), open_source(args[1], "current"))
    facts = {"mode": result.mode, "drifted": sorted(c.column for c in result.columns if c.drifted)}
print(json.dumps({"wall_s": time.perf_counter() - start, "peak": peak(), **facts}))
"""


def _bytes(quantity: str) -> int:
    for suffix, factor in UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity.removesuffix(suffix)) * factor)
    return int(quantity)


def memory_limits(spec: Path = SPEC) -> dict[str, int]:
    """Each monitoring task's memory limit in bytes, by its display name, from the spec."""
    document = next(yaml.safe_load_all(spec.read_text()))
    executors = document["deploymentSpec"]["executors"]
    limits = {}
    for task in document["root"]["dag"]["tasks"].values():
        component = document["components"][task["componentRef"]["name"]]
        executor = executors.get(component.get("executorLabel", ""), {})
        resources = executor.get("container", {}).get("resources", {})
        if "resourceMemoryLimit" in resources:
            limits[task["taskInfo"]["name"]] = _bytes(resources["resourceMemoryLimit"])
    return limits


def run_task(kind: str, *args: str) -> dict:
    """One task in a new interpreter: its wall time, peak RSS and facts."""
    done = subprocess.run(
        [sys.executable, "-c", TASK_SCRIPT, kind, *args],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _uploaded(side: Path, prefix: str) -> str:
    """The parts of `side` uploaded under `prefix`; the local copies removed (disk)."""
    from components._shared.io import upload_file

    uri = f"{prefix.rstrip('/')}/{side.name}/"
    for part in sorted(side.iterdir()):
        upload_file(part, uri + part.name)
        part.unlink()
    return uri


def measure(rows: int, folder: Path, s3_prefix: str = "") -> list[tuple[str, dict]]:
    """Generate both sides, run the three tasks, return each task's result."""
    start = time.perf_counter()
    sides = {
        "snapshot reference": write_parts(folder / "reference", rows, seed=0, shifted=False),
        "snapshot current": write_parts(folder / "current", rows, seed=1, shifted=True),
    }
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    print(f"  {rows:,} rows: data written in {time.perf_counter() - start:.0f} s "
          f"({size / 2**30:.2f} GiB for both sides)", flush=True)  # fmt: skip
    uris = {task: str(side) for task, side in sides.items()}
    if s3_prefix:
        start = time.perf_counter()
        prefix = f"{s3_prefix.rstrip('/')}/{rows}-{folder.name}"
        uris = {task: _uploaded(side, prefix) for task, side in sides.items()}
        print(f"  {rows:,} rows: uploaded in {time.perf_counter() - start:.0f} s", flush=True)
    results = []
    for task, side in sides.items():
        print(f"  {rows:,} rows: {task} ...", flush=True)
        out = str(folder / f"{side.name}.snapshot")
        results.append((task, run_task("load", uris[task], out)))
    print(f"  {rows:,} rows: detect drift ...", flush=True)
    snapshots = (str(folder / "reference.snapshot"), str(folder / "current.snapshot"))
    results.append(("detect drift", run_task("drift", *snapshots)))
    return results


def main() -> None:
    """Measure each size and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--folder", type=Path, help="where to write the data (default: a temp)")
    parser.add_argument("--s3-prefix", default="", help="load the parts from S3, under this")
    args = parser.parse_args()
    limits = memory_limits()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    where = f"S3 ({args.s3_prefix})" if args.s3_prefix else "local disk"
    print(f"data path: {os.cpu_count()} cores, load average at start {load}; data on {where}",
          flush=True)  # fmt: skip
    lines = ["| rows per side | task | wall s | peak RSS MiB | memory limit MiB | share | notes |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for rows in args.rows:
        root = Path(tempfile.mkdtemp(prefix="datapath-bench-", dir=args.folder))
        try:
            for task, result in measure(rows, root, args.s3_prefix):
                limit = limits.get(task, 0)
                if "error" in result:
                    lines.append(f"| {rows:,} | {task} | — | — | {limit >> 20} | — | "
                                 f"{result['error']} |")  # fmt: skip
                    continue
                peak = result["peak"]
                facts = {k: v for k, v in result.items() if k not in ("wall_s", "peak")}
                lines.append(
                    f"| {rows:,} | {task} | {result['wall_s']:.1f} | {peak / 2**20:,.0f} | "
                    f"{limit >> 20:,} | {peak / limit:.0%} | {facts} |"
                )
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print("\n".join(lines))
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
