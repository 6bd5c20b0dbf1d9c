"""Live performance through the compiled monitoring pipeline, run with kfp.local for real.

A prediction log is written to the embedded stack's S3 in the server's layout (logtable.table,
the server's own, `predictions/<model>/date=YYYY-MM-DD/`), labels arrive as a CSV in S3, and the
data itself has not drifted: (1) precision below its bound on each of 3 days → the gate fails
→ the training sub-pipeline retrains; (2) within bounds → nothing retrained, exit 0; (3) a
labels prefix with no file yet → cannot judge yet, nothing retrained, exit 0. These models have
no champion: (1) and (2) judge every version (prediction_drift_alias=""); the served-version
filter is tested in tests/test_check_performance_served.py.
"""

import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.io import s3_client
from components._shared.verdicts.gate_records import read_gate_records
from kfp_mlops.serve import logrows, logtable
from tests.conftest import GERMAN_CREDIT
from tests.test_pipeline_monitoring import run_json

BUCKET = "kfp-mlops-data"
DAY0 = datetime(2026, 11, 1, 8, tzinfo=UTC)
PER_DAY = 20


def _put(key: str, body: bytes) -> None:
    client = s3_client()
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    client.put_object(BUCKET, key, io.BytesIO(body), len(body))


def _write_log(model: str, days: int, proba: bool = True) -> None:
    """PER_DAY single-row requests a day; request i predicts class i % 2.

    proba=False: only the prediction, as a payload-logger sink that records no scores writes.
    """
    for d in range(days):
        parts = []
        for i in range(d * PER_DAY, (d + 1) * PER_DAY):
            when = DAY0 + timedelta(days=d, minutes=i % PER_DAY)
            outputs = {"prediction": [i % 2]}
            if proba:
                outputs["proba_0"] = [0.3 + 0.4 * (1 - i % 2)]
                outputs["proba_1"] = [1 - outputs["proba_0"][0]]
            inputs = {"age": [30 + i % 7], "credit_amount": [1000.0 + i]}
            parts.append(logrows.records(f"req-{i}", when, (model, "1"), inputs, outputs, 0.01))
        buffer = io.BytesIO()
        pq.write_table(logtable.table(parts), buffer)
        day = (DAY0 + timedelta(days=d)).date()
        _put(f"predictions/{model}/date={day}/080000-{uuid.uuid4().hex}.parquet", buffer.getvalue())


def _labels(model: str, days: int, precision: float) -> str:
    """Labels a day after each prediction; `precision` of each day's positives are right."""
    lines = ["request_id,label,time"]
    for d in range(days):
        positives = [i for i in range(d * PER_DAY, (d + 1) * PER_DAY) if i % 2]
        right = round(precision * len(positives))
        when = (DAY0 + timedelta(days=d + 1)).isoformat()
        lines += [f"req-{i},{1 if k < right else 0},{when}" for k, i in enumerate(positives)]
        lines += [f"req-{i},0,{when}" for i in range(d * PER_DAY, (d + 1) * PER_DAY, 2)]
    lines.append(f"req-unknown,1,{DAY0.isoformat()}")  # counted, not used
    key = f"labels/{model}/{uuid.uuid4().hex}/labels.csv"
    _put(key, "\n".join(lines).encode())
    return f"s3://{BUCKET}/{key}"


def _run(cli, model: str, precision: float):
    _write_log(model, 3)
    params = {
        "current_uri": GERMAN_CREDIT,
        "reference_uri": GERMAN_CREDIT,  # no drift: live performance alone decides
        "retrain_data_uri": GERMAN_CREDIT,
        "model_name": model,
        "labels_uri": _labels(model, 3, precision),
        "predictions_uri": f"s3://{BUCKET}/predictions/{model}/",
        "performance_start_date": "2026-11-01",
        "performance_end_date": "2026-11-03",
        "performance_bounds": json.dumps({"precision": 0.85}),
        "performance_min_labels_per_day": "10",
        "prediction_drift_alias": "",  # no champion here: judge every version, as before
    }
    args = [a for k, v in params.items() for a in ("-p", f"{k}={v}")]
    code, out, err = cli("run-local", "monitoring", "--output", "json", *args)
    return code, json.loads(out), err


def _ran(summary) -> set[str]:
    outputs = Path(summary["run_dir"]) / "outputs"
    return {p.parent.name for p in outputs.glob("*/*/executor_output.json")}


def test_monitoring_live_precision_below_bound_3_days_retrains_without_drift(cli):
    model = "perf-below-bound"
    code, summary, err = _run(cli, model, precision=0.6)
    assert code == 0, summary["error"]
    assert summary["drifted"] is False and summary["live_performance_failed"] is True
    assert summary["retrained"] is True and summary["blessed"] is True
    assert summary["outcome"] == "live performance below bound → retrained: blessed (model v1)"
    live = summary["gates"]["live_performance"]
    assert live["passed"] is False
    assert live["reasons"] == [
        "precision below 0.85 on each of the last 3 judged days (min_days 3); "
        "last day 2026-11-03: 0.6000"
    ]
    assert live["metrics"]["precision_days_below_bound"] == 3.0
    assert live["report"]["counts"]["unknown_labels"] == 1
    assert live["report"]["counts"]["used_labels"] == 60
    assert {"check-performance", "train-model", "register-model"} <= _ran(summary)
    assert "▶ check live performance" in err
    html = next(Path(summary["run_dir"]).glob("outputs/*/check-performance/report_html"))
    assert html.read_text().count("<svg") == 5
    run_id = _run_id(summary)
    records = {r.gate: r for r in read_gate_records(run_id)}
    assert records["live_performance"].passed is False
    assert records["live_performance"].model == model
    assert "precision 0.6000 (bound 0.85, 3 day(s) below)" in records["live_performance"].line


