"""The compiled monitoring pipeline, run for real with kfp.local against the embedded stack.

Scenarios: (1) current data like the reference → no drift, exit 0, no training task ran;
(2) strongly shifted current data → drifted → the training sub-pipeline retrains on
retrain_data_uri, registers a champion, exit 0; (3) no reference_uri → the reference is that
champion's training snapshot (its dataset_uri tag); (4) that snapshot overwritten in S3 → the
run fails on its content hash (the champion's dataset_sha256 tag), nothing compared or
registered. Two full training runs in all.
"""

import hashlib
import io
import json
import uuid
from pathlib import Path

import pandas as pd
import pytest

from components._shared.io import s3_client, upload_file
from tests.conftest import GERMAN_CREDIT
from tests.webhook_receiver import WebhookReceiver

TRAINING_TASKS = ("load-data-3", "validate-data", "train-model", "evaluate-model", "register-model")


def run_json(cli, *params):
    args = [arg for p in params for arg in ("-p", p)]
    code, out, err = cli("run-local", "monitoring", "--output", "json", *args)
    return code, json.loads(out), err


def _ran(summary) -> set[str]:
    outputs = Path(summary["run_dir"]) / "outputs"
    return {p.parent.name for p in outputs.glob("*/*/executor_output.json")}


@pytest.fixture
def webhook_env(monkeypatch):
    """A real webhook receiver the run's notify step posts to (tests/webhook_receiver.py)."""
    receiver = WebhookReceiver()
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    yield receiver
    receiver.close()


def test_monitoring_same_data_no_drift_exit_0_nothing_retrained(cli, webhook_env):
    code, summary, err = run_json(
        cli,
        f"current_uri={GERMAN_CREDIT}",
        f"reference_uri={GERMAN_CREDIT}",
        "model_name=monitoring-no-drift",
    )
    assert code == 0, summary["error"]
    assert summary["status"] == "succeeded" and summary["drifted"] is False
    assert summary["outcome"] == "no drift" and summary["retrained"] is False
    drift = summary["gates"]["drift"]
    assert drift["passed"] is True and drift["metrics"]["drift_share"] == 0.0
    assert drift["report"]["columns_drifted"] == []
    assert summary["reference_uri"] == str(GERMAN_CREDIT)
    assert all(summary["gates"][g] is None for g in ("validation", "evaluation", "fairness"))
    assert summary["model"] is None and summary["blessed"] is None
    body = {
        "resolve-reference",
        "load-data",
        "load-data-2",
        "detect-drift",
        "check-performance",  # no labels_uri: it passes the drift verdict on, skipped
    }
    assert _ran(summary) == body | {"notify"}  # the exit task runs whatever the body did
    assert summary["gates"]["live_performance"] is None
    assert summary["live_performance_failed"] is None
    assert "▶ detect drift" in err and "▶ train model" not in err
    (posted,) = webhook_env.requests
    assert posted["body"]["text"] == "✅ monitoring (monitoring-no-drift): succeeded, no drift"
    assert "✓ drift: " in posted["body"]["blocks"][1]["text"]["text"]


def _shifted(path: Path, purpose: bool = False) -> Path:
    """German credit with 5 columns shifted (6 with `purpose`), written to `path`."""
    frame = pd.read_csv(GERMAN_CREDIT)
    frame["credit_amount"] = frame["credit_amount"] * 3 + 5000
    frame["duration"] = frame["duration"] + 40
    frame["age"] = frame["age"] + 30
    frame["housing"] = "free"
    frame["saving_accounts"] = "rich"
    if purpose:
        frame["purpose"] = "business"
    frame.to_csv(path, index=False)
    return path


