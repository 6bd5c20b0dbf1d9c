"""Bad parameters, targets, features and suites: each gets a clear error and changes nothing.

Parameter and suite mistakes are usage errors: `kfp-mlops run-local` exits 2 before any task
runs. Mistakes only the data reveals go through the component (or its core), and two through
a full pipeline run. Every case that reaches the stack compares the S3 buckets and the MLflow
registry before and after.
"""

import json

import numpy as np
import pandas as pd
import pytest
from kfp import dsl

from components._shared.errors import DataError
from components._shared.io import write_parquet
from tests.conftest import GERMAN_CREDIT, REPO

PARAMS = REPO / "examples" / "training-german-credit.yaml"
WAY_OUT = "Set it with -p"


def store_state() -> dict:
    """Every object in every bucket and every registered model and version, with their tags.

    Gate records (`runs/<run id>/gates/`) are left out: a run that a gate stops writes the
    gate's verdict there by design (tests/test_gate_records.py), a report beside what was
    stored, never a change to it. So are dataset versions (`datasets/`): load_data stores what
    it read, create-only and content-addressed, before any gate judges it — the input as it
    was, not a change to anything stored; that every version there is whole (its bytes and
    its manifest, never one without the other) is checked here instead.
    """
    from mlflow import MlflowClient

    from components._shared.io import s3_client

    s3 = s3_client()
    objects = {
        b.name: sorted(
            (o.object_name, o.etag, o.size)
            for o in s3.list_objects(b.name, recursive=True)
            if not o.object_name.startswith(("runs/", "datasets/"))
        )
        for b in s3.list_buckets()
    }
    _check_versions_whole(s3)
    registry = MlflowClient()
    models = sorted(
        (m.name, sorted(m.aliases.items()), sorted(m.tags.items()))
        for m in registry.search_registered_models()
    )
    versions = sorted(
        (v.name, v.version, v.source, sorted(v.tags.items()), sorted(v.aliases))
        for v in registry.search_model_versions()
    )
    return {"objects": objects, "models": models, "versions": versions}


def _check_versions_whole(s3) -> None:
    """Every dataset version folder holds its data and its manifest (nothing half-written)."""
    folders: dict[str, set[str]] = {}
    for o in s3.list_objects("kfp-mlops-data", prefix="datasets/", recursive=True):
        folder, _, leaf = o.object_name.rpartition("/")
        if "/sha256=" in f"/{folder}":
            folders.setdefault(folder, set()).add(leaf.partition(".")[0])
    broken = {f: sorted(leaves) for f, leaves in folders.items() if leaves != {"data", "manifest"}}
    assert not broken, f"dataset versions half-written: {broken}"


@pytest.fixture(scope="module")
def seeded(stack):
    """A stack with data in S3 and a registered champion, so a loss would show."""
    from mlflow import MlflowClient

    from components._shared.io import upload_file

    upload_file(GERMAN_CREDIT, "s3://kfp-mlops-data/bad-inputs/german_credit.csv")
    registry = MlflowClient()
    registry.create_registered_model("bad-inputs-guard", tags={"owner": "test_bad_inputs"})
    version = registry.create_model_version(
        "bad-inputs-guard", "s3://mlflow/bad-inputs/model", tags={"model_sha256": "0" * 64}
    )
    registry.set_registered_model_alias("bad-inputs-guard", "champion", version.version)
    return stack


@pytest.fixture
def before(seeded):
    """The store as it was when the test started (compare with store_state() at its end)."""
    return store_state()


def runs_of(stack) -> list:
    """The run folders run-local created: one appears as soon as a task may run."""
    runs = stack.home / "runs"
    return sorted(runs.iterdir()) if runs.exists() else []


def test_store_state_sees_a_new_object_and_a_moved_alias(seeded, tmp_path):
    from mlflow import MlflowClient

    from components._shared.io import upload_file

    start = store_state()
    assert start["objects"]["kfp-mlops-data"] and start["versions"]
    (tmp_path / "x.csv").write_text("a\n1\n")
    upload_file(tmp_path / "x.csv", "s3://kfp-mlops-data/bad-inputs/scratch/x.csv")
    assert store_state() != start
    moved = store_state()
    registry = MlflowClient()
    second = registry.create_model_version("bad-inputs-guard", "s3://mlflow/bad-inputs/model2")
    registry.set_registered_model_alias("bad-inputs-guard", "champion", second.version)
    assert store_state() != moved
    registry.set_registered_model_alias("bad-inputs-guard", "champion", "1")


