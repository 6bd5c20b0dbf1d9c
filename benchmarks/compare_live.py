"""`make bench` live-comparison rows: compare_live on 100,000 shadowed requests with labels.

The data is written first, in the prediction log's layout (`<model>/date=YYYY-MM-DD/`, one
part per day over 7 days), with the schema of components/_shared/logformat.log_schema plus
the `endpoint` column: each request has a primary row (champion v1) and a shadow row
(challenger v2), five input columns the gate does not read and a `sex` column it does, and
labels (Parquet) for every request. Each measured run is its own interpreter, so its peak
RSS (getrusage ru_maxrss) is the gate's alone: imports, reading the window's columns and the
labels, pairing, the paired bootstrap (1,000 resamples by default) and fairness per group.

Usage: python -m benchmarks.compare_live [--requests 100000] [--bootstrap 1000]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

DAYS = 7
DAY0 = datetime(2026, 11, 1, tzinfo=UTC)


def write_data(root: Path, requests: int, seed: int = 0) -> tuple[Path, Path]:
    """The log of `requests` single-row requests answered by both models, and their labels."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components._shared.logformat import log_schema

    rng = np.random.default_rng(seed)
    schema = log_schema([*((f"x{k}", "double") for k in range(5)), ("sex", "string")], [0, 1])
    ids = np.char.add("req-", np.arange(requests).astype(str))
    seconds = np.sort(rng.integers(0, DAYS * 86400, requests))
    times = pd.to_datetime(DAY0) + pd.to_timedelta(seconds, unit="s")
    truth = rng.integers(0, 2, requests)
    sex = np.where(rng.random(requests) < 0.5, "f", "m")
    inputs = {f"x{k}": rng.random(requests) for k in range(5)}

    def answers(accuracy: float, version: str, endpoint: str) -> pd.DataFrame:
        right = rng.random(requests) < accuracy
        predicted = np.where(right, truth, 1 - truth)
        proba1 = np.clip(np.where(predicted == 1, 0.7, 0.3) + rng.normal(0, 0.1, requests), 0, 1)
        return pd.DataFrame(
            {
                "request_id": ids, "time": times, "model_name": "german-credit",
                "model_version": version, "endpoint": endpoint, **inputs, "sex": sex,
                "prediction": predicted, "proba_0": 1 - proba1, "proba_1": proba1,
                "latency_seconds": 0.004,
            }
        )  # fmt: skip

    both = pd.concat([answers(0.78, "1", "primary"), answers(0.80, "2", "shadow")])
    log = root / "log"
    day_of = (both["time"] - pd.Timestamp(DAY0)).dt.days.to_numpy()
    for d in range(DAYS):
        part = both[day_of == d]
        folder = log / f"date={(DAY0 + pd.Timedelta(days=d)).date()}"
        folder.mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pandas(part[schema.names], schema=schema), folder / "a.parquet"
        )
    labels = root / "labels.parquet"
    pd.DataFrame({"request_id": ids, "label": truth}).to_parquet(labels, index=False)
    return log, labels


MEASURE = """
import json, resource, sys, time
started = time.perf_counter()
from components._shared.io.partitions import DateWindow
from components.compare_live.gate import judge_uris
imported = time.perf_counter()
result = judge_uris(sys.argv[1], sys.argv[2], DateWindow(), sensitive_features=["sex"],
                    bootstrap=int(sys.argv[3]), min_requests=1000, min_labelled_rows=1000)
done = time.perf_counter()
print(json.dumps({
    "imports_s": imported - started, "compare_s": done - imported,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "verdict": result.verdict, "requests": result.counts.requests,
    "delta": [result.delta_low, result.delta_high],
}))
"""


def measure(log: Path, labels: Path, bootstrap: int) -> dict:
    """One gate run in its own interpreter: its times and peak memory."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(log), str(labels), str(bootstrap)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        began = time.perf_counter()
        log, labels = write_data(Path(tmp), args.requests)
        print(f"wrote {args.requests} shadowed requests in {time.perf_counter() - began:.1f} s")
        print("| run | imports s | read + compare s | peak RSS MB | verdict |")
        print("|---|---|---|---|---|")
        for bootstrap in (args.bootstrap, 200):
            m = measure(log, labels, bootstrap)
            print(
                f"| compare_live, {m['requests']} requests, {bootstrap} resamples | "
                f"{m['imports_s']:.1f} | {m['compare_s']:.1f} | {m['peak_rss_mb']:.0f} | "
                f"{m['verdict']} (accuracy difference in [{m['delta'][0]:+.4f}, "
                f"{m['delta'][1]:+.4f}]) |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