def _run_id(summary) -> str:
    """The run id kfp.local gave PIPELINE_JOB_ID_PLACEHOLDER, as the run's log shows it."""
    log = (Path(summary["run_dir"]) / "run.log").read_text()
    return re.search(r'"kfp_run_id": "([^"]+)"', log)[1]


def test_monitoring_live_performance_within_bounds_nothing_retrained(cli):
    code, summary, _ = _run(cli, "perf-within-bounds", precision=1.0)
    assert code == 0, summary["error"]
    assert summary["drifted"] is False and summary["live_performance_failed"] is False
    assert summary["retrained"] is False and summary["model"] is None
    assert summary["outcome"] == "no drift; live performance within bounds"
    assert summary["gates"]["live_performance"]["passed"] is True
    assert "train-model" not in _ran(summary)


def test_monitoring_labels_prefix_without_a_file_yet_cannot_judge_yet_and_succeeds(cli):
    model = "perf-no-labels-yet"
    _write_log(model, 1)
    prefix = f"s3://{BUCKET}/labels/{model}-{uuid.uuid4().hex[:8]}/"
    code, summary, _ = run_json(
        cli,
        f"current_uri={GERMAN_CREDIT}",
        f"reference_uri={GERMAN_CREDIT}",
        f"model_name={model}",
        f"labels_uri={prefix}",
        f"predictions_uri=s3://{BUCKET}/predictions/{model}/",
    )
    assert code == 0, summary["error"]
    live = summary["gates"]["live_performance"]
    assert live["passed"] is False and live["report"]["cannot_judge"] is True
    assert live["reasons"] == [
        f"cannot judge yet: no labels under {prefix} (no CSV or Parquet file there); the gate "
        "judges once labels arrive there"
    ]
    assert summary["retrained"] is False and "train-model" not in _ran(summary)
    assert summary["live_performance_failed"] is None  # neither failed nor within bounds
    assert summary["outcome"] == "no drift; live performance cannot be judged"
    assert "judged: nothing" in (Path(summary["run_dir"]) / "run.log").read_text()


def test_labels_read_from_an_s3_prefix_of_csv_and_parquet_parts(stack):
    from components.check_performance.read import read_labels

    prefix = f"labels/prefix-{uuid.uuid4().hex[:8]}/"
    _put(prefix + "2026-11-01.csv", b"request_id,label\nreq-1,1\nreq-2,0\n")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"request_id": ["req-3"], "label": [1]}), buffer)
    _put(prefix + "2026-11-02.parquet", buffer.getvalue())
    _put(prefix + "notes.txt", b"not labels")
    labels = read_labels(f"s3://{BUCKET}/{prefix}")
    assert labels.to_dict("list") == {
        "request_id": ["req-1", "req-2", "req-3"],
        "label": [1, 0, 1],
        "schema_version": ["", "", ""],  # none declared: unversioned (see docs/labels.md)
    }


def test_monitoring_labels_without_request_id_fail_naming_the_columns_and_the_format(cli):
    model = "perf-bad-labels"
    _write_log(model, 1)
    key = f"labels/{model}/{uuid.uuid4().hex}/labels.csv"
    _put(key, b"id,label\nreq-0,1\n")
    code, summary, _ = run_json(
        cli,
        f"current_uri={GERMAN_CREDIT}",
        f"reference_uri={GERMAN_CREDIT}",
        f"model_name={model}",
        f"labels_uri=s3://{BUCKET}/{key}",
        f"predictions_uri=s3://{BUCKET}/predictions/{model}/",
    )
    assert code == 1 and summary["failed_task"] == "check-performance"
    assert (
        "the labels file lacks column(s) ['request_id']; it has ['id', 'label']"
        in (summary["error"])
    )
    assert "a labels file holds request_id, label[, time][, row]" in summary["error"]
    assert summary["retrained"] is False


def test_monitoring_roc_auc_bound_on_a_log_without_probabilities_fails_naming_the_columns(cli):
    model = "perf-no-proba"
    _write_log(model, 3, proba=False)
    code, summary, _ = run_json(
        cli,
        f"current_uri={GERMAN_CREDIT}",
        f"reference_uri={GERMAN_CREDIT}",
        f"model_name={model}",
        f"labels_uri={_labels(model, 3, 1.0)}",
        f"predictions_uri=s3://{BUCKET}/predictions/{model}/",
        'performance_bounds={"accuracy": 0.7, "roc_auc": 0.7}',
    )
    # Not "within bounds": the step fails, naming what the log lacks and the way out.
    assert code == 1 and summary["failed_task"] == "check-performance"
    assert "the roc_auc bound needs the model's probabilities" in summary["error"]
    assert "lacks ['proba_0', 'proba_1']" in summary["error"]
    assert "or drop roc_auc from the bounds" in summary["error"]
    assert summary["retrained"] is False
