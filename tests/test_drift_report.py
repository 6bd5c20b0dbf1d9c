"""The drift reports' pictures and order: charts from the test's own counts, honest verdict text."""

import math
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from components._shared.reports.charts import MAX_BINS, MAX_CATEGORIES, OTHER
from components.detect_drift.core import detect_drift
from components.detect_drift.distributions import chart_edges
from components.detect_drift.ranking import ranked, severity
from components.detect_drift.report import comparison, render_html, render_markdown
from components.detect_drift.results import SCHEMA_CHANGE, SKIPPED, TESTED, ColumnDrift

SVG = "{http://www.w3.org/2000/svg}"


def column(name, method, score, threshold, drifted, status=TESTED, **more) -> ColumnDrift:
    return ColumnDrift(
        column=name,
        status=status,
        drifted=drifted,
        reference_null_share=0.0,
        current_null_share=0.0,
        reference_non_finite_share=0.0,
        current_non_finite_share=0.0,
        method=method,
        score=score,
        threshold=threshold,
        **more,
    )


def by_column(result):
    return {c.column: c for c in result.columns}


def test_chart_edges_are_round_cover_the_range_and_are_bounded():
    for low, high in [(0.3, 0.7), (-0.7, -0.3), (999_996.7, 1_000_003.1), (-1e-9, 5e9), (3, 3)]:
        edges = chart_edges(10_000, low, high)
        assert edges[0] <= low and edges[-1] >= high and len(edges) - 1 <= MAX_BINS
        assert np.all(np.diff(edges) > 0)
    assert chart_edges(1000, 999_996.7, 1_000_003.1).tolist() == list(range(999_996, 1_000_005))


def test_numeric_exact_column_chart_counts_every_value_once():
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(0, 1, 700), rng.normal(2, 1, 500)
    d = by_column(detect_drift(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur})))["x"]
    dist = d.distribution
    assert dist.numeric and len(dist.labels) <= MAX_BINS
    assert (dist.reference_total, dist.current_total) == (700, 500)
    assert math.isclose(sum(dist.reference), 1) and math.isclose(sum(dist.current), 1)
    # The current data sits two std to the right: most of its mass is in later bins.
    middle = len(dist.labels) // 2
    assert sum(dist.current[middle:]) > 0.7 > sum(dist.reference[middle:])


def test_categorical_chart_keeps_top_categories_and_other():
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"c": rng.choice([f"k{i}" for i in range(30)], 2000)})
    cur = pd.DataFrame({"c": rng.choice([f"k{i}" for i in range(25, 60)], 2000)})
    dist = by_column(detect_drift(ref, cur))["c"].distribution
    assert not dist.numeric and len(dist.labels) == MAX_CATEGORIES + 1
    assert dist.labels[-1] == OTHER and dist.reference[-1] > 0 and dist.current[-1] > 0
    assert math.isclose(sum(dist.reference), 1) and math.isclose(sum(dist.current), 1)


def test_streamed_chart_matches_exact_chart_within_a_grid_cell():
    rng = np.random.default_rng(5)
    n = 20_000
    ref = pa.table({"x": rng.normal(0, 1, n), "k": rng.integers(0, 50, n)})
    cur = pa.table({"x": rng.normal(0.5, 1.3, n), "k": rng.integers(10, 60, n)})
    exact = by_column(detect_drift(ref, cur, mode="exact"))
    streamed = by_column(detect_drift(ref, cur, mode="streaming"))
    for name in ("x", "k"):
        a, b = exact[name].distribution, streamed[name].distribution
        assert a.labels == b.labels
        # Grid edges move at most half a cell (2**-19 of the range): a handful of values.
        assert np.allclose(a.reference, b.reference, atol=5 / n)
        assert np.allclose(a.current, b.current, atol=5 / n)


def test_skipped_and_schema_change_columns_have_no_chart():
    ref = pd.DataFrame({"t": ["a", "b"] * 50, "empty": [None] * 100, "x": np.arange(100.0)})
    cur = pd.DataFrame({"t": np.arange(100.0), "empty": [None] * 100, "x": np.arange(100.0)})
    cols = by_column(detect_drift(ref, cur))
    assert cols["t"].status == SCHEMA_CHANGE and cols["t"].distribution is None
    assert cols["empty"].status == SKIPPED and cols["empty"].distribution is None


