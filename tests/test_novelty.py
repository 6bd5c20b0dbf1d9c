"""One new version per real change: check_novelty, idempotent registration, a skipped retrain.

Pure comparisons first (each field that differs trains, naming it; all equal skips); the
content hash shared with load_data; registration of the same model file and lineage twice
(real MLflow) gives one version; and one monitoring run through kfp.local on a champion
trained on the same retrain_data_uri, parameters and code: drift is found, the retrain is
skipped, nothing is registered, and the summary and the notification say why.
"""

import hashlib
import json
import uuid

import pandas as pd
import pytest

from components._shared.errors import ConfigError, DataError
from components._shared.io.content_hash import content_sha256
from components.check_novelty.core import (
    NO_DATA,
    Candidate,
    ChampionLineage,
    check_parameters,
    decide,
    flat_hyperparameters,
)
from components.check_novelty.signals import figures_of, record_of, render_markdown
from components.load_data.core import snapshot
from components.notify.core import NOTHING_NEW, Verdict, build_notification
from tests.conftest import GERMAN_CREDIT

SHA = "a" * 64
# MLflow's signature inference hints at integer columns; the sample is what it is.
HINT = pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer:UserWarning")
PARAMS = {"estimator": "hist_gradient_boosting", "target_column": "risk", "test_size": 0.25}
PARAMS |= {"random_seed": 42}
CODE = {"package_version": "1.2.3", "git_commit": "abc", "image": "img:1.2.3"}


def champion(**tags) -> ChampionLineage:
    recorded = {"dataset_sha256": SHA, "parameters": json.dumps(PARAMS | {"min_rows": 100})}
    return ChampionLineage(3, recorded | CODE | tags, {"hp.max_depth": "3"})


def candidate(**changes) -> Candidate:
    fields = {
        "dataset_sha256": SHA,
        "parameters": dict(PARAMS),
        "hyperparameters": {"max_depth": 3},
        "code": dict(CODE),
    }
    return Candidate(**(fields | changes))


# -- the comparison (pure) ------------------------------------------------------------------


def test_novelty_all_equal_skips_saying_nothing_new_with_the_hash_and_version():
    novelty = decide(candidate(), champion())
    assert novelty.train is False and novelty.kind == "nothing_new"
    assert novelty.reason == (
        "nothing new to learn from: same data (sha256 aaaaaaaaaaaa), parameters and code as "
        "champion v3"
    )


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"dataset_sha256": "b" * 64}, "data (sha256 aaaaaaaaaaaa → bbbbbbbbbbbb)"),
        ({"parameters": PARAMS | {"estimator": "random_forest"}}, "estimator"),
        ({"parameters": PARAMS | {"target_column": "label"}}, "target_column"),
        ({"parameters": PARAMS | {"test_size": 0.3}}, "test_size (0.25 → 0.3)"),
        ({"parameters": PARAMS | {"random_seed": 7}}, "random_seed (42 → 7)"),
        ({"hyperparameters": {"max_depth": 4}}, "hyperparameters"),
        ({"hyperparameters": {}}, "hyperparameters"),
        ({"code": CODE | {"package_version": "1.2.4"}}, "package_version (1.2.3 → 1.2.4)"),
        ({"code": CODE | {"git_commit": "def"}}, "git_commit (abc → def)"),
        ({"code": CODE | {"image": "img:2"}}, "image (img:1.2.3 → img:2)"),
    ],
)
def test_novelty_each_field_that_differs_trains_naming_it(changes, named):
    novelty = decide(candidate(**changes), champion())
    assert novelty.train is True and novelty.kind == "new"
    assert len(novelty.differences) == 1 and named in novelty.differences[0]
    assert named in novelty.reason and "champion v3" in novelty.reason


def test_novelty_thresholds_are_not_compared_and_numbers_compare_by_value():
    # KFP hands ints over as floats; a gate threshold (min_rows) only judges a model.
    params = PARAMS | {"random_seed": 42.0, "min_rows": 5000, "min_accuracy": 0.99}
    assert decide(candidate(parameters=params), champion()).train is False


