"""`kfp-mlops data add` of a folder of Parquet parts: wall time and peak RSS, per size.

Each add runs in a new interpreter (`store.add`, as the CLI calls it) against the S3 store
configured in the environment (`eval "$(kfp-mlops stack env)"`), under a prefix of its own.
The parts come from benchmarks/drift_data.py (10 columns), one part per day of the log, so
"30 parts x 100,000 rows" is a month of a log at 100,000 predictions a day. The second add
of the same folder is timed too: it reads and hashes every part again and writes nothing.
Peak RSS is VmHWM (ru_maxrss is inherited through fork and exec).
Usage: python -m benchmarks.datasets [--parts 1 30] [--rows-per-part 100000]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from benchmarks.drift_data import write_parts

REPO = Path(__file__).resolve().parent.parent
ADD_SCRIPT = """
import json, re, sys, time
start = time.perf_counter()
from components._shared.datasets import store
found, created = store.add(sys.argv[1], "bench")
status = open("/proc/self/status").read()
peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
print(json.dumps({"wall_s": time.perf_counter() - start, "peak": peak, "created": created,
                  "rows": found["rows"], "bytes": found["bytes"]}))
"""


def add(folder: Path, root: str) -> dict:
    """One `store.add` of the folder in a new interpreter, under the store `root`."""
    env = os.environ | {"KFP_MLOPS_DATASETS_URI": root}
    done = subprocess.run(
        [sys.executable, "-c", ADD_SCRIPT, str(folder)],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure each size and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--rows-per-part", type=int, default=100_000)
    args = parser.parse_args()
    if not os.environ.get("AWS_ENDPOINT_URL_S3"):
        sys.exit('no S3 configured: run `eval "$(.venv/bin/kfp-mlops stack env)"` first')
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"data add of a folder: {os.cpu_count()} cores, load average at start {load}")
    lines = [
        "| parts x rows | parts MiB | stored MiB | add s | peak RSS MiB | again s | again peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for parts in args.parts:
        folder = Path(tempfile.mkdtemp(prefix="datasets-bench-"))
        root = f"s3://kfp-mlops-data/bench-datasets-{uuid.uuid4().hex[:8]}/"
        try:
            rows = parts * args.rows_per_part
            write_parts(folder, rows, seed=parts, shifted=False, part_rows=args.rows_per_part)
            size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
            print(f"  {parts} x {args.rows_per_part:,} rows ...", flush=True)
            first, again = add(folder, root), add(folder, root)
            if "error" in first or "error" in again:
                lines.append(f"| {parts} x {args.rows_per_part:,} | {first} {again} |")
                continue
            assert first["created"] and not again["created"] and first["rows"] == rows
            lines.append(
                f"| {parts} x {args.rows_per_part:,} | {size / 2**20:,.1f} | "
                f"{first['bytes'] / 2**20:,.1f} | {first['wall_s']:.1f} | "
                f"{first['peak'] / 2**20:,.0f} | {again['wall_s']:.1f} | "
                f"{again['peak'] / 2**20:,.0f} |"
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