def test_comparison_sign_says_which_side_of_the_threshold():
    assert comparison(column("a", "ks", 0.003, 0.05, True)) == "p = 0.003 ≤ 0.05"
    assert comparison(column("a", "ks", 0.3, 0.05, False)) == "p = 0.3 > 0.05"
    assert comparison(column("a", "wasserstein", 0.21, 0.1, True)) == "distance 0.21 ≥ 0.1"
    assert comparison(column("a", "wasserstein", 0.05, 0.1, False)) == "distance 0.05 < 0.1"
    approx = column("a", "wasserstein", 0.21, 0.1, True, error_bound=0.004)
    assert comparison(approx) == "distance 0.21 ± 0.004 ≥ 0.1"
    assert comparison(column("a", None, None, None, False, status=SKIPPED)) == ""


def test_ranked_drifted_first_then_severity_across_p_values_and_distances():
    columns = [
        column("quiet_p", "ks", 0.9, 0.05, False),
        column("skipped", None, None, None, False, status=SKIPPED),
        column("mild_distance", "wasserstein", 0.12, 0.1, True),
        column("near_p", "ks", 0.06, 0.05, False),
        column("strong_p", "ks", 1e-12, 0.05, True),
        column("type", SCHEMA_CHANGE, None, None, True, status=SCHEMA_CHANGE),
        column("strong_distance", "wasserstein", 5.0, 0.1, True),
        column("zero_p", "chisquare", 0.0, 0.05, True),
    ]
    names = [c.column for c in ranked(columns)]
    assert names == [
        "type",
        "zero_p",
        "strong_p",
        "strong_distance",
        "mild_distance",
        "near_p",
        "quiet_p",
        "skipped",
    ]
    assert severity(columns[4]) == pytest.approx(math.log10(0.05 / 1e-12))
    assert math.isfinite(severity(columns[7]))


def drifted_frames(n=400, seed=7):
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "stable": rng.normal(0, 1, n),
            "slight": rng.normal(0, 1, n),
            "moved": rng.normal(0, 1, n),
            "city": rng.choice(["a", "b", "c"], n),
        }
    )
    cur = pd.DataFrame(
        {
            "stable": rng.normal(0, 1, n),
            "slight": rng.normal(0.3, 1, n),
            "moved": rng.normal(3, 1, n),
            "city": rng.choice(["a", "b", "c"], n, p=[0.1, 0.1, 0.8]),
        }
    )
    return ref, cur


def test_reports_list_drifted_columns_first_in_both_formats():
    result = detect_drift(*drifted_frames())
    expected = [c.column for c in ranked(result.columns)]
    assert expected[-1] == "stable" and set(expected[:2]) == {"moved", "city"}
    page = render_html(result)
    html_order = re.findall(r"<tr><td>([^<]*)</td>", page)
    assert html_order == expected
    text = render_markdown(result)
    md_order = [line.split(" | ")[0].strip("| ") for line in text.splitlines()[-4:]]
    assert md_order == expected


def test_html_charts_are_svg_with_words_and_no_old_bar():
    page = render_html(detect_drift(*drifted_frames()))
    svgs = re.findall(r"<svg .*?</svg>", page)
    assert len(svgs) == 4
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        assert "reference (400 values) vs current (400)" in root.get("aria-label")
    assert "p = " in page and "score vs threshold" in page


def wide_result(columns=1000):
    """A real 1,000-column run: numbers, and categories past the top-10 cap, long names."""
    rng = np.random.default_rng(11)
    n, half = 300, columns // 2
    cats = [f"category {'x' * 60} {j}" for j in range(60)]

    def make(shift):
        numbers = {f"num_{'n' * 100}_{i}": rng.normal(shift * (i % 3), 1, n) for i in range(half)}
        labels = {f"cat_{i}": rng.choice(cats[: 40 + int(20 * shift)], n) for i in range(half)}
        return pd.DataFrame({**numbers, **labels})

    return detect_drift(make(0.0), make(1.0))


def test_html_1000_columns_under_5_mb_and_fast():
    result = wide_result()
    assert len(result.columns) == 1000 and result.drifted_columns
    started = time.perf_counter()
    page = render_html(result)
    seconds = time.perf_counter() - started
    size = len(page.encode())
    print(f"1,000-column drift page: {size / 1e6:.2f} MB rendered in {seconds:.3f} s")
    assert size < 5_000_000
    assert seconds < 2.0
    assert page.count("<svg") == 1000
    assert page.count("<tr>") == 1001
