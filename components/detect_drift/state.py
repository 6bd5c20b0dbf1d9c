"""The mergeable drift state: one side's facts per column, counted on a shard, merged exactly.

`partial(batches, plan)` counts one side's record batches (a shard of row groups, or the
whole dataset) into `ColumnStates`; `merge(a, b)` adds two states of the same plan;
`finalize.finalize(ref, cur, rules)` scores them. What a column's state holds (`sides.Side`):

- rows, nulls (NaN and ±inf included) and ±inf: integer counts, merged by addition (exact);
- count, mean and M2 of the finite values: Chan et al.'s pairwise merge (exact to rounding:
  any partition and order agrees with one pass within 1e-12 relative);
- min and max (exact);
- a tally of every category, and of every number while a column has at most
  MAX_TRACKED_NUMBERS distinct values; past that the numeric tally is dropped and the column
  marked `overflow` (the same whatever the partition: a union of sets is order-free);
- when the plan fixes a column's range: the fine grid histogram (KS and normed Wasserstein,
  with the bounds in grid.GridPair) and the exact Sturges / Hellinger histograms, all on
  edges fixed before counting, merged by addition (exact).

The plan fixes the edges: from the footers' min/max of both sides (pyarrow row-group
statistics), or from a first pass when statistics are missing or not finite. A state records
the fingerprint of its plan; states of different plans are never merged.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from components._shared.errors import ConfigError
from components._shared.io.sources import family
from components.detect_drift.binning import sturges_edges
from components.detect_drift.grid import GRID_BINS
from components.detect_drift.sides import (
    MAX_CATEGORIES,
    MAX_TRACKED_NUMBERS,
    GridPlan,
    Side,
    decoded,
    merge_tally,
)

# A shard's pod holds one side's state while it reads: at most this much of it (the rest of
# the 1 GiB goes to the reader's batch, numpy's temporaries and the interpreter).
STATE_BUDGET_BYTES = 768 << 20
# Bytes per tracked value (key + count) and per column's fixed fields, for the estimate.
TALLY_ENTRY_BYTES = 16
COLUMN_FIXED_BYTES = 512
REFERENCE, CURRENT = "reference", "current"
SIDES = (REFERENCE, CURRENT)
# Assumed mean length of a category's text, for the estimate only.
TEXT_KEY_BYTES = 32


@dataclass(frozen=True)
class ColumnPlan:
    """What a partial collects for one column: its facts (pass 1) and/or its grid (pass 2)."""

    kinds: tuple[tuple[str, bool], tuple[str, bool]]  # (family, integer): reference, current
    facts: bool = True  # counts, moments, min/max, tally
    grid: GridPlan | None = None  # fixed range and edges: fill the histograms


@dataclass(frozen=True)
class Plan:
    """The columns one state covers and the edges fixed for them, shared by both sides."""

    columns: dict[str, ColumnPlan]
    grid_bins: int = GRID_BINS

    def to_json(self) -> str:
        """The plan as canonical JSON (floats round-trip exactly)."""

        def edges(values):
            return None if values is None else [float(v) for v in values]

        columns = {}
        for name, c in self.columns.items():
            grid = None
            if c.grid is not None:
                g = c.grid
                grid = [float(g.low), float(g.high), edges(g.sturges), edges(g.hellinger)]
            columns[name] = [[list(k) for k in c.kinds], c.facts, grid]
        return json.dumps({"grid_bins": self.grid_bins, "columns": columns}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        """The plan `to_json` wrote."""
        data = json.loads(text)
        columns = {}
        for name, (kinds, facts, grid) in data["columns"].items():
            if grid is not None:
                low, high, sturges, hellinger = grid
                grid = GridPlan(
                    low,
                    high,
                    None if sturges is None else np.array(sturges),
                    None if hellinger is None else np.array(hellinger),
                )
            columns[name] = ColumnPlan((tuple(kinds[0]), tuple(kinds[1])), facts, grid)
        return cls(columns, data["grid_bins"])

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON: equal plans, equal fingerprints."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()


@dataclass
class ColumnStates:
    """One side's state: a Side per planned column, and the plan it was counted under."""

    plan: Plan
    side: str  # REFERENCE or CURRENT
    sides: dict[str, Side] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows counted (every column counts every row)."""
        return next(iter(self.sides.values())).rows if self.sides else 0


def _kind(schema: pa.Schema, name: str) -> tuple[str, bool]:
    arrow_type = schema.field(name).type
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return family(arrow_type), pa.types.is_integer(arrow_type)


def facts_plan(reference: pa.Schema, current: pa.Schema, names: Iterable[str]) -> Plan:
    """A first-pass plan: facts for every column, no grid (ranges not known yet)."""
    return Plan({n: ColumnPlan((_kind(reference, n), _kind(current, n))) for n in names})


def grid_plan(low: float, high: float, n: int, test_name: str) -> GridPlan:
    """The grid and the exact edges a test needs, over [low, high] of both sides, n values."""
    sturges = hellinger = None
    if test_name in ("jensenshannon", "psi", "kl_div"):
        sturges = sturges_edges(n, low, high)
    if test_name == "hellinger":
        # Distinct values are not counted past MAX_TRACKED_NUMBERS: the value count stands in
        # (equal for continuous data), so this score is approximate.
        hellinger = sturges_edges(n, low, high)
    return GridPlan(float(low), float(high), sturges, hellinger)


def with_ranges(plan: Plan, ranges: dict[str, tuple[float, float, int, str]]) -> Plan:
    """`plan` with grids fixed for the columns in `ranges` (name: low, high, n, test name).

    From the footers (one pass: the facts and the grid together) or from a first pass's
    states (`finalize.Outcome.grid_ranges`; the second pass then collects the grid only).
    """
    columns = dict(plan.columns)
    for name, (low, high, n, test_name) in ranges.items():
        columns[name] = replace(columns[name], grid=grid_plan(low, high, n, test_name))
    gridded = sum(c.grid is not None for c in columns.values())
    return Plan(columns, grid_bins_for(gridded, plan.grid_bins))


def grid_only(plan: Plan) -> Plan:
    """The second pass of a plan: only its gridded columns, grids only (no facts again)."""
    columns = {n: replace(c, facts=False) for n, c in plan.columns.items() if c.grid is not None}
    return Plan(columns, plan.grid_bins)


def state_bytes(numeric: int, text: int = 0, grid_bins: int = GRID_BINS, sturges: int = 0):
    """Upper estimate of one side's state in bytes.

    For `numeric` gridded columns with `sturges` Sturges/Hellinger bins each, and `text`
    columns at their category cap.
    """
    per_numeric = COLUMN_FIXED_BYTES + (MAX_TRACKED_NUMBERS + 1) * TALLY_ENTRY_BYTES + 8 * grid_bins
    per_numeric += 8 * 2 * (sturges + 1)  # histogram counts and edges
    per_text = COLUMN_FIXED_BYTES + MAX_CATEGORIES * (TALLY_ENTRY_BYTES + TEXT_KEY_BYTES)
    return numeric * per_numeric + text * per_text


def grid_bins_for(numeric: int, wanted: int = GRID_BINS) -> int:
    """The finest grid (a power of two, at most `wanted`) whose state fits STATE_BUDGET_BYTES."""
    bins = wanted
    while bins > 1024 and state_bytes(numeric, grid_bins=bins, sturges=64) > STATE_BUDGET_BYTES:
        bins //= 2
    return bins


def empty(plan: Plan, side_name: str) -> ColumnStates:
    """The state of no rows of one side (REFERENCE, CURRENT) under `plan`: merge's identity."""
    if side_name not in SIDES:
        raise ValueError(f"unknown side {side_name!r}; expected one of {SIDES}")
    sides = {}
    for name, c in plan.columns.items():
        side = Side(*c.kinds[SIDES.index(side_name)])
        if c.grid is not None and not c.facts:  # a grid pass: every value goes in
            side.fill(np.zeros(0), None, c.grid, plan.grid_bins)
        sides[name] = side
    return ColumnStates(plan, side_name, sides)


