"""The compiled training pipeline, run for real with kfp.local against the embedded stack.

Scenarios: (a) German credit → blessed and registered as champion; (b) data that fails
validation → the run fails naming the expectation; (c) a model that fails the fairness gate
→ completes, exit 3, nothing registered; (d) a second run → champion/challenger compared.
"""

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import GERMAN_CREDIT, REPO

PARAMS = REPO / "examples" / "training-german-credit.yaml"


def _registered_versions(name):
    from mlflow import MlflowClient

    return MlflowClient().search_model_versions(f"name = '{name}'")


def run_json(cli, *args):
    code, out, err = cli(
        "run-local", "training", "--params", str(PARAMS), "--output", "json", *args
    )
    return code, json.loads(out), err


def test_training_german_credit_blessed_registered_then_compared_with_champion(cli, stack):
    model = "german-credit-pipeline-test"
    code, first, err = run_json(cli, "-p", f"data_uri={GERMAN_CREDIT}", "-p", f"model_name={model}")
    assert code == 0, first["error"]
    assert first["status"] == "succeeded" and first["blessed"] is True
    assert all(first["gates"][g]["passed"] for g in ("validation", "evaluation", "fairness"))
    assert first["model"]["name"] == model and first["model"]["version"] == 1
    assert set(first["model"]["aliases"]) >= {"champion"}
    assert first["gates"]["evaluation"]["report"]["first_run"] is True
    assert "▶ train model" in err and "✓ register model" in err  # per-task progress

    from mlflow import MlflowClient

    version = MlflowClient().get_model_version_by_alias(model, "champion")
    assert version.tags["dataset_sha256"] == hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()
    assert version.tags["dataset_uri"] == str(GERMAN_CREDIT)
    assert version.tags["dataset_rows"] == "1000"
    digest = hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()
    stored = f"dataset://{model}@sha256:{digest}"  # the snapshot, stored as a version
    assert version.tags["dataset_version"] == stored
    assert version.tags["gate_evaluation"] and version.tags["gate_fairness"]
    assert version.tags["kfp_run_id"] and version.tags["validation_suite_sha256"]

    # (d) a second run on the same data, with the human summary this time: compared with
    # the champion the first run registered, and, the same data, parameters and code giving
    # the same model file, not registered twice.
    code, out, _ = cli(
        "run-local",
        "training",
        "--params",
        str(PARAMS),
        "-p",
        f"data_uri={GERMAN_CREDIT}",
        "-p",
        f"model_name={model}",
    )
    assert code == 0, out
    assert "Pipeline training: SUCCEEDED" in out and "model blessed and registered" in out
    assert "vs champion v1" in out  # the comparison, in the evaluation gate's reasons
    assert f"{model} version 1 (aliases: challenger, champion)" in out
    assert "MLflow UI  http://127.0.0.1:" in out
    second = json.loads(
        (Path(out.split("artifacts  ")[1].split("/outputs")[0]) / "summary.json").read_text()
    )
    evaluation = second["gates"]["evaluation"]["report"]
    assert evaluation["first_run"] is False and int(evaluation["champion_version"]) == 1
    assert evaluation["delta"] == pytest.approx(0.0, abs=1e-12)  # same data, same seed: same model
    # Compared on the rows neither model trained on: the same seed, so all 250 test rows.
    assert evaluation["comparison"] == "compared" and int(evaluation["compared_rows"]) == 250
    assert "compared on 250 of 250 test rows: 0 were in champion v1's training set" in out
    assert len(_registered_versions(model)) == 1  # the repeated run returned v1
    assert second["model"]["version"] == 1
    log = (Path(out.split("(log: ")[1].split(")")[0])).read_text()
    assert "already registered as v1 (same model file and lineage)" in log
    from components._shared.datasets import store

    (manifest,) = store.versions(model)  # the same bytes twice: one version, stored once
    assert manifest["reference"] == stored and manifest["sources"][0]["uri"] == str(GERMAN_CREDIT)
    assert manifest["rows"] == 1000 and manifest["created_by"]

    # Credentials never reach a log, the params, an artifact or a summary of these runs.
    secrets = [os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_ACCESS_KEY_ID"]]
    files = [p for p in (stack.home / "runs").rglob("*") if p.is_file()]
    assert len(files) > 20
    assert [str(p) for p in files for s in secrets if s.encode() in p.read_bytes()] == []


def test_training_data_failing_validation_fails_naming_the_expectation(cli, tmp_path):
    bad = pd.read_csv(GERMAN_CREDIT)
    bad.loc[:9, "sex"] = "unknown"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    code, summary, _ = run_json(
        cli, "-p", f"data_uri={path}", "-p", "model_name=never-registered-validation"
    )
    assert code == 1 and summary["status"] == "failed"
    assert summary["failed_task"] == "validate-data"
    assert "expect_column_values_to_be_in_set" in summary["error"] and "sex" in summary["error"]
    assert "10" in summary["error"]  # the unexpected count
    assert summary["model"] is None and _registered_versions("never-registered-validation") == []


def test_training_unfair_model_rejected_exit_3_nothing_registered(cli):
    model = "never-registered-fairness"
    code, summary, _ = run_json(
        cli,
        "-p",
        f"data_uri={GERMAN_CREDIT}",
        "-p",
        f"model_name={model}",
        "-p",
        "max_demographic_parity_difference=0.0001",
    )
    assert code == 3, summary["error"]
    assert summary["status"] == "succeeded" and summary["blessed"] is False
    assert summary["gates"]["fairness"]["passed"] is False
    assert summary["gates"]["evaluation"]["passed"] is True
    assert summary["model"] is None and _registered_versions(model) == []


def test_run_local_missing_data_uri_fails_naming_the_uri(cli, tmp_path):
    missing = tmp_path / "nope.csv"
    code, summary, _ = run_json(cli, "-p", f"data_uri={missing}")
    assert code == 1 and summary["failed_task"] == "load-data"
    assert str(missing) in summary["error"] and "no such file" in summary["error"]


def test_run_local_unknown_parameter_is_a_usage_error(cli):
    code, _out, err = cli("run-local", "training", "-p", "min_acuracy=0.9")
    assert code == 2 and "unknown parameter 'min_acuracy' for pipeline training" in err
