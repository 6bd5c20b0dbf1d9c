"""The live-performance gate never says "passed" when it could not judge: a roc_auc bound on a
log without probabilities fails the step naming the columns; a metric undefined on the judged
days (one class of labels) leaves its bound not judged, and not passed; too few judged days
say "not judged" for each bound, in the report, the run summary and the console.
"""

import json

import numpy as np
import pytest

from components._shared.errors import DataError
from components.check_performance.bounds import FAILED, NOT_JUDGED, PASSED
from components.check_performance.report import (
    metadata_of,
    metrics_of,
    render_html,
    render_markdown,
    summary_line,
)
from kfp_mlops.runs.render import render_text
from kfp_mlops.runs.summaries import summarize
from tests.test_check_performance import judge, labels_with_precision, log

# A day whose precision is 0 has labels of class 0 only: its roc_auc is undefined.
ONE_CLASS = 0.0
ONE_CLASS_EVERY_DAY = (
    "roc_auc could not be computed on any of the 4 judged days (labels of one class only): "
    "not judged, refusing to pass (fail closed)"
)
TOO_FEW_DAYS = (
    "precision not judged: only 2 day(s) have >= 4 labels (min_labels_per_day) and a bound "
    "needs 3 judged days (min_days)"
)


def test_check_performance_roc_auc_bound_without_probabilities_fails_naming_columns():
    # The KServe payload-logger sink's log: a prediction, no proba_<class> column.
    with pytest.raises(
        DataError,
        match=r"the roc_auc bound needs the model's probabilities, one column per class "
        r"\['proba_0', 'proba_1'\]; the prediction log lacks \['proba_0', 'proba_1'\] \(its "
        r"columns: \['request_id', 'time', 'prediction'\]\); log the probabilities \(the "
        r"server's own prediction log writes proba_<class>; a payload-logger sink must record "
        r"them too\) or drop roc_auc from the bounds",
    ):
        judge(log(4, proba=False), labels_with_precision(4, [1.0] * 4), {"roc_auc": 0.7})


def test_check_performance_roc_auc_bound_with_probabilities_of_some_classes_fails_naming_them():
    partial = log(4).drop(columns="proba_0")
    with pytest.raises(DataError, match=r"lacks \['proba_0'\] \(its columns: \[.*'proba_1'\]\)"):
        judge(partial, labels_with_precision(4, [1.0] * 4), {"precision": 0.8, "roc_auc": 0.7})
    text = log(4, proba=False).assign(prediction=lambda f: np.where(f["prediction"], "bad", "ok"))
    labels = labels_with_precision(4, [1.0] * 4).assign(
        label=lambda f: np.where(f["label"], "bad", "ok")
    )
    with pytest.raises(DataError, match=r"one column per class \['proba_bad', 'proba_ok'\]"):
        judge(text, labels, {"roc_auc": 0.7})


def test_check_performance_log_with_some_probability_columns_scores_the_other_metrics():
    # Before: the classes were read from proba_1 alone and the labels 0 refused as unknown.
    result = judge(log(4).drop(columns="proba_0"), labels_with_precision(4, [1.0] * 4))
    assert result.passed and result.classes == [0, 1]
    assert result.window["precision"] == 1.0 and result.window["roc_auc"] is None
    assert result.days[0].unscored == {"roc_auc": "no probabilities logged"}


def test_check_performance_roc_auc_undefined_on_every_judged_day_not_judged_and_not_passed():
    labels = labels_with_precision(4, [ONE_CLASS] * 4)
    result = judge(log(4), labels, {"roc_auc": 0.7, "accuracy": 0.4})
    roc_auc, accuracy = result.checks
    assert not result.passed and result.reasons == [ONE_CLASS_EVERY_DAY]
    assert (roc_auc.status, roc_auc.reason) == (NOT_JUDGED, ONE_CLASS_EVERY_DAY)
    assert (roc_auc.days_with_value, roc_auc.days_without_value) == (0, 4)
    assert roc_auc.days_below == 0 and not roc_auc.failed and roc_auc.last_day is None
    assert accuracy.status == PASSED and accuracy.reason.startswith("accuracy at or above 0.4")
    assert result.days[0].unscored == {"roc_auc": "labels of one class only"}


def test_check_performance_metric_on_fewer_than_min_days_of_the_judged_days_not_judged():
    labels = labels_with_precision(4, [1.0, ONE_CLASS, ONE_CLASS, 1.0])
    result = judge(log(4), labels, {"roc_auc": 0.7})
    assert not result.passed and result.checks[0].status == NOT_JUDGED
    assert result.reasons == [
        "roc_auc could not be computed on only 2 of the 4 judged days (labels of one class "
        "only) and a bound needs 3 (min_days): not judged, refusing to pass (fail closed)"
    ]


def test_check_performance_day_where_metric_is_undefined_neither_breaks_nor_extends_the_run():
    labels = labels_with_precision(4, [0.6, 0.6, ONE_CLASS, 0.6])  # roc_auc 0.857, -, 0.857
    result = judge(log(4), labels, {"roc_auc": 0.9})
    (check,) = result.checks
    assert check.status == FAILED and check.days_below == 3 and not result.passed
    assert (check.days_with_value, check.days_without_value) == (3, 1)
    assert (
        "roc_auc could not be computed on 1 of the 4 judged days (labels of one class only); "
        "those days neither break nor extend its run" in result.notes
    )