def partial(batches: Iterable[pa.RecordBatch], plan: Plan, side: str) -> ColumnStates:
    """One side's state of `batches` (a shard, or the whole dataset) under `plan`."""
    state = empty(plan, side)
    facts = [(n, s, plan.columns[n].grid) for n, s in state.sides.items() if plan.columns[n].facts]
    grids = [(n, s, c.grid) for n, s in state.sides.items() if not (c := plan.columns[n]).facts]
    for batch in batches:
        for name, side, grid in facts:
            side.add_pass1(decoded(batch.column(name)), grid, plan.grid_bins)
        for name, side, grid in grids:
            side.add_grid(decoded(batch.column(name)), grid)
    return state


def _check_same_plan(a: ColumnStates, b: ColumnStates) -> None:
    if a.side != b.side:
        raise ConfigError(
            f"cannot merge a {a.side} state with a {b.side} state: merge each side's shards"
        )
    if a.plan.fingerprint != b.plan.fingerprint:
        only_a = sorted(set(a.plan.columns) - set(b.plan.columns))
        only_b = sorted(set(b.plan.columns) - set(a.plan.columns))
        what = f"columns only in one: {only_a} / {only_b}" if only_a or only_b else "other edges"
        raise ConfigError(
            f"cannot merge drift states of different plans ({a.plan.fingerprint[:12]} vs "
            f"{b.plan.fingerprint[:12]}: {what}); count every shard under the same plan"
        )


