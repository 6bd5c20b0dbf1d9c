"""compare-live through its compiled pipeline, run with kfp.local against the embedded stack.

A day of shadow-logged traffic is written to the stack's S3 in the log's layout and schema
(logformat.log_schema, with the `endpoint` column after model_version), labels arrive as a
CSV, and a champion/challenger pair is registered. One run: the challenger (right more often)
passes; its version carries the verdict tag, the run's gate record says so, and the figures
reached a real Pushgateway.
"""

import io
import json
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.io import s3_client
from components._shared.logformat import ENDPOINT, log_schema
from components._shared.registry.comparisons import read_live_comparison
from components._shared.verdicts.gate_records import read_gate_records
from tests.conftest import _gated_run
from tests.test_compare_live import traffic

BUCKET = "kfp-mlops-data"


def _put(key: str, body: bytes) -> None:
    client = s3_client()
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    client.put_object(BUCKET, key, io.BytesIO(body), len(body))


def shadow_schema() -> pa.Schema:
    """The log's schema (its `endpoint` column after model_version)."""
    schema = log_schema([("sex", "string")], [0, 1])
    assert schema.names.index(ENDPOINT) == schema.names.index("model_version") + 1
    return schema


def _register(name: str) -> tuple[int, int]:
    """Champion v1 and challenger v2, registered directly (nothing is loaded here)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model(name)
    for alias in ("champion", "challenger"):
        version = client.create_model_version(name, source="s3://mlflow/no-model").version
        client.set_registered_model_alias(name, alias, version)
    return 1, 2


def test_compare_live_pipeline_tags_the_challenger_records_and_pushes(stack, pushgateway):
    model = f"compare-{uuid.uuid4().hex[:8]}"
    champion, challenger = _register(model)
    log, labels = traffic(400, 0.70, 0.90, seed=11, champion=str(champion), challenger="2")
    log["model_name"] = model
    log["latency_seconds"] = 0.01
    buffer = io.BytesIO()
    schema = shadow_schema()
    pq.write_table(pa.Table.from_pandas(log[schema.names], schema=schema), buffer)
    _put(f"predictions/{model}/date=2026-11-02/090000-a.parquet", buffer.getvalue())
    _put(f"labels/{model}/labels.csv", labels.to_csv(index=False).encode())
    params = {
        "model_name": model,
        "predictions_uri": f"s3://{BUCKET}/predictions/{model}/",
        "labels_uri": f"s3://{BUCKET}/labels/{model}/",
        "start_date": "2026-11-02",
        "end_date": "2026-11-02",
        "last_days": "0",
        "min_requests": "300",
        "min_labelled_rows": "300",
        "sensitive_features": json.dumps(["sex"]),
        "max_fairness_gap": "0.3",
        "bootstrap": "200",
    }
    args = [a for k, v in params.items() for a in ("-p", f"{k}={v}")]
    code, summary = _gated_run(stack, pushgateway, "compare-live", *args)
    assert code == 0, summary["error"]
    gate = summary["gates"]["live_comparison"]
    assert gate["passed"] is True and summary["blessed"] is True
    assert summary["model"] == {"name": model, "version": challenger, "champion_version": 1}
    assert gate["metrics"]["requests"] == 400 and gate["metrics"]["accuracy_difference_low"] > 0
    tag = read_live_comparison(model, challenger)
    assert tag["passed"] is True and tag["champion_version"] == "1"
    assert (tag["requests"], tag["labelled"], tag["metric"]) == (400, 400, "accuracy")
    assert tag["delta_low"] > 0 and tag["run"]
    [record] = [r for r in read_gate_records(tag["run"]) if r.gate == "live_comparison"]
    assert record.passed and record.model == model and record.pipeline == "compare-live"
    assert "PASSED: challenger v2 vs champion v1" in record.line
    pushed = {
        s[1]["metric"]: s[2]
        for s in pushgateway.samples("kfp_mlops_gate_metric")
        if s[1].get("model") == model and s[1].get("gate") == "live_comparison"
    }
    assert pushed["requests"] == 400 and pushed["agreement"] == gate["metrics"]["agreement"]
