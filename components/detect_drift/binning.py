"""Counting and binning for the drift pairs: distinct-value runs, unions, Sturges bins, CDFs.

Each function equals what numpy/scipy give on the raw samples, computed from sorted values or
counts (tests/test_drift_stattests.py checks them against scipy).
"""

import math

import numpy as np

# scipy is imported only by the tests that need it (KS): its import costs seconds, more than
# the whole auto comparison of 1e6 rows takes.

# scipy's ks_2samp computes an exact p-value up to this sample size, asymptotic beyond.
KS_EXACT_MAX_N = 10_000


def runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs (one linear pass)."""
    if len(sorted_values) == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    return sorted_values[starts], np.diff(np.r_[starts, len(sorted_values)])


def n_distinct_sorted(sorted_values: np.ndarray) -> int:
    """How many distinct values a sorted array holds (`len(runs(...)[0])`, nothing built)."""
    if len(sorted_values) == 0:
        return 0
    return int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1])) + 1


def union_counts(ref_keys, ref_counts, cur_keys, cur_counts):
    """Counts of both sides over the sorted union of their keys."""
    keys = np.concatenate([ref_keys, cur_keys])
    keys.sort()  # not np.union1d: it imports numpy.ma (~20 ms) to check for masked arrays
    keys = runs(keys)[0]
    ref = np.zeros(len(keys))
    cur = np.zeros(len(keys))
    ref[np.searchsorted(keys, ref_keys)] = ref_counts
    cur[np.searchsorted(keys, cur_keys)] = cur_counts
    return keys, ref, cur


def sturges_edges(n: int, low: float, high: float) -> np.ndarray:
    """The edges np.histogram_bin_edges(a, "sturges") gives for n values spanning [low, high]."""
    low, high = float(low), float(high)
    if low == high:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / (math.log2(n) + 1.0)
    bins = int(np.ceil((high - low) / width)) if width else 1
    return np.linspace(low, high, bins + 1, endpoint=True)


def sorted_histogram(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """np.histogram(values, edges)[0] for sorted values: bins [a, b), the last one [a, b]."""
    left = np.searchsorted(sorted_values, edges[:-1], side="left")
    right = np.searchsorted(sorted_values, edges[1:], side="left")
    right[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return (right - left).astype(float)


def ks_p_value(d: float, n_ref: int, n_cur: int) -> float:
    """Scipy's asymptotic branch of ks_2samp (two-sided), for samples past KS_EXACT_MAX_N."""
    from scipy import stats

    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    return float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def ks_2samp(ref: np.ndarray, cur: np.ndarray) -> float:
    """Scipy's two-sample KS p-value (two-sided) on raw samples."""
    from scipy import stats

    return float(stats.ks_2samp(ref, cur).pvalue)


def wasserstein_on_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """The area between two sorted samples' CDFs (scipy.stats.wasserstein_distance)."""
    # A stable argsort of two sorted runs is a linear merge; within a run of equal values the
    # CDFs are wrong but the gap to the next value is 0, so the sum is exact.
    # The gap between the CDFs steps by +1/len(u) at a value of u and -1/len(v) at one of v:
    # one cumulative sum of those steps instead of two CDFs and their difference.
    every = np.concatenate([u, v])
    order = np.argsort(every, kind="stable")
    steps = np.where(order < len(u), 1.0 / len(u), -1.0 / len(v))
    gaps = np.abs(np.cumsum(steps)[:-1])
    return float(gaps @ np.diff(every[order]))


def wasserstein_on_counts(keys: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> float:
    """The area between two CDFs given as counts over sorted keys (exact)."""
    # Between consecutive distinct values both CDFs are flat: the area is a sum of rectangles.
    gaps = np.abs(np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum())
    return float(np.sum(gaps[:-1] * np.diff(keys)))


def densities(ref_counts, cur_counts, edges):
    """Both sides' np.histogram(..., density=True) from counts on `edges`, and the bin width."""
    widths = np.diff(edges)
    h1 = ref_counts / widths / ref_counts.sum()
    h2 = cur_counts / widths / cur_counts.sum()
    return h1, h2, float((edges.max() - edges.min()) / (len(edges) - 1))
