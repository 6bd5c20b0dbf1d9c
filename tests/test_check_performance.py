"""The live-performance gate's core: known answers on tiny logs, every label it cannot use
counted, bad inputs refused with the way out; its reports, figures and readers.
"""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from components._shared.errors import ConfigError, DataError
from components.check_performance.core import check_performance
from components.check_performance.measures import Scores, measure

DAY0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SETTINGS = {"min_days": 3, "min_labels_per_day": 4, "max_label_delay_days": -1.0}


def log(days: int, per_day: int = 10, *, proba: bool = True) -> pd.DataFrame:
    """A prediction log: `per_day` single-row requests a day; request i predicts i % 2."""
    n = days * per_day
    pred = np.arange(n) % 2
    frame = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "time": [DAY0 + timedelta(days=i // per_day, minutes=i % per_day) for i in range(n)],
            "prediction": pred,
        }
    )
    if proba:
        frame["proba_0"] = np.where(pred == 1, 0.2, 0.8)
        frame["proba_1"] = 1 - frame["proba_0"]
    return frame


def labels_with_precision(days: int, precisions: list[float], per_day: int = 10) -> pd.DataFrame:
    """Labels making each day's precision (class 1) what is asked; negatives are all right.

    Each day has per_day / 2 positive predictions; `precision * positives` of them are right.
    """
    rows = []
    for d in range(days):
        positives = [d * per_day + i for i in range(per_day) if i % 2 == 1]
        right = round(precisions[d] * len(positives))
        for k, i in enumerate(positives):
            rows.append((f"r{i}", 1 if k < right else 0))
        rows += [(f"r{d * per_day + i}", 0) for i in range(0, per_day, 2)]
    return pd.DataFrame(rows, columns=["request_id", "label"])


def judge(predictions, labels, bounds=None, **overrides):
    kwargs = SETTINGS | {"positive_label": ""} | overrides
    return check_performance(predictions, labels, bounds=bounds or {"precision": 0.8}, **kwargs)


@pytest.mark.parametrize(
    ("precisions", "passed", "days_below"),
    [
        ([1.0, 0.6, 0.6, 0.6], False, 3),  # the last 3 days below: fails
        ([0.6, 0.6, 1.0, 0.6], True, 1),  # a good day breaks the run
        ([0.6, 0.6, 0.6, 1.0], True, 0),  # recovered on the last day
        ([1.0, 1.0, 0.6, 0.6], True, 2),  # 2 < min_days
        ([0.8, 0.8, 0.8, 0.8], True, 0),  # equal to the bound passes
        ([0.6, 0.6, 0.6, 0.6], False, 4),
    ],
)
def test_check_performance_fails_only_after_min_days_below_bound(precisions, passed, days_below):
    result = judge(log(4), labels_with_precision(4, precisions))
    (check,) = result.checks
    assert (result.passed, check.days_below) == (passed, days_below)
    assert [d.values["precision"] for d in result.days] == pytest.approx(precisions)
    assert check.last_day == date(2026, 11, 4) and check.last_day_value == pytest.approx(
        precisions[-1]
    )
    if not passed:
        assert result.reasons == [
            f"precision below 0.8 on each of the last {days_below} judged days (min_days 3); "
            f"last day 2026-11-04: {precisions[-1]:.4f}"
        ]


def test_check_performance_day_with_too_few_labels_neither_breaks_nor_extends_the_run():
    labels = labels_with_precision(4, [0.6, 0.6, 1.0, 0.6])
    # Day 3 (the good one) keeps 3 labels < min_labels_per_day 4: not judged.
    day3 = [f"r{i}" for i in range(20, 30)]
    labels = labels[~labels["request_id"].isin(day3[3:])]
    result = judge(log(4), labels)
    assert [d.judged for d in result.days] == [True, True, False, True]
    assert result.days[2].labelled == 3 and result.days[2].values == {}
    assert result.checks[0].days_below == 3 and not result.passed


