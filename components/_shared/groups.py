"""The groups a sensitive feature splits rows into, for every gate that judges fairness.

One value, one group; a numeric feature of more than MAX_DISTINCT_VALUES values is split
into quartile bins (right-closed, like pandas.cut); missing values are the group
MISSING_GROUP. A feature of more than MAX_GROUPS groups (the missing one not counted) is an
identifier or free text, not a group: its gaps would compare tiny groups by chance, so the
gates do not judge it (`too_many_groups` says why). check_fairness and compare_live both
group through here.
"""

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Numeric features with more distinct values than this are split into quartile bins.
MAX_DISTINCT_VALUES = 10
QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
MISSING_GROUP = "(missing)"
# More groups than this are not judged (nor pushed as series: too many to read or store).
MAX_GROUPS = 20


@dataclass(frozen=True)
class Grouping:
    """Each row's group, and the groups in the order a reader reads them."""

    labels: pd.Series  # the group of each row, as text (the values' index)
    order: list[str]  # the groups present: bins in order, else sorted; missing last with bins
    bins: list[str] | None  # the quartile bins, when the feature was numeric and binned

    @property
    def counted(self) -> list[str]:
        """The groups that count as groups (the missing-value group left out)."""
        return [g for g in self.order if g != MISSING_GROUP]


def _label(value: float) -> str:
    return f"{value:g}"


def _bins(values: pd.Series) -> tuple[pd.Series, list[str]]:
    edges = np.unique(np.quantile(values.dropna().to_numpy(dtype=float), QUANTILES))
    # Right-closed bins like pandas.cut; the first one also holds the minimum.
    labels = [f"({_label(lo)}, {_label(hi)}]" for lo, hi in itertools.pairwise(edges)]
    labels[0] = "[" + labels[0][1:]
    return pd.cut(values, edges, labels=labels, include_lowest=True).astype(str), labels


def group_rows(values: pd.Series) -> Grouping:
    """The groups of a sensitive feature's values (see the module docstring)."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique() > MAX_DISTINCT_VALUES:
        text, bins = _bins(values)
    else:
        text, bins = values.astype(str), None
    labels = text.where(values.notna(), MISSING_GROUP)
    present = set(labels.unique())
    if bins is None:
        return Grouping(labels, sorted(present), None)
    order = [b for b in bins if b in present]
    return Grouping(labels, order + ([MISSING_GROUP] if MISSING_GROUP in present else []), bins)


def too_many_groups(feature: str, groups: list[str], then: str = "") -> str | None:
    """Why a feature's groups are not judged (more than MAX_GROUPS), or None when they are.

    Args:
        feature: The feature's name.
        groups: Its groups, the missing-value group left out (`Grouping.counted`).
        then: What the gate does about it, said before the way out (e.g. ": not judged").
    """
    n = len(groups)
    if n <= MAX_GROUPS:
        return None
    return (
        f"sensitive feature {feature!r} has {n} groups, more than {MAX_GROUPS} (an identifier "
        f"or free text, not a group){then}; map its values to fewer groups, or choose another "
        "feature"
    )
