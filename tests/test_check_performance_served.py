"""The live-performance gate judges the served version: the alias's rows only, the rest counted.

Core cases on tiny logs of two versions (v1 bad, v2 good); then the component's own function
against the embedded stack: the alias resolved in MLflow, the log and labels read from S3,
and a labels prefix with no file yet.
"""

import io
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kfp import dsl

from components._shared.errors import DataError
from components.check_performance import report
from components.check_performance.core import no_labels
from components.check_performance.read import no_labels_yet
from components.check_performance.served import Served, served_by
from tests.test_check_performance import judge, labels_with_precision, log

PER_DAY = 10


def two_versions(v1_days: int = 4, v2_days: int = 2, version=str) -> pd.DataFrame:
    """A log whose first v1_days days were served by version 1, the next v2_days by 2."""
    frame = log(v1_days + v2_days, PER_DAY)
    day = frame.index // PER_DAY
    frame["model_version"] = [version(1) if d < v1_days else version(2) for d in day]
    return frame


V1_BAD_V2_GOOD = [0.6] * 4 + [1.0] * 2  # precision per day: v1's 4 days, then v2's 2


def test_served_version_judged_alone_and_the_other_versions_counted_not_judged():
    labels = labels_with_precision(6, V1_BAD_V2_GOOD)
    result = judge(two_versions(), labels, min_days=2, served=Served("champion", "2", "m"))
    assert result.passed is True
    assert [str(d.day) for d in result.days] == ["2026-11-05", "2026-11-06"]
    assert [d.values["precision"] for d in result.days] == [1.0, 1.0]
    assert result.served.others == {"1": 40} and result.served.other_labels == 40
    # v1's labels are not "unknown ids": they name rows, of another version.
    assert result.counts.unknown_labels == 0 and result.counts.predictions == 20
    line = (
        "judged: the predictions of version 2 (models:/m@champion); 40 predictions by other "
        "versions (v1: 40) not judged, and 40 labels of theirs not used"
    )
    assert line in result.notes
    assert report.served_line(result) == line
    # The same log judged for version 1 fails on its own bad days; every version: as before.
    v1 = judge(two_versions(), labels, min_days=2, served=Served("champion", "1", "m"))
    assert v1.passed is False and v1.served.others == {"2": 20}
    every = judge(two_versions(), labels, min_days=2, served=Served("", None, "m"))
    assert len(every.days) == 6 and every.served.others == {}


def test_just_promoted_version_without_labels_is_not_judged_yet_not_failed_on_its_predecessor():
    # Labels arrive late: only v1's days are labelled so far.
    labels = labels_with_precision(4, V1_BAD_V2_GOOD[:4])
    result = judge(two_versions(), labels, served=Served("champion", "2", "m"))
    assert result.passed is True and not result.cannot_judge
    assert report.headline(result) == "NOT JUDGED"
    assert [d.judged for d in result.days] == [False, False]
    assert all(c.status == "not_judged" for c in result.checks)
    assert result.served.others == {"1": 40} and result.served.other_labels == 40
    # Judged over every version (the old behaviour), v1's three bad days fail the gate.
    assert judge(two_versions(), labels).passed is False


@pytest.mark.parametrize("version", [str, int, float], ids=["text", "int", "float"])
def test_served_version_matches_the_log_however_a_writer_typed_it(version):
    labels = labels_with_precision(6, V1_BAD_V2_GOOD)
    frame = two_versions(version=version)
    result = judge(frame, labels, min_days=2, served=Served("champion", "2", "m"))
    assert len(result.days) == 2 and result.served.others == {"1": 40}


def test_rows_logged_without_a_version_are_counted_as_unknown():
    frame = two_versions()
    frame.loc[:9, "model_version"] = None
    frame.loc[10:19, "model_version"] = "10"  # numbered after 1, not between 1 and 2
    labels = labels_with_precision(6, V1_BAD_V2_GOOD)
    result = judge(frame, labels, min_days=2, served=Served("champion", "2", "m"))
    assert list(result.served.others.items()) == [("1", 20), ("10", 10), ("unknown", 10)]
    assert "(v1: 20, v10: 10, unknown: 10)" in result.served.line()


