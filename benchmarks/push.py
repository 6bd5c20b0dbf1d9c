"""`make bench` push rows: what pushing its figures costs a gate, against a real Pushgateway.

Times `push_gate` (building the registry, the HTTP PUT, the gateway's answer) for a typical
gate (evaluation: 8 numbers, 4 bounds) and for the drift gate at 50 and 1,000 columns (three
series per column: drifted, score, threshold), against a `prometheus-pushgateway` started on
a free 127.0.0.1 port (`make monitoring-tools`). Prints median and p95 in ms.
Usage: python -m benchmarks.push [--repeats 200]
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from components._shared.verdicts import pushgateway as pg
from components._shared.verdicts.pushgateway import GateFigures, Series
from tests.conftest import free_port
from tests.real_pushgateway import RealPushgateway


def typical_gate() -> GateFigures:
    """An evaluation gate's figures: scores, latencies, the champion delta and four bounds."""
    metrics = {"accuracy": 0.77, "f1": 0.84, "roc_auc": 0.8, "latency_p50_seconds": 0.002,
               "latency_p95_seconds": 0.004, "champion_version": 3.0, "champion_roc_auc": 0.79,
               "delta_roc_auc": 0.01}  # fmt: skip
    bounds = {"accuracy": (0.7, "min"), "roc_auc": (0.7, "min"),
              "latency_p95_seconds": (0.1, "max"), "delta_roc_auc": (-0.015, "min")}  # fmt: skip
    return GateFigures("evaluation", "bench", True, metrics, bounds, duration_seconds=1.2)


def drift_gate(columns: int) -> GateFigures:
    """A drift gate's figures with `columns` compared columns."""
    series = []
    for i in range(columns):
        labels = {"column": f"column_{i:04d}", "method": "wasserstein"}
        series += [
            Series("kfp_mlops_drift_column_drifted", "drifted", labels, float(i % 7 == 0)),
            Series("kfp_mlops_drift_column_score", "score", labels, 0.01 * (i % 20)),
            Series("kfp_mlops_drift_column_threshold", "threshold", labels, 0.1),
        ]
    metrics = {"drift_share": 0.14, "columns_compared": float(columns), "columns_drifted": 1.0}
    return GateFigures("drift", "bench", True, metrics, {"drift_share": (0.5, "max")}, series, 3.0)


def timed(figures: GateFigures, repeats: int, pushed: bool = True) -> tuple[float, float]:
    """Median and p95 of push_gate, in ms (one warm-up call first; `pushed`: what it returns)."""
    assert pg.push_gate(figures) is pushed, "push failed: see the warning above"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pg.push_gate(figures)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> None:
    """Start a Pushgateway, time the pushes, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        gateway = RealPushgateway(Path(folder), free_port()).start()
        os.environ[pg.PUSHGATEWAY_ENV] = gateway.url
        os.environ[pg.PIPELINE_ENV] = "bench"
        try:
            few = max(20, args.repeats // 5)  # a 3,000-series push takes ~50x longer
            rows = [
                ("typical gate (evaluation, 12 samples)", typical_gate(), args.repeats),
                ("drift, 50 columns (150 series)", drift_gate(50), args.repeats),
                ("drift, 1,000 columns (3,000 series)", drift_gate(1000), few),
            ]
            print(f"{'push_gate to a local Pushgateway':<42} {'median ms':>10} {'p95 ms':>8}  n")
            for label, figures, repeats in rows:
                median, p95 = timed(figures, repeats)
                print(f"{label:<42} {median:>10.1f} {p95:>8.1f}  {repeats}")
            os.environ[pg.PUSHGATEWAY_ENV] = ""
            median, p95 = timed(typical_gate(), args.repeats, pushed=False)
            print(f"{'no Pushgateway configured':<42} {median:>10.3f} {p95:>8.3f}  {args.repeats}")
        finally:
            gateway.stop()


if __name__ == "__main__":
    main()
