"""A numerical column summarised while streaming, and the error bounds of its scores."""

import math
from dataclasses import dataclass

import numpy as np

from components._shared.errors import ConfigError
from components.detect_drift.binning import densities, ks_p_value

# Fine histogram of a streamed numerical column: bins over [min, max] of both datasets.
GRID_BINS = 1 << 18


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
        p = ks_p_value(low, self.n_ref, self.n_cur)
        return p, p - ks_p_value(high, self.n_ref, self.n_cur)

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
        return densities(*self.hellinger)
