"""One dataset's facts about one column, accumulated batch by batch: counts, moments, grids."""

import threading
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from components._shared.io.sources import family
from components.detect_drift.binning import n_distinct_sorted

# Numbers: values counted one by one up to this many distinct (beyond, a grid histogram).
MAX_TRACKED_NUMBERS = 1000
# Categories: a text column with more distinct values than this is not compared.
MAX_CATEGORIES = 100_000
# Integers spanning fewer values than this are tallied with one bincount instead of a hash.
BINCOUNT_SPAN = 1 << 16
# Numbers among this few known values are tallied by comparing with each value.
FEW_KEYS = 16
# A batch whose first PROBE_FACTOR x cap numbers hold more than the cap passes it at once.
PROBE_FACTOR = 4


_SCRATCH = threading.local()  # one set of buffers per thread: both sides count at once


def scratch(name: str, n: int, dtype) -> np.ndarray:
    """A reusable array of n items for one per-batch temporary (`name`: which one).

    A fresh batch-sized temporary per column and batch made glibc give the freed memory
    back and fault it in again (twice the system time of the whole run); these stay, one
    set per thread.
    """
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    buffer = buffers.get(name)
    if buffer is None or len(buffer) < n or buffer.dtype != dtype:
        buffer = buffers[name] = np.empty(max(n, 1 << 18), dtype=dtype)
    return buffer[:n]


def decoded(array):
    """Text stays dictionary-encoded (counted by index); other dictionaries are decoded."""
    if pa.types.is_dictionary(array.type) and family(array.type) != "text":
        return array.dictionary_decode()
    return array


def _tally(array) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts of an Arrow array or chunked array (nulls left out)."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    total = None
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            # Count the dictionary indices; only the dictionary's values become Python objects.
            counts = np.bincount(_non_null(chunk.indices), minlength=len(chunk.dictionary))
            used = counts > 0
            keys = _numpy(chunk.dictionary)[used]
            part = (keys, counts[used].astype(np.int64))
        else:
            import pyarrow.compute as pc  # here: ~50 ms of import most drift runs never need

            counted = pc.value_counts(chunk.drop_null() if chunk.null_count else chunk)
            keys = _numpy(counted.field("values"))
            part = (keys, _numpy(counted.field("counts")).astype(np.int64))
        total = merge_tally(total, part)
    if total is None:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    return total


def more_distinct_than(values: np.ndarray, cap: int) -> bool:
    """Whether a probe of the first values already holds more than `cap` distinct ones.

    A cheap early answer for continuous numbers (a False says nothing about the rest).
    """
    probe = values[: PROBE_FACTOR * cap]
    return len(probe) > cap and n_distinct_sorted(np.sort(probe)) > cap


def number_tally(values: np.ndarray, known=None, low=None, high=None):
    """`_tally` of finite int64 or float64 numbers, without hashing where it can.

    Integers over a span shorter than BINCOUNT_SPAN (`low`, `high`: their extremes, if
    known) are counted with one bincount; numbers that are all keys of `known` (a tally so
    far) are counted by their positions among those keys (by comparison with each key, for
    up to FEW_KEYS keys). Anything else is hashed by Arrow.
    """
    if len(values) == 0:
        return _tally(_arrow(values))
    if values.dtype.kind == "i":
        low = int(values.min()) if low is None else int(low)
        high = int(values.max()) if high is None else int(high)
        if high - low < BINCOUNT_SPAN:
            shifted = np.subtract(values, low, out=scratch("shifted", len(values), np.int64))
            counts = np.bincount(shifted, minlength=high - low + 1)
            used = np.flatnonzero(counts)
            return (used + low).astype(np.int64, copy=False), counts[used].astype(np.int64)
    elif known is not None and 0 < len(known[0]) <= FEW_KEYS and known[0].dtype == values.dtype:
        counts = np.array([np.count_nonzero(values == key) for key in known[0]], np.int64)
        if counts.sum() == len(values):
            used = counts > 0
            return known[0][used], counts[used]
    elif known is not None and len(known[0]) and known[0].dtype == values.dtype:
        keys = known[0]
        index = np.searchsorted(keys, values)
        np.minimum(index, len(keys) - 1, out=index)
        if np.array_equal(keys[index], values):
            counts = np.bincount(index, minlength=len(keys))
            used = counts > 0
            return keys[used], counts[used].astype(np.int64)
    return _tally(_arrow(values))


