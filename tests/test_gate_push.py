"""What gates push to a real Pushgateway: labels, values equal to the run's metrics, reruns.

A real training run (the session's `gated_training_run`) pushes the validation, evaluation
and fairness figures; the drift and fairness components, called directly, show that a rerun
replaces its series (a column that disappears disappears) and that a Pushgateway that is
down or hangs costs a warning, never the verdict.
"""

import time
import urllib.request

import numpy as np
import pandas as pd
import pytest
from kfp import dsl

from components._shared.io import write_parquet
from components._shared.verdicts import pushgateway as pg
from components._shared.verdicts.pushgateway import GateFigures, Series
from tests.conftest import GATED_MODEL, free_port
from tests.real_pushgateway import SilentPeer

TRAINING_GATES = ("validation", "evaluation", "fairness")


def by_name(samples, name, **labels):
    """Values of the samples called `name` whose labels include `labels`."""
    return [v for n, got, v in samples if n == name and labels.items() <= got.items()]


def pushed_columns(samples):
    return {labels["column"] for n, labels, _ in samples if n == "kfp_mlops_drift_column_score"}


def one(samples, name, **labels):
    (value,) = by_name(samples, name, **labels)
    return value


# --- a real training run ---------------------------------------------------------------------


def test_training_run_pushes_every_gate_with_its_labels_and_the_run_metrics(
    gated_training_run, pushgateway
):
    code, summary, _ = gated_training_run
    assert code == 0, summary["error"]
    model = GATED_MODEL
    samples = pushgateway.samples()
    for gate in TRAINING_GATES:
        labels = {"job": pg.GATE_JOB, "pipeline": "training", "model": model, "gate": gate}
        passed = summary["gates"][gate]["passed"]
        assert one(samples, "kfp_mlops_gate_passed", **labels) == (1.0 if passed else 0.0)
        assert one(samples, "kfp_mlops_gate_duration_seconds", **labels) > 0
        stamp = one(samples, "kfp_mlops_gate_last_run_timestamp_seconds", **labels)
        assert time.time() - 600 < stamp <= time.time()

    def metric(gate, name):
        return one(samples, "kfp_mlops_gate_metric", model=model, gate=gate, metric=name)

    def bound(gate, name, kind):
        return one(
            samples, "kfp_mlops_gate_threshold", model=model, gate=gate, metric=name, bound=kind
        )

    numbers = {g: summary["gates"][g]["metrics"] for g in TRAINING_GATES}
    assert (
        metric("validation", "expectations_evaluated")
        == numbers["validation"]["expectations_evaluated"]
    )
    assert metric("validation", "rows") == numbers["validation"]["rows"] == 1000
    for name in ("accuracy", "f1", "roc_auc"):
        assert metric("evaluation", name) == pytest.approx(numbers["evaluation"][name])
    assert metric("evaluation", "latency_p95_seconds") == pytest.approx(
        numbers["evaluation"]["latency_p95_ms"] / 1000
    )
    assert bound("evaluation", "accuracy", "min") == 0.7  # the pipeline's min_accuracy
    assert bound("evaluation", "latency_p95_seconds", "max") == pytest.approx(0.1)
    assert metric("fairness", "demographic_parity_difference") == pytest.approx(
        numbers["fairness"]["demographic_parity_difference"]
    )
    assert bound("fairness", "demographic_parity_difference", "max") == 0.1
    unset = {"gate": "fairness", "metric": "equalized_odds_difference"}
    assert by_name(samples, "kfp_mlops_gate_threshold", **unset) == []  # an unset bound
    # Per feature and per group, with the labels that name them.
    assert one(
        samples, "kfp_mlops_fairness_feature_disparity", model=model, feature="sex",
        metric="demographic_parity_difference",
    ) == pytest.approx(numbers["fairness"]["demographic_parity_difference_sex"])  # fmt: skip
    groups = {
        labels["group"]
        for name, labels, _ in samples
        if name == "kfp_mlops_fairness_group_rate" and labels["model"] == model
    }
    assert groups == {"female", "male"}


