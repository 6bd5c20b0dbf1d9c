"""`make bench` training-set rows: build a training set from 1 and 30 days of a busy log.

A synthetic prediction log in the real format (components/_shared/logformat.py), 100,000
predictions a day in 10 parts of 10,000 rows, 9 German-credit-like inputs, lies on local
disk under `date=YYYY-MM-DD/`; labels arrive for a share of them (20 % by default) in one CSV
per day. The build (the component's core: labels read, the log joined part by part, rows
sorted, deterministic Parquet, stored as a dataset version) runs in a new interpreter per
window, against an embedded stack of its own (SeaweedFS + MLflow, on free ports, in a
temporary folder; no champion, so nothing is unioned). Printed per window: wall time, peak
RSS (VmHWM of the child), rows built and the version's size.
Usage: python -m benchmarks.trainset [--days 1 30] [--per-day 100000] [--labelled 0.2]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
PARTS_PER_DAY = 10
FIRST_DAY = date(2026, 10, 1)
INPUTS = [
    ("sex", "string"), ("job", "integer"), ("housing", "string"), ("saving_accounts", "string"),
    ("checking_account", "string"), ("credit_amount", "integer"), ("duration", "integer"),
    ("purpose", "string"), ("age", "integer"),
]  # fmt: skip
CHOICES = {
    "sex": ["male", "female"],
    "housing": ["own", "rent", "free"],
    "saving_accounts": ["little", "moderate", "rich", "quite rich", "not_known"],
    "checking_account": ["little", "moderate", "rich", "not_known"],
    "purpose": ["car", "radio/TV", "furniture/equipment", "business", "education"],
}
CHILD = """
import json, sys, time
start = time.perf_counter()
from components._shared.io.partitions import DateWindow
from components.build_training_set.core import build_training_set
log, labels, first, last, model = sys.argv[1:6]
result = build_training_set(
    retrain_data_uri="", predictions_uri=log, window=DateWindow.of(first, last, 0),
    labels_uri=labels, label_schema="", max_label_delay_days=30.0, target_column="risk",
    model_name=model, include_champion_data=True, min_labelled_rows=1,
)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": time.perf_counter() - start, "peak_kib": int(hwm.split()[1]),
                  "rows": result.counts.get("rows"), "bytes": result.manifest.get("bytes"),
                  "reference": result.reference}))
"""


def _day_frame(day: date, n: int, rng: np.random.Generator) -> pd.DataFrame:
    columns = {}
    for name, kind in INPUTS:
        if kind == "string":
            columns[name] = rng.choice(CHOICES[name], n)
        else:
            columns[name] = rng.integers(18 if name == "age" else 0, 20_000, n)
    frame = pd.DataFrame(columns)
    frame.insert(0, "request_id", [f"{day}-{i:06d}" for i in range(n)])
    times = pd.Timestamp(f"{day}T00:00:00Z") + pd.to_timedelta(np.arange(n) * 0.8, "s")
    frame.insert(1, "time", times)
    frame.insert(2, "model_name", "bench")
    frame.insert(3, "model_version", "1")
    frame.insert(4, "endpoint", "primary")
    proba = rng.random(n)
    return frame.assign(prediction=(proba > 0.5).astype("int64"), proba_0=1 - proba)


def write_log(folder: Path, days: int, per_day: int, labelled: float) -> tuple[Path, Path]:
    """`days` days of log parts and label files under `folder`; (log folder, labels folder)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components._shared.logformat import log_schema, partition

    schema = log_schema(INPUTS, [0, 1])
    rng = np.random.default_rng(0)
    log, labels = folder / "log", folder / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        frame = _day_frame(day, per_day, rng)
        frame["proba_1"] = 1 - frame["proba_0"]
        frame["latency_seconds"] = 0.01
        target = log / partition("", "bench", str(day))
        target.mkdir(parents=True, exist_ok=True)
        for p, rows in enumerate(np.array_split(np.arange(per_day), PARTS_PER_DAY)):
            table = pa.Table.from_pandas(frame.iloc[rows], schema=schema, preserve_index=False)
            pq.write_table(table, target / f"part-{p:02d}.parquet")
        chosen = frame.sample(frac=labelled, random_state=d)
        known = chosen["time"] + pd.Timedelta(days=2)
        out = pd.DataFrame(
            {"request_id": chosen["request_id"], "label": rng.integers(0, 2, len(chosen))}
        )
        out.assign(time=known.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
            labels / f"{day}.csv", index=False
        )
    return log / "bench", labels


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_build(env: dict, log: Path, labels: Path, days: int, model: str) -> dict:
    """One build in a new interpreter: its wall time, peak RSS and what it built."""
    last = FIRST_DAY + timedelta(days=days - 1)
    args = [str(log), str(labels), str(FIRST_DAY), str(last), model]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, **env, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generate the log, start a stack, build from each window, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--labelled", type=float, default=0.2)
    args = parser.parse_args()
    from kfp_mlops.stack import Stack

    with tempfile.TemporaryDirectory(prefix="kfp-mlops-bench-trainset-") as tmp:
        start = time.perf_counter()
        log, labels = write_log(Path(tmp), max(args.days), args.per_day, args.labelled)
        size = sum(p.stat().st_size for p in log.rglob("*.parquet")) / 2**20
        print(f"log: {max(args.days)} days x {args.per_day:,} predictions ({size:.0f} MiB), "
              f"{args.labelled:.0%} labelled, written in {time.perf_counter() - start:.0f} s",
              flush=True)  # fmt: skip
        stack = Stack(home=Path(tmp) / "stack", s3_port=_free_port(), mlflow_port=_free_port())
        stack.up(log=lambda _: None)
        try:
            print("| window | predictions | labelled rows | wall s | peak RSS MiB | version MiB |")
            print("|---|---|---|---|---|---|")
            for days in args.days:
                found = run_build(stack.env(), log, labels, days, f"bench-{days}d")
                if "error" in found:
                    print(f"| {days} d | error: {found['error']} |", flush=True)
                    continue
                print(f"| {days} d | {days * args.per_day:,} | {found['rows']:,} | "
                      f"{found['seconds']:.1f} | {found['peak_kib'] / 1024:.0f} | "
                      f"{found['bytes'] / 2**20:.1f} |", flush=True)  # fmt: skip
        finally:
            stack.down(log=lambda _: None)


if __name__ == "__main__":
    main()
