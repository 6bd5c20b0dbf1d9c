"""The HTML reports in a real headless Chromium: their charts lay out, paint, and raise nothing."""

import numpy as np
import pandas as pd
import pytest

from components._shared.reports.charts import (
    CURRENT_COLOUR,
    HEIGHT,
    REFERENCE_COLOUR,
    SERIES_COLOURS,
    WIDTH,
    daily_series,
)
from components.detect_drift.core import detect_drift
from components.detect_drift.report import render_html
from tests.browser import Chromium, Opened
from tests.conftest import free_port

# A bar 240 px wide of 60 is a few hundred pixels at least; a blank page has none.
MIN_PAINTED_PIXELS = 100


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def check_renders(opened: Opened, charts: int, colours: tuple[str, ...]) -> None:
    """Fail unless the page raised nothing, laid out `charts` SVGs and painted their colours."""
    assert opened.problems == [], f"the page reported problems: {opened.problems}"
    assert len(opened.svgs) == charts, f"{len(opened.svgs)} <svg> laid out, expected {charts}"
    for svg in opened.svgs:
        assert (svg["width"], svg["height"]) == (WIDTH, HEIGHT), svg
        assert svg["role"] == "img" and svg["label"] and svg["shapes"] > 0, svg
    for colour in colours:
        painted = opened.pixels_near(colour)
        assert painted >= MIN_PAINTED_PIXELS, f"{painted} pixels near {colour}: nothing painted"


def page(path, body: str, title: str = "report"):
    path.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body>{body}</body></html>",
        encoding="utf-8",
    )
    return path


def drifted_frames(n=300, seed=2):
    rng = np.random.default_rng(seed)
    cities = ["<script>alert(1)</script>", "b & c", 'say "hi"']
    ref = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "age": rng.integers(18, 80, n),
            "city": rng.choice(cities, n, p=[0.6, 0.3, 0.1]),
            "steady": rng.normal(0, 1, n),
        }
    )
    cur = pd.DataFrame(
        {
            "income": rng.normal(70, 10, n),
            "age": rng.integers(30, 90, n),
            "city": rng.choice(cities, n, p=[0.1, 0.3, 0.6]),
            "steady": rng.normal(0, 1, n),
        }
    )
    return ref, cur


def test_drift_report_renders_its_charts_in_chromium(browser, tmp_path):
    result = detect_drift(*drifted_frames())
    assert result.drifted
    report = tmp_path / "drift.html"
    report.write_text(render_html(result), encoding="utf-8")
    opened = browser.open(report)
    check_renders(opened, charts=4, colours=(CURRENT_COLOUR, REFERENCE_COLOUR))
    # Drifted columns first: the steady column's chart comes last.
    assert opened.svgs[-1]["label"].startswith("steady: reference (300 values)")
    assert any("<script>alert(1)</script>" in s["label"] for s in opened.svgs)


def test_live_performance_chart_renders_in_chromium(browser, tmp_path):
    days = [f"2026-11-{d:02d}" for d in range(1, 15)]
    accuracy = [0.91, 0.9, 0.88, None, 0.86, 0.84, 0.83, 0.8, float("nan"), 0.79, 0.78, 0.8, 0.77]
    roc_auc = [0.95 - 0.01 * i for i in range(14)]
    svg = daily_series(
        days, {"accuracy": [*accuracy, 0.76], "roc_auc": roc_auc}, {"accuracy": 0.82}
    )
    opened = browser.open(page(tmp_path / "live.html", f"<h1>Live performance</h1>{svg}"))
    check_renders(opened, charts=1, colours=SERIES_COLOURS[:2])
    assert "2026-11-04 missing" in opened.svgs[0]["label"]


def test_page_with_a_script_error_is_reported(browser, tmp_path):
    svg = daily_series(["d1", "d2"], {"m": [1, 2]}, {})
    broken = page(tmp_path / "broken.html", f"{svg}<script>undefinedFunction();</script>")
    opened = browser.open(broken)
    assert any("undefinedFunction is not defined" in p for p in opened.problems), opened.problems
    with pytest.raises(AssertionError, match="reported problems"):
        check_renders(opened, charts=1, colours=SERIES_COLOURS[:1])


def test_page_loading_an_outside_asset_is_reported(browser, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/chart.png"  # nothing listens there
    opened = browser.open(page(tmp_path / "asset.html", f'<img src="{url}" alt="x">'))
    assert any(url in p for p in opened.problems), opened.problems


def test_blank_page_fails_the_render_check(browser, tmp_path):
    opened = browser.open(page(tmp_path / "blank.html", "<p>no charts</p>"))
    assert opened.problems == []
    with pytest.raises(AssertionError, match="0 <svg> laid out"):
        check_renders(opened, charts=1, colours=(CURRENT_COLOUR,))
    # An SVG that is there but draws nothing in the colour expected is caught by the pixels.
    empty = '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="60" role="img" '
    empty += 'aria-label="x"><rect width="1" height="1" fill="#fff"/></svg>'
    opened = browser.open(page(tmp_path / "white.html", empty))
    with pytest.raises(AssertionError, match="nothing painted"):
        check_renders(opened, charts=1, colours=(CURRENT_COLOUR,))
