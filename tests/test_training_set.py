"""The training-set builder on the real embedded stack: log parts of past days, labels, champion.

Log parts are written in the log's own format (components/_shared/logformat.py) under
`date=YYYY-MM-DD/`; labels are CSV files under an S3 prefix; the champion is a registered
version with an input signature and a `dataset_version` tag.
"""

import io
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components._shared.datasets import refs, store
from components._shared.errors import ConfigError, DataError
from components._shared.io.partitions import DateWindow
from components._shared.io.s3 import parse_s3_uri, s3_client
from components._shared.logformat import log_schema, partition
from components.build_training_set.core import NOTHING, build_training_set
from tests.conftest import GERMAN_CREDIT

INPUTS = [("age", "integer"), ("job", "string"), ("amount", "double")]
CLASSES = ["bad", "good"]
BUCKET = "kfp-mlops-data"


@pytest.fixture
def root(stack, monkeypatch):
    """A dataset store of its own, so tests do not see each other's versions."""
    uri = f"s3://{BUCKET}/datasets-{uuid.uuid4().hex[:8]}/"
    monkeypatch.setenv(refs.ROOT_ENV, uri)
    return uri


def _put(uri: str, data: bytes) -> None:
    bucket, key = parse_s3_uri(uri)
    client = s3_client()
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    client.put_object(bucket, key, io.BytesIO(data), len(data))


def _log_rows(day: str, n: int, model: str) -> pd.DataFrame:
    """n one-row requests on `day`, ids `<day>-<i>`, inputs that differ row by row."""
    return pd.DataFrame(
        {
            "request_id": [f"{day}-{i}" for i in range(n)],
            "time": pd.to_datetime([f"{day}T10:00:00Z"] * n) + pd.to_timedelta(range(n), "s"),
            "model_name": model,
            "model_version": "1",
            "endpoint": "primary",
            "age": [20 + i for i in range(n)],
            "job": ["skilled" if i % 2 else "unskilled" for i in range(n)],
            "amount": [1000.0 + 10 * i for i in range(n)],
            "prediction": ["good"] * n,
            "proba_bad": 0.3,
            "proba_good": 0.7,
            "latency_seconds": 0.01,
        }
    )


def write_log(prefix: str, model: str, days: dict[str, int]) -> str:
    """A prediction log under `prefix` with days[day] one-row requests each; its URI."""
    schema = log_schema(INPUTS, CLASSES)
    for day, n in days.items():
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(_log_rows(day, n, model), schema=schema), sink)
        _put(f"s3://{BUCKET}/{partition(prefix, model, day)}part-0.parquet", sink.getvalue())
    return f"s3://{BUCKET}/{prefix}/{model}/"


def write_labels(uri: str, rows: list[tuple]) -> str:
    """A labels CSV (request_id, label, time) at `uri`."""
    frame = pd.DataFrame(rows, columns=["request_id", "label", "time"])
    _put(uri, frame.to_csv(index=False).encode())
    return uri


def build(log: str, labels: str, model: str, **overrides):
    settings = {
        "retrain_data_uri": "",
        "predictions_uri": log,
        "window": DateWindow.of("2026-11-01", "2026-11-02", 0),
        "labels_uri": labels,
        "label_schema": "",
        "max_label_delay_days": 30.0,
        "target_column": "risk",
        "model_name": model,
        "include_champion_data": True,
        "min_labelled_rows": 5,
    }
    return build_training_set(**settings | overrides)


def _names() -> str:
    tag = uuid.uuid4().hex[:8]
    return f"trainset-{tag}", f"labels-{tag}"


def _stored(reference: str) -> tuple[pd.DataFrame, dict]:
    data, manifest = store.read_verified(reference)
    return pd.read_parquet(io.BytesIO(data)), manifest


