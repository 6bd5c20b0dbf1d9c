"""The server's memory under a flood of one-row requests each carrying a multi-MB string.

Usage: python -m benchmarks.flood [--requests 30] [--string-mb 8] [--concurrency 4]
                                  [--log-max-bytes BYTES]

The reproduction of the report that opened this round: 30 one-row requests whose `housing`
is an 8 MB string raised the server's RSS by 1.2 GB in 1.4 s (the deployed limit is 1 GiB).
Starts its own embedded stack, registers the demo model (benchmarks/serve.py), serves it with
the prediction log on at the given byte budget (default: the server's, 256 MiB) and a flush
interval long enough that nothing is written during the flood (the worst case: everything
admitted stays queued), sends the requests from `--concurrency` threads, and prints the
server's resident memory before, its peak (VmHWM) and after, the log's queued bytes and the
rows it dropped for the budget.
"""

import argparse
import http.client
import json
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.serve import PY, Target, free_port, register_demo_model, rows

MIB = 1 << 20


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main(requests: int, string_mb: int, concurrency: int, log_max_bytes: int | None) -> None:
    from kfp_mlops.stack import Stack

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    home = Path(tempfile.mkdtemp(prefix="kfp-mlops-bench-flood-"))
    stack = Stack(home=home / "stack", s3_port=free_port(), mlflow_port=free_port())
    stack.up(log=lambda _: None)
    try:
        os.environ.update(stack.env())
        name = register_demo_model(home)
        argv = [PY, "-m", "kfp_mlops.cli.main", "serve", f"models:/{name}@champion",
                "--port", "{port}", "--log-flush-seconds", "3600"]  # fmt: skip
        if log_max_bytes:
            argv += ["--log-max-bytes", str(log_max_bytes)]
        prefix = f"s3://kfp-mlops-data/bench-flood-{uuid.uuid4().hex[:6]}/"
        env = {**os.environ, "KFP_MLOPS_PREDICTION_LOG_URI": prefix}
        target = Target("kfp-mlops serve", argv, "", None, "/v2/health/ready", env)
        try:
            pid = target.proc.pid
            before = status_kib(pid, "VmRSS")
            row = {**rows(1)[0], "housing": "h" * (string_mb * MIB)}
            body = json.dumps({"instances": [row]}).encode()

            def send(_):
                conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
                conn.request("POST", f"/v1/models/{name}:predict", body,
                             {"Content-Type": "application/json"})  # fmt: skip
                response = conn.getresponse()
                response.read()
                return response.status

            start = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                statuses = list(pool.map(send, range(requests)))
            took = time.perf_counter() - start
            conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            peak, after = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
        finally:
            target.stop()
        budget = log_max_bytes or 256 * MIB
        print(
            f"{requests} one-row requests with a {string_mb} MB string, {concurrency} at a time,"
            f" in {took:.1f} s: answers {sorted(set(statuses))}"
        )
        print(
            f"server RSS before {before / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB "
            f"(+{(peak - before) / 1024:.0f} MiB), after {after / 1024:.0f} MiB"
        )
        queued = metric(text, "kfp_mlops_prediction_log_queue_bytes") / MIB
        dropped = metric(text, 'kfp_mlops_prediction_log_dropped_rows_total{reason="queue_bytes"}')
        print(
            f"log byte budget {budget / MIB:.0f} MiB: queued {queued:.0f} MiB, rows dropped for "
            f"the budget {dropped:.0f}"
        )
    finally:
        stack.down(log=lambda _: None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--string-mb", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--log-max-bytes", type=int, default=None)
    args = parser.parse_args()
    main(args.requests, args.string_mb, args.concurrency, args.log_max_bytes)
