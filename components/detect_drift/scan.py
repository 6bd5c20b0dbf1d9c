"""Read the compared columns of both datasets into pairs the drift tests score.

What each dataset's column accumulates (counts, moments, values, grids) is in sides.py; how
the batches are read, and what pass 2 needs, here.

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

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from components._shared.io.sources import family
from components.detect_drift.binning import runs, sturges_edges
from components.detect_drift.grid import GRID_BINS, GridPair
from components.detect_drift.pairs import CATEGORICAL, NUMERICAL, CountsPair, ValuesPair
from components.detect_drift.sides import GridPlan, Side

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


def new_sides(schema: pa.Schema, names: Iterable[str]) -> dict[str, Side]:
    """An empty Side per compared column, typed from the schema."""
    sides = {}
    for name in names:
        arrow_type = schema.field(name).type
        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        sides[name] = Side(family(arrow_type), pa.types.is_integer(arrow_type))
    return sides


def _decoded(array):
    # Text stays dictionary-encoded (counted by index); other dictionaries are decoded.
    if pa.types.is_dictionary(array.type) and family(array.type) != "text":
        return array.dictionary_decode()
    return array


def read_exact(table: pa.Table, sides: dict[str, Side]) -> None:
    """Exact mode: every value of every compared column, from a table in memory."""
    for name, side in sides.items():
        column = table.column(name)
        if side.numeric:
            for chunk in column.chunks:
                side.add_exact(_decoded(chunk))
        else:
            side.add_exact(column)  # text may stay dictionary-encoded: _tally counts indices
        side.finish_exact()


def read_pass1(batches: Iterator[pa.RecordBatch], sides: dict[str, Side]) -> None:
    """Streaming pass 1."""
    for batch in batches:
        for name, side in sides.items():
            side.add_pass1(_decoded(batch.column(name)))


def read_pass2(batches, sides: dict[str, Side], plans: dict[str, GridPlan]) -> None:
    """Streaming pass 2, for the columns that have a grid plan."""
    for name, plan in plans.items():
        side = sides[name]
        side.grid = np.zeros(GRID_BINS, dtype=np.int64)
        side.bins = None if plan.sturges is None else np.zeros(len(plan.sturges) - 1)
        side.hellinger = None if plan.hellinger is None else np.zeros(len(plan.hellinger) - 1)
        side.rows = side.dropped = side.non_finite = 0  # counted again, identically
    for batch in batches:
        for name, plan in plans.items():
            sides[name].add_pass2(_decoded(batch.column(name)), plan)


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


def grid_plan(ref: Side, cur: Side, test_name: str) -> GridPlan:
    """What pass 2 must collect for this column and test."""
    low, high = min(ref.low, cur.low), max(ref.high, cur.high)
    sturges = hellinger = None
    if test_name in ("jensenshannon", "psi", "kl_div"):
        sturges = sturges_edges(ref.n + cur.n, low, high)
    if test_name == "hellinger":
        # Distinct values are not counted past MAX_TRACKED_NUMBERS: the row count stands in
        # (equal for continuous data), so this score is approximate.
        hellinger = sturges_edges(ref.n + cur.n, low, high)
    return GridPlan(low, high, sturges, hellinger)


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
