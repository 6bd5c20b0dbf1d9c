"""Score both sides' merged states: each column's verdict, or what another pass must collect.

`finalize(ref, cur, rules)` gives an `Outcome`:
- `results`: a ColumnDrift per column it could score (the objects the one-pod path returns);
- `grid_ranges`: columns with too many distinct numbers whose grid was not counted, or was
  counted on edges that turned out wrong (footers that did not match the data): their range
  of both sides, for `state.with_ranges` and one more pass;
- `needs_refinement`: scored columns whose approximate score lies within its error bound of
  the threshold (the verdict could go either way): refine them with exact values.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from components._shared.cpus import usable_cpus
from components._shared.errors import ConfigError
from components.detect_drift import scan, verdicts
from components.detect_drift.results import ColumnDrift
from components.detect_drift.sides import MAX_TRACKED_NUMBERS, GridPlan
from components.detect_drift.state import SIDES, ColumnStates, grid_plan, settled
from components.detect_drift.stattests import AUTO


@dataclass(frozen=True)
class Rules:
    """Which test each column gets and its threshold (the drift gate's arguments)."""

    method: str = AUTO
    thresholds: dict = field(default_factory=dict)
    per_column_methods: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What finalize found: results, columns that need a grid pass, columns to refine."""

    results: dict[str, ColumnDrift]
    grid_ranges: dict[str, tuple[float, float, int, str]]
    needs_refinement: list[str]


def _same_edges(planned: GridPlan, wanted: GridPlan) -> bool:
    if (planned.low, planned.high) != (wanted.low, wanted.high):
        return False
    for a, b in ((planned.sturges, wanted.sturges), (planned.hellinger, wanted.hellinger)):
        if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
            return False
    return True


def finalize(ref: ColumnStates, cur: ColumnStates, rules: Rules, columns=None) -> Outcome:
    """Each column's verdict from both sides' states (same plan), as far as they allow.

    `columns`: only these (e.g. the ones a grid pass just counted); default every column.
    """
    if ref.plan.fingerprint != cur.plan.fingerprint or (ref.side, cur.side) != SIDES:
        raise ConfigError(
            f"finalize needs a reference and a current state of one plan; got {ref.side} "
            f"({ref.plan.fingerprint[:12]}) and {cur.side} ({cur.plan.fingerprint[:12]})"
        )
    names = list(ref.plan.columns if columns is None else columns)
    outcome = Outcome({}, {}, [])
    for name, (kind, found) in zip(names, each_column(_one, names, ref, cur, rules), strict=True):
        if kind == GRID:
            outcome.grid_ranges[name] = found
            continue
        outcome.results[name] = found
        if found.error_bound and abs(found.score - found.threshold) <= found.error_bound:
            outcome.needs_refinement.append(name)
    return outcome


GRID, RESULT = "grid", "result"


def _one(name: str, ref: ColumnStates, cur: ColumnStates, rules: Rules):
    """(RESULT, the column's ColumnDrift), or (GRID, the range its grid pass must cover)."""
    r, c = ref.sides[name], cur.sides[name]
    untested = verdicts.untested(name, r, c)
    if untested is not None:
        return RESULT, untested
    kind = scan.column_type(c)
    method = rules.per_column_methods.get(name, rules.method)
    threshold = rules.thresholds.get(name)
    if scan.needs_grid(r, c):
        test = verdicts.test_for(name, method, kind, r.n, MAX_TRACKED_NUMBERS + 1)
        low, high, n = min(r.low, c.low), max(r.high, c.high), r.n + c.n
        planned = ref.plan.columns[name].grid
        if planned is None or not _same_edges(planned, grid_plan(low, high, n, test.name)):
            return GRID, (low, high, n, test.name)
        bins = ref.plan.grid_bins  # a side below the tally's cap: its tally as a grid
        r, c = settled(r, planned, bins), settled(c, planned, bins)
        pair = scan.pair_of(r, c, kind, planned)
    else:
        pair = scan.pair_of(r, c, kind)
        test = verdicts.test_for(name, method, kind, pair.n_ref, pair.n_values())
    return RESULT, verdicts.tested(name, r, c, pair, test, threshold)


def each_column(score, names: list[str], *args) -> list:
    """`[score(name, *args) for name in names]`, spread over the usable CPUs' threads.

    NumPy's sorts and sums release the GIL. Results come in order; the first error is
    raised as it was.
    """
    workers = min(usable_cpus(), len(names))
    if workers < 2:
        return [score(name, *args) for name in names]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift-column") as pool:
        return list(pool.map(lambda name: score(name, *args), names))