def test_alias_not_set_cannot_judge_and_does_not_pass():
    labels = labels_with_precision(6, V1_BAD_V2_GOOD)
    result = judge(two_versions(), labels, served=Served("champion", None, "m"))
    assert result.passed is False and result.cannot_judge is True
    assert result.days == [] and result.checks == []
    assert result.reasons == [
        "cannot judge: models:/m@champion is not set, so which version serves (and whose 60 "
        "logged predictions to judge) is unknown; set the alias (promote a version), or "
        "judge every version with an empty alias (monitoring: prediction_drift_alias='')"
    ]
    assert report.headline(result) == "CANNOT JUDGE"
    assert report.metadata_of(result)["served"]["version"] is None
    assert report.metrics_of(result)["cannot_judge"] == 1.0


def test_alias_not_set_still_fails_on_labels_that_are_not_labels():
    bad = pd.DataFrame({"id": ["r0"], "label": [1]})
    with pytest.raises(DataError, match=r"the labels file lacks column\(s\) \['request_id'\]"):
        judge(two_versions(), bad, served=Served("champion", None, "m"))


def test_alias_on_a_log_without_model_version_refused_with_the_way_out():
    labels = labels_with_precision(2, [1.0, 1.0])
    with pytest.raises(DataError) as caught:
        judge(log(2), labels, served=Served("champion", "2", "m"))
    assert "records no model_version in the window" in str(caught.value)
    assert "judge every version with an empty alias" in str(caught.value)


def test_served_counts_in_metrics_metadata_and_markdown():
    labels = labels_with_precision(6, V1_BAD_V2_GOOD)
    result = judge(two_versions(), labels, min_days=2, served=Served("champion", "2", "m"))
    metrics = report.metrics_of(result)
    assert metrics["predictions_other_versions"] == 40.0
    assert metrics["labels_other_versions"] == 40.0
    assert report.metadata_of(result)["served"] == {
        "alias": "champion",
        "version": "2",
        "other_versions": {"1": 40},
        "predictions_other_versions": 40,
        "labels_other_versions": 40,
    }
    assert "40 predictions by other versions (v1: 40) not judged" in report.render_markdown(result)


def test_run_summary_of_a_gate_that_cannot_judge_says_so_and_not_failed(tmp_path):
    from kfp_mlops.runs.summaries import summarize
    from tests.test_check_performance_judged import _run_dir

    result = no_labels(
        "s3://b/labels/", bounds={"accuracy": 0.7}, min_days=3, min_labels_per_day=30,
        max_label_delay_days=30.0,
    )  # fmt: skip
    summary = summarize("monitoring", _run_dir(tmp_path, result, False), "", 0)
    assert summary["live_performance_failed"] is None  # neither failed nor within bounds
    assert summary["outcome"] == "no drift; live performance cannot be judged"


def test_no_labels_yet_only_for_a_reachable_folder_without_a_label_file(tmp_path):
    empty = tmp_path / "labels"
    empty.mkdir()
    (empty / "README.txt").write_text("labels arrive here")
    assert no_labels_yet(str(empty)) is True
    (empty / "day1.csv").write_text("request_id,label\nr0,1\n")
    assert no_labels_yet(str(empty)) is False
    assert no_labels_yet(str(tmp_path / "missing.csv")) is False  # read, and fail there
    with pytest.raises(DataError, match="unsupported scheme"):
        no_labels_yet("gs://bucket/labels/")


# The component's own function on the embedded stack.

BUCKET = "kfp-mlops-data"


def _put(key: str, frame: pd.DataFrame | None = None, body: bytes | None = None) -> None:
    from components._shared.io import s3_client

    if frame is not None:
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        body = buffer.getvalue()
    client = s3_client()
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    client.put_object(BUCKET, key, io.BytesIO(body), len(body))


