"""Classification metrics of labelled predictions, scored as evaluate_model scores a test set.

The metrics are evaluate_model's, from components/_shared/scoring.py: binary metrics of the
positive class (the later of two classes), macro averages for multiclass. Binary rows, the
common case, are counted once in numpy (one confusion matrix, roc_auc as the Mann-Whitney
statistic over average ranks, which is what roc_auc_score computes): sklearn's
per-call input checks cost ~2 s on 1e6 rows split into 30 days.
"""

import numpy as np
from scipy.stats import rankdata

from components._shared.errors import DataError, one_of
from components._shared.scoring import METRICS, Scores


def ordered_classes(classes: list, positive_label: str) -> tuple:
    """The classes with the positive one last (binary), as evaluate_model's scoring expects.

    evaluate_model takes classes[1] of the model's sorted classes as positive; a
    `positive_label` (the pipeline's, shared with the fairness gate) names another one.

    Raises:
        ConfigError: positive_label names no class (the error lists them).
        DataError: Fewer than two classes.
    """
    if len(classes) < 2:
        raise DataError(
            f"the predictions and labels name {len(classes)} class(es) {classes}; need at "
            "least 2 to score a classifier"
        )
    if not positive_label:
        return tuple(classes)
    by_name = {str(c): c for c in classes}
    if positive_label not in by_name:
        raise one_of("positive_label", positive_label, list(by_name))
    if len(classes) != 2:
        return tuple(classes)  # multiclass metrics are macro averages: no positive class
    positive = by_name[positive_label]
    return (next(c for c in classes if c != positive), positive)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0  # sklearn's zero_division=0


def _binary(y_true, y_pred, proba, positive) -> dict[str, float | None]:
    truth, said = y_true == positive, y_pred == positive
    tp = int(np.count_nonzero(truth & said))
    fp, fn = int(np.count_nonzero(said)) - tp, int(np.count_nonzero(truth)) - tp
    values: dict[str, float | None] = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": None,
    }
    positives = int(np.count_nonzero(truth))
    negatives = len(truth) - positives
    if proba is not None and positives and negatives:
        ranks = rankdata(proba[:, 1], method="average")
        u = ranks[truth].sum() - positives * (positives + 1) / 2
        values["roc_auc"] = float(u / (positives * negatives))
    return values


def measure(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: tuple
) -> dict[str, float | None]:
    """Every metric of some labelled rows; None where undefined (roc_auc of one class).

    Args:
        y_true: The labels.
        y_pred: The logged predictions.
        proba: One probability column per class in `classes` order, or None (no scores
            logged: roc_auc is None).
        classes: The classes, positive last when binary (see `ordered_classes`).
    """
    if len(classes) == 2:
        return _binary(y_true, y_pred, proba, classes[1])
    scores = Scores(y_true, y_pred, proba, classes)
    values: dict[str, float | None] = {}
    for name, fn in METRICS.items():
        if name == "roc_auc" and (proba is None or len(np.unique(y_true)) < 2):
            values[name] = None
            continue
        try:
            values[name] = fn(scores)
        except ValueError:  # multiclass roc_auc on a day that lacks a class: undefined
            values[name] = None
    return values
