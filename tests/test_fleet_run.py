"""The fleet pipeline run for real: kfp.local over three models on the stack, a real Pushgateway.

Three models registered directly in the stack's MLflow (a champion whose training snapshot is
a small CSV in S3, no model files: prediction drift is off), each with a prediction log of the
last days in the server's layout. `fleet-same` logs data like its reference (no drift),
`fleet-shifted` shifted data (drift; no labels, so no training set: the retrain is skipped),
`fleet-broken`'s champion lacks its snapshot's hash (its body fails in resolve reference). One
run over the three; then what it reported, notified and pushed.
"""

import hashlib
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from components._shared.verdicts.gate_records import FLEET_ENV
from components.fleet_report.core import FAILED, NO_DRIFT_RECORD, PASSED, SKIPPED
from kfp_mlops.serve import logrows, logtable
from tests.conftest import GERMAN_CREDIT, _gated_run
from tests.webhook_receiver import WebhookReceiver

BUCKET = "kfp-mlops-data"

COLUMNS = ["age", "credit_amount", "duration", "sex", "purpose"]


def _put(key: str, body: bytes) -> str:
    from components._shared.io import s3_client

    client = s3_client()
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    client.put_object(BUCKET, key, io.BytesIO(body), len(body))
    return f"s3://{BUCKET}/{key}"


def _champion(name: str, reference: bytes, pinned: bool) -> None:
    """A registered model whose champion's training snapshot is `reference` (no model file)."""
    from mlflow import MlflowClient

    uri = _put(f"tests/fleet/{name}/reference.csv", reference)
    tags = {"dataset_uri": uri}
    if pinned:
        tags["dataset_sha256"] = hashlib.sha256(reference).hexdigest()
    client = MlflowClient()
    client.create_registered_model(name)
    version = client.create_model_version(name, source="s3://mlflow/no-model", tags=tags)
    client.set_registered_model_alias(name, "champion", version.version)


def _log(prefix: str, name: str, frame: pd.DataFrame) -> None:
    """Two days of the last week in the server's log layout, a part a day."""
    now = datetime.now(UTC)
    for back, part in ((1, frame.iloc[::2]), (2, frame.iloc[1::2])):
        when = now - timedelta(days=back)
        inputs = {c: part[c].tolist() for c in COLUMNS}
        rows = logrows.records(
            f"req-{back}", when, (name, "1"), inputs, {"prediction": [0] * len(part)}, 0.01
        )
        buffer = io.BytesIO()
        pq.write_table(logtable.table([rows]), buffer)
        key = f"{prefix}{name}/date={when.date()}/080000-{uuid.uuid4().hex}.parquet"
        _put(key, buffer.getvalue())


@pytest.fixture(scope="module")
def fleet_run(stack, pushgateway):
    """One fleet run over three models: no drift, drift (retrain skipped), a broken champion."""
    tag = uuid.uuid4().hex[:6]
    names = [f"fleet-same-{tag}", f"fleet-broken-{tag}", f"fleet-shifted-{tag}"]
    credit = pd.read_csv(GERMAN_CREDIT).head(400)
    reference = credit.to_csv(index=False).encode()
    shifted = credit.assign(age=credit["age"] + 25, credit_amount=credit["credit_amount"] * 4,
                            duration=credit["duration"] * 3)  # fmt: skip
    prefix = f"tests/fleet-{tag}/predictions/"
    pins = (True, False, True)  # the broken one's champion lacks dataset_sha256
    for name, frame, pinned in zip(names, (credit, credit, shifted), pins, strict=True):
        _champion(name, reference, pinned)
        _log(prefix, name, frame)
    pushgateway.wipe()
    receiver = WebhookReceiver()
    code, summary = _gated_run(
        stack, pushgateway, "monitoring-fleet",
        "-p", f"model_names={json.dumps(names)}",
        "-p", f"predictions_prefix=s3://{BUCKET}/{prefix}",
        "-p", f"drift_columns={json.dumps(COLUMNS)}",
        "-p", "prediction_drift_alias=",
        webhook=receiver,
    )  # fmt: skip
    posted = list(receiver.requests)
    receiver.close()
    return code, summary, names, pushgateway.samples(), posted


