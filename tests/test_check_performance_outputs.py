"""The live-performance gate's outputs and inputs: reports, HTML chart, Pushgateway figures
(pushed to a real Debian `prometheus-pushgateway`), the prediction-log and labels readers.
"""

import re
import urllib.request
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow.parquet as pq
import pytest

from components._shared.errors import DataError
from components._shared.io.partitions import DateWindow
from components.check_performance.publish import DAYS_BELOW, MIN_DAYS, figures_of
from components.check_performance.read import read_labels, read_predictions
from components.check_performance.report import (
    metadata_of,
    metrics_of,
    render_html,
    render_markdown,
)
from kfp_mlops.serve import logtable
from tests.test_check_performance import judge, labels_with_precision, log


@pytest.fixture(scope="module")
def failing():
    return judge(log(4), labels_with_precision(4, [1.0, 0.6, 0.6, 0.6]), {"precision": 0.8})


def test_check_performance_metrics_and_metadata_hold_every_count_and_day(failing):
    numbers = metrics_of(failing)
    assert numbers["passed"] == 0.0 and numbers["precision_days_below_bound"] == 3.0
    assert numbers["precision_last_day"] == pytest.approx(0.6)
    assert numbers["used_labels"] == 40.0 and numbers["judged_days"] == 4.0
    assert {"unknown_labels", "late_labels", "duplicate_labels", "unlabelled"} <= set(numbers)
    meta = metadata_of(failing)
    assert meta["passed"] is False and meta["skipped"] is False
    assert meta["days_below_bound"] == {"precision": 3} and meta["bounds"] == {"precision": 0.8}
    assert [d["day"] for d in meta["days"]] == [f"2026-11-0{i}" for i in range(1, 5)]
    assert meta["days"][1]["precision"] == pytest.approx(0.6)


def test_check_performance_markdown_verdict_first_then_bounds_and_every_day(failing):
    text = render_markdown(failing)
    assert text.startswith("# Live performance: REJECTED\n")
    assert "| precision | 0.8000 | FAILED | 2026-11-04 | 0.6000 | 0.7000 | 3 | 0 |" in text
    assert "precision below 0.8 on each of the last 3 judged days" in text
    assert text.count("\n| 2026-11-0") == 4


def test_check_performance_html_has_one_chart_per_metric_with_the_bound_and_no_script(failing):
    page = render_html(failing)
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3', "")
    charts = re.findall(r"<svg .*?</svg>", page)
    assert len(charts) == 5  # precision (bounded, first), then accuracy, recall, f1, roc_auc
    precision = charts[0]
    assert "precision: 2026-11-01 1, 2026-11-02 0.6, 2026-11-03 0.6, 2026-11-04 0.6" in precision
    assert "bound 0.8" in precision and "stroke-dasharray" in precision
    assert "stroke-dasharray" not in charts[1]  # accuracy has no bound
    assert "precision (bound ≥ 0.8, dashed)" in page


def test_check_performance_page_renders_in_chromium_without_problems(failing, tmp_path):
    from components._shared.reports.charts import SERIES_COLOURS
    from tests.browser import Chromium
    from tests.test_report_render import check_renders

    path = tmp_path / "live.html"
    path.write_text(render_html(failing), encoding="utf-8")
    chromium = Chromium(tmp_path / "profile")
    try:
        opened = chromium.open(path)
    finally:
        chromium.close()
    # Each chart holds one metric: its line is drawn in the first series colour.
    check_renders(opened, charts=5, colours=(SERIES_COLOURS[0],))


def test_check_performance_figures_push_days_below_per_metric_and_no_day_label(failing):
    figures = figures_of(failing, "german-credit", 0.25)
    assert figures.gate == "live_performance" and figures.passed is False
    assert [(s.name, dict(s.labels), s.value) for s in figures.series] == [
        (DAYS_BELOW, {"metric": "precision"}, 3.0),
        (MIN_DAYS, {"metric": "precision"}, float(failing.min_days)),
    ]
    assert figures.metrics["precision_last_day"] == pytest.approx(0.6)
    assert figures.metrics["precision_window"] == pytest.approx(0.7)
    assert figures.thresholds == {"precision": (0.8, "min")}
    labels = {k for s in figures.series for k in s.labels}
    assert "day" not in labels and not any("day=" in k for k in figures.metrics)


@pytest.fixture
def gateway_url(pushgateway, monkeypatch):
    """The session's real Pushgateway (tests/real_pushgateway.py), as a monitoring task sees it."""
    monkeypatch.setenv("KFP_MLOPS_PUSHGATEWAY_URL", pushgateway.url)
    monkeypatch.setenv("KFP_MLOPS_PIPELINE", "monitoring")
    return pushgateway.url


