"""Classification metrics, defined once for every gate that scores predictions.

evaluate_model scores a model's test rows with them; check_performance scores labelled
production rows. Binary metrics are those of the positive class, the later of the two
`classes`; multiclass ones are macro averages. Every metric is higher-is-better.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score


@dataclass(frozen=True)
class Scores:
    """Predictions with their true labels, and the classes they refer to (positive last)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None  # one column per class, in the order of `classes`
    classes: tuple[Any, ...]


def accuracy(s: Scores) -> float:
    """Share of rows predicted right."""
    return float(accuracy_score(s.y_true, s.y_pred))


def _binary_or_macro(score: Callable, s: Scores) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no positive prediction at all: 0, not a warning
        if len(s.classes) == 2:
            return float(
                score(s.y_true, s.y_pred, pos_label=s.classes[1], average="binary", zero_division=0)
            )
        return float(
            score(s.y_true, s.y_pred, labels=list(s.classes), average="macro", zero_division=0)
        )


def precision(s: Scores) -> float:
    """Precision of the positive class (binary) or its macro average."""
    return _binary_or_macro(precision_score, s)


def recall(s: Scores) -> float:
    """Recall of the positive class (binary) or its macro average."""
    return _binary_or_macro(recall_score, s)


def f1(s: Scores) -> float:
    """F1 of the positive class (binary) or its macro average."""
    return _binary_or_macro(f1_score, s)


def roc_auc(s: Scores) -> float:
    """ROC AUC of the positive class's probability (binary) or one-vs-rest macro average."""
    if len(s.classes) == 2:
        return float(roc_auc_score(s.y_true == s.classes[1], s.proba[:, 1]))
    return float(
        roc_auc_score(s.y_true, s.proba, multi_class="ovr", average="macro", labels=list(s.classes))
    )


METRICS: dict[str, Callable[[Scores], float]] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "roc_auc": roc_auc,
}