def test_novelty_no_training_set_and_no_champion():
    assert (decide(None, champion()).train, decide(None, champion()).reason) == (False, NO_DATA)
    first = decide(candidate(), None)
    assert first.train is True and first.kind == "no_champion"


@pytest.mark.parametrize(
    ("tags", "hps", "said"),
    [
        ({"dataset_sha256": None}, {}, "no dataset_sha256 tag"),
        ({"git_commit": None}, {}, "no git_commit tag"),
        ({"parameters": "unknown"}, {}, "no parameters tag"),
        ({"parameters": "{not json"}, {}, "its parameters tag is not JSON"),
        ({"parameters": json.dumps({"estimator": "x"})}, {}, "record no target_column"),
        ({}, None, "its run's hyperparameters"),
    ],
)
def test_novelty_unreadable_champion_lineage_trains_saying_what(tags, hps, said):
    old = champion(**tags)
    kept = {k: v for k, v in old.tags.items() if v is not None}
    hyper = old.hyperparameters if hps is not None else None
    novelty = decide(candidate(), ChampionLineage(3, kept, hyper))
    assert novelty.train is True and novelty.kind == "unreadable"
    assert said in novelty.reason and "retraining" in novelty.reason


def test_novelty_missing_parameter_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="parameters lack random_seed"):
        check_parameters({k: v for k, v in PARAMS.items() if k != "random_seed"})


def test_novelty_hyperparameters_flatten_as_register_model_logs_them():
    flat = flat_hyperparameters({"max_depth": 3, "loss": "log_loss", "nested": {"a": True}})
    assert flat == {"hp.max_depth": "3", "hp.loss": "log_loss", "hp.nested.a": "true"}


def test_novelty_says_its_reason_in_report_record_and_pushed_series():
    skipped = decide(candidate(), champion())
    figures = figures_of(skipped, "m")
    assert figures.gate == "novelty" and figures.passed is False
    (series,) = figures.series
    assert series.name == "kfp_mlops_retrain_skipped" and series.value == 1.0
    assert series.labels == {"reason": "nothing_new"}
    assert record_of(skipped, "m", "monitoring").line == skipped.reason
    report = render_markdown(skipped, "s3://b/k.csv", SHA)
    assert "retrain skipped" in report and "nothing new to learn from" in report
    assert figures_of(decide(candidate(), None), "m").series[0].value == 0.0


def test_notification_of_a_skipped_retrain_says_nothing_new():
    skipped = Verdict("novelty", False, "nothing new to learn from: same data ...")
    gates = [Verdict("drift", False, "drifted"), skipped]
    note = build_notification(
        state="SUCCEEDED", pipeline="monitoring", model="m", run_id="r", gates=gates
    )
    assert note.status == NOTHING_NEW == "succeeded, nothing new to learn from"
    assert note.blessed is None


def test_notification_of_a_retrain_skipped_for_want_of_a_training_set_does_not_say_nothing_new():
    from components.check_novelty.core import NO_DATA
    from components.notify.core import RETRAIN_SKIPPED

    gates = [Verdict("drift", False, "drifted"), Verdict("novelty", False, NO_DATA)]
    note = build_notification(
        state="SUCCEEDED", pipeline="monitoring", model="m", run_id="r", gates=gates
    )
    assert note.status == RETRAIN_SKIPPED == "succeeded, retrain skipped"


# -- the content hash load_data records, computed without a copy -----------------------------


def test_content_hash_is_load_datas_for_a_file_and_a_folder(tmp_path):
    assert (
        content_sha256(str(GERMAN_CREDIT)) == hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()
    )
    frame = pd.read_csv(GERMAN_CREDIT)
    folder = tmp_path / "parts"
    for i in range(3):
        (folder / f"date=2026-01-0{i + 1}").mkdir(parents=True)
        frame.iloc[i * 100 : (i + 1) * 100].to_parquet(
            folder / f"date=2026-01-0{i + 1}" / "p.parquet"
        )
    assert content_sha256(str(folder)) == snapshot(str(folder), tmp_path / "s.parquet").sha256
    with pytest.raises(DataError, match="no such file"):
        content_sha256(str(tmp_path / "missing.csv"))