def test_check_performance_pushes_the_series_the_alert_watches_to_a_real_pushgateway(
    failing, gateway_url
):
    from components._shared.verdicts.pushgateway import push_gate

    assert push_gate(figures_of(failing, "german-credit", 0.25))
    page = urllib.request.urlopen(f"{gateway_url}/metrics", timeout=5).read().decode()
    labels = 'gate="live_performance",instance="",job="kfp_mlops_gate"'
    assert (
        f'{DAYS_BELOW}{{{labels},metric="precision",model="german-credit",pipeline="monitoring"}} 3'
        in page
    )
    min_days = (
        f'{MIN_DAYS}{{{labels},metric="precision",model="german-credit",pipeline="monitoring"}}'
    )
    assert f"{min_days} {failing.min_days}" in page
    assert re.search(r'kfp_mlops_gate_passed\{gate="live_performance",[^}]*\} 0', page)
    assert 'metric="precision_last_day"' in page and "day=" not in page


def _write_log(root, frame: pd.DataFrame) -> None:
    """Write the frame in the prediction log's layout, with the log's own table builder."""
    for day, rows in frame.groupby(frame["time"].dt.date):
        part = logtable.table([{c: rows[c].tolist() for c in rows.columns}])
        folder = root / "german-credit" / f"date={day}"
        folder.mkdir(parents=True)
        pq.write_table(part, folder / "000000-a.parquet")


def test_check_performance_reads_only_the_window_and_only_the_columns_it_needs(tmp_path):
    frame = log(4).assign(model_name="german-credit", model_version="1", age=30)
    _write_log(tmp_path, frame)
    window = DateWindow(date(2026, 11, 2), date(2026, 11, 3))
    read = read_predictions(str(tmp_path / "german-credit"), window)
    # model_version too: the gate judges the served version's rows (served.py).
    assert sorted(read.columns) == [
        "model_version", "prediction", "proba_0", "proba_1", "request_id", "time"
    ]  # fmt: skip
    assert len(read) == 20 and read["request_id"].iloc[0] == "r10"
    with pytest.raises(DataError, match=r"no part of .* lies in the window 2026-12-01..2026-12-02"):
        read_predictions(
            str(tmp_path / "german-credit"), DateWindow(date(2026, 12, 1), date(2026, 12, 2))
        )


def test_check_performance_reads_labels_from_a_folder_of_csv_and_parquet(tmp_path):
    labels = labels_with_precision(2, [1.0, 0.6])
    labels.iloc[:10].to_csv(tmp_path / "a.csv", index=False)
    labels.iloc[10:].to_parquet(tmp_path / "b.parquet", index=False)
    read = read_labels(str(tmp_path))
    assert len(read) == 20 and list(read["request_id"][:2]) == ["r1", "r3"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no labels: no .* file under it"):
        read_labels(str(tmp_path / "empty"))
    with pytest.raises(DataError, match="no such file"):
        read_labels(str(tmp_path / "missing.csv"))


def test_check_performance_labels_time_with_offsets_and_naive_times_are_utc():
    predictions = log(1, 4)
    stamp = datetime(2026, 11, 5, 9, tzinfo=UTC)
    labels = pd.DataFrame(
        {"request_id": ["r0", "r1", "r2", "r3"], "label": [0, 1, 0, 1]}
        | {"time": ["2026-11-01T12:00:00+02:00", "2026-11-01 12:00", str(stamp), "2026-11-20"]}
    )
    result = judge(predictions, labels, min_days=1, min_labels_per_day=1, max_label_delay_days=7)
    # r3's label came 19 days after its prediction: late; the others within 7 days.
    assert result.counts.late_labels == 1 and result.counts.used_labels == 3


def test_run_summary_text_shows_live_performance_below_and_skipped(failing):
    from kfp_mlops.runs.render import render_text

    gate = {"passed": False, "reasons": failing.reasons, "metrics": metrics_of(failing)}
    summary = {
        "pipeline": "monitoring",
        "status": "succeeded",
        "outcome": "live performance below bound → retrained: blessed (model v2)",
        "blessed": True,
        "gates": {"drift": None, "live_performance": gate},
        "model": None,
        "run_dir": "runs/x",
    }
    text = render_text(summary)
    assert "  live_performance BELOW     used_labels=40, judged_days=4, precision=0.7000" in text
    assert "· precision below 0.8 on each of the last 3 judged days" in text
    summary["gates"]["live_performance"] = None
    assert "  live_performance not run" in render_text(summary)
    # No label to judge on yet: neither passed nor BELOW.
    said = "cannot judge yet: no labels under s3://labels/"
    blind = {"passed": False, "reasons": [said], "metrics": {}, "report": {"cannot_judge": True}}
    summary["gates"]["live_performance"] = blind
    text = render_text(summary)
    assert "  live_performance CANNOT JUDGE" in text and "BELOW" not in text
