"""Read the compared columns of both datasets into pairs the drift tests score.

Two modes, chosen by size (`choose_mode`):

- exact: every finite value of each numerical column is kept (then sorted) and every category
  counted. Memory grows with the rows; used while both datasets hold at most
  EXACT_MAX_CELLS values in the compared columns.
- streaming: two passes over Arrow record batches of at most BATCH_ROWS rows. Pass 1 counts
  nulls and ±inf, merges exact moments, min and max, and counts values (all of them for
  categories, up to MAX_TRACKED_NUMBERS distinct values for numbers). Pass 2, for numerical
  columns with more distinct values than that, fills a grid histogram over the range of both
  datasets (and the exact Sturges histograms a binned test needs). Memory is bounded by the
  batch size, the number of columns and the grid, not by the rows.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components._shared.io.sources import family
from components.detect_drift.pairs import (
    CATEGORICAL,
    GRID_BINS,
    NUMERICAL,
    CountsPair,
    GridPair,
    ValuesPair,
    runs,
    sturges_edges,
)

EXACT, STREAMING, AUTO_MODE = "exact", "streaming", "auto"
MODES = (AUTO_MODE, EXACT, STREAMING)
# Exact mode while reference + current hold at most this many values in the compared columns
# (about 400 MB of float64 at most): 1e6 + 1e6 rows x 20 columns is exact, 1e7 rows streams.
EXACT_MAX_CELLS = 50_000_000
# Numbers: values counted one by one up to this many distinct (beyond, a grid histogram).
MAX_TRACKED_NUMBERS = 1000
# Categories: a text column with more distinct values than this is not compared.
MAX_CATEGORIES = 100_000
# Evidently: integer columns with more distinct current values than this are numerical.
MAX_CATEGORICAL_INTEGERS = 10


def _tally(array) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts of a null-free Arrow array or chunked array."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    total = None
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            # Count the dictionary indices; only the dictionary's values become Python objects.
            counts = np.bincount(
                chunk.indices.to_numpy(zero_copy_only=False), minlength=len(chunk.dictionary)
            )
            used = counts > 0
            keys = chunk.dictionary.to_numpy(zero_copy_only=False)[used]
            part = (keys, counts[used].astype(np.int64))
        else:
            counted = pc.value_counts(chunk)
            keys = counted.field("values").to_numpy(zero_copy_only=False)
            part = (keys, counted.field("counts").to_numpy(zero_copy_only=False).astype(np.int64))
        total = _merge_tally(total, part)
    if total is None:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    return total


def _merge_tally(a, b):
    """Two tallies as one, keys sorted and distinct."""
    if a is None:
        a = (b[0][:0], b[1][:0])
    keys, inverse = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([a[1], b[1]]), minlength=len(keys))
    return keys, counts.astype(np.int64)


@dataclass
class Side:
    """One dataset's facts about one column."""

    family: str
    integer: bool
    rows: int = 0
    dropped: int = 0  # nulls, NaN and ±inf: not tested
    non_finite: int = 0  # ±inf (part of dropped)
    n: int = 0  # finite values
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean
    low: float = np.inf
    high: float = -np.inf
    tally: tuple[np.ndarray, np.ndarray] | None = None  # sorted distinct values, counts
    overflow: bool = False  # more distinct values than tracked
    chunks: list = field(default_factory=list)  # exact mode: finite numbers
    values: np.ndarray | None = None  # exact mode: sorted finite numbers
    grid: np.ndarray | None = None
    bins: np.ndarray | None = None
    hellinger: np.ndarray | None = None

    @property
    def numeric(self) -> bool:
        """Whether the column holds numbers."""
        return self.family == "numeric"

    def n_kept(self) -> int:
        """Values tested: rows that are not null, NaN or ±inf."""
        return self.rows - self.dropped

    def null_share(self) -> float:
        """Share of rows not tested (null, NaN, ±inf)."""
        return self.dropped / self.rows if self.rows else 0.0

    def non_finite_share(self) -> float:
        """Share of rows that were ±inf."""
        return self.non_finite / self.rows if self.rows else 0.0

    def n_distinct(self) -> int:
        """Distinct finite values (a lower bound once the tally overflowed)."""
        if self.values is not None:
            return len(runs(self.values)[0])
        if self.tally is None:
            return 0
        return len(self.tally[0]) + (1 if self.overflow else 0)

    def _finite(self, array: pa.Array) -> np.ndarray:
        self.rows += len(array)
        nulls = array.null_count
        if nulls:
            array = array.drop_null()
        if self.integer:
            values = array.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
            self.dropped += nulls
            return values
        values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        finite = np.isfinite(values)
        if finite.all():
            self.dropped += nulls
            return values
        nan = int(np.count_nonzero(np.isnan(values)))
        kept = values[finite]
        self.non_finite += len(values) - len(kept) - nan
        self.dropped += nulls + len(values) - len(kept)
        return kept

    def add_exact(self, array: pa.Array) -> None:
        """Exact mode: keep every finite number, count every category."""
        if self.numeric:
            self.chunks.append(self._finite(array))
            return
        self.rows += len(array)
        self.dropped += array.null_count
        if self.family in ("text", "bool"):
            self.tally = _merge_tally(self.tally, _tally(array.drop_null()))

    def finish_exact(self) -> None:
        """Sort the kept numbers."""
        if self.numeric:
            values = np.concatenate(self.chunks) if self.chunks else np.zeros(0)
            values.sort()
            self.values, self.chunks = values, []
            self.n = len(values)

    def add_pass1(self, array: pa.Array) -> None:
        """Streaming pass 1: counts, moments, range, and the (capped) tally."""
        if not self.numeric:
            self.add_exact(array)
            if self.tally is not None and len(self.tally[0]) > MAX_CATEGORIES:
                self.overflow, self.tally = True, (self.tally[0][:0], self.tally[1][:0])
            return
        values = self._finite(array)
        if len(values) == 0:
            return
        as_float = values.astype(np.float64, copy=False)
        n, mean = len(values), float(as_float.mean())
        m2 = float(np.sum((as_float - mean) ** 2))
        total = self.n + n
        delta = mean - self.mean
        # Chan et al.'s pairwise update: exact to rounding, whatever the batch order.
        self.m2 += m2 + delta * delta * self.n * n / total
        self.mean += delta * n / total
        self.n = total
        self.low = min(self.low, float(as_float.min()))
        self.high = max(self.high, float(as_float.max()))
        if not self.overflow:
            self.tally = _merge_tally(self.tally, _tally(pa.array(values)))
            if len(self.tally[0]) > MAX_TRACKED_NUMBERS:
                self.overflow = True

    def add_pass2(self, array: pa.Array, plan: "GridPlan") -> None:
        """Streaming pass 2: the grid histogram and the exact bins the test needs."""
        values = self._finite(array).astype(np.float64, copy=False)
        scale = GRID_BINS / (plan.high - plan.low) if plan.high > plan.low else 0.0
        index = np.minimum(((values - plan.low) * scale).astype(np.int64), GRID_BINS - 1)
        self.grid += np.bincount(index, minlength=GRID_BINS)
        if plan.sturges is not None:
            self.bins += np.histogram(values, plan.sturges)[0]
        if plan.hellinger is not None:
            self.hellinger += np.histogram(values, plan.hellinger)[0]


@dataclass(frozen=True)
class GridPlan:
    """What pass 2 collects for one numerical column."""

    low: float
    high: float
    sturges: np.ndarray | None
    hellinger: np.ndarray | None


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