SUITE_UNKNOWN_TYPE = {
    "name": "typo",
    "expectations": [{"type": "expect_colum_to_exist", "kwargs": {"column": "age"}}],
}
SUITE_BAD_KWARGS = {
    "name": "bad-kwargs",
    "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "mostly": 2}}
    ],
}

# (pipeline, -p overrides, fragments the message must hold: the parameter, its value, the
# accepted range or names, and the way out)
USAGE_CASES = {
    "test_size_above_one": ("training", ["test_size=1.5"], ["test_size=1.5", "(0, 1)"]),
    "test_size_zero": ("training", ["test_size=0"], ["test_size=0.0", "(0, 1)"]),
    "max_regression_nan": (
        "training",
        ["max_regression=.nan"],
        ["max_regression=NaN", "not a finite number", "[0, 1], or below 0 to unset it"],
    ),
    "min_accuracy_minus_infinity": (
        "training",
        ["min_accuracy=-.inf"],
        ["min_accuracy=-Infinity", "not a finite number"],
    ),
    "min_accuracy_above_one": (
        "training",
        ["min_accuracy=1.5"],
        ["min_accuracy=1.5", "out of range", "[0, 1]"],
    ),
    "parity_bound_above_one": (
        "training",
        ["max_demographic_parity_difference=2"],
        ["max_demographic_parity_difference=2.0", "[0, 1]"],
    ),
    "max_latency_infinite": ("training", ["max_latency_ms=.inf"], ["max_latency_ms=Infinity"]),
    "min_rows_zero": ("training", ["min_rows=0"], ["min_rows=0", "[1, inf]"]),
    "random_seed_negative": ("training", ["random_seed=-1"], ["random_seed=-1", "[0, 4294967295]"]),
    "unknown_estimator": (
        "training",
        ["estimator=xgboost"],
        ['estimator="xgboost"', "not a known estimator", "'random_forest'"],
    ),
    "unknown_primary_metric": (
        "training",
        ["primary_metric=precision"],
        ['primary_metric="precision"', "['accuracy', 'f1', 'roc_auc']"],
    ),
    "empty_sensitive_features": (
        "training",
        ["sensitive_features=[]"],
        ["sensitive_features=[]", "is empty", "one or more"],
    ),
    "blank_sensitive_feature": (
        "training",
        ['sensitive_features=["sex", " "]'],
        ["sensitive_features=", "not column names"],
    ),
    "empty_target_column": ("training", ["target_column="], ['target_column=""', "is empty"]),
    "nan_inside_hyperparameters": (
        "training",
        ['hyperparameters={"learning_rate": .nan}'],
        ["hyperparameters=", "learning_rate=nan"],
    ),
    "unknown_hyperparameter": (
        "training",
        ['hyperparameters={"max_depht": 3}'],
        ["hyperparameters=", "'max_depht'", "'max_depth'"],
    ),
    "string_for_a_number": (
        "training",
        ["min_accuracy=high"],
        ["min_accuracy must be double, got str", '"high"'],
    ),
    "suite_not_a_suite": (
        "training",
        ['suite={"expectations": "all of them"}'],
        ["suite=", "non-list 'expectations'", "suite.to_json_dict()"],
    ),
    "suite_unknown_expectation_type": (
        "training",
        [f"suite={json.dumps(SUITE_UNKNOWN_TYPE)}"],
        ["'expect_colum_to_exist'", "did you mean 'expect_column_to_exist'"],
    ),
    "suite_bad_kwargs": (
        "training",
        [f"suite={json.dumps(SUITE_BAD_KWARGS)}"],
        ["expect_column_values_to_be_between", "mostly", "less than or equal to 1"],
    ),
    "drift_share_zero": ("monitoring", ["drift_share=0"], ["drift_share=0.0", "(0, 1]"]),
    "unknown_drift_method": (
        "monitoring",
        ["drift_method=kolmogorov"],
        ['drift_method="kolmogorov"', "'ks'", "'psi'"],
    ),
    "infinite_drift_threshold": (
        "monitoring",
        ['drift_thresholds={"age": .inf}'],
        ["drift_thresholds=", "age=inf"],
    ),
    "data_uri_unsupported_scheme": (
        "training",
        ["data_uri=gs://bucket/german_credit.csv"],
        ['data_uri="gs://bucket/german_credit.csv"', "unsupported scheme 'gs://'", "s3://"],
    ),
    "data_uri_s3_without_key": (
        "training",
        ["data_uri=s3://kfp-mlops-data"],
        ['data_uri="s3://kfp-mlops-data"', "no bucket and key"],
    ),
    "current_uri_http": (
        "monitoring",
        ["current_uri=http://example.com/data.csv"],
        ["current_uri=", "unsupported scheme 'http://'"],
    ),
    "reference_uri_unsupported_scheme": (
        "monitoring",
        ["reference_uri=hdfs://nn/ref.parquet"],
        ["reference_uri=", "unsupported scheme 'hdfs://'"],
    ),
    "current_day_not_a_day": (
        "monitoring",
        ["current_start_date=2026-13-01"],
        ['current_start_date="2026-13-01"', "not a date like 2026-11-30"],
    ),
    "current_window_backwards": (
        "monitoring",
        ["current_start_date=2026-11-30", "current_end_date=2026-11-01"],
        ["current_start_date=", "is after end_date 2026-11-01; swap them"],
    ),
    "current_days_with_last_days": (
        "monitoring",
        ["current_start_date=2026-11-01", "current_last_days=7"],
        ["either last_days", "not both"],
    ),
    "current_last_days_negative": (
        "monitoring",
        ["current_last_days=-1"],
        ["current_last_days=-1", "[0, 3660]"],
    ),
    "performance_bound_unknown_metric": (
        "monitoring",
        ['performance_bounds={"precission": 0.85}'],
        ["performance_bounds=", "unknown live performance metric(s) ['precission']", "'precision'"],
    ),
    "performance_bound_out_of_range": (
        "monitoring",
        ['performance_bounds={"precision": 85}'],
        ["performance_bounds=", "not numbers in [0, 1]"],
    ),
    "monitoring_shares_training_rules": (
        "monitoring",
        ["test_size=1.5"],
        ["test_size=1.5", "(0, 1)"],
    ),
}