def _register(name: str, versions: int, champion: int | None) -> None:
    """Versions registered directly (no training); the alias set on one of them, or none."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model(name)
    for _ in range(versions):
        client.create_model_version(name, source="s3://mlflow/no-model")
    if champion is not None:
        client.set_registered_model_alias(name, "champion", str(champion))


def _gate(tmp_path, model: str, labels_uri: str, alias: str = "champion"):
    from components.check_performance.component import check_performance

    out = tmp_path / uuid.uuid4().hex
    markdown = dsl.Markdown(uri=str(out / "report"))
    retrain = check_performance.python_func(
        drifted=False, labels_uri=labels_uri, label_schema="",
        predictions_uri=f"s3://{BUCKET}/predictions/{model}/", start_date="", end_date="",
        last_days=0, bounds={"precision": 0.8}, min_days=2, min_labels_per_day=4,
        max_label_delay_days=-1.0, positive_label="", model_name=model, model_alias=alias,
        kfp_run_id=f"test-{uuid.uuid4().hex[:12]}", metrics=dsl.Metrics(uri=str(out / "m")),
        report=markdown, report_html=dsl.HTML(uri=str(out / "h")),
    )  # fmt: skip
    return retrain, markdown.metadata


def _log_and_labels(model: str) -> str:
    """Six days of log (v1's four, then v2's two); labels so far for v1's days only."""
    frame = two_versions()
    frame["model_name"] = model
    days = frame["time"].dt.date
    for day in sorted(set(days)):
        _put(f"predictions/{model}/date={day}/080000-a.parquet", frame[days == day])
    labels = labels_with_precision(4, V1_BAD_V2_GOOD[:4])
    key = f"labels/{model}/labels.csv"
    _put(key, body=labels.to_csv(index=False).encode())
    return f"s3://{BUCKET}/{key}"


def test_component_resolves_the_alias_and_judges_only_the_served_version(stack, tmp_path):
    model = f"served-{uuid.uuid4().hex[:8]}"
    labels_uri = _log_and_labels(model)
    _register(model, versions=2, champion=2)
    assert served_by(model, "champion") == Served("champion", "2", model)
    retrain, meta = _gate(tmp_path, model, labels_uri)
    # v2 has no label yet: not judged yet, no retrain on its predecessor's bad days.
    assert retrain is False and meta["passed"] is True
    assert [d["day"] for d in meta["days"]] == ["2026-11-05", "2026-11-06"]
    assert meta["served"]["version"] == "2" and meta["served"]["other_versions"] == {"1": 40}
    # Every version judged (alias ""), as before: v1's bad days fail the gate → retrain.
    retrain, meta = _gate(tmp_path, model, labels_uri, alias="")
    assert retrain is True and meta["passed"] is False
    assert meta["served"]["alias"] == "" and meta["served"]["other_versions"] == {}


def test_component_alias_not_set_cannot_judge_and_asks_no_retrain(stack, tmp_path):
    model = f"served-none-{uuid.uuid4().hex[:8]}"
    labels_uri = _log_and_labels(model)
    _register(model, versions=1, champion=None)
    assert served_by(model, "champion") == Served("champion", None, model)
    retrain, meta = _gate(tmp_path, model, labels_uri)
    assert retrain is False
    assert meta["passed"] is False and meta["cannot_judge"] is True
    assert f"models:/{model}@champion is not set" in meta["reasons"][0]


def test_component_empty_labels_prefix_cannot_judge_yet_and_a_missing_bucket_fails(stack, tmp_path):
    model = f"served-new-{uuid.uuid4().hex[:8]}"
    prefix = f"s3://{BUCKET}/labels/{model}/"
    retrain, meta = _gate(tmp_path, model, prefix)
    assert retrain is False and meta["passed"] is False and meta["cannot_judge"] is True
    assert meta["reasons"] == [
        f"cannot judge yet: no labels under {prefix} (no CSV or Parquet file there); the gate "
        "judges once labels arrive there"
    ]
    with pytest.raises(DataError, match="no such bucket"):
        _gate(tmp_path, model, f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/labels/")
