"""The fleet pipeline (monitoring-fleet): its report, its refusals, its spec, and one real run.

The run: three models registered directly in the stack's MLflow (a champion whose training
snapshot is a small CSV in S3, no model files: prediction drift is off), each with a prediction
log of the last days in the server's layout. `fleet-same` logs data like its reference (no
drift), `fleet-shifted` shifted data (drift; no labels, so no training set: the retrain is
skipped), `fleet-broken`'s champion lacks its snapshot's hash (its body fails in resolve
reference). One kfp.local run over the three, with a real Pushgateway.
"""

import hashlib
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from components._shared.errors import ConfigError
from components._shared.verdicts.gate_records import FLEET_ENV, GateRecord
from components.fleet_report.core import (
    FAILED,
    NO_DRIFT_RECORD,
    PASSED,
    REJECTED,
    RETRAINED,
    SKIPPED,
    model_metrics,
    model_row,
    summary_line,
)
from components.fleet_report.render import render_html, render_markdown
from components.list_models.core import MAX_MODELS, fleet_models
from kfp_mlops.serve import logrows, logtable
from pipelines.descriptors import compiled_path
from tests.conftest import GERMAN_CREDIT, _gated_run
from tests.webhook_receiver import WebhookReceiver

BUCKET = "kfp-mlops-data"


def rec(gate: str, passed: bool, line: str = "", **metrics) -> GateRecord:
    return GateRecord(gate=gate, passed=passed, line=line or gate, metrics=metrics)


TRAINED = [rec("validation", True), rec("evaluation", True), rec("fairness", True)]


@pytest.mark.parametrize(
    ("records", "versions", "labels", "outcome", "retrain"),
    [
        ([rec("drift", True, drift_share=0.1), rec("live_performance", True)], [], True,
         PASSED, "not needed"),
        ([rec("drift", False, drift_share=0.6), rec("novelty", False, "nothing new")], [], False,
         SKIPPED, "skipped: nothing new"),
        ([rec("drift", False), rec("novelty", True), *TRAINED], [3], False,
         RETRAINED, "retrained, blessed, registered v3"),
        ([rec("drift", True), rec("live_performance", False), rec("novelty", True),
          rec("validation", True), rec("evaluation", False, "accuracy 0.6 < 0.7")], [], True,
         REJECTED, "retrained, not blessed: evaluation: accuracy 0.6 < 0.7"),
        ([rec("drift", True), rec("live_performance", False, cannot_judge=1.0)], [], True,
         PASSED, "not needed"),  # no labels yet: no retrain, and not a failure
        ([], [], False, FAILED, NO_DRIFT_RECORD),
        ([rec("drift", True)], [], True, FAILED, "failed in the live performance check"),
        ([rec("drift", False)], [], False, FAILED,
         "failed before the novelty check finished (building the set?)"),
        ([rec("drift", False), rec("novelty", True), rec("validation", True)], [], False,
         FAILED, "failed in training, before the evaluation gate finished"),
        ([rec("drift", False), rec("novelty", True), *TRAINED], [], False,
         FAILED, "blessed but not registered (the register step failed)"),
    ],
)  # fmt: skip
def test_model_row_outcomes(records, versions, labels, outcome, retrain):
    row = model_row("m", records, versions, labels_expected=labels)
    assert (row.outcome, row.retrain) == (outcome, retrain)


def test_report_shows_every_model_failed_ones_too_and_escapes():
    rows = [
        model_row("ok", [rec("drift", True, drift_share=0.0)], [], False),
        model_row("<b>x</b>", [], [], False),
        model_row("new", [rec("drift", False, drift_share=0.75), rec("novelty", True), *TRAINED],
                  [2], False),
    ]  # fmt: skip
    line = summary_line(rows)
    assert line == "3 models, 1 drifted, 0 below bounds, 1 retrained, 1 failed (<b>x</b>)"
    md = render_markdown(rows, "run r1", "s3://b/runs/r1/models/")
    assert md.count("\n| ") == 4  # the header and three rows
    assert "| new | retrained | drifted | 0.7500 |" in md and "v2 |" in md
    page = render_html(rows, "run r1", "http://ui/#/runs/details/r1")
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert page.count('<tr class="failed"') == 1 and 'href="http://ui/#/runs/details/r1"' in page
    metrics = model_metrics(rows)
    assert metrics["new.drift_share"] == 0.75 and metrics["<b>x</b>.failed"] == 1.0


def _no_search(*_):
    raise AssertionError("the registry is not asked for an explicit list")