def merge_tally(a, b):
    """Two tallies as one, keys sorted and distinct (None: nothing counted yet)."""
    parts = [t for t in (a, b) if t is not None and len(t[0])]
    if not parts:  # an empty tally's keys have no dtype worth keeping
        return a if a is not None else b
    if len(parts) == 2 and np.array_equal(a[0], b[0]):  # the same keys: add the counts
        return a[0], (a[1] + b[1]).astype(np.int64)
    if len(parts) == 1:
        order = np.argsort(parts[0][0])  # distinct keys: any sort is stable
        return parts[0][0][order], parts[0][1][order].astype(np.int64)
    keys, inverse = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([a[1], b[1]]), minlength=len(keys))
    return keys, counts.astype(np.int64)


_SIGNED = {pa.int8().id, pa.int16().id, pa.int32().id, pa.int64().id}


def _numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An array's values as NumPy, as `to_numpy(zero_copy_only=False)` gives them.

    Not through `to_numpy` where it can be helped: pyarrow imports pandas on its first call
    (a quarter of a second of a whole run at 1e6 rows, for nothing the drift path uses).
    Integers and floats without nulls are viewed from their data buffer; booleans and text
    without nulls go through Python objects (text: an object array, as `to_numpy` gives);
    anything else through `to_numpy`.
    """
    if isinstance(array, pa.ChunkedArray):
        chunks = [_numpy(c) for c in array.chunks]
        return np.concatenate(chunks) if chunks else np.zeros(0)
    kind = array.type
    if array.null_count:
        return array.to_numpy(zero_copy_only=False)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        letter = "f" if pa.types.is_floating(kind) else "i" if kind.id in _SIGNED else "u"
        dtype = np.dtype(f"{letter}{kind.bit_width // 8}")
        return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * dtype.itemsize)
    if pa.types.is_boolean(kind):
        return np.array(array.to_pylist(), dtype=bool)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        out = np.empty(len(array), dtype=object)
        out[:] = array.to_pylist()
        return out
    return array.to_numpy(zero_copy_only=False)


def _non_null(array: pa.Array) -> np.ndarray:
    """The non-null values of an Arrow array, as NumPy (integers and floats from buffers)."""
    if not array.null_count:
        return _numpy(array)
    kind = array.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return _numpy(array.drop_null())
    data = _numpy(_without_validity(array))
    bits = np.unpackbits(
        np.frombuffer(array.buffers()[0], np.uint8),
        count=array.offset + len(array),
        bitorder="little",
    )
    return data[bits[array.offset :].view(np.bool_)]


def _without_validity(array: pa.Array) -> pa.Array:
    """The same values with the null bitmap left off (what null slots hold is unspecified)."""
    data = array.buffers()[1]
    return pa.Array.from_buffers(array.type, len(array), [None, data], 0, array.offset)


def _arrow(values: np.ndarray) -> pa.Array:
    """A 1-d NumPy array of numbers as Arrow, sharing its buffer (`pa.array` imports pandas)."""
    values = np.ascontiguousarray(values)
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


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
            return n_distinct_sorted(self.values)
        if self.overflow:  # the tally was dropped past its cap
            return (MAX_TRACKED_NUMBERS if self.numeric else MAX_CATEGORIES) + 1
        return 0 if self.tally is None else len(self.tally[0])

    def _finite(self, array: pa.Array, count: bool = True) -> np.ndarray:
        if not count:  # the facts were counted already: the same values, nothing counted
            return Side(self.family, self.integer)._finite(array)
        self.rows += len(array)
        nulls = array.null_count
        if self.integer:
            values = _non_null(array).astype(np.int64, copy=False)
            self.dropped += nulls
            return values
        values = _non_null(array).astype(np.float64, copy=False)
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
            self.tally = merge_tally(self.tally, _tally(array))

    def finish_exact(self) -> None:
        """Sort the kept numbers."""
        if self.numeric:
            values = np.concatenate(self.chunks) if self.chunks else np.zeros(0)
            values.sort()
            self.values, self.chunks = values, []
            self.n = len(values)

    def add_pass1(self, array: pa.Array, plan: "GridPlan | None" = None, bins: int = 0) -> None:
        """Streaming pass 1: counts, moments, range, and the (capped) tally.

        With a grid `plan` (edges fixed before counting), a numerical column that passes the
        tally's cap gets its histograms then: the tally is replayed into them, later values
        go straight in. Columns that never pass the cap keep no grid at all.
        """
        if not self.numeric:
            self.add_exact(array)
            if self.tally is not None and len(self.tally[0]) > MAX_CATEGORIES:
                self.overflow, self.tally = True, None
            return
        values = self._finite(array)
        if len(values) == 0:
            return
        as_float = values.astype(np.float64, copy=False)
        n, mean = len(values), float(as_float.mean())
        deviations = np.subtract(as_float, mean, out=scratch("deviations", n, np.float64))
        m2 = float(np.square(deviations, out=deviations).sum())
        total = self.n + n
        delta = mean - self.mean
        # Chan et al.'s pairwise update: exact to rounding, whatever the batch order.
        self.m2 += m2 + delta * delta * self.n * n / total
        self.mean += delta * n / total
        self.n = total
        # Extremes of the values as they are (float64 rounding keeps their order).
        low, high = values.min(), values.max()
        self.low = min(self.low, float(low))
        self.high = max(self.high, float(high))
        if self.overflow:
            if plan is not None:
                self.fill(as_float, None, plan, bins)
            return
        if more_distinct_than(values, MAX_TRACKED_NUMBERS):
            # Past the cap within this batch: no need to count it first (same histograms).
            if plan is not None:
                self.fill_from_tally(plan, bins)
                self.fill(as_float, None, plan, bins)
            self.overflow, self.tally = True, None
            return
        self.tally = merge_tally(self.tally, number_tally(values, self.tally, low, high))
        if len(self.tally[0]) > MAX_TRACKED_NUMBERS:
            # Dropped, not kept partial: which values a partial tally holds depends on the
            # batch order, and merged states must not.
            if plan is not None:
                self.fill_from_tally(plan, bins)
            self.overflow, self.tally = True, None

    def fill(self, values: np.ndarray, weights, plan: "GridPlan", bins: int) -> None:
        """Add finite values (each `weights` times, default once) to the plan's histograms.

        Values outside [plan.low, plan.high] (a plan from wrong footers) land in the end
        bins; finalize sees the range differ from the plan's and plans again.
        """
        if self.grid is None:
            self.grid = np.zeros(bins, dtype=np.int64)
            self.bins = None if plan.sturges is None else np.zeros(len(plan.sturges) - 1)
            self.hellinger = None if plan.hellinger is None else np.zeros(len(plan.hellinger) - 1)
        bins = len(self.grid)
        scale = bins / (plan.high - plan.low) if plan.high > plan.low else 0.0
        scaled = np.subtract(values, plan.low, out=scratch("scaled", len(values), np.float64))
        scaled *= scale
        index = scratch("index", len(values), np.int64)
        index[...] = scaled  # truncates toward zero, as astype(np.int64) does
        np.minimum(index, bins - 1, out=index)
        try:
            counts = np.bincount(index, weights=weights, minlength=bins)
        except ValueError:  # below plan.low: only a plan whose range missed the data
            counts = np.bincount(np.maximum(index, 0), weights=weights, minlength=bins)
        self.grid += counts if weights is None else counts.astype(np.int64)
        if plan.sturges is not None:
            self.bins += np.histogram(values, plan.sturges, weights=weights)[0]
        if plan.hellinger is not None:
            self.hellinger += np.histogram(values, plan.hellinger, weights=weights)[0]

    def fill_from_tally(self, plan: "GridPlan", bins: int) -> None:
        """The tally's values, each as often as counted, into the histograms (exact)."""
        if self.tally is not None and len(self.tally[0]):
            keys, counts = self.tally
            self.fill(keys.astype(np.float64), counts.astype(np.float64), plan, bins)

    def add_grid(self, array: pa.Array, plan: "GridPlan", count: bool = True) -> None:
        """A grid pass: every finite value into the histograms (facts counted elsewhere)."""
        values = self._finite(array, count).astype(np.float64, copy=False)
        self.fill(values, None, plan, len(self.grid))


@dataclass(frozen=True)
class GridPlan:
    """What pass 2 collects for one numerical column."""

    low: float
    high: float
    sturges: np.ndarray | None
    hellinger: np.ndarray | None