def test_build_latest_label_wins_unknown_late_null_counted_and_manifest_names_sources(root):
    model, prefix = _names()
    log = write_log(prefix, model, {"2026-11-01": 10, "2026-11-02": 10})
    at = "2026-11-03T00:00:00Z"
    rows = [(f"2026-11-01-{i}", "good", at) for i in range(8)]
    rows += [("2026-11-02-0", "good", "2026-11-03T00:00:00Z")]
    rows += [("2026-11-02-0", "bad", "2026-11-04T00:00:00Z")]  # later: this one wins
    rows += [("nobody-1", "bad", at), ("nobody-2", "good", at)]  # unknown request ids
    rows += [("2026-11-02-1", "bad", "2027-01-30T00:00:00Z")]  # arrived 89 days later: late
    rows += [("2026-11-02-2", None, at)]  # empty
    labels = write_labels(f"s3://{BUCKET}/{prefix}/labels/day3.csv", rows)

    result = build(log, labels, model)

    counts = result.counts
    assert counts["labels"] == len(rows) and counts["predictions"] == 20
    assert counts["duplicate_labels"] == 1 and counts["unknown_labels"] == 2
    assert counts["late_labels"] == 1 and counts["null_labels"] == 1
    assert counts["labelled_rows"] == 9 and counts["rows"] == 9
    assert result.reference.startswith(f"dataset://{model}@sha256:") and result.created
    frame, manifest = _stored(result.reference)
    assert list(frame.columns) == ["age", "job", "amount", "risk"]
    # Day 2's row 0 has day 1's row 0's inputs: its later label "bad" won over "good".
    assert frame.loc[frame["age"] == 20, "risk"].tolist() == ["bad", "good"]
    assert frame["risk"].value_counts().to_dict() == {"good": 8, "bad": 1}
    assert frame["age"].dtype == "int64" and frame["amount"].dtype == "float64"
    assert manifest["time_window"] == {"start": "2026-11-01", "end": "2026-11-02"}
    kinds = sorted(s["kind"] for s in manifest["sources"])
    assert kinds == ["labels", "prediction log", "prediction log"]
    assert all(len(s["sha256"]) == 64 for s in manifest["sources"])
    assert manifest["parents"] == [] and manifest["label_schema_version"] is None
    assert "2 labels name no prediction in the window" in " ".join(result.notes)


def test_build_twice_gives_the_same_reference_and_one_version(root):
    model, prefix = _names()
    log = write_log(prefix, model, {"2026-11-01": 12})
    labels = write_labels(
        f"s3://{BUCKET}/{prefix}/labels/a.csv",
        [(f"2026-11-01-{i}", CLASSES[i % 2], "2026-11-02") for i in reversed(range(12))],
    )
    first = build(log, labels, model)
    # The same labels in another order, in another file: the same rows, the same bytes.
    shuffled = write_labels(
        f"s3://{BUCKET}/{prefix}/labels2/b.csv",
        [(f"2026-11-01-{i}", CLASSES[i % 2], "2026-11-02") for i in range(12)],
    )
    again = build(log, shuffled, model)
    assert again.reference == first.reference and not again.created
    assert "stored already" in again.message
    assert [v["reference"] for v in store.versions(model)] == [first.reference]
    frame, _ = _stored(first.reference)
    assert frame["age"].tolist() == sorted(frame["age"].tolist())  # rows sorted


def test_build_window_with_predictions_but_no_labels_returns_empty_and_stores_nothing(root):
    model, prefix = _names()
    log = write_log(prefix, model, {"2026-11-01": 10})
    labels = write_labels(
        f"s3://{BUCKET}/{prefix}/labels/x.csv", [("other-1", "bad", "2026-11-02")]
    )

    result = build(log, labels, model)

    assert result.reference == ""
    assert result.message == (
        "no retrain: 0 labelled rows in 2026-11-01..2026-11-02, fewer than min_labelled_rows (5)"
    )
    assert result.counts["unknown_labels"] == 1 and result.counts["predictions"] == 10
    assert model not in store.names()


def test_build_too_few_labelled_rows_no_retrain_nothing_stored(root):
    model, prefix = _names()
    log = write_log(prefix, model, {"2026-11-01": 50})
    labels = write_labels(
        f"s3://{BUCKET}/{prefix}/labels/x.csv",
        [(f"2026-11-01-{i}", "good", "2026-11-02") for i in range(30)],
    )
    result = build(log, labels, model, min_labelled_rows=200)
    assert result.reference == "" and result.counts["labelled_rows"] == 30
    assert "no retrain: 30 labelled rows in" in result.message
    assert "fewer than min_labelled_rows (200)" in result.message
    assert model not in store.names()


def test_build_fixed_retrain_data_uri_returned_and_no_labels_means_nothing_to_train_on(root):
    fixed = build("unused", "", "any", retrain_data_uri="s3://b/fixed.csv")
    assert fixed.reference == "s3://b/fixed.csv"
    nothing = build("unused", "", "any")
    assert nothing.reference == "" and nothing.message == NOTHING
    assert NOTHING == "no labels_uri and no retrain_data_uri: nothing to retrain on"
    with pytest.raises(ConfigError, match="min_labelled_rows=0"):
        build("unused", "s3://b/labels.csv", "any", min_labelled_rows=0)