def test_check_performance_days_logged_without_probabilities_leave_roc_auc_unscored():
    # A part written by a sink without scores, beside the server's: its proba columns read null.
    predictions = log(4)
    predictions.loc[10:19, ["proba_0", "proba_1"]] = np.nan
    result = judge(predictions, labels_with_precision(4, [0.6] * 4), {"roc_auc": 0.9})
    assert result.days[1].unscored == {"roc_auc": "no probabilities logged for 10 of 10 rows"}
    assert result.checks[0].days_without_value == 1 and result.checks[0].days_below == 3
    assert result.window["roc_auc"] is None


def test_check_performance_too_few_judged_days_passes_saying_each_bound_not_judged():
    result = judge(log(2), labels_with_precision(2, [0.2, 0.2]), {"precision": 0.8, "f1": 0.1})
    assert result.passed and result.reasons == []
    assert [c.status for c in result.checks] == [NOT_JUDGED, NOT_JUDGED]
    assert result.checks[0].reason == TOO_FEW_DAYS
    text = render_markdown(result)
    assert text.startswith("# Live performance: NOT JUDGED\n")
    assert f"- {TOO_FEW_DAYS.replace('>', '&gt;')}\n" in text and "every bound holds" not in text
    assert "| precision | 0.8000 | NOT JUDGED | 2026-11-02 | 0.2000 |" in text
    assert '<h1 class="unjudged">Live performance: NOT JUDGED</h1>' in render_html(result)
    assert summary_line(result) == "precision not judged (bound 0.8), f1 not judged (bound 0.1)"


def test_check_performance_too_few_judged_days_says_when_a_metric_had_no_value_on_them():
    result = judge(log(2), labels_with_precision(2, [ONE_CLASS] * 2), {"roc_auc": 0.7})
    assert result.passed and result.checks[0].status == NOT_JUDGED
    assert result.checks[0].reason.endswith(
        "; it could not be computed on 2 of them (labels of one class only)"
    )


def test_check_performance_not_judged_bound_reported_with_status_and_reason():
    result = judge(log(4), labels_with_precision(4, [ONE_CLASS] * 4), {"roc_auc": 0.7})
    text = render_markdown(result)
    assert text.startswith("# Live performance: REJECTED\n\n- roc_auc could not be computed")
    assert "| roc_auc | 0.7000 | NOT JUDGED | — | — | — | 0 | 4 | roc_auc could not" in text
    assert "| 2026-11-01 | 10 | 10 | 0 | yes |" in text and "roc_auc: labels of one class" in text
    page = render_html(result)
    assert f"<td>{ONE_CLASS_EVERY_DAY}</td>" in page and "<th>status</th>" in page
    meta = metadata_of(result)
    assert meta["checks"]["roc_auc"] == {
        "status": "not_judged",
        "reason": ONE_CLASS_EVERY_DAY,
        "bound": 0.7,
        "days_below": 0,
        "days_with_value": 0,
        "days_without_value": 4,
    }
    assert meta["days"][0]["unscored"] == {"roc_auc": "labels of one class only"}
    numbers = metrics_of(result)
    assert numbers["roc_auc_not_judged"] == 1.0 and numbers["roc_auc_days_without_value"] == 4.0
    assert summary_line(result) == "roc_auc not judged (bound 0.7)"


def _run_dir(tmp_path, result, retrain: bool):
    """A monitoring run's folder as kfp.local leaves it, with the gate's real outputs."""
    for task, artifacts, output in [
        ("detect-drift", {"report": {"passed": True}}, False),
        (
            "check-performance",
            {"report": metadata_of(result), "metrics": metrics_of(result)},
            retrain,
        ),
    ]:
        folder = tmp_path / "outputs" / "monitoring-x" / task
        folder.mkdir(parents=True)
        raw = {
            "artifacts": {
                name: {"artifacts": [{"uri": f"file://{folder}/{name}", "metadata": meta}]}
                for name, meta in artifacts.items()
            },
            "parameterValues": {"Output": output},
        }
        (folder / "executor_output.json").write_text(json.dumps(raw))
    return tmp_path


@pytest.mark.parametrize(
    ("precisions", "bounds", "outcome", "word", "said"),
    [
        ([ONE_CLASS] * 4, {"roc_auc": 0.7}, "live performance could not be judged → retrain "
         "skipped", "NOT JUDGED", ONE_CLASS_EVERY_DAY),
        ([0.2] * 2, {"precision": 0.8}, "no drift; live performance not judged yet (too few "
         "judged days)", "not judged", TOO_FEW_DAYS),
        ([1.0] * 4, {"precision": 0.8}, "no drift; live performance within bounds", "passed",
         None),
    ],
)  # fmt: skip
def test_run_summary_live_performance_per_bound_status_and_not_judged_said(
    tmp_path, precisions, bounds, outcome, word, said
):
    result = judge(log(len(precisions)), labels_with_precision(len(precisions), precisions), bounds)
    summary = summarize("monitoring", _run_dir(tmp_path, result, not result.passed), "", 0)
    assert summary["outcome"] == outcome
    live = summary["gates"]["live_performance"]
    (metric,) = bounds
    assert live["checks"][metric] == {
        "status": result.checks[0].status,
        "reason": result.checks[0].reason,
    }
    text = render_text(summary)
    assert f"  live_performance {word}" in text
    if said:
        assert f"· {said}" in text
