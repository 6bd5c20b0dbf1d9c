"""`make bench` live-performance rows: check_performance at 1e6 predictions joined with 1e6 labels.

The data is written first, in the prediction log's layout (`<model>/date=YYYY-MM-DD/`, one
part per day over 30 days, built with the server's own table builder, logtable.table), with
five input columns the gate does not read, and labels as Parquet and as CSV (request_id,
label, time): 1% for unknown ids, 1% repeated, 1% late. Each measured run is its own
interpreter, so its peak RSS (getrusage ru_maxrss) is the gate's alone: imports, reading
the window's columns and the labels, the join, the per-day and window metrics. Wall times
are split into read and judge. The first half of the days were served by version 1, the
second by version 2: the `served v2` row judges version 2's rows only (the monitoring
default, an alias resolved to v2), the others every version.
Usage: python -m benchmarks.performance [--rows 1000000] [--labels parquet csv]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAYS = 30
DAY0 = datetime(2026, 10, 1, tzinfo=UTC)


def write_data(root: Path, rows: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """The prediction log of `rows` single-row requests, and labels for all of them."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from kfp_mlops.serve import logtable

    rng = np.random.default_rng(seed)
    ids = np.char.add("req-", np.arange(rows).astype(str))
    seconds = np.sort(rng.integers(0, DAYS * 86400, rows))
    times = pd.to_datetime(DAY0) + pd.to_timedelta(seconds, unit="s")
    proba = rng.random(rows).round(6)
    pred = (proba > 0.5).astype(int)
    day_of = seconds // 86400
    for d in range(DAYS):
        at = np.flatnonzero(day_of == d)
        columns = {
            "request_id": ids[at].tolist(),
            "time": times[at].to_pydatetime().tolist(),
            "model_name": ["german-credit"] * len(at),
            "model_version": ["1" if d < DAYS // 2 else "2"] * len(at),
            **{f"x{k}": rng.random(len(at)).tolist() for k in range(5)},
            "prediction": pred[at].tolist(),
            "proba_0": (1 - proba[at]).tolist(),
            "proba_1": proba[at].tolist(),
            "latency_seconds": [0.001] * len(at),
        }
        folder = root / "log" / "german-credit" / f"date={(DAY0 + timedelta(days=d)).date()}"
        folder.mkdir(parents=True)
        pq.write_table(logtable.table([columns]), folder / "000000-bench.parquet")
    right = rng.random(rows) < 0.85
    labels = pd.DataFrame(
        {
            "request_id": ids,
            "label": np.where(right, pred, 1 - pred),
            "time": times + pd.to_timedelta(rng.integers(3600, 5 * 86400, rows), unit="s"),
        }
    )
    hundredth = rows // 100
    labels.loc[: hundredth - 1, "request_id"] = [f"unknown-{i}" for i in range(hundredth)]
    labels.loc[hundredth : 2 * hundredth - 1, "time"] += pd.Timedelta(days=40)  # late
    labels = pd.concat([labels, labels.iloc[-hundredth:]], ignore_index=True)  # repeated
    parquet, csv = root / "labels.parquet", root / "labels.csv"
    labels.to_parquet(parquet, index=False)
    labels.to_csv(csv, index=False)
    return root / "log" / "german-credit", parquet, csv


def run_gate(log: str, labels: str, version: str = "") -> None:
    """One measured run (`python -m benchmarks.performance --gate LOG LABELS`): JSON on stdout."""
    import resource

    start = time.perf_counter()
    from components._shared.io.partitions import DateWindow
    from components.check_performance.core import check_performance
    from components.check_performance.read import read_labels, read_predictions
    from components.check_performance.served import Served

    imported = time.perf_counter()
    predictions = read_predictions(log, DateWindow())
    truth = read_labels(labels)
    read = time.perf_counter()
    result = check_performance(
        predictions,
        truth,
        bounds={"precision": 0.85, "roc_auc": 0.7},
        min_days=3,
        min_labels_per_day=100,
        max_label_delay_days=30,
        positive_label="",
        served=Served("champion", version, "german-credit") if version else None,
    )
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": imported - start,
                "read_s": read - imported,
                "judge_s": done - read,
                "wall_s": done - start,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "counts": result.counts.__dict__,
                "days": len(result.days),
                "passed": result.passed,
            }
        )
    )


def main() -> None:
    """Write the data once, then time the gate on it in a fresh interpreter per labels format."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--labels", nargs="+", default=["parquet", "csv"])
    parser.add_argument("--gate", nargs="+", metavar="LOG LABELS [VERSION]", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gate:
        run_gate(*args.gate)
        return
    with tempfile.TemporaryDirectory(prefix="bench-perf-") as tmp:
        began = time.perf_counter()
        log, parquet, csv = write_data(Path(tmp), args.rows)
        print(f"data: {args.rows:,} predictions over {DAYS} days + labels, written in "
              f"{time.perf_counter() - began:.1f} s", flush=True)  # fmt: skip
        print(f"{'labels':<9} {'read s':>7} {'judge s':>8} {'wall s':>7} {'peak RSS MiB':>13}")
        runs = [(kind, kind, "") for kind in args.labels] + [("parquet", "served v2", "2")]
        for kind, name, version in runs:
            labels = {"parquet": parquet, "csv": csv}[kind]
            gate = [str(log), str(labels), *([version] if version else [])]
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.performance", "--gate", *gate],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{name:<9} {r['read_s']:>7.2f} {r['judge_s']:>8.2f} {r['wall_s']:>7.2f} "
                f"{r['peak_rss_mib']:>13.0f}   counts {r['counts']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
