"""Serving test helpers: a registered model, a real server process, HTTP calls, S3 reads."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pandas as pd

from tests.conftest import REPO, free_port
from tests.test_register_model import FEATURES, artifacts, run

START_TIMEOUT_S = 120  # a cold MLflow download and skops load on a busy 2-core machine


def register(tmp_path, credit, name: str) -> str:
    """Register a model like train_model builds it; returns its name (version 1, champion)."""
    out = run(tmp_path, artifacts(tmp_path, credit, model_name=name))
    assert out["meta"]["version"] == 1
    return name


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kfp_mlops.cli.main", *args]


class Process:
    """A `kfp-mlops serve` or `log-sink` subprocess on 127.0.0.1 and a free port."""

    def __init__(
        self,
        *args: str,
        env: dict | None = None,
        ready: str = "/v2/health/ready",
        port: int | None = None,
    ):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # The sink serves /metrics on a port of its own (--metrics-port); the server on its one.
        extra: tuple[str, ...] = ()
        self.metrics_base = self.base
        if args[0] == "log-sink":
            metrics_port = free_port()
            extra = ("--metrics-port", str(metrics_port))
            self.metrics_base = f"http://127.0.0.1:{metrics_port}"
        self.proc = subprocess.Popen(
            command(*args, "--host", "127.0.0.1", "--port", str(self.port), *extra),
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._wait(ready)

    def _wait(self, path: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited {self.proc.returncode}: {self.proc.stderr.read()}"
                )
            try:
                if get(self.base + path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server not ready on {self.base}")

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then wait: the exit code and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


def _call(request: urllib.request.Request) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, kind = (
                response.status,
                response.read(),
                response.headers.get_content_type(),
            )
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers.get_content_type()
    if kind == "application/json":
        return status, json.loads(raw)
    return status, raw.decode()


def get(url: str) -> tuple[int, object]:
    return _call(urllib.request.Request(url))


def post(url: str, body: object, headers: dict | None = None) -> tuple[int, object]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    return _call(urllib.request.Request(url, data=data, headers=headers, method="POST"))


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent), labels in any order."""
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        found, _, rest = head.partition("{")
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if found == name and pairs == labels:
            return float(value)
    return 0.0


def unique_prefix(kind: str) -> str:
    return f"s3://kfp-mlops-data/test-{kind}-{uuid.uuid4().hex[:8]}/"


def _objects(prefix: str, suffix: str) -> dict[str, bytes]:
    from components._shared.io import parse_s3_uri, s3_client

    bucket, path = parse_s3_uri(prefix.rstrip("/") + "/x")
    path = path[:-1]
    client = s3_client()
    out = {}
    for obj in client.list_objects(bucket, prefix=path, recursive=True):
        if not obj.object_name.endswith(suffix):
            continue
        response = client.get_object(bucket, obj.object_name)
        try:
            out[obj.object_name] = response.read()
        finally:
            response.close()
            response.release_conn()
    return out


def read_log(prefix: str) -> dict[str, pd.DataFrame]:
    """Every Parquet object under an s3:// prefix, by key (the set-aside requests left out)."""
    return {k: pd.read_parquet(io.BytesIO(v)) for k, v in _objects(prefix, ".parquet").items()}


def read_schemas(prefix: str) -> dict[str, object]:
    """The Arrow schema of every Parquet object under an s3:// prefix, by key."""
    import pyarrow.parquet as pq

    return {k: pq.read_schema(io.BytesIO(v)) for k, v in _objects(prefix, ".parquet").items()}


def dead_letters(prefix: str) -> list[dict]:
    """Every request the log set aside under `<prefix>/_rejected/`, one dict per request."""
    lines = []
    for key, data in sorted(_objects(prefix, ".jsonl").items()):
        assert "/_rejected/" in key, key
        lines += [json.loads(line) for line in data.decode().splitlines()]
    return lines


ROWS = [
    {"sex": "male", "housing": "own", "credit_amount": 1169, "duration": 6, "age": 67},
    {"sex": "female", "housing": "rent", "credit_amount": 5951, "duration": 48, "age": 22},
]
assert list(ROWS[0]) == FEATURES