def settled(side: Side, plan: GridPlan | None, bins: int) -> Side:
    """`side` with its histograms, if the plan has them and the side's tally must give way.

    A side below the tally's cap keeps no grid; when the column needs one (the other side,
    or a merged shard, passed the cap), its tally is replayed into it: the same counts as if
    every value had gone in one by one.
    """
    if plan is None or side.grid is not None:
        return side
    out = replace(side)
    out.fill(np.zeros(0), None, plan, bins)  # empty histograms, then the tally's counts
    out.fill_from_tally(plan, bins)
    return out


def _merge_side(a: Side, b: Side, cap: int, plan: GridPlan | None, bins: int) -> Side:
    out = Side(a.family, a.integer)
    out.rows, out.dropped = a.rows + b.rows, a.dropped + b.dropped
    out.non_finite = a.non_finite + b.non_finite
    out.n = a.n + b.n
    if a.n == 0 or b.n == 0:
        out.mean, out.m2 = (b.mean, b.m2) if a.n == 0 else (a.mean, a.m2)
    else:
        # Chan et al.; written symmetrically so merge(a, b) == merge(b, a) bit for bit.
        delta = b.mean - a.mean
        out.mean = (a.n * a.mean + b.n * b.mean) / out.n
        out.m2 = (a.m2 + b.m2) + delta * delta * (a.n * b.n / out.n)
    out.low, out.high = min(a.low, b.low), max(a.high, b.high)
    out.overflow = a.overflow or b.overflow
    if not out.overflow:
        out.tally = merge_tally(a.tally, b.tally)
        if out.tally is not None and len(out.tally[0]) > cap:
            out.overflow = True
    if out.overflow:
        out.tally = None
        if plan is not None:  # both sides' values in the histograms, then added
            a, b = settled(a, plan, bins), settled(b, plan, bins)
    for name in ("grid", "bins", "hellinger"):
        x, y = getattr(a, name), getattr(b, name)
        setattr(out, name, x + y if x is not None and y is not None else None)
    return out


def merge(a: ColumnStates, b: ColumnStates) -> ColumnStates:
    """Both states as one (same plan): associative and commutative, counts exactly."""
    _check_same_plan(a, b)
    sides = {}
    for name, side in a.sides.items():
        cap = MAX_TRACKED_NUMBERS if side.numeric else MAX_CATEGORIES
        grid = a.plan.columns[name].grid
        sides[name] = _merge_side(side, b.sides[name], cap, grid, a.plan.grid_bins)
    return ColumnStates(a.plan, a.side, sides)


def merge_all(states: Iterable[ColumnStates]) -> ColumnStates:
    """Every state merged, left to right (any order or tree gives the same counts)."""
    merged = None
    for state in states:
        merged = state if merged is None else merge(merged, state)
    if merged is None:
        raise ConfigError("no drift states to merge: the plan produced no shard")
    return merged


def attach_grids(facts: ColumnStates, grids: ColumnStates) -> ColumnStates:
    """A first pass's states with the second pass's grids (plan: `grid_only` of theirs)."""
    sides = dict(facts.sides)
    for name, side in grids.sides.items():
        sides[name] = replace(sides[name], grid=side.grid, bins=side.bins)
        sides[name].hellinger = side.hellinger
    columns = dict(facts.plan.columns)
    columns.update({n: replace(c, facts=True) for n, c in grids.plan.columns.items()})
    return ColumnStates(Plan(columns, grids.plan.grid_bins), facts.side, sides)