# -- registration: the same model file and lineage twice is one version (real MLflow) -------


@pytest.mark.stack
@HINT
def test_register_same_model_file_and_lineage_twice_is_one_version(stack, tmp_path):
    from tests.test_register_model import artifacts, client, run, unique

    credit = pd.read_csv(GERMAN_CREDIT).head(300)
    model = unique("novelty-twice")
    inputs = artifacts(tmp_path, credit, model_name=model)
    first = run(tmp_path, inputs)
    assert first["meta"]["version"] == 1 and "champion" in first["meta"]["aliases"]
    # Another run (another KFP run id) with the very same file and lineage.
    second = run(tmp_path, inputs | {"kfp_run_id": f"run-{uuid.uuid4().hex[:8]}"})
    assert second["meta"]["registered"] is True and second["meta"]["version"] == 1
    assert second["meta"]["reason"].startswith(
        "already registered as v1 (same model file and lineage); v1 already is the champion"
    )
    assert sorted(second["meta"]["aliases"]) == ["challenger", "champion"]
    assert [v.version for v in client().search_model_versions(f"name = '{model}'")] == ["1"]
    # Another lineage (a parameter changed) with the same file is a new version.
    changed = inputs | {"parameters": {"test_size": 0.3, "estimator": "hist_gradient_boosting"}}
    third = run(tmp_path, changed | {"kfp_run_id": f"run-{uuid.uuid4().hex[:8]}"})
    assert third["meta"]["version"] == 2


# -- a monitoring run whose retrain would learn nothing new (kfp.local) ----------------------


@pytest.mark.stack
@HINT
def test_monitoring_drift_with_nothing_new_skips_the_retrain_and_says_so(
    cli, tmp_path, monkeypatch
):
    from mlflow import MlflowClient

    from tests.test_pipeline_monitoring import _ran, _shifted, run_json
    from tests.webhook_receiver import WebhookReceiver

    model = f"novelty-skip-{uuid.uuid4().hex[:6]}"
    # Latency is judged on a shared machine: a generous bound (it shapes no model).
    slow_ok = "max_latency_ms=10000"
    code, out, _ = cli(
        "run-local", "training", "-p", f"data_uri={GERMAN_CREDIT}", "-p", f"model_name={model}",
        "-p", slow_ok,
    )  # fmt: skip
    assert code == 0, out
    receiver = WebhookReceiver()
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    try:
        code, summary, err = run_json(
            cli,
            f"current_uri={_shifted(tmp_path / 'shifted.csv')}",
            f"reference_uri={GERMAN_CREDIT}",
            f"retrain_data_uri={GERMAN_CREDIT}",
            f"model_name={model}",
            slow_ok,
        )
    finally:
        receiver.close()
    assert code == 0, summary["error"]
    assert summary["drifted"] is True and summary["retrained"] is False
    sha = hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()
    reason = (
        f"nothing new to learn from: same data (sha256 {sha[:12]}), parameters and code as "
        "champion v1"
    )
    assert summary["outcome"] == f"drifted → retrain skipped: {reason}"
    novelty = summary["gates"]["novelty"]
    assert novelty["passed"] is False and novelty["reasons"] == [reason]
    assert "check-novelty" in _ran(summary) and "train-model" not in _ran(summary)
    assert "▶ check novelty" in err and "▶ train model" not in err
    assert [v.version for v in MlflowClient().search_model_versions(f"name = '{model}'")] == ["1"]
    (posted,) = receiver.requests
    assert (
        posted["body"]["text"] == f"✅ monitoring ({model}): succeeded, nothing new to learn from"
    )
    assert f"✗ novelty: {reason}" in posted["body"]["blocks"][1]["text"]["text"]
