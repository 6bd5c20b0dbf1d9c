"""Classification metrics of one model's test-set predictions, and its ROC points for the UI."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score, roc_curve

from components._shared.errors import DataError

MAX_ROC_POINTS = 200  # the Kubeflow UI artifact stays small


@dataclass(frozen=True)
class Scores:
    """Predictions of one model on the test rows, and the classes they refer to."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray  # one column per class, in the order of `classes`
    classes: tuple[Any, ...]


def _accuracy(s: Scores) -> float:
    return float(accuracy_score(s.y_true, s.y_pred))


def _f1(s: Scores) -> float:
    if len(s.classes) == 2:  # binary: F1 of the positive class, the later one in sorted order
        return float(f1_score(s.y_true, s.y_pred, pos_label=s.classes[1], average="binary"))
    return float(f1_score(s.y_true, s.y_pred, labels=list(s.classes), average="macro"))


def _roc_auc(s: Scores) -> float:
    if len(set(s.y_true.tolist())) < 2:
        raise DataError("the test rows hold a single class; ROC AUC is undefined")
    if len(s.classes) == 2:
        return float(roc_auc_score(s.y_true == s.classes[1], s.proba[:, 1]))
    return float(
        roc_auc_score(s.y_true, s.proba, multi_class="ovr", average="macro", labels=list(s.classes))
    )


# Every metric is higher-is-better, so "delta < -max_regression" means a regression.
METRICS: dict[str, Callable[[Scores], float]] = {
    "accuracy": _accuracy,
    "f1": _f1,
    "roc_auc": _roc_auc,
}


def roc_points(scores: Scores) -> tuple[str, tuple]:
    """The class the curve is drawn for (one-vs-rest) and its fpr, tpr, thresholds."""
    index = len(scores.classes) - 1  # binary: the positive class; multiclass: last vs rest
    fpr, tpr, thresholds = roc_curve(
        scores.y_true == scores.classes[index], scores.proba[:, index], drop_intermediate=True
    )
    if len(fpr) > MAX_ROC_POINTS:
        keep = np.unique(np.linspace(0, len(fpr) - 1, MAX_ROC_POINTS).round().astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    # roc_curve starts at an infinite threshold, which KFP's metrics proto refuses.
    thresholds = np.clip(thresholds, 0.0, 1.0)
    points = tuple(tuple(float(v) for v in a) for a in (fpr, tpr, thresholds))
    return str(scores.classes[index]), points
