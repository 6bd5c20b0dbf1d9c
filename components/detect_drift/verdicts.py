"""Each column's verdict: skipped, a schema change, or a test's score against its threshold."""

from components.detect_drift import scan
from components.detect_drift.distributions import distribution_of
from components.detect_drift.grid import GridPair
from components.detect_drift.pairs import CATEGORICAL
from components.detect_drift.results import SCHEMA_CHANGE, SKIPPED, TESTED, ColumnDrift
from components.detect_drift.sides import MAX_CATEGORIES, Side
from components.detect_drift.stattests import AUTO, StatTest, auto_test, ensure_applicable, get_test

# Unseen categories kept per column (the count is always exact); keeps reports bounded.
MAX_UNSEEN_LISTED = 20


def unseen_categories(pair) -> tuple[tuple[str, ...], int]:
    """Current values absent from the reference (the first MAX_UNSEEN_LISTED) and their count."""
    keys, ref, cur = pair.counts()
    new = keys[(ref == 0) & (cur > 0)]
    return tuple(str(v) for v in new[:MAX_UNSEEN_LISTED]), len(new)


def test_for(name: str, method: str, column_type: str, n_ref: int, n_values: int) -> StatTest:
    """The test for a column: Evidently's auto choice, or the named one if it applies."""
    if method == AUTO:
        return auto_test(n_ref, column_type, n_values)
    test = get_test(method)
    ensure_applicable(test, name, column_type)
    return test


def _facts(name: str, ref: Side, cur: Side) -> dict:
    return {
        "column": name,
        "reference_null_share": ref.null_share(),
        "current_null_share": cur.null_share(),
        "reference_non_finite_share": ref.non_finite_share(),
        "current_non_finite_share": cur.non_finite_share(),
    }


def untested(name: str, ref: Side, cur: Side) -> ColumnDrift | None:
    """The result of a column that gets no test (skipped or a schema change), else None."""
    facts = _facts(name, ref, cur)
    empty = [label for label, s in (("reference", ref), ("current", cur)) if s.n_kept() == 0]
    if empty:
        why = f"no non-null finite values in the {' and '.join(empty)} data: nothing to compare"
        return ColumnDrift(**facts, status=SKIPPED, drifted=False, reason=why)
    if ref.family != cur.family:
        why = f"type changed: {ref.family} in the reference, {cur.family} in the current data"
        return ColumnDrift(
            **facts, status=SCHEMA_CHANGE, drifted=True, method=SCHEMA_CHANGE, reason=why
        )
    if scan.column_type(cur) is None:
        why = f"unsupported type {cur.family}: only numbers, text and booleans are tested"
        return ColumnDrift(**facts, status=SKIPPED, drifted=False, reason=why)
    if (ref.overflow and not ref.numeric) or (cur.overflow and not cur.numeric):
        why = (
            f"more than {MAX_CATEGORIES:,} distinct values: an identifier, not a "
            "category; leave it out with columns=[...] (--columns)"
        )
        return ColumnDrift(**facts, status=SKIPPED, drifted=False, reason=why)
    return None


def tested(name, ref, cur, pair, test: StatTest, threshold) -> ColumnDrift:
    """The result of a column's test: score, threshold, verdict, and how exact the score is."""
    limit = test.default_threshold if threshold is None else test.check_threshold(threshold, name)
    score, bound = test.compute(pair)
    if isinstance(pair, GridPair) and test.name == "hellinger":
        bound = None  # bins from the row count, not the distinct values (state.grid_plan)
    unseen, unseen_count = unseen_categories(pair) if pair.column_type == CATEGORICAL else ((), 0)
    reason = None
    if bound and abs(score - limit) <= bound:
        reason = (
            f"approximate score {score:.4g} is within its error bound {bound:.2g} of the threshold"
        )
    return ColumnDrift(
        **_facts(name, ref, cur),
        status=TESTED,
        drifted=test.drifted(score, limit),
        column_type=pair.column_type,
        method=test.name,
        score=score,
        threshold=limit,
        unseen_categories=unseen,
        unseen_count=unseen_count,
        reason=reason,
        error_bound=bound,
        distribution=distribution_of(pair),
    )
