"""The comparison's numbers: agreement, class shares, a metric, and its paired bootstrap.

The bootstrap resamples requests (not rows) with replacement, the same requests for both
models, and takes the 2.5th and 97.5th percentiles of the challenger - champion difference
(percentile interval, 95 %). A request's rows stay together: rows of one request are not
independent. Each resample costs O(rows): row weights are how often their request was drawn,
and the metric is computed weighted (accuracy as a weighted mean; roc_auc from one sort made
before resampling, ties counted half, as sklearn's roc_auc_score does).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

METRICS = ("accuracy", "roc_auc")
CONFIDENCE = 0.95


def agreement(paired: pd.DataFrame) -> float:
    """Share of paired rows where both models predict the same class."""
    return float((paired["champion"].to_numpy() == paired["challenger"].to_numpy()).mean())


def shares(paired: pd.DataFrame, classes: list) -> dict:
    """Class -> {champion, challenger, difference}: each model's share of rows predicting it."""
    out = {}
    for name in classes:
        a = float((paired["champion"] == name).mean())
        b = float((paired["challenger"] == name).mean())
        out[str(name)] = {"champion": a, "challenger": b, "difference": b - a}
    return out


@dataclass(frozen=True)
class Scorer:
    """One model's labelled rows, ready to score under any row weights."""

    metric: str
    correct: np.ndarray | None = None  # accuracy: 1.0 where the prediction is right
    groups: np.ndarray | None = None  # roc_auc: tie group of each row, in score order
    positive: np.ndarray | None = None  # roc_auc: 1.0 for a positive label
    n_groups: int = 0

    @classmethod
    def of(cls, metric: str, y_true: np.ndarray, predicted: np.ndarray, proba, positive_label):
        """The scorer of `metric` for these labels, predictions and positive-class scores."""
        if metric == "accuracy":
            return cls(metric, correct=(y_true == predicted).astype(float))
        _, groups = np.unique(proba, return_inverse=True)  # sorted scores; ties share a group
        positive = (y_true == positive_label).astype(float)
        return cls(metric, groups=groups, positive=positive, n_groups=int(groups.max()) + 1)

    def value(self, weights: np.ndarray) -> float:
        """The metric with each row counted `weights` times (NaN when undefined)."""
        if self.metric == "accuracy":
            total = weights.sum()
            return float(weights @ self.correct / total) if total else float("nan")
        pos = np.bincount(self.groups, weights * self.positive, self.n_groups)
        neg = np.bincount(self.groups, weights * (1 - self.positive), self.n_groups)
        below = np.cumsum(neg) - neg  # negatives with a strictly lower score
        pairs = pos.sum() * neg.sum()
        return float(pos @ (below + neg / 2) / pairs) if pairs else float("nan")


@dataclass(frozen=True)
class Interval:
    """challenger - champion: the point estimate and its bootstrap interval."""

    delta: float
    low: float
    high: float
    resamples: int  # resamples drawn
    undefined: int  # of them, where a model's metric was undefined (left out)

    def method(self) -> str:
        """How the interval was made, in words."""
        left_out = f" ({self.undefined} undefined, left out)" if self.undefined else ""
        return f"paired bootstrap over requests, {self.resamples} resamples, 95 %{left_out}"

    def too_often_undefined(self) -> bool:
        """More resamples left out than a tail holds: the percentiles would not be 95 %'s."""
        return self.undefined > (1 - CONFIDENCE) / 2 * self.resamples


def paired_bootstrap(
    request: np.ndarray, champion: Scorer, challenger: Scorer, resamples: int, seed: int
) -> Interval:
    """The difference and its 95 % percentile interval, requests resampled together.

    Args:
        request: Each labelled row's request as 0..R-1.
        champion: The champion's scorer over the labelled rows.
        challenger: The challenger's, over the same rows.
        resamples: Bootstrap resamples (>= 1).
        seed: The generator's seed (same data, same seed: the same interval).
    """
    ones = np.ones(len(request))
    delta = challenger.value(ones) - champion.value(ones)
    n = int(request.max()) + 1
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):  # one draw of n requests at a time: memory O(requests)
        weights = np.bincount(rng.integers(0, n, size=n), minlength=n)[request].astype(float)
        diffs.append(challenger.value(weights) - champion.value(weights))
    values = np.asarray(diffs)
    kept = values[np.isfinite(values)]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(kept, [tail, 100 - tail]) if len(kept) else (np.nan, np.nan)
    return Interval(float(delta), float(low), float(high), resamples, len(values) - len(kept))