def test_list_models_items_and_refusals():
    items = fleet_models(["a", "b"], "", "s3://p/predictions", "s3://p/labels/", _no_search)
    assert items[1] == {
        "model_name": "b",
        "predictions_uri": "s3://p/predictions/b/",
        "labels_uri": "s3://p/labels/b/",
    }
    assert fleet_models(["a"], "", "s3://p/", "", _no_search)[0]["labels_uri"] == ""
    with pytest.raises(ConfigError, match="not both"):
        fleet_models(["a"], "name LIKE 'a%'", "s3://p/", "", _no_search)
    with pytest.raises(ConfigError, match=r"pass model_names .* or registry_filter"):
        fleet_models([], " ", "s3://p/", "", _no_search)
    with pytest.raises(ConfigError, match=r"\['a'\] appear more than once"):
        fleet_models(["a", "a"], "", "s3://p/", "", _no_search)
    many = [f"m{i}" for i in range(MAX_MODELS + 1)]
    with pytest.raises(ConfigError, match=r"201 models: .* at most 200 .*#12131.*split the fleet"):
        fleet_models(many, "", "s3://p/", "", _no_search)
    with pytest.raises(ConfigError, match="over 201 models"):
        fleet_models([], "name LIKE 'm%'", "s3://p/", "", lambda f, limit: many[: limit + 1])
    with pytest.raises(ConfigError, match="no registered model matches"):
        fleet_models([], "name LIKE 'zz%'", "s3://p/", "", lambda f, limit: [])


def test_another_parallelism_compiles_in_and_a_bad_one_is_refused(tmp_path):
    from kfp import compiler

    from pipelines.monitoring_fleet import build

    path = tmp_path / "fleet-32.yaml"
    compiler.Compiler().compile(build(parallelism=32), str(path))
    assert "parallelismLimit: 32" in path.read_text()
    for bad in (0, MAX_MODELS + 1):
        with pytest.raises(ValueError, match=f"parallelism {bad}: expected 1..200"):
            build(parallelism=bad)


def test_compiled_spec_carries_the_parallelism_and_the_fleet_env():
    spec = next(yaml.safe_load_all(compiled_path("monitoring-fleet").read_text()))
    loops = [
        t for c in spec["components"].values() for t in c.get("dag", {}).get("tasks", {}).values()
        if "iteratorPolicy" in t
    ]  # fmt: skip
    assert [t["iteratorPolicy"]["parallelismLimit"] for t in loops] == [8]
    assert loops[0]["parameterIterator"]["items"]["inputParameter"].endswith("list-models-Output")
    executors = spec["deploymentSpec"]["executors"]
    fleet = {n for n, e in executors.items() if {"name": FLEET_ENV, "value": "1"} in
             e["container"].get("env", [])}  # fmt: skip
    # Every task of the per-model body (retrain included), none of the fleet's own.
    assert "exec-detect-drift" in fleet and "exec-register-model" in fleet
    assert not {"exec-list-models", "exec-fleet-report", "exec-notify"} & fleet
    report = spec["root"]["dag"]["tasks"]["exit-handler-1"]
    inner = spec["components"][report["componentRef"]["name"]]["dag"]["tasks"]["fleet-report"]
    assert inner["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"


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


def test_the_fleet_notification_is_not_a_blessing():
    from components.notify.core import FAILED as RUN_FAILED
    from components.notify.core import SUCCEEDED_PLAIN, Verdict, final_status

    line = Verdict("fleet", True, "2 models, 0 drifted, 0 below bounds")
    assert final_status("SUCCEEDED", "monitoring-fleet", [line]) == SUCCEEDED_PLAIN
    assert final_status("FAILED", "monitoring-fleet", [line]) == RUN_FAILED


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


def test_retries_keep_the_output_of_concurrent_iterations_apart(monkeypatch):
    """kfp.local runs ParallelFor iterations two at a time: each retry decision reads its own."""
    import threading

    from kfp.local import status, task_dispatcher

    from kfp_mlops.runs import retries
    from tests.test_first_hour import _output

    both_printing = threading.Barrier(2, timeout=10)
    calls: list[str] = []

    def fake(*args, component_name: str, **kwargs):
        first = component_name not in calls
        calls.append(component_name)
        if not first:
            return {}, status.Status.SUCCESS
        cls = "ServiceError" if component_name == "comp-service" else "DataError"
        both_printing.wait()
        print(_output(cls, "down"))
        both_printing.wait()  # each has printed before either decides
        return {}, status.Status.FAILURE

    monkeypatch.setattr(task_dispatcher, "run_single_task_implementation", fake)
    monkeypatch.setattr("sys.stdout", __import__("io").StringIO())
    policy = retries.Policy(retries=1, backoff_s=0, factor=2, max_s=1)
    retries.install({"comp-service": policy, "comp-data": policy}, sleep=lambda _: None)
    states = {}

    def run(name: str) -> None:
        states[name] = task_dispatcher.run_single_task_implementation(component_name=name)[1]

    threads = [threading.Thread(target=run, args=(n,)) for n in ("comp-service", "comp-data")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert states == {"comp-service": status.Status.SUCCESS, "comp-data": status.Status.FAILURE}
    assert sorted(calls) == ["comp-data", "comp-service", "comp-service"]
