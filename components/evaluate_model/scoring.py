"""Classification metrics of one model's test-set predictions, and its ROC points for the UI."""

from collections.abc import Callable

import numpy as np
from sklearn.metrics import roc_curve

from components._shared.errors import DataError
from components._shared.scoring import Scores, accuracy, f1, roc_auc

MAX_ROC_POINTS = 200  # the Kubeflow UI artifact stays small


def _roc_auc(s: Scores) -> float:
    if len(set(s.y_true.tolist())) < 2:
        raise DataError("the test rows hold a single class; ROC AUC is undefined")
    return roc_auc(s)


# Every metric is higher-is-better, so "delta < -max_regression" means a regression.
METRICS: dict[str, Callable[[Scores], float]] = {
    "accuracy": accuracy,
    "f1": f1,
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