@pytest.mark.parametrize("case", sorted(USAGE_CASES))
def test_bad_parameter_exits_2_before_any_task_and_changes_nothing(case, cli, seeded, before):
    pipeline, overrides, fragments = USAGE_CASES[case]
    runs = runs_of(seeded)
    args = [arg for override in overrides for arg in ("-p", override)]
    code, out, err = cli("run-local", pipeline, *args)
    assert code == 2, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert WAY_OUT in err or "unknown parameter" in err
    assert out == "" and runs_of(seeded) == runs
    assert store_state() == before


def test_unknown_parameter_name_exits_2_suggesting_the_closest_name(cli, seeded, before):
    code, _, err = cli("run-local", "training", "-p", "min_acuracy=0.8")
    assert code == 2
    assert "unknown parameter 'min_acuracy' for pipeline training" in err
    assert "did you mean 'min_accuracy'?" in err
    assert store_state() == before


def test_params_file_with_two_bad_values_reports_both_and_exits_2(cli, seeded, before, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("test_size: 1.5\nmax_regression: .nan\nestimator: random_forest\n")
    runs = runs_of(seeded)
    code, _, err = cli("run-local", "training", "--params", str(params))
    assert code == 2
    assert "2 parameters are invalid" in err
    assert "test_size=1.5" in err and "max_regression=NaN" in err
    assert err.count(WAY_OUT) == 2
    assert runs_of(seeded) == runs and store_state() == before


# --- data only a task sees: the component (or its core) gives the error ------------------


def held_out(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Held-out rows as train_model writes them: target, prediction, sensitive features."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "risk": rng.choice(["bad", "good"], n),
            "kfp_mlops:prediction": rng.choice(["bad", "good"], n),
            "sex": rng.choice(["female", "male"], n),
        }
    )


