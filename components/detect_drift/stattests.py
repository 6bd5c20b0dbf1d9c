"""The registry of drift tests: name, kind, default threshold, drift rule and score function.

Semantics follow Evidently 0.7 (`evidently/legacy/calculations/stattests/*.py` and its
`utils.get_binned_data`), so that `auto` gives the verdicts Evidently gives; the code is ours.
"""

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

from components._shared.errors import ConfigError, one_of

NUMERICAL, CATEGORICAL = "numerical", "categorical"
P_VALUE, DISTANCE = "p_value", "distance"
# Evidently bins numerical columns (JS, PSI, KL) only past this many distinct reference values.
MAX_UNBINNED_VALUES = 20
# Wasserstein is normed by the reference std, floored so constant columns do not divide by 0.
MIN_STD = 0.001

Score = Callable[[np.ndarray, np.ndarray, str], float]


@dataclass(frozen=True)
class StatTest:
    """One drift test: how its score is computed and when the score means drift."""

    name: str
    kind: str  # P_VALUE (small means drift) or DISTANCE (large means drift)
    default_threshold: float
    rule: str  # "<=", "<" (p-values) or ">=" (distances): score RULE threshold means drift
    column_types: tuple[str, ...]
    score: Score
    max_threshold: float = math.inf  # largest meaningful threshold (e.g. JS ≤ √ln 2)

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


def _counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of each value of the union of both samples, in sorted order."""
    keys = np.unique(np.concatenate([ref, cur]))
    ref_counts = np.zeros(len(keys))
    cur_counts = np.zeros(len(keys))
    values, counts = np.unique(ref, return_counts=True)
    ref_counts[np.searchsorted(keys, values)] = counts
    values, counts = np.unique(cur, return_counts=True)
    cur_counts[np.searchsorted(keys, values)] = counts
    return keys, ref_counts, cur_counts


def shares(ref: np.ndarray, cur: np.ndarray, column_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Shares per bin, as Evidently's get_binned_data computes them.

    Numerical data with > 20 distinct reference values: Sturges bins over both samples;
    otherwise one bin per value of the union.
    """
    if column_type == NUMERICAL and len(np.unique(ref)) > MAX_UNBINNED_VALUES:
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        return np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)
    _, ref_counts, cur_counts = _counts(ref, cur)
    return ref_counts / len(ref), cur_counts / len(cur)


def _floored(percents: np.ndarray) -> np.ndarray:
    # Evidently replaces empty bins by 1e-4, or by min/1e6 when the smallest share is <= 1e-4.
    smallest = percents[percents > 0].min()
    floor = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return np.where(percents == 0, floor, percents)


def ks(ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (two-sided)."""
    return float(stats.ks_2samp(ref, cur).pvalue)


def chisquare(ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
    """Chi-square p-value of current counts against reference proportions scaled to current."""
    _, ref_counts, cur_counts = _counts(ref, cur)
    expected = ref_counts * (len(cur) / len(ref))
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # A category unseen in the reference has expected 0: statistic inf, p-value 0.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.chisquare(cur_counts, expected).pvalue)


def z_test(ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
    """Two-proportion z-test p-value on the share of everything but the first (sorted) value."""
    ref_values, cur_values = np.unique(ref), np.unique(cur)
    if len(ref_values) == 1 and len(cur_values) == 1 and ref_values[0] == cur_values[0]:
        return 1.0
    first = np.unique(np.concatenate([ref, cur]))[0]
    p1, p2 = float(np.mean(ref != first)), float(np.mean(cur != first))
    pooled = (p1 * len(ref) + p2 * len(cur)) / (len(ref) + len(cur))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / len(ref) + 1 / len(cur)))
    return float(2 * (1 - stats.norm.cdf(abs(z))))


def wasserstein(ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
    """Wasserstein distance divided by max(population std of the reference, 0.001)."""
    return float(stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), MIN_STD))


def jensenshannon(ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
    """Jensen-Shannon distance (natural log) between the binned shares, no floor."""
    return float(distance.jensenshannon(*shares(ref, cur, column_type)))


def psi(ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
    """Population stability index over the binned shares, empty bins floored."""
    p, q = (_floored(s) for s in shares(ref, cur, column_type))
    return float(np.sum((p - q) * np.log(p / q)))


def kl_div(ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
    """Kullback-Leibler divergence KL(reference ‖ current) over floored, normalized shares."""
    p, q = (_floored(s) for s in shares(ref, cur, column_type))
    return float(stats.entropy(p, q))


def hellinger(ref: np.ndarray, cur: np.ndarray, column_type: str) -> float:
    """Hellinger distance; numerical data on Sturges bins over the distinct values of both."""
    if column_type == CATEGORICAL:
        _, ref_counts, cur_counts = _counts(ref, cur)
        overlap = float(np.sum(np.sqrt(ref_counts / len(ref) * cur_counts / len(cur))))
    else:
        # Evidently bins numerical data by the distinct values (not the rows) and uses densities.
        edges = np.histogram_bin_edges(np.unique(np.concatenate([ref, cur])), bins="sturges")
        h1 = np.histogram(ref, bins=edges, density=True)[0]
        h2 = np.histogram(cur, bins=edges, density=True)[0]
        width = (edges.max() - edges.min()) / (len(edges) - 1)
        overlap = float(np.sum(np.sqrt(h1 * h2)) * width)
    return math.sqrt(1 - min(max(overlap, 0.0), 1.0))


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
