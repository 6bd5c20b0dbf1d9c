"""What the drift tests score: one column of reference and current data, in one of three forms.

- `CountsPair`: the count of every value (categories, and numbers with few distinct values).
  Every score is exact.
- `ValuesPair`: every finite value of a numerical column, sorted (exact mode). Every score is
  exact and equals what scipy gives on the raw samples.
- `GridPair`: a numerical column summarised while streaming: exact count, mean, variance,
  minimum and maximum; exact Sturges histograms where a binned test needs them; and a
  histogram of `GRID_BINS` equal-width bins over the range of both datasets. KS and
  Wasserstein are computed from that histogram, with an error bound (see `GridPair`).

Each score method returns `(score, error_bound)`; the bound is 0 for exact scores.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from components._shared.errors import ConfigError

# scipy is imported only by the tests that need it (KS, chi-square): its import costs seconds,
# more than the whole auto comparison of 1e6 rows takes.

NUMERICAL, CATEGORICAL = "numerical", "categorical"
# Evidently bins numerical columns (JS, PSI, KL) only past this many distinct reference values.
MAX_UNBINNED_VALUES = 20
# Wasserstein is normed by the reference std, floored so constant columns do not divide by 0.
MIN_STD = 0.001
# scipy's ks_2samp computes an exact p-value up to this sample size, asymptotic beyond.
KS_EXACT_MAX_N = 10_000
# Fine histogram of a streamed numerical column: bins over [min, max] of both datasets.
GRID_BINS = 1 << 18


def runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs (one linear pass)."""
    if len(sorted_values) == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    return sorted_values[starts], np.diff(np.r_[starts, len(sorted_values)])


def union_counts(ref_keys, ref_counts, cur_keys, cur_counts):
    """Counts of both sides over the sorted union of their keys."""
    keys = np.union1d(ref_keys, cur_keys)
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


def _ks_p_value(d: float, n_ref: int, n_cur: int) -> float:
    # scipy's asymptotic branch of ks_2samp (two-sided), for samples past KS_EXACT_MAX_N.
    from scipy import stats

    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    return float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def _ks_2samp(ref: np.ndarray, cur: np.ndarray) -> float:
    from scipy import stats

    return float(stats.ks_2samp(ref, cur).pvalue)


def _wasserstein_on_sorted(u: np.ndarray, v: np.ndarray) -> float:
    # The area between the two empirical CDFs (what scipy.stats.wasserstein_distance gives).
    # A stable argsort of two sorted runs is a linear merge; within a run of equal values the
    # CDFs are wrong but the gap to the next value is 0, so the sum is exact.
    every = np.concatenate([u, v])
    order = np.argsort(every, kind="stable")
    from_u = order < len(u)
    u_cdf = np.cumsum(from_u) / len(u)
    v_cdf = np.cumsum(~from_u) / len(v)
    return float(np.sum(np.abs(u_cdf - v_cdf)[:-1] * np.diff(every[order])))