def test_monitoring_run_pushes_drift_per_column_with_the_run_metrics(
    gated_monitoring_run, pushgateway
):
    code, summary, _ = gated_monitoring_run
    assert code == 0, summary["error"]
    assert summary["drifted"] is True and summary["retrained"] is True
    samples = pushgateway.samples()
    labels = {"pipeline": "monitoring", "model": GATED_MODEL, "gate": "drift"}
    assert one(samples, "kfp_mlops_gate_passed", **labels) == 0.0
    numbers = summary["gates"]["drift"]["metrics"]
    scores = {
        got["column"]: value
        for name, got, value in samples
        if name == "kfp_mlops_drift_column_score" and labels.items() <= got.items()
    }
    expected = {k.removeprefix("score_"): v for k, v in numbers.items() if k.startswith("score_")}
    assert scores == pytest.approx(expected) and len(scores) >= 9
    drifted = {
        got["column"]
        for name, got, value in samples
        if name == "kfp_mlops_drift_column_drifted" and value == 1.0 and got["gate"] == "drift"
    }
    assert drifted == set(summary["gates"]["drift"]["report"]["columns_drifted"])
    methods = {got["method"] for name, got, _ in samples if name == "kfp_mlops_drift_column_score"}
    assert methods <= {"ks", "chisquare", "z", "wasserstein", "jensenshannon"} and methods
    assert one(samples, "kfp_mlops_gate_metric", metric="drift_share", **labels) == (
        pytest.approx(numbers["drift_share"])
    )
    # The champion's predictions were compared too (the training run registered it).
    assert one(samples, "kfp_mlops_gate_metric", metric="prediction_score", **labels) == (
        pytest.approx(numbers["prediction_score"])
    )
    # The retrain's gates push as the training pipeline's, under the same model.
    retrain = {"pipeline": "training", "model": GATED_MODEL}
    assert one(samples, "kfp_mlops_gate_passed", gate="fairness", **retrain) == 1.0


# --- direct pushes: grouping, bad names, the success-only group ------------------------------


@pytest.fixture
def pushing(pushgateway, monkeypatch):
    monkeypatch.setenv(pg.PUSHGATEWAY_ENV, pushgateway.url)
    monkeypatch.setenv(pg.PIPELINE_ENV, "unit")
    pushgateway.wipe()
    return pushgateway


def column_series(columns):
    return [
        Series("kfp_mlops_drift_column_score", "score", {"column": c, "method": "ks"}, 0.5)
        for c in columns
    ]


def test_push_gate_rerun_replaces_its_series_and_a_column_that_disappears_disappears(pushing):
    figures = GateFigures("drift", "m", True, {"drift_share": 0.1}, series=column_series("abc"))
    assert pg.push_gate(figures) is True
    before = pushing.samples()
    assert pg.push_gate(figures) is True
    assert sorted(pushing.samples(), key=repr) != [] and len(pushing.samples()) == len(before)
    figures.series = column_series("ab")
    pg.push_gate(figures)
    assert pushed_columns(pushing.samples()) == {"a", "b"}
    # Another model's group is its own: pushing it leaves model m's series alone.
    pg.push_gate(GateFigures("drift", "other", False))
    assert by_name(pushing.samples(), "kfp_mlops_gate_passed", model="m") == [1.0]


def test_push_gate_refuses_a_series_name_outside_the_project_prefix(pushing):
    for name in ("drift_score", "kfp_mlops_drift:score"):
        bad = GateFigures("drift", "m", True, series=[Series(name, "x", {}, 1.0)])
        with pytest.raises(ValueError, match=f"metric name '{name}': expected kfp_mlops_"):
            pg.push_gate(bad)
    assert pushing.samples() == []


def test_pipeline_end_failure_keeps_the_last_success_time(pushing):
    assert pg.push_pipeline_end("monitoring", "m", succeeded=True, blessed=None,
                                duration_seconds=3.0, now=1000.0)  # fmt: skip
    assert pg.push_pipeline_end("monitoring", "m", succeeded=False, blessed=False,
                                duration_seconds=4.0, now=2000.0)  # fmt: skip
    samples = pushing.samples()
    assert one(samples, "kfp_mlops_pipeline_last_success_timestamp_seconds",
               job=pg.SUCCESS_JOB, pipeline="monitoring", model="m") == 1000.0  # fmt: skip
    assert one(samples, "kfp_mlops_pipeline_last_run_timestamp_seconds", model="m") == 2000.0
    assert one(samples, "kfp_mlops_pipeline_last_run_succeeded", job=pg.PIPELINE_JOB) == 0.0
    assert one(samples, "kfp_mlops_pipeline_last_run_blessed", model="m") == 0.0


def test_no_address_pushes_nothing(pushgateway, monkeypatch):
    pushgateway.wipe()
    monkeypatch.setenv(pg.PUSHGATEWAY_ENV, "  ")
    assert pg.push_gate(GateFigures("drift", "m", True)) is False
    assert pg.push_pipeline_end("training", "m", succeeded=True, blessed=True,
                                duration_seconds=1.0) is False  # fmt: skip
    assert pushgateway.samples() == []


