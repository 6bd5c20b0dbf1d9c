"""What the drift tests score: one column of reference and current data, in one of three forms.

The two exact forms live here; the streamed one in grid.py.

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

from components.detect_drift.binning import (
    KS_EXACT_MAX_N,
    densities,
    ks_2samp,
    ks_p_value,
    n_distinct_sorted,
    runs,
    sorted_histogram,
    sturges_edges,
    union_counts,
    wasserstein_on_counts,
    wasserstein_on_sorted,
)

NUMERICAL, CATEGORICAL = "numerical", "categorical"
# Evidently bins numerical columns (JS, PSI, KL) only past this many distinct reference values.
MAX_UNBINNED_VALUES = 20
# Wasserstein is normed by the reference std, floored so constant columns do not divide by 0.
MIN_STD = 0.001


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
            return ks_2samp(ref, cur), 0.0
        d = float(
            np.max(np.abs(np.cumsum(self.ref) / self.n_ref - np.cumsum(self.cur) / self.n_cur))
        )
        return ks_p_value(d, self.n_ref, self.n_cur), 0.0

    def ref_std(self) -> float:
        """Population standard deviation of the reference."""
        keys = self.keys.astype(float)
        mean = float(np.sum(keys * self.ref) / self.n_ref)
        return math.sqrt(float(np.sum(self.ref * (keys - mean) ** 2) / self.n_ref))

    def wasserstein(self) -> tuple[float, float]:
        """Wasserstein-1 distance between the two distributions (exact)."""
        return wasserstein_on_counts(self.keys.astype(float), self.ref, self.cur), 0.0

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
        return densities(
            np.histogram(keys, edges, weights=self.ref)[0],
            np.histogram(keys, edges, weights=self.cur)[0],
            edges,
        )


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

    def _n_distinct(self, side: str) -> int:
        key = f"n_{side}"
        if key not in self._runs:
            values = self.ref_values if side == "ref" else self.cur_values
            self._runs[key] = n_distinct_sorted(values)
        return self._runs[key]

    def n_values(self) -> int:
        """Distinct values over both sides; past 20 on one side, a lower bound (all auto needs)."""
        ref, cur = self._n_distinct("ref"), self._n_distinct("cur")
        if max(ref, cur) > MAX_UNBINNED_VALUES:
            return max(ref, cur)
        return len(self.counts()[0])

    def n_ref_values(self) -> int:
        """Distinct values in the reference."""
        return self._n_distinct("ref")

    def counts(self):
        """Keys and both sides' counts over the union of values."""
        if "union" not in self._runs:
            self._runs["union"] = union_counts(*self._side_runs("ref"), *self._side_runs("cur"))
        return self._runs["union"]

    def ks(self) -> tuple[float, float]:
        """Scipy's two-sample KS p-value (two-sided)."""
        return ks_2samp(self.ref_values, self.cur_values), 0.0

    def ref_std(self) -> float:
        """Population standard deviation of the reference."""
        return float(np.std(self.ref_values))

    def wasserstein(self) -> tuple[float, float]:
        """Wasserstein-1 distance between the two samples (exact)."""
        return wasserstein_on_sorted(self.ref_values, self.cur_values), 0.0

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
        return densities(
            sorted_histogram(self.ref_values, edges),
            sorted_histogram(self.cur_values, edges),
            edges,
        )


def pair_of_arrays(ref: np.ndarray, cur: np.ndarray, column_type: str):
    """A pair from raw samples: values for numerical data, counts for categories."""
    if column_type == NUMERICAL:
        return ValuesPair(column_type, np.sort(ref), np.sort(cur))
    ref_keys, ref_counts = np.unique(ref, return_counts=True)
    cur_keys, cur_counts = np.unique(cur, return_counts=True)
    return CountsPair.of(column_type, ref_keys, ref_counts, cur_keys, cur_counts)
