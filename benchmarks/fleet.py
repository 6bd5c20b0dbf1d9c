"""`make bench` fleet rows: one monitoring-fleet run over N registered models, with kfp.local.

Starts its own embedded stack and a real `prometheus-pushgateway`, registers N models (a
champion each, whose training snapshot is 400 rows of German credit in S3; no model file, so
prediction drift is off) and writes each a prediction log of two recent days (every other
model's shifted: drift, then a retrain skipped for want of labels). Then it runs the fleet
pipeline over 1 model and over all N, each through `kfp-mlops run-local` in its own process
(kfp.local 2.17.3 runs the iterations two at a time in threads), and prints the wall time
of each, the time per model (the marginal cost, (T_N - T_1) / (N - 1)), and the series the
Pushgateway holds after the N-model run, per model and in all.

Usage: python -m benchmarks.fleet [--models 200]
"""

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import GERMAN_CREDIT, free_port
from tests.real_pushgateway import RealPushgateway

BUCKET = "kfp-mlops-data"
COLUMNS = ["age", "credit_amount", "duration", "sex", "purpose"]


def _put(client, key: str, body: bytes) -> str:
    client.put_object(BUCKET, key, io.BytesIO(body), len(body))
    return f"s3://{BUCKET}/{key}"


def setup(names: list[str], prefix: str) -> None:
    """Register each model's champion and write its log (every other one shifted)."""
    import pandas as pd
    import pyarrow.parquet as pq
    from mlflow import MlflowClient

    from components._shared.io import s3_client
    from kfp_mlops.serve import logrows, logtable

    s3 = s3_client()
    if not s3.bucket_exists(BUCKET):
        s3.make_bucket(BUCKET)
    credit = pd.read_csv(GERMAN_CREDIT).head(400)
    reference = credit.to_csv(index=False).encode()
    shifted = credit.assign(age=credit["age"] + 25, credit_amount=credit["credit_amount"] * 4,
                            duration=credit["duration"] * 3)  # fmt: skip
    snapshot = _put(s3, "bench-fleet/reference.csv", reference)
    tags = {"dataset_uri": snapshot, "dataset_sha256": hashlib.sha256(reference).hexdigest()}
    mlflow = MlflowClient()
    now = datetime.now(UTC)
    for i, name in enumerate(names):
        mlflow.create_registered_model(name)
        version = mlflow.create_model_version(name, source="s3://mlflow/no-model", tags=tags)
        mlflow.set_registered_model_alias(name, "champion", version.version)
        frame = shifted if i % 2 else credit
        for back, part in ((1, frame.iloc[::2]), (2, frame.iloc[1::2])):
            when = now - timedelta(days=back)
            rows = logrows.records(
                f"req-{back}", when, (name, "1"), {c: part[c].tolist() for c in COLUMNS},
                {"prediction": [0] * len(part)}, 0.01,
            )  # fmt: skip
            buffer = io.BytesIO()
            pq.write_table(logtable.table([rows]), buffer)
            key = f"{prefix}{name}/date={when.date()}/080000-{uuid.uuid4().hex}.parquet"
            _put(s3, key, buffer.getvalue())


def run_fleet(names: list[str], prefix: str, env: dict[str, str]) -> tuple[float, dict]:
    """One `kfp-mlops run-local monitoring-fleet` over `names`: (wall seconds, its summary)."""
    argv = [
        sys.executable, "-m", "kfp_mlops.cli.main", "run-local", "monitoring-fleet",
        "--output", "json", "-p", f"model_names={json.dumps(names)}",
        "-p", f"predictions_prefix=s3://{BUCKET}/{prefix}",
        "-p", f"drift_columns={json.dumps(COLUMNS)}", "-p", "prediction_drift_alias=",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"the fleet run printed no summary:\n{done.stderr[-3000:]}") from None
    if summary["status"] != "succeeded":
        raise SystemExit(f"the fleet run failed: {summary.get('error')}")
    return wall, summary


def main(models: int) -> None:
    """Set up, run the fleet over 1 and over `models` models, print the figures."""
    from kfp_mlops.stack import Stack

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    home = Path(tempfile.mkdtemp(prefix="kfp-mlops-bench-fleet-"))
    stack = Stack(home=home / "stack", s3_port=free_port(), mlflow_port=free_port())
    stack.up(log=lambda _: None)
    gateway = RealPushgateway(home / "pushgateway", free_port()).start()
    try:
        os.environ.update(stack.env())
        env = {
            **os.environ,
            "KFP_MLOPS_PUSHGATEWAY_URL": gateway.url,
            "TMPDIR": str(home),
            # run-local's stack: this one (as tests/conftest.py's `cli` fixture sets it)
            "KFP_MLOPS_HOME": str(stack.home),
            "KFP_MLOPS_S3_PORT": str(stack.s3_port),
            "KFP_MLOPS_MLFLOW_PORT": str(stack.mlflow_port),
        }
        names = [f"fleet-{i:03d}" for i in range(models)]
        prefix = "bench-fleet/predictions/"
        start = time.perf_counter()
        setup(names, prefix)
        print(f"registered {models} models and wrote their logs in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        one, _ = run_fleet(names[:1], prefix, env)
        gateway.wipe()
        wall, summary = run_fleet(names, prefix, env)
        outcomes: dict[str, int] = {}
        for row in summary["models"]:
            outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
        samples = gateway.samples()
        per_model: dict[str, int] = {}
        for _, labels, _ in samples:
            per_model[labels.get("model", "")] = per_model.get(labels.get("model", ""), 0) + 1
        fleet = per_model.pop("fleet", 0)
        marginal = (wall - one) / (models - 1) if models > 1 else one
        print(f"{'fleet run':<28}{'wall s':>9}{'s per model':>13}")
        print(f"{'1 model':<28}{one:>9.1f}{one:>13.2f}")
        print(f"{f'{models} models':<28}{wall:>9.1f}{wall / models:>13.2f}")
        print(f"marginal time per model: {marginal:.2f} s (kfp.local, two bodies at a time)")
        print(f"projected for 200 models on this machine: {one + 199 * marginal:.0f} s")
        print(f"outcomes: {json.dumps(outcomes, sort_keys=True)}")
        print(f"series in the Pushgateway after the {models}-model run: {len(samples)} "
              f"({fleet} the fleet run's own; per model min {min(per_model.values())}, "
              f"max {max(per_model.values())})")  # fmt: skip
        projected = max(per_model.values()) * 200 + fleet
        print(f"projected for 200 models: {projected} series (goal <= 5,000)")
    finally:
        gateway.stop()
        stack.down(log=lambda _: None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    main(parser.parse_args().models)
