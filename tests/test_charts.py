"""The inline SVG charts: valid XML, escaped text, bounded size, honest words, no NaN."""

import math
import re
import xml.etree.ElementTree as ET

import pytest

from components._shared.reports.charts import (
    HEIGHT,
    MAX_BINS,
    MAX_CATEGORIES,
    OTHER,
    WIDTH,
    categorical_distribution,
    daily_series,
    distribution_pair,
    numeric_distribution,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(\"x\")</script> & 'q' \x00\x1b\ufffe"


def _parsed(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("width") == str(WIDTH) and root.get("height") == str(HEIGHT)
    assert root.find(f"{SVG}title").text == root.get("aria-label")
    return root


def _numbers(svg: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", svg)]


def _no_nan(svg: str) -> None:
    assert not re.search(r"nan|inf(?!o)", svg, re.IGNORECASE), svg


def _bar_heights(path: str) -> list[float]:
    return [float(h) for h in re.findall(r"v-([\d.]+)", path)]


def test_numeric_distribution_same_edges_both_sides_and_shares():
    d = numeric_distribution([0, 1, 2, 3], [2, 2, 0], [0, 1, 3])
    assert d.labels == ("[0, 1)", "[1, 2)", "[2, 3]")
    assert d.reference == (0.5, 0.5, 0.0)
    assert d.current == (0.0, 0.25, 0.75)
    assert (d.reference_total, d.current_total) == (4, 4)


def test_numeric_distribution_merges_neighbours_past_max_bins():
    edges = list(range(51))
    d = numeric_distribution(edges, [1] * 50, [0] * 49 + [10])
    assert len(d.labels) <= MAX_BINS
    assert d.labels[0].startswith("[0, ") and d.labels[-1].endswith(", 50]")
    assert math.isclose(sum(d.reference), 1.0) and d.current[-1] == 1.0


def test_numeric_distribution_mismatched_counts_named():
    with pytest.raises(ValueError, match="n \\+ 1 edges for n counts"):
        numeric_distribution([0, 1], [1, 2], [1])
    with pytest.raises(ValueError, match="finite edges"):
        numeric_distribution([0, math.inf], [1], [1])


def test_categorical_distribution_top_categories_then_other():
    keys = [f"c{i}" for i in range(15)]
    ref = [100] + [1] * 14
    cur = [1] * 14 + [100]
    d = categorical_distribution(keys, ref, cur)
    assert len(d.labels) == MAX_CATEGORIES + 1 and d.labels[-1] == OTHER
    assert set(d.labels[:2]) == {"c0", "c14"}  # the largest on either side comes first
    assert math.isclose(sum(d.reference), 1.0) and math.isclose(sum(d.current), 1.0)


def test_categorical_distribution_few_categories_no_other():
    d = categorical_distribution(["a", "b"], [3, 1], [1, 3])
    assert OTHER not in d.labels and d.labels == ("a", "b")


def test_distribution_pair_bars_scale_with_shares():
    svg = distribution_pair("age", numeric_distribution([0, 1, 2], [3, 1], [1, 3]))
    root = _parsed(svg)
    ref, cur = root.findall(f"{SVG}path")
    assert ref.get("fill") != cur.get("fill")
    r, c = _bar_heights(ref.get("d")), _bar_heights(cur.get("d"))
    # The largest share fills the plot: the height less the padding and the range strip.
    assert r[0] == c[1] == pytest.approx(HEIGHT - 15) and r[1] == pytest.approx(r[0] / 3, abs=0.1)
    low, high = root.findall(f"{SVG}text")
    assert (low.text, high.text, high.get("text-anchor")) == ("0", "2", "end")
    assert "age: reference (4 values) vs current (4) by bins" in root.get("aria-label")
    assert "[0, 1) 75% vs 25%" in root.get("aria-label")
    assert all(abs(n) <= WIDTH for n in _numbers(ref.get("d") + cur.get("d")))


def test_categorical_pair_uses_the_full_height_and_has_no_range():
    root = _parsed(distribution_pair("c", categorical_distribution(["a", "b"], [1, 0], [0, 1])))
    ref, cur = root.findall(f"{SVG}path")
    assert _bar_heights(ref.get("d")) == _bar_heights(cur.get("d")) == [HEIGHT - 4]
    assert root.find(f"{SVG}text") is None


def test_distribution_pair_hostile_category_is_escaped_text():
    d = categorical_distribution([HOSTILE, "ok"], [1, 1], [0, 2])
    svg = distribution_pair(HOSTILE, d)
    assert "<script" not in svg
    root = _parsed(svg)
    label = root.get("aria-label")
    assert '<script>alert("x")</script>' in label  # shown as the characters it holds
    assert "\x00" not in label and "\ufffd" in label
    assert root.find(f"{SVG}script") is None


def test_distribution_pair_empty_and_one_bin():
    empty = distribution_pair("x", categorical_distribution([], [], []))
    assert "no values" in _parsed(empty).get("aria-label")
    assert _parsed(empty).find(f"{SVG}path") is None
    nothing = distribution_pair("x", numeric_distribution([0, 1], [0], [0]))
    assert _parsed(nothing).find(f"{SVG}path") is None
    one = distribution_pair("x", numeric_distribution([5, 5.5], [7], [2]))
    root = _parsed(one)
    assert len(root.findall(f"{SVG}path")) == 2
    assert "[5, 5.5] 100% vs 100%" in root.get("aria-label")
    for svg in (empty, nothing, one):
        _no_nan(svg)


def test_distribution_pair_non_finite_counts_are_not_drawn():
    svg = distribution_pair("x", numeric_distribution([0, 1, 2], [math.nan, 1], [math.inf, 1]))
    _parsed(svg)
    _no_nan(svg)


def test_distribution_pair_size_bounded_at_the_caps():
    keys = ["k" * 500 + str(i) for i in range(200)]
    svg = distribution_pair("n" * 500, categorical_distribution(keys, [1] * 200, [2] * 200))
    _parsed(svg)
    assert len(svg) < 3000


def test_daily_series_gap_for_missing_day_and_bound_line():
    days = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    svg = daily_series(
        days, {"accuracy": [0.9, 0.8, None, 0.7, math.nan]}, {"accuracy": 0.75, "other": 1}
    )
    root = _parsed(svg)
    _no_nan(svg)
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 1 and len(lines[0].get("points").split()) == 2  # the gap cuts it
    assert len(root.findall(f"{SVG}circle")) == 1  # 11-04 alone between two gaps
    (bound,) = root.findall(f"{SVG}line")
    label = root.get("aria-label")
    assert "2026-11-03 missing" in label and "2026-11-05 missing" in label
    assert "accuracy: 2026-11-01 0.9, 2026-11-02 0.8" in label and "bound 0.75" in label
    # Higher values sit higher: 0.9 above the bound 0.75, above 0.7.
    first_y = float(lines[0].get("points").split()[0].split(",")[1])
    assert first_y < float(bound.get("y1")) < float(root.find(f"{SVG}circle").get("cy"))


def test_daily_series_two_metrics_two_colours():
    svg = daily_series(["d1", "d2"], {"a": [1, 2], "b<x>": [2, 1]}, {"a": 1.5, "b<x>": None})
    root = _parsed(svg)
    lines = root.findall(f"{SVG}polyline")
    assert len({p.get("stroke") for p in lines}) == 2
    assert len(root.findall(f"{SVG}line")) == 1
    assert "b<x>: d1 2, d2 1" in root.get("aria-label")


def test_daily_series_empty_one_day_and_constant():
    assert _parsed(daily_series([], {}, {})).get("aria-label") == "no days"
    one = daily_series(["d1"], {"m": [0.5]}, {"m": 0.5})
    assert len(_parsed(one).findall(f"{SVG}circle")) == 1
    flat = daily_series(["d1", "d2", "d3"], {"m": [1, 1, 1]}, {})
    _parsed(flat)
    for svg in (one, flat):
        _no_nan(svg)
        assert all(0 <= n <= WIDTH for n in _numbers(svg.split("</title>")[1]) if n != 1.5)


def test_daily_series_wrong_length_named():
    with pytest.raises(ValueError, match="'m' has 1 values for 2 days"):
        daily_series(["d1", "d2"], {"m": [1]}, {})


def test_numeric_distribution_labels_keep_close_edges_apart():
    d = numeric_distribution([1e6, 1e6 + 0.5, 1e6 + 1], [1, 1], [1, 1])
    assert d.labels == ("[1000000, 1000000.5)", "[1000000.5, 1000001]")


def test_categorical_distribution_ties_keep_key_order():
    d = categorical_distribution([True, False, "b", 3], [1, 1, 1, 1], [1, 1, 1, 1])
    assert d.labels == ("True", "False", "b", "3")