def test_fleet_run_reports_every_model_the_failed_one_too(fleet_run):
    code, summary, (same, broken, shifted), _, posted = fleet_run
    assert code == 1 and summary["status"] == "failed"  # a body failed: so did the run
    rows = {r["model"]: r for r in summary["models"]}
    assert list(rows) == [same, broken, shifted]  # the order given
    assert rows[same]["outcome"] == PASSED and rows[same]["drift"] == "no drift"
    assert rows[broken]["outcome"] == FAILED
    assert rows[broken]["retrain"] == NO_DRIFT_RECORD
    assert rows[shifted]["outcome"] == SKIPPED and rows[shifted]["drift"] == "drifted"
    assert rows[shifted]["drift_share"] == 0.6  # 3 of the 5 columns
    assert rows[shifted]["retrain"].startswith("skipped: ")
    assert (
        summary["line"]
        == f"3 models, 1 drifted, 0 below bounds, 1 retrain skipped, 1 failed ({broken})"
    )
    # One notification for the fleet, none per model; it carries the report's line.
    (message,) = posted
    assert message["body"]["text"].startswith("❌ monitoring-fleet (fleet): failed")
    assert summary["line"] in json.dumps(message["body"], ensure_ascii=False)


FLEET_SIZE, SERIES_GOAL = 200, 5000


def test_fleet_pushes_are_bounded_per_model_without_column_detail(fleet_run):
    """Counted from what the run pushed to a real Pushgateway, projected to 200 models."""
    _, _, (same, broken, shifted), samples, _ = fleet_run
    per_model: dict[str, int] = {}
    for name, labels, _ in samples:
        assert not {"column", "feature", "group"} & set(labels), (name, labels)
        per_model[labels["model"]] = per_model.get(labels["model"], 0) + 1
    # drift: verdict, time, drift_share, columns_drifted, its bound (5); novelty: verdict,
    # time, retrain_skipped (3); each model's run end as a monitoring run's: succeeded, time,
    # success time (3; a failed body: 2); the fleet run's own end (3).
    assert per_model == {same: 8, shifted: 11, broken: 2, "fleet": 3}
    assert max(per_model.values()) * FLEET_SIZE + per_model["fleet"] <= SERIES_GOAL
    ends = {
        (labels["model"], name): value
        for name, labels, value in samples
        if labels.get("pipeline") == "monitoring" and name.startswith("kfp_mlops_pipeline_last")
    }
    # What KfpMlopsPipelineFailed and KfpMlopsMonitoringNotRunning watch, per fleet model.
    assert ends[(broken, "kfp_mlops_pipeline_last_run_succeeded")] == 0.0
    assert ends[(same, "kfp_mlops_pipeline_last_run_succeeded")] == 1.0
    assert (same, "kfp_mlops_pipeline_last_success_timestamp_seconds") in ends
    assert (broken, "kfp_mlops_pipeline_last_success_timestamp_seconds") not in ends


def test_a_fleet_drift_push_is_per_model_not_per_column(pushgateway, monkeypatch):
    """The same drift verdict pushed by the real push code, in a monitoring run and in a fleet.

    Outside a fleet the gate pushes 3 series per compared column: 200 models of 10 columns
    would hold 200 * 40 drift series; in a fleet each model's drift gate holds 10, whatever
    its width, and leaves out the counts behind the share (5 series: verdict, time,
    drift_share, columns_drifted, its bound).
    """
    from components._shared.verdicts.pushgateway import PUSHGATEWAY_ENV, push_gate
    from components.detect_drift.core import detect_drift
    from components.detect_drift.signals import figures_of

    credit = pd.read_csv(GERMAN_CREDIT)
    shifted = credit.assign(age=credit["age"] + 25)
    result = detect_drift(credit, shifted, model=None)
    monkeypatch.setenv(PUSHGATEWAY_ENV, pushgateway.url)
    counts = {}
    for fleet in ("", "1"):
        monkeypatch.setenv(FLEET_ENV, fleet)
        pushgateway.wipe()
        assert push_gate(figures_of(result, "width-test", 0.5))
        counts[fleet] = len(pushgateway.samples())
    columns = len(credit.columns)
    assert counts == {"": 10 + 3 * columns, "1": 5}
    print(f"drift gate series per model: {counts['']} (monitoring), {counts['1']} (fleet)")


def test_registry_lookups_of_a_fleet(fleet_run):
    """registry_filter's search and the versions a run registered, on the stack's MLflow."""
    from mlflow import MlflowClient

    from components._shared.errors import ServiceError
    from components._shared.registry.fleet import search_model_names, versions_of_run

    names = fleet_run[2]
    tag = names[0].rsplit("-", 1)[1]
    assert search_model_names(f"name LIKE 'fleet-%-{tag}'", 200) == sorted(names)
    assert search_model_names(f"name LIKE 'fleet-%-{tag}'", 1) == sorted(names)[:2]  # cap + 1
    with pytest.raises(ServiceError, match="while listing models matching"):
        search_model_names("name LIKEWISE 'x'", 200)
    MlflowClient().create_model_version(
        names[0], source="s3://mlflow/no-model", tags={"kfp_run_id": f"run-{tag}"}
    )
    assert versions_of_run(names[0], f"run-{tag}") == [2]
    assert versions_of_run(names[0], "another-run") == []