def test_check_performance_counts_every_label_it_cannot_use_and_says_which_wins():
    predictions = log(3)
    labels = labels_with_precision(3, [1.0, 1.0, 1.0])
    labels["time"] = pd.Timestamp(DAY0 + timedelta(days=1))
    extra = pd.DataFrame(
        {
            "request_id": ["nobody", "r1", "r3", "r5"],
            # r1's correction comes later and wins; r3's repeat is earlier and loses.
            "label": [1, 0, 0, None],
            "time": [DAY0, DAY0 + timedelta(days=2), DAY0, DAY0],
        }
    )
    labels = pd.concat([labels, extra], ignore_index=True)
    labels.loc[labels["request_id"] == "r21", "time"] = pd.Timestamp(DAY0 + timedelta(days=30))
    result = judge(predictions, labels, max_label_delay_days=7.0)
    counts = result.counts
    assert counts.labels == 34 and counts.null_labels == 1
    assert counts.unknown_labels == 1 and counts.duplicate_labels == 2
    assert counts.late_labels == 1 and counts.used_labels == 29
    assert counts.unlabelled == 0 and counts.predictions == 30
    assert result.days[0].values["precision"] == pytest.approx(4 / 5)  # r1 now labelled 0
    assert result.days[2].late_labels == 1 and result.days[2].labelled == 9
    notes = "\n".join(result.notes)
    assert "1 labels name no prediction in the window" in notes
    assert "2 labels repeat a labelled row (the latest time wins" in notes
    assert "1 labels arrived after max_label_delay_days" in notes
    assert "0 of 30 predictions have no label yet" in notes


def test_check_performance_unlabelled_predictions_counted_and_days_without_labels_shown():
    labels = labels_with_precision(2, [1.0, 1.0])  # day 3 has no labels yet
    result = judge(log(3), labels, min_days=1)
    assert result.counts.unlabelled == 10
    assert [(d.labelled, d.judged) for d in result.days] == [(10, True), (10, True), (0, False)]
    assert "10 of 30 predictions have no label yet" in result.notes


def test_check_performance_multi_row_requests_join_on_row_or_are_ambiguous():
    predictions = pd.DataFrame(
        {
            "request_id": ["a", "a", "a", "b"] * 2,
            "time": [DAY0] * 4 + [DAY0 + timedelta(days=1)] * 4,
            "prediction": [1, 0, 1, 1] * 2,
        }
    )
    predictions.loc[4:, "request_id"] = ["c", "c", "c", "d"]
    by_row = pd.DataFrame(
        {"request_id": ["a", "a", "a", "b", "c", "c", "c", "d"], "row": [0, 1, 2, 0] * 2}
        | {"label": [1, 0, 0, 1, 1, 0, 1, 1]}
    )
    result = judge(predictions, by_row, min_labels_per_day=1)
    assert [d.values["precision"] for d in result.days] == pytest.approx([2 / 3, 1.0])
    assert result.days[0].values["roc_auc"] is None  # no probabilities logged
    without_row = by_row.drop(columns="row").drop_duplicates("request_id")
    result = judge(predictions, without_row, min_labels_per_day=1)
    assert result.counts.ambiguous_labels == 2 and result.counts.used_labels == 2
    assert "2 labels have no `row` for a request of several rows" in "\n".join(result.notes)


def test_check_performance_reused_request_id_keeps_the_earliest_prediction():
    predictions = log(1, 4)
    again = predictions.iloc[[1]].assign(time=DAY0 + timedelta(hours=5), prediction=0)
    result = judge(
        pd.concat([predictions, again]),
        pd.DataFrame({"request_id": ["r0", "r1", "r2", "r3"], "label": [0, 1, 0, 1]}),
        min_days=1,
    )
    assert result.counts.duplicate_predictions == 1 and result.days[0].values["precision"] == 1.0


def test_check_performance_positive_label_scores_the_other_class():
    labels = labels_with_precision(3, [0.6, 0.6, 0.6])
    default = judge(log(3), labels, {"precision": 0.9})
    other = judge(log(3), labels, {"precision": 0.9}, positive_label="0")
    assert default.positive_class == 1 and not default.passed
    # Class 0: every negative prediction is right; precision 1.0.
    assert other.positive_class == 0 and other.passed
    assert other.window["precision"] == 1.0


def test_check_performance_text_classes_and_labels_read_as_text():
    predictions = log(3).assign(prediction=lambda f: np.where(f["prediction"] == 1, "bad", "good"))
    # "bad" was class 1 here: its probability column is proba_1's.
    predictions = predictions.rename(columns={"proba_1": "proba_bad", "proba_0": "proba_good"})
    labels = labels_with_precision(3, [1.0] * 3)
    labels["label"] = np.where(labels["label"] == 1, "bad", "good")
    result = judge(predictions, labels, {"accuracy": 0.9})
    assert result.classes == ["bad", "good"] and result.passed
    assert result.window["accuracy"] == 1.0 and result.window["roc_auc"] == 1.0


