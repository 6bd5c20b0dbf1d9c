"""Read the compared columns of both datasets into pairs the drift tests score.

What each dataset's column accumulates (counts, moments, values, grids) is in sides.py; the
mergeable state of the streaming mode (partial, merge, the pass-2 plan) in state.py;
finalize.py scores the states with the pairs made here.

Two modes, chosen by size (`choose_mode`):

- exact: every finite value of each numerical column is kept (then sorted) and every category
  counted. Memory grows with the rows; used while both datasets hold at most
  EXACT_MAX_CELLS values in the compared columns.
- streaming: two passes over Arrow record batches of at most sources.BATCH_ROWS rows. Pass 1
  counts nulls and ±inf, merges exact moments, min and max, and counts values (all of them for
  categories, up to MAX_TRACKED_NUMBERS distinct values for numbers). Pass 2, for numerical
  columns with more distinct values than that, fills a grid histogram over the range of both
  datasets (and the exact Sturges histograms a binned test needs). Memory is bounded by the
  batch size, the number of columns and the grid, not by the rows.
"""

import pyarrow as pa

from components.detect_drift.binning import runs
from components.detect_drift.grid import GridPair
from components.detect_drift.pairs import CATEGORICAL, NUMERICAL, CountsPair, ValuesPair
from components.detect_drift.sides import GridPlan, Side, decoded

EXACT, STREAMING, AUTO_MODE = "exact", "streaming", "auto"
MODES = (AUTO_MODE, EXACT, STREAMING)
# Exact mode while reference + current hold at most this many values in the compared columns
# (about 400 MB of float64 at most): 1e6 + 1e6 rows x 20 columns is exact, 1e7 rows streams.
EXACT_MAX_CELLS = 50_000_000
# Evidently: integer columns with more distinct current values than this are numerical.
MAX_CATEGORICAL_INTEGERS = 10


def choose_mode(mode: str, cells: int | None) -> str:
    """EXACT or STREAMING: `mode` itself, or by the number of values compared (None: unknown)."""
    if mode != AUTO_MODE:
        return mode
    return EXACT if cells is not None and cells <= EXACT_MAX_CELLS else STREAMING


def read_exact(table: pa.Table, sides: dict[str, Side]) -> None:
    """Exact mode: every value of every compared column, from a table in memory."""
    for name, side in sides.items():
        column = table.column(name)
        if side.numeric:
            for chunk in column.chunks:
                side.add_exact(decoded(chunk))
        else:
            side.add_exact(column)  # text may stay dictionary-encoded: _tally counts indices
        side.finish_exact()


def column_type(current: Side) -> str | None:
    """NUMERICAL or CATEGORICAL from the current data (Evidently's rule), None if untestable."""
    if current.family in ("bool", "text"):
        return CATEGORICAL
    if not current.numeric:
        return None
    if not current.integer:
        return NUMERICAL
    return NUMERICAL if current.n_distinct() > MAX_CATEGORICAL_INTEGERS else CATEGORICAL


def needs_grid(ref: Side, cur: Side) -> bool:
    """Whether a streamed numerical column has too many distinct values to count each."""
    return ref.numeric and (ref.overflow or cur.overflow) and ref.values is None


def pair_of(ref: Side, cur: Side, kind: str, plan: GridPlan | None = None):
    """The pair the test scores, from both sides' facts."""
    if plan is not None:
        return GridPair(
            kind,
            ref.n,
            cur.n,
            plan.low,
            plan.high,
            ref.grid,
            cur.grid,
            ref.mean,
            ref.m2,
            ref_bins=None if plan.sturges is None else (ref.bins, cur.bins),
            hellinger=None
            if plan.hellinger is None
            else (ref.hellinger, cur.hellinger, plan.hellinger),
        )
    if ref.values is not None and kind == NUMERICAL:
        return ValuesPair(kind, ref.values, cur.values)
    if ref.values is not None:
        return CountsPair.of(kind, *runs(ref.values), *runs(cur.values))
    return CountsPair.of(kind, *ref.tally, *cur.tally)
