"""Fairness of both models per group of each sensitive feature, on the labelled paired rows.

fairlearn's MetricFrame gives each group's accuracy and selection rate (share predicted
positive) for the champion and the challenger. The gap judged is the demographic parity
difference (largest minus smallest selection rate among the groups with enough rows) for
two classes; with more classes there is no "positive" prediction and the gap is the accuracy
gap (largest minus smallest group accuracy). A group with fewer than `min_group_rows` rows is
reported as such and left out of the gap. The groups are check_fairness's
(components/_shared/groups.py): a numeric feature of many values in quartile bins, and a
feature of more than MAX_GROUPS groups not judged at all (tiny groups differ by chance).
"""

import warnings

import numpy as np
import pandas as pd

from components._shared.groups import group_rows, too_many_groups

DEMOGRAPHIC_PARITY = "demographic_parity_difference"
ACCURACY_GAP = "accuracy_gap"


def _by_group(y_true, y_pred, groups, positive) -> pd.DataFrame:
    from fairlearn.metrics import MetricFrame, selection_rate
    from sklearn.metrics import accuracy_score

    metrics = {"accuracy": accuracy_score}
    if positive is not None:
        metrics["selection_rate"] = lambda t, p: selection_rate(t, p, pos_label=positive)
    with warnings.catch_warnings():  # fairlearn 0.15 calls APIs pandas 3 deprecates
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        frame = MetricFrame(
            metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=groups
        )
    return frame.by_group


def _gap(table: pd.DataFrame, measure: str, judged: list) -> float | None:
    values = table.loc[judged, measure].astype(float) if judged else pd.Series(dtype=float)
    return float(values.max() - values.min()) if len(values) >= 2 else None


def feature_fairness(rows: pd.DataFrame, feature: str, positive, min_group_rows: int) -> dict:
    """One feature's groups and each model's gap.

    Returns:
        {feature, measure, bins, unjudged, groups: [{group, rows, small, champion: {accuracy,
        selection_rate}, challenger: {...}}], champion_gap, challenger_gap} (a gap is None
        when fewer than two groups have min_group_rows rows). With more groups than
        groups.MAX_GROUPS, `unjudged` says so and nothing is measured (no groups, no gaps).
    """
    grouping = group_rows(rows[feature].reset_index(drop=True))
    measure = DEMOGRAPHIC_PARITY if positive is not None else ACCURACY_GAP
    found = {"feature": feature, "measure": measure, "bins": grouping.bins}
    unjudged = too_many_groups(feature, grouping.counted)
    if unjudged:
        return found | {"unjudged": unjudged, "groups": [], "champion_gap": None,
                        "challenger_gap": None}  # fmt: skip
    groups = grouping.labels.to_numpy()
    y_true = rows["label"].to_numpy()
    counts = grouping.labels.value_counts()
    judged = sorted(g for g, n in counts.items() if n >= min_group_rows)
    tables = {
        m: _by_group(y_true, rows[m].to_numpy(), groups, positive)
        for m in ("champion", "challenger")
    }
    column = "selection_rate" if positive is not None else "accuracy"
    listed = []
    for group in grouping.order:
        entry = {"group": group, "rows": int(counts[group]), "small": group not in judged}
        for model, table in tables.items():
            entry[model] = {k: _number(v) for k, v in table.loc[group].items()}
        listed.append(entry)
    return found | {
        "unjudged": None,
        "groups": listed,
        "champion_gap": _gap(tables["champion"], column, judged),
        "challenger_gap": _gap(tables["challenger"], column, judged),
    }


def _number(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