# --- the components themselves: rerun, down, hung -------------------------------------------


def drift_frames(columns, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.normal(0, 1, 300) for c in columns})


def run_drift(tmp_path, columns, run_id=""):
    reference, current = (dsl.Dataset(uri=str(tmp_path / n)) for n in ("ref", "cur"))
    write_parquet(drift_frames(columns, 0), reference.path)
    write_parquet(drift_frames(columns, 1).assign(**{columns[0]: 3.0}), current.path)
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    from components.detect_drift import component

    drifted = component.detect_drift.python_func(
        reference=reference, current=current, columns=[], method="ks", drift_share=0.5,
        thresholds={}, column_methods={}, model_name="drift-push", model_alias="",
        kfp_run_id=run_id, metrics=metrics, report=dsl.Markdown(uri=str(tmp_path / "r")),
        report_html=dsl.HTML(uri=str(tmp_path / "h")),
    )  # fmt: skip
    return drifted, metrics.metadata


def test_drift_component_pushes_each_column_and_a_rerun_replaces_them(pushing, tmp_path):
    drifted, numbers = run_drift(tmp_path / "1", ["a", "b", "c", "d"])
    samples = pushing.samples()
    labels = {"pipeline": "unit", "model": "drift-push", "gate": "drift"}
    assert one(samples, "kfp_mlops_gate_passed", **labels) == (0.0 if drifted else 1.0)
    for column in "abcd":
        assert one(samples, "kfp_mlops_drift_column_score", column=column, method="ks") == (
            pytest.approx(numbers[f"score_{column}"])
        )
    assert one(samples, "kfp_mlops_drift_column_drifted", column="a", method="ks") == 1.0
    assert one(samples, "kfp_mlops_gate_metric", metric="drift_share", **labels) == (
        pytest.approx(numbers["drift_share"])
    )
    assert one(samples, "kfp_mlops_gate_threshold", metric="drift_share", bound="max") == 0.5

    run_drift(tmp_path / "2", ["a", "b", "c", "d"])  # the same run again: replaced
    assert len(pushing.samples()) == len(samples)
    run_drift(tmp_path / "3", ["a", "b"])  # columns c and d are gone from the data
    assert pushed_columns(pushing.samples()) == {"a", "b"}


def run_fairness(tmp_path):
    from components.check_fairness import component
    from tests.test_check_fairness import german_credit_predictions

    return component.check_fairness.python_func(
        predictions=german_credit_predictions(tmp_path), sensitive_features=["sex"],
        max_demographic_parity_difference=0.1, max_equalized_odds_difference=-1.0,
        positive_label="", model_name="fair-push", kfp_run_id="",
        metrics=dsl.Metrics(uri=str(tmp_path / "m")), report=dsl.Markdown(uri=str(tmp_path / "r")),
    )  # fmt: skip


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("where", ["down", "hung"])
def test_gate_keeps_its_verdict_when_the_pushgateway_is_down_or_hangs(
    where, pushgateway, tmp_path, monkeypatch, capfd
):
    pushgateway.wipe()
    monkeypatch.setenv(pg.PUSHGATEWAY_ENV, pushgateway.url)
    expected = run_fairness(tmp_path / "ok")
    assert by_name(pushgateway.samples(), "kfp_mlops_gate_passed", model="fair-push") != []
    capfd.readouterr()

    peer = SilentPeer() if where == "hung" else None
    monkeypatch.setenv(pg.PUSHGATEWAY_ENV, peer.url if peer else closed_port_url())
    monkeypatch.setattr(pg, "PUSH_TIMEOUT_S", 1.0)  # the contract's 5 s, shortened for the test
    started = time.monotonic()
    try:
        assert run_fairness(tmp_path / where) is expected
    finally:
        if peer:
            peer.close()
    elapsed = time.monotonic() - started
    err = capfd.readouterr().err
    assert "warning: metrics not pushed to http://127.0.0.1:" in err
    if where == "hung":
        assert "timed out" in err and elapsed >= 1.0
    assert elapsed < 1.0 + 10  # the timeout bounds the wait (the gate's own work aside)


def test_pushgateway_answers_its_own_metrics_page(pushgateway):
    with urllib.request.urlopen(f"{pushgateway.url}/metrics", timeout=5) as answer:
        assert answer.status == 200