def test_monitoring_drift_retrains_registers_then_champion_lineage_is_the_reference(
    cli, tmp_path, webhook_env
):
    model = "monitoring-retrain"
    code, out, _ = cli(
        "run-local",
        "monitoring",
        "-p",
        f"current_uri={_shifted(tmp_path / 'shifted.csv')}",
        "-p",
        f"reference_uri={GERMAN_CREDIT}",
        "-p",
        f"retrain_data_uri={GERMAN_CREDIT}",
        "-p",
        f"model_name={model}",
    )
    assert code == 0, out
    assert "Pipeline monitoring: SUCCEEDED" in out
    assert "drifted → retrained: blessed (model v1)" in out
    assert "drift       DRIFTED" in out and f"{model} version 1" in out
    assert "▶ train model" in out and "✓ register model" in out  # text mode: progress on stdout
    summary = json.loads(
        (Path(out.split("artifacts  ")[1].split("/outputs")[0]) / "summary.json").read_text()
    )
    assert summary["drifted"] is True and summary["retrained"] is True
    assert summary["blessed"] is True
    drift = summary["gates"]["drift"]
    assert drift["passed"] is False and drift["metrics"]["drift_share"] >= 0.5
    shifted = {"credit_amount", "duration", "age", "housing"}
    assert shifted <= set(drift["report"]["columns_drifted"])
    assert drift["prediction_drifted"] is None  # no champion yet: no model to compare with
    assert all(summary["gates"][g]["passed"] for g in ("validation", "evaluation", "fairness"))
    assert summary["model"]["name"] == model and "champion" in summary["model"]["aliases"]
    assert set(TRAINING_TASKS) <= _ran(summary)
    # One run, one notification: the retrain is the training steps, without their handler.
    (posted,) = webhook_env.requests
    assert posted["body"]["text"] == f"✅ monitoring ({model}): succeeded, blessed"
    lines = posted["body"]["blocks"][1]["text"]["text"].splitlines()
    assert [line.split(":")[0] for line in lines[:5]] == [
        "✗ drift", "✓ novelty", "✓ validation", "✓ evaluation", "✓ fairness",
    ]  # fmt: skip
    assert "✓ novelty: no champion yet: training the first one" in lines

    from mlflow import MlflowClient

    champion = MlflowClient().get_model_version_by_alias(model, "champion")
    assert champion.tags["dataset_uri"] == str(GERMAN_CREDIT)

    # (3) No reference_uri: the champion's training snapshot, stored as a version, is the
    # reference.
    code, again, _ = run_json(cli, f"current_uri={GERMAN_CREDIT}", f"model_name={model}")
    assert code == 0, again["error"]
    digest = hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()
    assert again["reference_uri"] == champion.tags["dataset_version"]
    assert champion.tags["dataset_version"] == f"dataset://{model}@sha256:{digest}"
    assert again["outcome"] == "no drift" and again["model"] is None
    # Now a champion exists: its predictions on both datasets are compared too.
    assert again["gates"]["drift"]["prediction_drifted"] is False
    # Same data, 1000 reference rows: the KS p-value of the predictions is exactly 1.
    assert again["gates"]["drift"]["metrics"]["prediction_score"] == 1.0


def test_monitoring_drift_retrain_rejected_exit_3_nothing_registered(cli, tmp_path):
    model = "monitoring-rejected"
    code, summary, _ = run_json(
        cli,
        f"current_uri={_shifted(tmp_path / 'shifted.csv')}",
        f"reference_uri={GERMAN_CREDIT}",
        f"retrain_data_uri={GERMAN_CREDIT}",
        f"model_name={model}",
        "min_accuracy=0.99",  # no model of this data reaches it: the evaluation gate rejects
    )
    assert code == 3, summary["error"]
    assert summary["status"] == "succeeded"
    assert summary["outcome"] == "drifted → retrained: rejected"
    assert summary["drifted"] is True and summary["retrained"] is True
    assert summary["blessed"] is False and summary["model"] is None
    assert summary["gates"]["evaluation"]["passed"] is False
    from mlflow import MlflowClient

    assert MlflowClient().search_registered_models(f"name = '{model}'") == []


def test_monitoring_without_champion_or_reference_fails_saying_what_to_give(cli):
    code, summary, _ = run_json(
        cli, f"current_uri={GERMAN_CREDIT}", "model_name=monitoring-never-trained"
    )
    assert code == 1 and summary["failed_task"] == "resolve-reference"
    assert "give reference_uri or train a champion first" in summary["error"]


def test_monitoring_champion_snapshot_overwritten_fails_naming_both_hashes(cli):
    from mlflow import MlflowClient

    from components._shared.datasets import store

    model = "monitoring-pinned"
    data_uri = f"s3://kfp-mlops-data/tests/{uuid.uuid4().hex[:8]}/german_credit.csv"
    upload_file(GERMAN_CREDIT, data_uri)
    code, out, _ = cli(
        "run-local", "training", "-p", f"data_uri={data_uri}", "-p", f"model_name={model}"
    )
    assert code == 0, out
    client = MlflowClient()
    champion = client.get_model_version_by_alias(model, "champion")
    recorded = champion.tags["dataset_sha256"]
    assert recorded == hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()

    # Someone rewrites the champion's stored training data in place: one value changed.
    stored = champion.tags["dataset_version"]
    changed = GERMAN_CREDIT.read_bytes().replace(b"\n1,", b"\n0,", 1)
    bucket, _, key = store.resolve(stored)[0].removeprefix("s3://").partition("/")
    s3_client().put_object(bucket, key, io.BytesIO(changed), len(changed))
    versions_before = client.search_model_versions(f"name = '{model}'")

    code, summary, _ = run_json(cli, f"current_uri={GERMAN_CREDIT}", f"model_name={model}")
    assert code == 1 and summary["status"] == "failed"
    assert summary["failed_task"] == "load-data"  # the reference snapshot: nothing compared
    error = summary["error"]
    assert f"the bytes of {stored} at s3://{bucket}/{key} no longer match their hash" in error
    assert hashlib.sha256(changed).hexdigest() in error and recorded in error
    assert "Re-add the original file" in error
    assert "detect-drift" not in _ran(summary)
    after = client.search_model_versions(f"name = '{model}'")
    assert [v.version for v in after] == [v.version for v in versions_before] == ["1"]
    assert client.get_model_version_by_alias(model, "champion").version == champion.version
