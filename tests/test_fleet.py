"""The fleet pipeline's parts without a run: report rows, refusals, the compiled spec, retries.

tests/test_fleet_run.py runs the pipeline for real.
"""

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
from pipelines.descriptors import compiled_path


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
    limits = {t["taskInfo"]["name"]: t["iteratorPolicy"]["parallelismLimit"] for t in loops}
    assert limits == {"each model": 8, "each shard": 16}  # a body may shard its drift step
    loops = [t for t in loops if t["taskInfo"]["name"] == "each model"]
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


def test_the_fleet_notification_is_not_a_blessing():
    from components.notify.core import FAILED as RUN_FAILED
    from components.notify.core import SUCCEEDED_PLAIN, Verdict, final_status

    line = Verdict("fleet", True, "2 models, 0 drifted, 0 below bounds")
    assert final_status("SUCCEEDED", "monitoring-fleet", [line]) == SUCCEEDED_PLAIN
    assert final_status("FAILED", "monitoring-fleet", [line]) == RUN_FAILED


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
