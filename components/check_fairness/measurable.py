"""Why a fairness verdict cannot be reached: the gate fails closed instead of reading 0."""

import math

import pandas as pd


def target_problems(target: pd.Series) -> list[str]:
    """Why the held-out target cannot support a verdict (empty when it can)."""
    missing = int(target.isna().sum())
    if missing:
        return [
            f"target column {target.name!r} has {missing} missing values in the held-out rows: "
            "their errors cannot be counted (fail closed); drop or fill those rows before training"
        ]
    classes = target.unique().tolist()
    if len(classes) < 2:
        return [
            f"target column {target.name!r} has the single class {classes} in the held-out rows: "
            "error rates cannot be compared between groups (fail closed); add rows of the other "
            "classes or raise test_size"
        ]
    return []


def feature_problems(
    feature: str, groups: list[str], demographic_parity: float, equalized_odds: float
) -> list[str]:
    """Why one feature's disparities mean nothing (a difference within one group is 0).

    Args:
        feature: The sensitive feature's name.
        groups: Its groups in the held-out rows, the missing-value group left out.
        demographic_parity: Its measured demographic parity difference.
        equalized_odds: Its measured equalized odds difference.
    """
    if not groups:
        why = "is missing in every held-out row"
    elif len(groups) == 1:
        why = f"has the single group {groups} in the held-out rows"
    elif math.isnan(demographic_parity) or math.isnan(equalized_odds):
        why = "gave a disparity that could not be computed (NaN)"
    else:
        return []
    return [
        f"sensitive feature {feature!r} {why}: no disparity can be measured (fail closed); "
        "choose a feature with at least two groups, or fix the data"
    ]