def _wasserstein_on_counts(keys: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> float:
    # Between consecutive distinct values both CDFs are flat: the area is a sum of rectangles.
    gaps = np.abs(np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum())
    return float(np.sum(gaps[:-1] * np.diff(keys)))


@dataclass
class CountsPair:
    """Counts per value over the sorted union of both sides' values."""

    column_type: str
    keys: np.ndarray
    ref: np.ndarray  # float counts, aligned with keys
    cur: np.ndarray

    @classmethod
    def of(cls, column_type: str, ref_keys, ref_counts, cur_keys, cur_counts) -> "CountsPair":
        """Align two sides' (keys, counts) on their union."""
        return cls(column_type, *union_counts(ref_keys, ref_counts, cur_keys, cur_counts))

    @property
    def n_ref(self) -> int:
        """Values in the reference."""
        return int(self.ref.sum())

    @property
    def n_cur(self) -> int:
        """Values in the current data."""
        return int(self.cur.sum())

    def n_values(self) -> int:
        """Distinct values over both sides."""
        return len(self.keys)

    def n_ref_values(self) -> int:
        """Distinct values in the reference."""
        return int(np.count_nonzero(self.ref))

    def counts(self):
        """Keys and both sides' counts."""
        return self.keys, self.ref, self.cur

    def ks(self) -> tuple[float, float]:
        """Two-sample KS p-value: scipy's exact method on small samples, asymptotic beyond."""
        if max(self.n_ref, self.n_cur) <= KS_EXACT_MAX_N:
            ref = np.repeat(self.keys, self.ref.astype(np.int64))
            cur = np.repeat(self.keys, self.cur.astype(np.int64))
            return _ks_2samp(ref, cur), 0.0
        d = float(
            np.max(np.abs(np.cumsum(self.ref) / self.n_ref - np.cumsum(self.cur) / self.n_cur))
        )
        return _ks_p_value(d, self.n_ref, self.n_cur), 0.0

    def ref_std(self) -> float:
        """Population standard deviation of the reference."""
        keys = self.keys.astype(float)
        mean = float(np.sum(keys * self.ref) / self.n_ref)
        return math.sqrt(float(np.sum(self.ref * (keys - mean) ** 2) / self.n_ref))

    def wasserstein(self) -> tuple[float, float]:
        """Wasserstein-1 distance between the two distributions (exact)."""
        return _wasserstein_on_counts(self.keys.astype(float), self.ref, self.cur), 0.0

    def binned(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts per bin as Evidently's get_binned_data makes them (see `shares`)."""
        if self.column_type == NUMERICAL and self.n_ref_values() > MAX_UNBINNED_VALUES:
            keys = self.keys.astype(float)  # sorted, each counted on at least one side
            edges = sturges_edges(self.n_ref + self.n_cur, keys[0], keys[-1])
            return (
                np.histogram(keys, edges, weights=self.ref)[0],
                np.histogram(keys, edges, weights=self.cur)[0],
            )
        return self.ref, self.cur

    def hellinger_densities(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Density histograms on Sturges bins over the distinct values of both, and bin width."""
        keys = self.keys.astype(float)
        edges = sturges_edges(len(keys), keys[0], keys[-1])
        return _densities(
            np.histogram(keys, edges, weights=self.ref)[0],
            np.histogram(keys, edges, weights=self.cur)[0],
            edges,
        )


def _densities(ref_counts, cur_counts, edges):
    # np.histogram(..., density=True): counts / bin width / total.
    widths = np.diff(edges)
    h1 = ref_counts / widths / ref_counts.sum()
    h2 = cur_counts / widths / cur_counts.sum()
    return h1, h2, float((edges.max() - edges.min()) / (len(edges) - 1))


@dataclass
class ValuesPair:
    """Every finite value of a numerical column on both sides, sorted (exact mode)."""

    column_type: str
    ref_values: np.ndarray
    cur_values: np.ndarray
    _runs: dict = field(default_factory=dict, repr=False)

    def _side_runs(self, side: str):
        if side not in self._runs:
            self._runs[side] = runs(self.ref_values if side == "ref" else self.cur_values)
        return self._runs[side]

    @property
    def n_ref(self) -> int:
        """Values in the reference."""
        return len(self.ref_values)

    @property
    def n_cur(self) -> int:
        """Values in the current data."""
        return len(self.cur_values)

    def n_values(self) -> int:
        """Distinct values over both sides; past 20 on one side, a lower bound (all auto needs)."""
        ref, cur = len(self._side_runs("ref")[0]), len(self._side_runs("cur")[0])
        if max(ref, cur) > MAX_UNBINNED_VALUES:
            return max(ref, cur)
        return len(self.counts()[0])

    def n_ref_values(self) -> int:
        """Distinct values in the reference."""
        return len(self._side_runs("ref")[0])

    def counts(self):
        """Keys and both sides' counts over the union of values."""
        if "union" not in self._runs:
            self._runs["union"] = union_counts(*self._side_runs("ref"), *self._side_runs("cur"))
        return self._runs["union"]

    def ks(self) -> tuple[float, float]:
        """Scipy's two-sample KS p-value (two-sided)."""
        return _ks_2samp(self.ref_values, self.cur_values), 0.0

    def ref_std(self) -> float:
        """Population standard deviation of the reference."""
        return float(np.std(self.ref_values))

    def wasserstein(self) -> tuple[float, float]:
        """Wasserstein-1 distance between the two samples (exact)."""
        return _wasserstein_on_sorted(self.ref_values, self.cur_values), 0.0

    def binned(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts per bin as Evidently's get_binned_data makes them."""
        if self.column_type == NUMERICAL and self.n_ref_values() > MAX_UNBINNED_VALUES:
            low = min(self.ref_values[0], self.cur_values[0])
            high = max(self.ref_values[-1], self.cur_values[-1])
            edges = sturges_edges(self.n_ref + self.n_cur, low, high)
            return (
                sorted_histogram(self.ref_values, edges),
                sorted_histogram(self.cur_values, edges),
            )
        _, ref, cur = self.counts()
        return ref, cur

    def hellinger_densities(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Density histograms on Sturges bins over the distinct values of both, and bin width."""
        keys = self.counts()[0].astype(float)
        edges = sturges_edges(len(keys), keys[0], keys[-1])
        return _densities(
            sorted_histogram(self.ref_values, edges),
            sorted_histogram(self.cur_values, edges),
            edges,
        )


@dataclass
class GridPair:
    """A streamed numerical column: exact moments, fine-grid histograms, optional exact bins.

    Error bounds (both hold for any data; measured against the exact scores in
    tests/test_drift_streaming.py):
    - Wasserstein: on each of the B grid bins of width w, the exact CDFs F and G stay within
      the bin's mass (p_k, q_k) of the straight lines the estimate uses, so
      |W - W_grid| <= sum_k w * (p_k + q_k) = 2w = 2 (max - min) / B; the normed score's
      bound is that divided by max(std, MIN_STD).
    - KS: the statistic D lies in [D_grid, max_k(|d_k| + max(p_k, q_k))] (d_k: CDF difference
      at the grid edges); the p-value's bound is the spread of the p-values over that range.
    """

    column_type: str
    n_ref: int
    n_cur: int
    low: float
    high: float
    ref_grid: np.ndarray  # counts per grid bin over [low, high]
    cur_grid: np.ndarray
    ref_mean: float
    ref_m2: float  # sum of squared deviations from the mean (reference)
    ref_bins: tuple[np.ndarray, np.ndarray] | None = None  # exact Sturges counts, if needed
    hellinger: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # counts + edges

    def counts(self):
        """Not available: too many distinct values were seen to count each one."""
        raise ConfigError(
            "this test needs the count of every value, and the column has too many distinct "
            "values to count while streaming; use a distance (wasserstein) or --mode exact"
        )

    def _cdfs(self):
        f = np.r_[0.0, np.cumsum(self.ref_grid)] / self.n_ref
        g = np.r_[0.0, np.cumsum(self.cur_grid)] / self.n_cur
        return f, g

    def ks(self) -> tuple[float, float]:
        """KS p-value from the grid, and the bound on its error."""
        f, g = self._cdfs()
        d = np.abs(f - g)
        low = float(d.max())
        step = np.maximum(self.ref_grid / self.n_ref, self.cur_grid / self.n_cur)
        high = min(1.0, float(np.max(d[:-1] + step)))
        p = _ks_p_value(low, self.n_ref, self.n_cur)
        return p, p - _ks_p_value(high, self.n_ref, self.n_cur)

    def ref_std(self) -> float:
        """Population standard deviation of the reference (exact, from merged moments)."""
        return math.sqrt(self.ref_m2 / self.n_ref)

    def wasserstein(self) -> tuple[float, float]:
        """Wasserstein-1 distance from the grid, and the bound on its error."""
        f, g = self._cdfs()
        d = f - g
        width = (self.high - self.low) / len(self.ref_grid)
        a, b = np.abs(d[:-1]), np.abs(d[1:])
        same_sign = d[:-1] * d[1:] >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing = np.where(a + b > 0, (a * a + b * b) / (2 * (a + b)), 0.0)
        area = np.where(same_sign, (a + b) / 2, crossing)
        return float(np.sum(area) * width), 2 * width

    def binned(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact Sturges counts collected in the second pass."""
        assert self.ref_bins is not None, "the plan did not ask for Sturges bins"
        return self.ref_bins

    def hellinger_densities(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Density histograms on Sturges bins over the (estimated) distinct values of both."""
        assert self.hellinger is not None, "the plan did not ask for Hellinger bins"
        return _densities(*self.hellinger)


def pair_of_arrays(ref: np.ndarray, cur: np.ndarray, column_type: str):
    """A pair from raw samples: values for numerical data, counts for categories."""
    if column_type == NUMERICAL:
        return ValuesPair(column_type, np.sort(ref), np.sort(cur))
    ref_keys, ref_counts = np.unique(ref, return_counts=True)
    cur_keys, cur_counts = np.unique(cur, return_counts=True)
    return CountsPair.of(column_type, ref_keys, ref_counts, cur_keys, cur_counts)
