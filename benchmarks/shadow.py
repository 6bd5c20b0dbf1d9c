"""The primary's throughput and p99 with and without a shadow, same model, same run.

Usage: python -m benchmarks.shadow [--quick] [--rounds N]

Starts its own embedded stack, trains and registers the demo model (benchmarks/serve.py),
then serves it with the prediction log on, without and with `--shadow` (the same registered
version as the shadow: the same work a challenger of the same shape costs), and drives each
with wrk: single-row requests at concurrency 16, in N interleaved rounds (default 3) so that
drift in the machine's load hits both alike. Prints req/s and p50/p99 of each round, the
medians side by side, and what the shadow did (predicted, dropped) by its own counters.
Goal (issue 21): the shadow costs at most 10 % of the primary's throughput here.
"""

import http.client
import json
import os
import re
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from benchmarks.serve import PY, WRK, Target, free_port, register_demo_model, rows, wrk


def _counts(target: Target, name: str) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    found = re.findall(
        r'kfp_mlops_shadow_requests_total\{model="'
        + re.escape(name)
        + r'",outcome="(\w+)"\} (\S+)',
        text,
    )
    return {outcome: float(value) for outcome, value in found}


def main(quick: bool = False, rounds: int = 3) -> None:
    from kfp_mlops.stack import Stack

    if WRK is None:
        raise SystemExit("wrk is not installed; run `make bench-tools` (apt-get install wrk)")
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    home = Path(tempfile.mkdtemp(prefix="kfp-mlops-bench-shadow-"))
    stack = Stack(home=home / "stack", s3_port=free_port(), mlflow_port=free_port())
    stack.up(log=lambda _: None)
    seconds = 3 if quick else 10
    try:
        os.environ.update(stack.env())
        name = register_demo_model(home)
        prefix = f"s3://kfp-mlops-data/bench-shadow-{uuid.uuid4().hex[:6]}/"
        env = {**os.environ, "KFP_MLOPS_PREDICTION_LOG_URI": prefix}
        base = [PY, "-m", "kfp_mlops.cli.main", "serve", f"models:/{name}@champion",
                "--port", "{port}"]  # fmt: skip
        variants = {
            "no shadow": base,
            "with shadow": [*base, "--shadow", f"models:/{name}/1"],
        }
        body = json.dumps({"instances": rows(1)}).encode()
        results: dict[str, list] = {label: [] for label in variants}
        shadowed: dict[str, float] = {}
        print(f"single-row requests, concurrency 16, {seconds} s a round, log on")
        for round_ in range(rounds):
            for label, argv in variants.items():
                target = Target(label, argv, f"/v1/models/{name}:predict", None,
                                "/v2/health/ready", env)  # fmt: skip
                try:
                    wrk(target, body, 16, 1)  # warm the connections
                    rps, p50, p99, errors = wrk(target, body, 16, seconds)
                    if label == "with shadow":
                        for k, v in _counts(target, name).items():
                            shadowed[k] = shadowed.get(k, 0.0) + v
                finally:
                    target.stop()
                results[label].append((rps, p50, p99, errors))
                print(f"round {round_ + 1} {label:<12} {rps:9.1f} req/s  p50 {p50:6.2f} ms  "
                      f"p99 {p99:6.2f} ms  errors {errors}")  # fmt: skip
        print(f"\n{'median of rounds':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
        medians = {}
        for label, got in results.items():
            medians[label] = [statistics.median(r[i] for r in got) for i in range(3)]
            rps, p50, p99 = medians[label]
            print(f"{label:<16}{rps:>10.1f}{p50:>9.2f}{p99:>9.2f}")
        cost = 1 - medians["with shadow"][0] / medians["no shadow"][0]
        print(f"shadow cost: {cost:.1%} of the primary's throughput (goal <= 10 %)")
        total = sum(shadowed.values()) or 1.0
        print(
            "shadow outcomes (all rounds, warm-up included): "
            + ", ".join(f"{k} {v:.0f} ({v / total:.0%})" for k, v in sorted(shadowed.items()))
        )
    finally:
        stack.down(log=lambda _: None)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        quick="--quick" in args,
        rounds=int(args[args.index("--rounds") + 1]) if "--rounds" in args else 3,
    )
