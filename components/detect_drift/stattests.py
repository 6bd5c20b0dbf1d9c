"""The registry of drift tests: name, kind, default threshold, drift rule and score function.

Semantics follow Evidently 0.7 (`evidently/legacy/calculations/stattests/*.py` and its
`utils.get_binned_data`), so that `auto` gives the verdicts Evidently gives; the code is ours.
"""

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from components._shared.errors import ConfigError, one_of
from components.detect_drift.pairs import (
    CATEGORICAL,
    MIN_STD,
    NUMERICAL,
    pair_of_arrays,
)

P_VALUE, DISTANCE = "p_value", "distance"

# A score function takes a pair (pairs.CountsPair, ValuesPair or GridPair) and returns
# (score, error bound); the bound is 0 when the score is exact.
Score = Callable[[object], tuple[float, float]]


@dataclass(frozen=True)
class StatTest:
    """One drift test: how its score is computed and when the score means drift."""

    name: str
    kind: str  # P_VALUE (small means drift) or DISTANCE (large means drift)
    default_threshold: float
    rule: str  # "<=", "<" (p-values) or ">=" (distances): score RULE threshold means drift
    column_types: tuple[str, ...]
    compute: Score
    max_threshold: float = math.inf  # largest meaningful threshold (e.g. JS ≤ √ln 2)

    def score(self, ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
        """The score of two raw samples (exact)."""
        return self.compute(pair_of_arrays(np.asarray(ref), np.asarray(cur), column_type))[0]

    def drifted(self, score: float, threshold: float) -> bool:
        """Whether a score means drift under this test's rule."""
        if self.rule == "<=":
            return bool(score <= threshold)
        if self.rule == "<":
            return bool(score < threshold)
        return bool(score >= threshold)

    def check_threshold(self, threshold: float, column: str) -> float:
        """The threshold as a float, or a ConfigError saying the valid range."""
        value = float(threshold)
        upper = 1.0 if self.kind == P_VALUE else self.max_threshold
        closed = self.kind != P_VALUE
        inside = 0 < value < upper or (closed and value == upper)
        if not inside or math.isnan(value):
            bracket = "]" if closed else ")"
            raise ConfigError(
                f"threshold {value!r} for column {column!r} ({self.name}) is out of range; "
                f"expected a value in (0, {upper:g}{bracket}"
            )
        return value


def shares(ref: np.ndarray, cur: np.ndarray, column_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Shares per bin of two raw samples, as Evidently's get_binned_data computes them.

    Numerical data with > 20 distinct reference values: Sturges bins over both samples;
    otherwise one bin per value of the union.
    """
    return _shares(pair_of_arrays(np.asarray(ref), np.asarray(cur), column_type))


def _shares(pair) -> tuple[np.ndarray, np.ndarray]:
    ref, cur = pair.binned()
    return ref / ref.sum(), cur / cur.sum()


def _floored(percents: np.ndarray) -> np.ndarray:
    # Evidently replaces empty bins by 1e-4, or by min/1e6 when the smallest share is <= 1e-4.
    smallest = percents[percents > 0].min()
    floor = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return np.where(percents == 0, floor, percents)


def ks(pair) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov p-value (two-sided)."""
    return pair.ks()


def _relative_entropy(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    # scipy.special.rel_entr: p log(p/q), 0 where p is 0, inf where only q is 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, np.where(q > 0, p * np.log(p / q), np.inf), 0.0)


def _entropy(p: np.ndarray, q: np.ndarray) -> float:
    # scipy.stats.entropy(p, q): KL divergence of the normalized vectors (natural log).
    return float(np.sum(_relative_entropy(p / p.sum(), q / q.sum())))


def _jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    # scipy.spatial.distance.jensenshannon(p, q) with the natural log.
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2.0
    divergence = (np.sum(_relative_entropy(p, m)) + np.sum(_relative_entropy(q, m))) / 2.0
    return float(np.sqrt(divergence))


def chisquare(pair) -> tuple[float, float]:
    """Chi-square p-value of current counts against reference proportions scaled to current."""
    from scipy import stats

    _, ref_counts, cur_counts = pair.counts()
    expected = ref_counts * (cur_counts.sum() / ref_counts.sum())
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # A category unseen in the reference has expected 0: statistic inf, p-value 0.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.chisquare(cur_counts, expected).pvalue), 0.0


def z_test(pair) -> tuple[float, float]:
    """Two-proportion z-test p-value on the share of everything but the first (sorted) value."""
    keys, ref_counts, cur_counts = pair.counts()
    if len(keys) == 1:
        return 1.0, 0.0
    n_ref, n_cur = ref_counts.sum(), cur_counts.sum()
    p1, p2 = 1 - ref_counts[0] / n_ref, 1 - cur_counts[0] / n_cur
    pooled = (p1 * n_ref + p2 * n_cur) / (n_ref + n_cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
    # 2 (1 - Φ(|z|)) = erfc(|z| / √2); a NaN z (no variance) stays NaN, as in Evidently.
    return float(math.erfc(abs(z) / math.sqrt(2))), 0.0


def wasserstein(pair) -> tuple[float, float]:
    """Wasserstein distance divided by max(population std of the reference, 0.001)."""
    std = max(pair.ref_std(), MIN_STD)
    value, bound = pair.wasserstein()
    return value / std, bound / std


def jensenshannon(pair) -> tuple[float, float]:
    """Jensen-Shannon distance (natural log) between the binned shares, no floor."""
    return _jensen_shannon(*_shares(pair)), 0.0


def psi(pair) -> tuple[float, float]:
    """Population stability index over the binned shares, empty bins floored."""
    p, q = (_floored(s) for s in _shares(pair))
    return float(np.sum((p - q) * np.log(p / q))), 0.0


def kl_div(pair) -> tuple[float, float]:
    """Kullback-Leibler divergence KL(reference ‖ current) over floored, normalized shares."""
    p, q = (_floored(s) for s in _shares(pair))
    return _entropy(p, q), 0.0


def hellinger(pair) -> tuple[float, float]:
    """Hellinger distance; numerical data on Sturges bins over the distinct values of both."""
    if pair.column_type == CATEGORICAL:
        _, ref_counts, cur_counts = pair.counts()
        overlap = float(
            np.sum(np.sqrt(ref_counts / ref_counts.sum() * cur_counts / cur_counts.sum()))
        )
    else:
        # Evidently bins numerical data by the distinct values (not the rows) and uses densities.
        h1, h2, width = pair.hellinger_densities()
        overlap = float(np.sum(np.sqrt(h1 * h2)) * width)
    return math.sqrt(1 - min(max(overlap, 0.0), 1.0)), 0.0


BOTH = (NUMERICAL, CATEGORICAL)
REGISTRY: dict[str, StatTest] = {
    t.name: t
    for t in (
        StatTest("ks", P_VALUE, 0.05, "<=", (NUMERICAL,), ks),
        StatTest("chisquare", P_VALUE, 0.05, "<", BOTH, chisquare),
        StatTest("z", P_VALUE, 0.05, "<", BOTH, z_test),
        StatTest("wasserstein", DISTANCE, 0.1, ">=", (NUMERICAL,), wasserstein),
        StatTest("jensenshannon", DISTANCE, 0.1, ">=", BOTH, jensenshannon, math.sqrt(math.log(2))),
        StatTest("psi", DISTANCE, 0.1, ">=", BOTH, psi),
        StatTest("kl_div", DISTANCE, 0.1, ">=", BOTH, kl_div),
        StatTest("hellinger", DISTANCE, 0.1, ">=", BOTH, hellinger, 1.0),
    )
}
AUTO = "auto"


def get_test(name: str) -> StatTest:
    """The test registered under `name`, or a ConfigError listing every valid name."""
    if name not in REGISTRY:
        raise one_of("drift method", name, [AUTO, *REGISTRY])
    return REGISTRY[name]


def auto_test(reference_rows: int, column_type: str, n_values: int) -> StatTest:
    """Evidently 0.7's default choice (registry._get_default_stattest).

    Args:
        reference_rows: Non-null reference values of the column.
        column_type: NUMERICAL or CATEGORICAL (decided from the current data).
        n_values: Distinct values over reference and current combined.
    """
    if reference_rows <= 1000:
        if column_type == NUMERICAL and n_values > 5:
            return REGISTRY["ks"]
        return REGISTRY["chisquare"] if n_values > 2 else REGISTRY["z"]
    if column_type == NUMERICAL and n_values > 5:
        return REGISTRY["wasserstein"]
    return REGISTRY["jensenshannon"]


def ensure_applicable(test: StatTest, column: str, column_type: str) -> None:
    """A ConfigError when a test cannot score this column type (e.g. KS on text)."""
    if column_type not in test.column_types:
        usable = sorted(n for n, t in REGISTRY.items() if column_type in t.column_types)
        raise ConfigError(
            f"drift method {test.name!r} needs {' or '.join(test.column_types)} data; column "
            f"{column!r} is {column_type}; use one of {usable} for it (or 'auto')"
        )
