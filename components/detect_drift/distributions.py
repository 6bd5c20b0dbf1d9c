"""Each tested column's reference vs current shares for the report's chart, from its pair.

Read from what the test already has (counts, sorted values or the streamed grid), never a
second pass over the data, and bounded: at most charts.MAX_BINS bins for numbers,
charts.MAX_CATEGORIES categories and "other" for the rest.
"""

import math

import numpy as np

from components._shared.reports.charts import (
    MAX_BINS,
    Distribution,
    categorical_distribution,
    numeric_distribution,
)
from components.detect_drift.binning import sorted_histogram, sturges_edges
from components.detect_drift.grid import GridPair
from components.detect_drift.pairs import CATEGORICAL, ValuesPair


def _nice(width: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at least `width`."""
    power = 10.0 ** math.floor(math.log10(width))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= width)


def chart_edges(n: int, low: float, high: float) -> np.ndarray:
    """Edges on round numbers covering [low, high]: about Sturges' bins, at most MAX_BINS.

    Round edges read better than the data's own extremes, and they do not print the
    smallest and largest value of a column (a row's value) in the report.
    """
    if low == high:
        low, high = low - 0.5, high + 0.5
    bins = min(MAX_BINS, len(sturges_edges(max(n, 1), low, high)) - 1)
    step = _nice((high - low) / bins)
    while True:
        # The tolerances keep 0.3 / 0.1 = 2.9999999999999996 from adding an empty bin; the
        # outer edges then take in the last ulp, so no value falls outside.
        start = math.floor(low / step + 1e-9) * step
        count = max(math.ceil((high - start) / step - 1e-9), 1)
        if count <= MAX_BINS:
            edges = start + step * np.arange(count + 1)
            edges[0], edges[-1] = min(edges[0], low), max(edges[-1], high)
            return edges
        step = _nice(step * 1.001)


def _grid(pair: GridPair) -> Distribution:
    # Each edge moved to the nearest grid cell boundary (at most half a cell, a
    # 2**-19 share of the range, away), so the counts are sums of whole cells.
    cells = len(pair.ref_grid)
    edges = chart_edges(pair.n_ref + pair.n_cur, pair.low, pair.high)
    if pair.high == pair.low:  # every value in cell 0
        return numeric_distribution(edges, [pair.ref_grid.sum()], [pair.cur_grid.sum()])
    at = (edges - pair.low) * (cells / (pair.high - pair.low))
    index = np.clip(np.round(at), 0, cells).astype(np.int64)
    ref = np.diff(np.r_[0, np.cumsum(pair.ref_grid)][index])
    cur = np.diff(np.r_[0, np.cumsum(pair.cur_grid)][index])
    return numeric_distribution(edges, ref, cur)


def distribution_of(pair) -> Distribution:
    """The chart's shares for a pair (pairs.CountsPair, ValuesPair or grid.GridPair)."""
    if pair.column_type == CATEGORICAL:
        return categorical_distribution(*pair.counts())
    if isinstance(pair, GridPair):
        return _grid(pair)
    if isinstance(pair, ValuesPair):
        ref, cur = pair.ref_values, pair.cur_values
        low, high = float(min(ref[0], cur[0])), float(max(ref[-1], cur[-1]))
        edges = chart_edges(len(ref) + len(cur), low, high)
        return numeric_distribution(
            edges, sorted_histogram(ref, edges), sorted_histogram(cur, edges)
        )
    keys, ref, cur = pair.counts()  # numbers with few distinct values, counted one by one
    keys = keys.astype(float)
    edges = chart_edges(int(ref.sum() + cur.sum()), float(keys[0]), float(keys[-1]))
    return numeric_distribution(
        edges, np.histogram(keys, edges, weights=ref)[0], np.histogram(keys, edges, weights=cur)[0]
    )