def register_champion(model: str, inputs: pd.DataFrame, tags: dict[str, str]) -> int:
    """A registered champion whose signature names `inputs`' columns, with `tags`."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyClassifier

    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            DummyClassifier().fit(inputs.select_dtypes("number"), [0] * len(inputs)),
            name="model",
            signature=infer_signature(inputs),
            pip_requirements=["scikit-learn"],
        )
    client = MlflowClient()
    client.create_registered_model(model)
    version = client.create_model_version(model, info.model_uri, tags=tags, model_id=info.model_id)
    client.set_registered_model_alias(model, "champion", version.version)
    return int(version.version)


def _champion_set(tmp_path, model: str, rows: pd.DataFrame) -> str:
    path = tmp_path / "champion.csv"
    rows.to_csv(path, index=False)
    found, _ = store.add(str(path), model)
    return found["reference"]


def test_build_unions_champion_data_drops_identical_rows_and_names_its_parent(root, tmp_path):
    model, prefix = _names()
    log = write_log(prefix, model, {"2026-11-01": 10})
    labels = write_labels(
        f"s3://{BUCKET}/{prefix}/labels/x.csv",
        [(f"2026-11-01-{i}", "good", "2026-11-02") for i in range(10)],
    )
    old = pd.DataFrame(
        {"age": [20, 70, 71], "job": ["unskilled", "skilled", "skilled"]}
        | {"amount": [1000.0, 5.0, 6.0], "risk": ["good", "bad", "bad"]}
    )  # the first row is the log's 2026-11-01-0, labelled good: the same row
    parent = _champion_set(tmp_path, model, old)
    register_champion(model, old.drop(columns="risk"), {"dataset_version": parent})

    result = build(log, labels, model)

    assert result.counts["champion_rows"] == 3 and result.counts["duplicate_rows"] == 1
    frame, manifest = _stored(result.reference)
    assert len(frame) == 12 and {70, 71} <= set(frame["age"])
    assert manifest["parents"] == [parent.removeprefix("dataset://")]  # NAME@sha256:HEX
    without = build(log, labels, model, include_champion_data=False)
    assert without.reference != result.reference and without.counts["rows"] == 10


def test_build_columns_no_longer_match_the_models_inputs_refused_nothing_stored(root):
    model, prefix = _names()
    log = write_log(prefix, model, {"2026-11-01": 10})
    labels = write_labels(
        f"s3://{BUCKET}/{prefix}/labels/x.csv",
        [(f"2026-11-01-{i}", "good", "2026-11-02") for i in range(10)],
    )
    inputs = pd.DataFrame({"age": ["x"], "job": ["a"], "amount": [1.0], "income": [2.0]})
    register_champion(model, inputs, {})

    wrong = r"missing \['income'\]; of another kind \{'age': 'integer, model: string'\}"
    with pytest.raises(DataError, match=r"no longer match the model's inputs: " + wrong):
        build(log, labels, model, include_champion_data=False)
    assert model not in store.names()


def test_cli_data_build_prints_counts_and_reference_or_why_nothing_was_built(cli, root):
    model, prefix = _names()
    log = write_log(prefix, model, {"2026-11-01": 8})
    labels = write_labels(
        f"s3://{BUCKET}/{prefix}/labels/x.csv",
        [(f"2026-11-01-{i}", "good", "2026-11-02") for i in range(8)],
    )
    args = ["data", "build", "--model", model, "--predictions", log, "--labels", labels]
    args += ["--start-date", "2026-11-01", "--end-date", "2026-11-01", "--no-champion-data"]

    code, out, _ = cli(*args)  # default --min-labelled-rows 200
    assert code == 0, out
    assert "labelled_rows          8" in out
    assert "no retrain: 8 labelled rows in 2026-11-01..2026-11-01, fewer than" in out
    assert model not in store.names()

    code, out, _ = cli(*args, "--min-labelled-rows", "8")
    assert code == 0, out
    reference = out.strip().splitlines()[-1]
    assert reference.startswith(f"dataset://{model}@sha256:")
    assert [v["reference"] for v in store.versions(model)] == [reference]

    code, _, err = cli(*args, "--last-days", "3")
    assert code == 2 and "either last_days" in err


def _credit_log(prefix: str, model: str) -> tuple[str, pd.DataFrame]:
    """German credit's rows as two days of the model's log (its inputs), and their risk."""
    credit = pd.read_csv(GERMAN_CREDIT)
    inputs = [c for c in credit.columns if c != "risk"]
    kinds = {c: "integer" if credit[c].dtype.kind == "i" else "string" for c in inputs}
    schema = log_schema([(c, kinds[c]) for c in inputs], [0, 1])  # risk is 0/1
    for day, rows in (("2026-11-01", credit.iloc[:500]), ("2026-11-02", credit.iloc[500:])):
        frame = rows[inputs].reset_index(drop=True)
        n = len(frame)
        frame.insert(0, "request_id", [f"{day}-{i}" for i in range(n)])
        frame.insert(1, "time", pd.Timestamp(f"{day}T09:00:00Z") + pd.to_timedelta(range(n), "s"))
        frame.insert(2, "model_name", model)
        frame.insert(3, "model_version", "1")
        frame.insert(4, "endpoint", "primary")
        frame = frame.assign(prediction=1, proba_0=0.3, proba_1=0.7)
        frame["latency_seconds"] = 0.01
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), sink)
        _put(f"s3://{BUCKET}/{partition(prefix, model, day)}part-0.parquet", sink.getvalue())
    credit["request_id"] = [f"2026-11-0{1 + i // 500}-{i % 500}" for i in range(len(credit))]
    return f"s3://{BUCKET}/{prefix}/{model}/", credit


def test_monitoring_drift_retrains_on_the_training_set_built_from_log_and_labels(cli, tmp_path):
    import json
    from pathlib import Path

    from tests.test_pipeline_monitoring import _shifted

    model, prefix = _names()
    log, credit = _credit_log(prefix, model)
    labels = f"s3://{BUCKET}/{prefix}/labels/day3.csv"
    frame = credit[["request_id", "risk"]].rename(columns={"risk": "label"})
    _put(labels, frame.assign(time="2026-11-03T00:00:00Z").to_csv(index=False).encode())
    params = {
        "current_uri": _shifted(tmp_path / "shifted.csv"),
        "reference_uri": GERMAN_CREDIT,
        "model_name": model,
        "labels_uri": labels,
        "predictions_uri": log,
        "performance_start_date": "2026-11-01",
        "performance_end_date": "2026-11-02",
        "retrain_start_date": "2026-11-01",
        "retrain_end_date": "2026-11-02",
        "retrain_last_days": 0,
    }
    args = [arg for k, v in params.items() for arg in ("-p", f"{k}={v}")]
    code, out, err = cli("run-local", "monitoring", "--output", "json", *args)
    summary = json.loads(out)
    assert code in (0, 3), summary["error"]  # blessed or rejected: the retrain ran either way
    assert summary["drifted"] is True and summary["retrained"] is True
    assert "▶ build training set" in err
    (outputs,) = (Path(summary["run_dir"]) / "outputs").iterdir()  # the pipeline run's folder
    built = json.loads((outputs / "build-training-set" / "executor_output.json").read_text())
    reference = built["parameterValues"]["Output"]
    assert reference.startswith(f"dataset://{model}@sha256:")
    snapshot = json.loads((outputs / "load-data-3" / "executor_output.json").read_text())
    metadata = snapshot["artifacts"]["dataset"]["artifacts"][0]["metadata"]
    assert metadata["rows"] == 1000 and "risk" in metadata["columns"]
    assert metadata["source_uri"] == reference  # the snapshot names the version it read
    _, manifest = _stored(reference)
    assert manifest["time_window"] == {"start": "2026-11-01", "end": "2026-11-02"}
    assert len(manifest["sources"]) == 3  # two log parts, one label file


def test_build_keeps_only_labels_of_the_pinned_schema_and_counts_the_rest(root, monkeypatch):
    from components._shared.labels import schemas

    monkeypatch.setenv(schemas.ROOT_ENV, f"s3://{BUCKET}/label-schemas-{uuid.uuid4().hex[:8]}/")
    classes = [{"id": 0, "name": "bad"}, {"id": 1, "name": "good"}]
    schemas.register("risk", {"target_column": "risk", "classes": classes})
    model, prefix = _names()
    log = write_log(prefix, model, {"2026-11-01": 10})
    frame = pd.DataFrame(
        {
            "request_id": [f"2026-11-01-{i}" for i in range(10)],
            "label": ["good"] * 10,
            "schema_version": ["risk@v1"] * 6 + ["other@v1"] * 2 + [""] * 2,
        }
    )
    labels = f"s3://{BUCKET}/{prefix}/labels/x.csv"
    _put(labels, frame.to_csv(index=False).encode())

    result = build(log, labels, model, label_schema="risk@v1")

    assert result.counts["refused_labels"] == 4 and result.counts["labelled_rows"] == 6
    assert result.label_counts["other_schema"] == 2 and result.label_counts["unversioned"] == 2
    _, manifest = _stored(result.reference)
    assert manifest["label_schema_version"] == "risk@v1"
    assert "4 labels refused by the label schema" in " ".join(result.notes)


def test_component_without_labels_returns_empty_and_its_report_says_why(tmp_path):
    from kfp import dsl

    from components.build_training_set.component import build_training_set as step

    report = dsl.Markdown(uri=str(tmp_path / "report.md"))
    settings = {"start_date": "", "end_date": "", "last_days": 30, "label_schema": ""}
    output = step.python_func(
        retrain_data_uri="", predictions_uri="s3://b/p/", labels_uri="",
        max_label_delay_days=30.0, target_column="risk", model_name="m",
        include_champion_data=True, min_labelled_rows=200, report=report, **settings,
    )  # fmt: skip
    assert output == ""
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Training set: NOTHING BUILT") and NOTHING in text
    assert report.metadata["message"] == NOTHING and report.metadata["reference"] == ""


def test_join_multi_row_request_labels_by_row_and_without_row_ambiguous(tmp_path):
    from components._shared.labels.rowkeys import latest_labels, prepare_labels
    from components.build_training_set.logjoin import join_log

    rows = _log_rows("2026-11-01", 4, "m")
    rows.loc[:2, "request_id"] = "multi"  # one request of three instances, then two more
    rows.loc[:2, "time"] = rows.loc[0, "time"]
    folder = tmp_path / "log" / "m" / "date=2026-11-01"
    folder.mkdir(parents=True)
    schema = log_schema(INPUTS, CLASSES)
    pq.write_table(pa.Table.from_pandas(rows, schema=schema), folder / "part-0.parquet")
    labels = pd.DataFrame(
        {"request_id": ["multi", "multi", "2026-11-01-3"], "label": ["bad", "good", "bad"]}
        | {"row": [1, 2, 0]}
    )
    without_row = pd.DataFrame({"request_id": ["multi", "2026-11-01-3"], "label": ["bad"] * 2})

    def joined(frame):
        prepared, _ = latest_labels(prepare_labels(frame)[0])
        return join_log(str(tmp_path / "log" / "m"), DateWindow(), prepared, 30.0)

    by_row = joined(labels)
    assert by_row.frame().sort_values("age")[["age", "label"]].values.tolist() == [
        [21, "bad"], [22, "good"], [23, "bad"],
    ]  # fmt: skip
    ambiguous = joined(without_row)
    assert ambiguous.ambiguous_labels == 1 and len(ambiguous.frame()) == 1


@pytest.mark.parametrize("split", [False, True], ids=["one part", "a later part"])
def test_join_a_label_without_row_for_a_request_relogged_with_several_rows_is_never_used(
    tmp_path, split
):
    from components._shared.labels.rowkeys import latest_labels, prepare_labels
    from components.build_training_set.logjoin import join_log

    rows = _log_rows("2026-11-01", 3, "m")
    rows["request_id"] = "again"  # logged once with one row, then again with two
    rows.loc[1:, "time"] = rows.loc[1, "time"]
    folder = tmp_path / "log" / "m" / "date=2026-11-01"
    folder.mkdir(parents=True)
    schema = log_schema(INPUTS, CLASSES)
    parts = [rows.iloc[:1], rows.iloc[1:]] if split else [rows]
    for n, part in enumerate(parts):
        table = pa.Table.from_pandas(part, schema=schema, preserve_index=False)
        pq.write_table(table, folder / f"part-{n}.parquet")
    labels, _ = latest_labels(
        prepare_labels(pd.DataFrame({"request_id": ["again"], "label": ["bad"]}))[0]
    )
    joined = join_log(str(tmp_path / "log" / "m"), DateWindow(), labels, 30.0)
    assert joined.ambiguous_labels == 1 and joined.frame().empty


def test_run_outcome_says_why_a_needed_retrain_did_not_happen():
    from kfp_mlops.runs.summaries import _outcome

    said = _outcome(False, True, None, None, None, "", NOTHING)
    assert said == "drifted → not retrained: " + NOTHING
    assert _outcome(False, True, None, True, {"version": 2}, "", None) == (
        "drifted → retrained: blessed (model v2)"
    )
