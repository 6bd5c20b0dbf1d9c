"""Our model server (log on and off) against `mlflow models serve`: same model, same machine.

Usage: python -m benchmarks.serve [--quick] [--only TEXT] [--rounds N]
  TEXT: scenarios whose name has it; N: interleaved log-on/log-off rounds for the logging
  cost (default 6, 0 = none)

Starts its own embedded stack on free ports, trains the demo model with train_model's core
(hist_gradient_boosting on all of data/german_credit.csv), registers it with register_model's
core, then serves it with each server in turn (one at a time, so they never share the CPU)
and drives it with `wrk` (Debian's package; `make bench-tools` installs it): N keep-alive
HTTP/1.1 connections, each sending the next request when the last answer arrived, for a fixed
time. wrk has no fixed-rate mode in Debian's build (that is wrk2), so the "paced 50 req/s" row
uses the small Python sender below (one connection, one request every 20 ms). Both generators
run on the same machine, so every figure includes their CPU cost, the same for each server.
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "german_credit.csv"
PY = sys.executable
WRK = shutil.which("wrk")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def register_demo_model(home: Path) -> str:
    """Train and register the demo model; returns its name (version 1 is the champion)."""
    from components._shared.model_io import save_model
    from components.register_model.core import Candidate, register_model
    from components.train_model.core import train

    frame = pd.read_csv(DATA)
    result = train(frame, "risk", "hist_gradient_boosting", {}, 0.25, 0)
    path = home / "model.skops"
    trusted = save_model(result.pipeline, path)
    features = list(result.feature_columns)
    name = f"bench-serve-{uuid.uuid4().hex[:6]}"
    candidate = Candidate(
        model_path=str(path),
        model={
            "estimator": "hist_gradient_boosting",
            "hyperparameters": {},
            "target_column": "risk",
            "feature_columns": features,
            "classes": list(result.classes),
            "skops_trusted_types": trusted,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        },
        dataset={"source_uri": str(DATA.name), "sha256": "benchmark", "rows": len(frame)},
        validation={"success": True, "suite_sha256": "benchmark"},
        evaluation={"passed": True, "primary_metric": "roc_auc", "primary_value": 0.8},
        fairness={"passed": True},
        evaluation_blessed=True,
        fairness_blessed=True,
        parameters={"benchmark": True},
        kfp_run_id=f"bench-{uuid.uuid4().hex[:12]}",
        sample=frame[features].head(5),
    )
    register_model(candidate, model_name=name, promote=True)
    return name


def model_floor(name: str, calls: int = 200) -> tuple[float, float, float]:
    """The served model alone: median ms of one single-row predict_proba, of its
    preprocessing step, and of the server's verified numpy path (kfp_mlops/serve/fastpath.py)
    for the same row, single-threaded: what no server can go below per model call."""
    import statistics

    from threadpoolctl import threadpool_limits

    from components._shared.registry.champion import load_model_uri
    from kfp_mlops.serve.fastpath import compile_fast

    model = load_model_uri(f"models:/{name}/1").model
    fast = compile_fast(model)
    frame = pd.read_csv(DATA).drop(columns=["risk"]).head(1)

    def median_ms(call) -> float:
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    with threadpool_limits(1):
        model.predict_proba(frame)  # warm-up
        fast.predict_proba(frame)
        return (
            median_ms(lambda: model.predict_proba(frame)),
            median_ms(lambda: model[:-1].transform(frame)),
            median_ms(lambda: fast.predict_proba(frame)),
        )


def handler_floor(name: str, n: int = 1000, calls: int = 50) -> float:
    """Median ms of the server's own work on an n-row V1 body, model excluded, in-process:
    parse the JSON, take the columns, check them against the schema, encode the answer."""
    import statistics

    from kfp_mlops.serve.frame import checked_rows
    from kfp_mlops.serve.http import parse_json
    from kfp_mlops.serve.model import load_served
    from kfp_mlops.serve.v1 import v1_columns, v1_response

    served = load_served(f"models:/{name}/1")
    body = json.dumps({"instances": rows(n)}).encode()
    answer = served.predict(checked_rows(v1_columns(parse_json(body), served.schema, n),
                                         served.schema))  # fmt: skip
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        columns = v1_columns(parse_json(body), served.schema, n)
        checked_rows(columns, served.schema)
        model = (served.registered_name, str(served.version))
        json.dumps(v1_response(answer.labels, answer.probabilities, served.classes, model))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def rows(n: int) -> list[dict]:
    """n feature rows of the demo data, nulls as None."""
    frame = pd.read_csv(DATA).drop(columns=["risk"])
    frame = pd.concat([frame] * (n // len(frame) + 1)).head(n).astype(object)
    return frame.where(frame.notna(), None).to_dict(orient="records")


class Target:
    """A server process and how to ask it for predictions."""

    def __init__(self, label: str, argv: list[str], path: str, wrap, health: str, env: dict):
        self.label, self.path, self.wrap, self.port = label, path, wrap, free_port()
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{label} exited: {self.proc.stderr.read()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", health)
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{label} did not become ready")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wrk(target: Target, body: bytes, concurrency: int, seconds: float):
    """Closed-loop load with wrk: (req/s, p50 ms, p99 ms, failed requests)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(body)
        f.flush()
        done = subprocess.run(
            [WRK, "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", f"{seconds}s",
             "--timeout", "60s", "-s", str(REPO / "benchmarks" / "wrk_post.lua"),
             f"http://127.0.0.1:{target.port}{target.path}"],
            env={**os.environ, "WRK_BODY_FILE": f.name}, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
    found = re.search(r"^WRK_RESULT (.*)$", done.stdout, re.M)
    if found is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    r = json.loads(found.group(1))
    rps = r["requests"] / (r["duration_us"] / 1e6)
    return rps, r["p50_us"] / 1000, r["p99_us"] / 1000, r["non2xx"] + r["socket_errors"]


def paced(target: Target, body: bytes, requests: int, rate: float):
    """One connection, one request every 1/rate s (fixed rate): (req/s, p50, p99 ms, errors).

    Each latency is timed from its own send: an answer slower than 1/rate would delay the
    next send and that wait would go uncounted (coordinated omission, which wrk2 corrects);
    at 50 req/s against answers of a few ms it does not arise.
    """
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
    latencies, errors, start = [], 0, time.perf_counter()
    for k in range(requests):
        time.sleep(max(0.0, start + k / rate - time.perf_counter()))
        t0 = time.perf_counter()
        conn.request("POST", target.path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - t0)
        errors += response.status != 200
    took = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return len(lat) / took, np.percentile(lat, 50), np.percentile(lat, 99), errors


def scenarios(quick: bool):
    """(name, rows, concurrency, seconds of wrk or requests paced, rate or 0 for wrk)."""
    seconds = 3 if quick else 10
    one, batch = rows(1), rows(1000)
    return [
        ("1 row, concurrency 1", one, 1, seconds, 0.0),
        ("1 row, concurrency 16", one, 16, seconds, 0.0),
        ("1 row, paced 50 req/s", one, 1, 150 if quick else 500, 50.0),
        ("1000-row batch, concurrency 1", batch, 1, seconds, 0.0),
    ]


def targets(name: str, env: dict, prefix: str) -> list[tuple]:
    ours = [PY, "-m", "kfp_mlops.cli.main", "serve", f"models:/{name}@champion",
            "--port", "{port}"]  # fmt: skip
    v1 = f"/v1/models/{name}:predict"
    mlflow = [str(Path(PY).parent / "mlflow"), "models", "serve", "-m", f"models:/{name}@champion",
              "--env-manager", "local", "--host", "127.0.0.1", "-p", "{port}"]  # fmt: skip
    path_env = {**env, "PATH": f"{Path(PY).parent}:{env.get('PATH', '')}"}
    return [
        ("kfp-mlops serve, log on", ours, v1, lambda r: {"instances": r}, "/v2/health/ready",
         {**env, "KFP_MLOPS_PREDICTION_LOG_URI": prefix}),
        ("kfp-mlops serve, log off", [*ours, "--no-log"], v1, lambda r: {"instances": r},
         "/v2/health/ready", env),
        ("kfp-mlops, log off, no batch", [*ours, "--no-log", "--max-batch-rows", "1"], v1,
         lambda r: {"instances": r}, "/v2/health/ready", env),
        ("kfp-mlops, log off, no fast path", [*ours, "--no-log", "--no-fast-path"], v1,
         lambda r: {"instances": r}, "/v2/health/ready", env),
        ("mlflow models serve", mlflow, "/invocations", lambda r: {"dataframe_records": r},
         "/ping", path_env),
    ]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process so far, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def logging_cost(targets: list[tuple], rounds: int, seconds: int, only: str) -> None:
    """The prediction log's cost of throughput, log on against off, interleaved.

    Both servers stay up (the idle one waits on its socket) and wrk alternates between them,
    round after round, so a neighbour's load changes both sides alike; the cost is from the
    medians, 1 - on/off. The server's CPU per request (all its threads, from /proc) is the
    steadier figure beside it: the log's own work, whatever the neighbours do.
    """
    import statistics

    pair = [t for t in targets if t[0] in ("kfp-mlops serve, log on", "kfp-mlops serve, log off")]
    servers = [Target(label, argv, path, wrap, health, env) for label, argv, path, wrap, health,
               env in pair]  # fmt: skip
    try:
        print(f"\nlogging cost, {rounds} interleaved rounds of {seconds} s (medians):")
        for scenario, body_rows, conc, _, rate in scenarios(True):
            if rate or only not in scenario:
                continue
            body = json.dumps({"instances": body_rows}).encode()
            seen: dict[str, list[float]] = {t.label: [] for t in servers}
            cpu: dict[str, list[float]] = {t.label: [] for t in servers}
            for t in servers:
                wrk(t, body, conc, 1)
            for k in range(rounds):
                for t in servers if k % 2 == 0 else servers[::-1]:
                    used = cpu_seconds(t.proc.pid)
                    rps = wrk(t, body, conc, seconds)[0]
                    requests = rps * seconds  # what wrk sent (its rate over its duration)
                    seen[t.label].append(rps)
                    cpu[t.label].append((cpu_seconds(t.proc.pid) - used) / requests * 1e3)
            on, off = (statistics.median(v) for v in seen.values())
            cpu_on, cpu_off = (statistics.median(v) for v in cpu.values())
            print(
                f"  {scenario:<32} req/s log on {on:8.1f}  off {off:8.1f}  cost {1 - on / off:6.1%}"
                f" | CPU ms/request on {cpu_on:6.3f}  off {cpu_off:6.3f}  "
                f"(+{cpu_on / cpu_off - 1:.1%})"
            )
    finally:
        for t in servers:
            t.stop()


def main(quick: bool = False, only: str = "", rounds: int = 0) -> None:
    from kfp_mlops.stack import Stack

    if WRK is None:
        raise SystemExit("wrk is not installed; run `make bench-tools` (apt-get install wrk)")
    load_start = os.getloadavg()[0]
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    home = Path(tempfile.mkdtemp(prefix="kfp-mlops-bench-serve-"))
    stack = Stack(home=home / "stack", s3_port=free_port(), mlflow_port=free_port())
    stack.up(log=lambda _: None)
    try:
        os.environ.update(stack.env())
        name = register_demo_model(home)
        whole, preprocessing, fast = model_floor(name)
        print(
            f"the model alone, one row, one thread: predict_proba {whole:.2f} ms, of which "
            f"preprocessing {preprocessing:.2f} ms; through the server's numpy path "
            f"{fast:.2f} ms (medians of 200 calls)"
        )
        print(
            f"the server's own work on a 1000-row V1 body, model excluded (parse, columns, "
            f"checks, answer): {handler_floor(name):.2f} ms (median of 50)"
        )
        prefix = f"s3://kfp-mlops-data/bench-predictions-{uuid.uuid4().hex[:6]}/"
        results = []
        for label, argv, path, wrap, health, env in targets(name, dict(os.environ), prefix):
            target = Target(label, argv, path, wrap, health, env)
            try:
                for scenario, body_rows, conc, n, rate in scenarios(quick):
                    if only not in scenario:
                        continue
                    body = json.dumps(wrap(body_rows)).encode()
                    if rate:
                        paced(target, body, n // 10, rate)  # warm the connection
                        results.append((scenario, label, *paced(target, body, n, rate)))
                    else:
                        wrk(target, body, conc, 1)  # warm the connections
                        results.append((scenario, label, *wrk(target, body, conc, n)))
            finally:
                target.stop()
        print(
            f"\n{'scenario':<32}{'server':<28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        )
        for scenario, label, rps, p50, p99, errors in sorted(results, key=lambda r: r[0]):
            print(f"{scenario:<32}{label:<28}{rps:>9.1f}{p50:>9.2f}{p99:>9.2f}{errors:>8}")
        if rounds:
            logging_cost(targets(name, dict(os.environ), prefix), rounds, 5, only)
        print(f"load average: {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    finally:
        stack.down(log=lambda _: None)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        quick="--quick" in args,
        only=args[args.index("--only") + 1] if "--only" in args else "",
        rounds=int(args[args.index("--rounds") + 1]) if "--rounds" in args else 6,
    )
