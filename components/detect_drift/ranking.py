"""The order both drift reports list columns in: drifted first, then by how strong the drift is."""

import math
from collections.abc import Iterable

from components.detect_drift.results import SCHEMA_CHANGE, SKIPPED, ColumnDrift
from components.detect_drift.stattests import P_VALUE, REGISTRY

# A p-value of 0 (or a distance of 0) is read as this, so its logarithm stays finite.
_TINY = 1e-300


def severity(c: ColumnDrift) -> float:
    """How far a column's score lies past its threshold toward drift, one scale for all tests.

    log10 of threshold ÷ p-value for p-value tests (small means drift), of score ÷ threshold
    for distances (large means drift): about 0 at the threshold, positive past it, negative
    short of it. A schema change ranks above any score, a skipped column below.

    Args:
        c: One column's result.

    Returns:
        The severity; +inf for a schema change, -inf with no usable score.
    """
    if c.status == SCHEMA_CHANGE:
        return math.inf
    if c.status == SKIPPED or c.score is None or c.threshold is None:
        return -math.inf
    if not math.isfinite(c.score):
        return -math.inf
    score = max(c.score, _TINY)
    if REGISTRY[c.method].kind == P_VALUE:
        return math.log10(c.threshold / score)
    return math.log10(score / c.threshold)


def ranked(columns: Iterable[ColumnDrift]) -> list[ColumnDrift]:
    """Drifted columns first, then tested ones, then skipped; each by severity, strongest first.

    Equal severities keep the data's column order (the sort is stable).
    """
    return sorted(columns, key=lambda c: (not c.drifted, c.status == SKIPPED, -severity(c)))