def run_fairness(tmp_path, frame: pd.DataFrame, features: list[str]):
    from components.check_fairness import component

    predictions = dsl.Dataset(uri=str(tmp_path / "predictions"))
    write_parquet(frame, predictions.path)
    predictions.metadata.update(
        target_column="risk", prediction_column="kfp_mlops:prediction", classes=["bad", "good"]
    )
    report = dsl.Markdown(uri=str(tmp_path / "report"))
    blessed = component.check_fairness.python_func(
        predictions=predictions,
        sensitive_features=features,
        metrics=dsl.Metrics(uri=str(tmp_path / "metrics")),
        report=report,
        max_demographic_parity_difference=0.5,
        max_equalized_odds_difference=0.5,
        positive_label="",
        model_name="credit",
        kfp_run_id="",
    )
    return blessed, (tmp_path / "report").read_text(), report.metadata


FAIRNESS_CASES = {
    "sensitive_feature_with_one_group": (
        lambda f: f.assign(region="north"),
        ["region"],
        "sensitive feature 'region' has the single group ['north']",
    ),
    "sensitive_feature_missing_everywhere": (
        lambda f: f.assign(region=pd.Series([None] * len(f), dtype="str")),
        ["region"],
        "sensitive feature 'region' is missing in every held-out row",
    ),
    "one_group_besides_missing_values": (
        lambda f: f.assign(region=["north", None] * (len(f) // 2)),
        ["region"],
        "sensitive feature 'region' has the single group ['north']",
    ),
    "single_class_target": (
        lambda f: f.assign(risk="good"),
        ["sex"],
        "target column 'risk' has the single class ['good']",
    ),
    "missing_values_in_target": (
        lambda f: f.assign(risk=f["risk"].where(f.index % 10 != 0)),
        ["sex"],
        "target column 'risk' has 12 missing values",
    ),
}


@pytest.mark.parametrize("case", sorted(FAIRNESS_CASES))
def test_fairness_gate_cannot_measure_so_it_does_not_bless(case, tmp_path):
    change, features, why = FAIRNESS_CASES[case]
    assert run_fairness(tmp_path / "fine", held_out(), ["sex"])[0] is True  # the control
    blessed, report, metadata = run_fairness(tmp_path, change(held_out()), features)
    report = report.replace("\\", "")  # read past Markdown escapes, as the page shows it
    assert blessed is False
    assert why in report and "(fail closed)" in report
    assert any(why in reason for reason in metadata["reasons"])
    assert "fix the data" in report or "before training" in report or "test_size" in report


def german(**changes) -> pd.DataFrame:
    frame = pd.read_csv(GERMAN_CREDIT)
    for column, change in changes.items():
        frame[column] = change(frame[column])
    return frame


def _with_inf(column: pd.Series, sign: float = 1.0) -> pd.Series:
    values = column.astype(float)
    values.iloc[[3, 7]] = sign * np.inf
    return values


TRAIN_CASES = {
    "infinity_in_a_feature": (
        german(credit_amount=_with_inf),
        "columns ['credit_amount'] hold infinite values (rows per column: {'credit_amount': 2})",
    ),
    "infinities_in_two_features": (
        german(age=lambda c: _with_inf(c, -1.0), duration=_with_inf),
        "columns ['duration', 'age'] hold infinite values",
    ),
    "all_null_feature": (
        german(purpose=lambda c: pd.Series([None] * len(c), dtype="str")),
        "feature columns ['purpose'] are entirely null; drop them",
    ),
    "single_class_target": (german(risk=lambda c: "good"), "has a single class ['good']"),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_train_model_refuses_bad_values_naming_the_columns_and_writes_no_model(case, tmp_path):
    from components.train_model import component

    frame, message = TRAIN_CASES[case]
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    write_parquet(frame, dataset.path)
    model = dsl.Model(uri=str(tmp_path / "model"))
    with pytest.raises(DataError) as raised:
        component.train_model.python_func(
            dataset=dataset,
            target_column="risk",
            estimator="logistic_regression",
            hyperparameters={},
            test_size=0.25,
            random_seed=1,
            model=model,
            predictions=dsl.Dataset(uri=str(tmp_path / "predictions")),
            metrics=dsl.Metrics(uri=str(tmp_path / "metrics")),
        )
    assert message in str(raised.value)
    assert any(way in str(raised.value) for way in ("drop", "replace", "add rows"))
    assert not (tmp_path / "model").exists() and not (tmp_path / "predictions").exists()


SUITE_CASES = {
    "column_missing_from_the_data": (
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}},
        "expect_column_values_to_not_be_null(income): raised: column(s) ['income'] not in the data",
    ),
    "second_column_of_a_pair_missing": (
        {
            "type": "expect_column_pair_values_a_to_be_greater_than_b",
            "kwargs": {"column_A": "credit_amount", "column_B": "salary"},
        },
        "(credit_amount, salary): raised: column(s) ['salary'] not in the data",
    ),
}


@pytest.mark.parametrize("case", sorted(SUITE_CASES))
def test_suite_naming_a_column_not_in_the_data_fails_after_the_report(case, tmp_path):
    from components.validate_data import component

    expectation, message = SUITE_CASES[case]
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    write_parquet(pd.read_csv(GERMAN_CREDIT), dataset.path)
    with pytest.raises(DataError) as raised:
        component.validate_data.python_func(
            dataset=dataset,
            target_column="risk",
            suite={"name": "names-a-ghost", "expectations": [expectation]},
            min_rows=1,
            model_name="credit",
            kfp_run_id="",
            validation=dsl.Artifact(uri=str(tmp_path / "validation")),
            report=dsl.Markdown(uri=str(tmp_path / "report")),
            metrics=dsl.Metrics(uri=str(tmp_path / "metrics")),
        )
    assert message in str(raised.value)
    assert "fix the column name in the suite, or the data" in str(raised.value)
    assert "'age'" in str(raised.value)  # the columns that are there
    assert "FAILED" in (tmp_path / "report").read_text()


# --- two full runs: what the user sees at the end of `run-local` --------------------------


def run_json(cli, *args):
    code, out, err = cli(
        "run-local", "training", "--params", str(PARAMS), "--output", "json", *args
    )
    return code, json.loads(out), err


def stored(tmp_path, frame: pd.DataFrame, name: str) -> str:
    from components._shared.io import upload_file

    path = tmp_path / f"{name}.parquet"
    write_parquet(frame, path)
    uri = f"s3://kfp-mlops-data/bad-inputs/{name}.parquet"
    upload_file(path, uri)
    return uri


def test_training_one_group_sensitive_feature_exit_3_nothing_registered(cli, seeded, tmp_path):
    uri = stored(tmp_path, german().assign(region="north"), "one-group")
    before = store_state()
    code, summary, _ = run_json(
        cli,
        "-p",
        f"data_uri={uri}",
        "-p",
        'sensitive_features=["region"]',
        "-p",
        "model_name=bad-inputs-one-group",
        "-p",
        "suite={}",  # the committed suite would refuse the extra column
    )
    assert code == 3, summary["error"]
    fairness = summary["gates"]["fairness"]
    assert fairness["passed"] is False and summary["gates"]["evaluation"]["passed"] is True
    assert any("'region' has the single group ['north']" in r for r in fairness["reasons"])
    assert summary["model"] is None and store_state() == before


def test_training_infinity_in_a_feature_exit_1_naming_the_column(cli, seeded, tmp_path):
    uri = stored(tmp_path, german(credit_amount=_with_inf), "infinite")
    before = store_state()
    # The baseline suite: the committed one's range checks would catch this column first.
    code, summary, _ = run_json(
        cli, "-p", f"data_uri={uri}", "-p", "suite={}", "-p", "model_name=bad-inputs-infinite"
    )
    assert code == 1 and summary["failed_task"] == "train-model"
    assert "DataError" in summary["error"] and "['credit_amount']" in summary["error"]
    assert "infinite values" in summary["error"] and "replace them" in summary["error"]
    assert summary["model"] is None and store_state() == before