def test_check_performance_metrics_are_evaluate_models_on_the_same_rows():
    from components.evaluate_model import scoring

    rng = np.random.default_rng(7)
    y_true, proba = rng.integers(0, 2, 200), rng.random(200)
    y_pred = (proba > 0.5).astype(int)
    probas = np.column_stack([1 - proba, proba])
    ours = measure(y_true, y_pred, probas, (0, 1))
    theirs = scoring.Scores(y_true, y_pred, probas, (0, 1))
    for name in ("accuracy", "f1", "roc_auc"):
        assert ours[name] == pytest.approx(scoring.METRICS[name](theirs), abs=1e-12), name
    assert set(ours) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    multi = rng.integers(0, 3, 200)
    assert measure(multi, multi, None, (0, 1, 2))["f1"] == 1.0
    assert measure(np.ones(5), np.ones(5), np.ones((5, 2)), (0, 1))["roc_auc"] is None
    assert Scores(y_true, y_pred, None, (0, 1)).proba is None


@pytest.mark.parametrize(
    ("labels", "kind", "message"),
    [
        (pd.DataFrame({"id": ["r0"], "label": [1]}), DataError,
         r"the labels file lacks column\(s\) \['request_id'\]; it has \['id', 'label'\]; "
         r"a labels file holds request_id, label"),
        (pd.DataFrame({"request_id": ["r0"], "y": [1]}), DataError,
         r"lacks column\(s\) \['label'\]"),
        (pd.DataFrame({"request_id": ["r0", "r1"], "label": ["good", "bad"]}), DataError,
         r"labels hold non-numeric values \['good', 'bad'\] but the model predicts numeric "
         r"classes \[0, 1\]"),
        (pd.DataFrame({"request_id": ["r0"], "label": [2]}), DataError,
         r"labels hold values \[2\] that are none of the model's classes \[0, 1\]"),
        (pd.DataFrame({"request_id": ["x", "y"], "label": [1, 0]}), DataError,
         r"no label matches a prediction in the window \(2 labels: 2 unknown ids"),
        (pd.DataFrame({"request_id": ["r0"], "label": [1], "row": [-1]}), DataError,
         r"`row` must be a whole number >= 0"),
    ],
)  # fmt: skip
def test_check_performance_bad_labels_refused_with_the_way_out(labels, kind, message):
    with pytest.raises(kind, match=message):
        judge(log(1), labels)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bounds": {"precison": 0.8}}, r"unknown metric in bounds 'precison'; expected one of "
         r"\['accuracy', 'f1', 'precision', 'recall', 'roc_auc'\]"),
        ({"bounds": {"precision": 1.5}}, r"bound of precision is 1.5; give a number in \[0, 1\]"),
        ({"bounds": {"precision": "high"}}, r"bound of precision is 'high'"),
        ({"min_days": 0}, r"min_days=0; give 1 or more"),
        ({"min_labels_per_day": 0}, r"min_labels_per_day=0; give 1 or more"),
        ({"positive_label": "yes"}, r"unknown positive_label 'yes'; expected one of \['0', '1'\]"),
    ],
)  # fmt: skip
def test_check_performance_bad_settings_refused_listing_the_valid_ones(overrides, message):
    bounds = overrides.pop("bounds", None)
    with pytest.raises(ConfigError, match=message):
        judge(log(1), labels_with_precision(1, [1.0]), bounds, **overrides)


def test_check_performance_empty_window_refused():
    with pytest.raises(DataError, match="the prediction log has no rows in the window"):
        judge(log(1).iloc[:0], labels_with_precision(1, [1.0]))


def test_check_performance_no_bound_fails_closed():
    result = check_performance(
        log(3), labels_with_precision(3, [1.0] * 3), bounds={}, positive_label="", **SETTINGS
    )
    assert not result.passed
    assert result.reasons == ["no performance bound set: refusing to pass (fail closed)"]


def test_check_performance_too_few_judged_days_passes_and_says_so():
    result = judge(log(2), labels_with_precision(2, [0.2, 0.2]))
    assert result.passed and result.checks[0].days_below == 2
    assert any("only 2 day(s) have >= 4 labels" in n for n in result.notes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_performance_binary_counts_equal_sklearn_ties_and_empty_classes_included(seed):
    from sklearn.metrics import precision_score, recall_score

    from components.check_performance.measures import METRICS

    rng = np.random.default_rng(seed)
    n = [50, 7, 300][seed]
    y_true, proba = rng.integers(0, 2, n), rng.integers(0, 5, n) / 4  # many tied scores
    y_pred = np.zeros(n, dtype=int) if seed == 1 else (proba > 0.5).astype(int)
    probas = np.column_stack([1 - proba, proba])
    fast = measure(y_true, y_pred, probas, (0, 1))
    slow = {name: fn(Scores(y_true, y_pred, probas, (0, 1))) for name, fn in METRICS.items()}
    assert fast == pytest.approx(slow, abs=1e-12)
    assert fast["precision"] == precision_score(y_true, y_pred, zero_division=0)
    assert fast["recall"] == recall_score(y_true, y_pred, zero_division=0)
