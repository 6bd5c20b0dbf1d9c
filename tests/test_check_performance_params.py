"""The monitoring pipeline's live-performance parameters, refused before any task runs (exit 2)."""

import pytest

from kfp_mlops.errors import EXIT_USAGE, UsageError, exit_code_for
from kfp_mlops.params.parse import resolve
from pipelines.descriptors import compiled_path

SPEC = compiled_path("monitoring")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('performance_bounds={"precison": 0.85}', r"performance_bounds=.* names unknown live "
         r"performance metric\(s\) \['precison'\]: expected a mapping of metric name \(one of "
         r"\['accuracy', 'f1', 'precision', 'recall', 'roc_auc'\]\)"),
        ('performance_bounds={"precision": 1.2}', r"has bounds that are not numbers in \[0, 1\]: "
         r"\{'precision': 1.2\}"),
        ('performance_bounds={"precision": "high"}', r"not numbers in \[0, 1\]"),
        ("performance_min_days=0", r"performance_min_days=0 is out of range: expected a finite "
         r"number in \[1, 3660\]"),
        ("performance_min_labels_per_day=0", r"performance_min_labels_per_day=0 is out of range"),
        ("performance_last_days=-1", r"performance_last_days=-1 is out of range"),
        ("performance_start_date=2026-13-01", r"performance_start_date=.* is not a date"),
        ("labels_uri=gs://bucket/labels.csv", r"labels_uri=.* unsupported scheme 'gs://'"),
        ("predictions_uri=s3://bucket-only", r"predictions_uri=.* names no bucket and key"),
        ("max_label_delay_days=.nan", r"max_label_delay_days=NaN is not a finite number"),
    ],
)  # fmt: skip
def test_live_performance_parameters_refused_with_the_way_out(override, message):
    with pytest.raises(UsageError, match=message) as caught:
        resolve(SPEC, None, [override])
    assert exit_code_for(caught.value) == EXIT_USAGE


def test_live_performance_window_start_after_end_refused_once_for_the_pair():
    with pytest.raises(UsageError, match=r"start_date 2026-11-05 is after end_date 2026-11-01"):
        resolve(
            SPEC, None, ["performance_start_date=2026-11-05", "performance_end_date=2026-11-01"]
        )


def test_live_performance_parameters_accepted_and_typed():
    got = resolve(
        SPEC,
        None,
        [
            "labels_uri=s3://kfp-mlops-data/labels/german-credit/",
            'performance_bounds={"precision": 0.85, "roc_auc": 0}',
            "performance_min_days=3",
            "max_label_delay_days=-1",
            "performance_last_days=14",
        ],
    )
    assert got["performance_bounds"] == {"precision": 0.85, "roc_auc": 0}
    assert got["max_label_delay_days"] == -1.0 and got["performance_last_days"] == 14
