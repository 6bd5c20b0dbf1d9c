"""Each gate's verdict record in S3: written by the real gates, read back by run id, in order.

The session's `gated_training_run` writes validation, evaluation and fairness records under
the run id kfp.local resolved for `dsl.PIPELINE_JOB_ID_PLACEHOLDER`; the same id is the
registered version's `kfp_run_id` tag, so the test finds the run the way notify will.
"""

import datetime
import uuid

import pandas as pd
import pytest
from kfp import dsl

from components._shared.errors import DataError
from components._shared.io import write_parquet
from components._shared.verdicts.gate_records import read_gate_records, record_uri
from tests.conftest import GATED_MODEL, GERMAN_CREDIT


def test_training_run_records_each_gate_with_the_verdicts_its_summary_shows(gated_training_run):
    code, summary, run_id = gated_training_run
    assert code == 0, summary["error"]
    model = GATED_MODEL
    assert run_id and "{{" not in run_id  # the placeholder was resolved

    records = read_gate_records(run_id)
    assert [r.gate for r in records] == ["validation", "evaluation", "fairness"]
    for record in records:
        assert record.passed is summary["gates"][record.gate]["passed"] is True
        assert (record.model, record.pipeline) == (model, "training")
        assert datetime.datetime.fromisoformat(record.time).tzinfo is not None
        assert "\n" not in record.line
    validation, evaluation, fairness = (r.line for r in records)
    evaluated = int(summary["gates"]["validation"]["metrics"]["expectations_evaluated"])
    assert validation.startswith(f"{evaluated} of {evaluated} expectations passed on 1000 rows")
    accuracy = summary["gates"]["evaluation"]["metrics"]["accuracy"]
    assert f"accuracy {accuracy:.4f} meets min_accuracy 0.7" in evaluation
    assert "first run: no champion" in evaluation
    dp = summary["gates"]["fairness"]["metrics"]["demographic_parity_difference"]
    assert fairness.startswith(f"demographic parity difference {dp:.4f} (sex) ≤ 0.1")
    assert "equalized odds difference" in fairness and "no bound set" in fairness


def test_monitoring_run_records_drift_then_the_retrain_gates_under_its_one_run_id(
    gated_monitoring_run, gated_training_run
):
    code, summary, run_id = gated_monitoring_run
    assert code == 0, summary["error"]
    assert run_id and run_id != gated_training_run[2]
    records = read_gate_records(run_id)
    # The retrain is a sub-pipeline: its gates resolve the same PIPELINE_JOB_ID_PLACEHOLDER.
    gates = ["drift", "novelty", "validation", "evaluation", "fairness"]
    assert [r.gate for r in records] == gates
    assert [r.pipeline for r in records] == ["monitoring"] * 2 + ["training"] * 3
    assert [r.passed for r in records] == [False, True, True, True, True]
    assert "random_seed" in records[1].line  # what is new: the retrain's seed
    for record in records[1:]:
        assert record.passed is summary["gates"][record.gate]["passed"]
    drifted = summary["gates"]["drift"]["report"]["columns_drifted"]
    assert records[0].line.startswith(f"{len(drifted)} of ")
    assert all(column in records[0].line for column in drifted)
    assert "prediction " in records[0].line  # the champion's predictions, compared


def test_failed_validation_records_its_verdict_before_the_run_fails(stack, tmp_path):
    from components.validate_data import component

    bad = pd.read_csv(GERMAN_CREDIT)
    bad.loc[:2, "risk"] = None
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    write_parquet(bad, dataset.path)
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    with pytest.raises(DataError, match="1 of 12 expectations failed"):
        component.validate_data.python_func(
            dataset=dataset, target_column="risk", suite={}, min_rows=100, model_name="credit",
            kfp_run_id=run_id, validation=dsl.Artifact(uri=str(tmp_path / "v")),
            report=dsl.Markdown(uri=str(tmp_path / "r")),
            metrics=dsl.Metrics(uri=str(tmp_path / "m")),
        )  # fmt: skip
    (record,) = read_gate_records(run_id)
    assert (record.gate, record.passed, record.model) == ("validation", False, "credit")
    assert record.line == (
        "11 of 12 expectations passed on 1000 rows (suite baseline); failed: "
        "expect_column_values_to_not_be_null(risk): 3 unexpected — every row needs a value "
        "of the target 'risk'"
    )


def test_drift_record_states_the_share_and_the_drifted_columns(stack, tmp_path):
    from tests.test_gate_push import run_drift

    run_id = f"test-{uuid.uuid4().hex[:12]}"
    drifted, numbers = run_drift(tmp_path, ["a", "b", "c"], run_id=run_id)
    (record,) = read_gate_records(run_id)
    assert record.gate == "drift" and record.passed is (not drifted)
    share = numbers["drift_share"]
    assert record.line.startswith(f"1 of 3 columns drifted (share {share:.2f}, dataset drift at")
    assert record.line.endswith(": a")


def test_a_record_that_cannot_be_written_is_a_warning_and_the_gate_keeps_its_verdict(
    stack, tmp_path, monkeypatch, capfd
):
    from tests.conftest import free_port
    from tests.test_gate_push import run_drift

    run_id = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    drifted, _ = run_drift(tmp_path, ["a", "b", "c"], run_id=run_id)
    assert drifted is False  # 1 of 3 columns: under the 0.5 share
    err = capfd.readouterr().err
    assert f"warning: gate record not written to {record_uri(run_id, 'drift')}" in err
    monkeypatch.undo()
    assert read_gate_records(run_id) == []


def test_no_run_id_writes_no_record(stack, tmp_path):
    from components._shared.verdicts.gate_records import GateRecord, write_gate_record

    assert write_gate_record("", GateRecord("drift", True, "x")) is False


def test_a_line_that_echoes_a_credential_is_stored_masked(stack):
    import os

    from components._shared.verdicts.gate_records import GateRecord, write_gate_record

    run_id = f"test-{uuid.uuid4().hex[:12]}"
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    line = f"champion could not score: http://user:{secret}@mlflow:5000 refused ({secret})"
    assert write_gate_record(run_id, GateRecord("evaluation", False, line))
    (record,) = read_gate_records(run_id)
    assert secret not in record.line and "could not score" in record.line


def test_publish_verdict_records_the_verdict_under_the_tasks_pipeline(stack, monkeypatch):
    from components._shared.verdicts.gate_records import GateRecord
    from components._shared.verdicts.publish import publish_verdict
    from components._shared.verdicts.pushgateway import PIPELINE_ENV, GateFigures

    monkeypatch.setenv(PIPELINE_ENV, "monitoring")
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    publish_verdict(
        run_id,
        GateFigures("drift", "german-credit", True),
        lambda pipeline: GateRecord("drift", True, "no drift", "german-credit", pipeline),
    )
    (record,) = read_gate_records(run_id)
    assert (record.gate, record.passed, record.pipeline) == ("drift", True, "monitoring")
